"""Choosing the Linear layers GIFT changes, by the rules giftjs uses (src/peft/targets.ts), so one
adapter_config.json selects the same layers in both: a list of module names or dotted suffixes
("q_proj", "attention.output.dense"), or one string, a regular expression the whole module path must
match; optionally only the blocks listed in `layers`."""
from .errors import GiftTorchError, checked_regex
import re

from torch import nn

# timm's names for modules giftjs names as Hugging Face does.
_ALIASES = {"attn.proj": "attention.output.dense"}
_LAYER_INDEX = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks)\.(\d+)(?:\.|$)")

# transformers 5 builds ViT under other module names than its checkpoints keep (vit.layers.0.attention.o_proj
# in memory, vit.encoder.layer.0.attention.output.dense in model.safetensors). Targets are matched against the
# checkpoint's names, as giftjs matches them (src/models/vit/adapter_naming.ts), so that one adapter_config.json
# selects the same layers in both and "output.dense" still means both output projections.
_CHECKPOINT_NAMES = [
    (re.compile(r"^(.*)vit\.layers\.(\d+)\." + re.escape(ours) + "$"), r"\1vit.encoder.layer.\2." + theirs)
    for ours, theirs in [
        ("attention.q_proj", "attention.attention.query"), ("attention.k_proj", "attention.attention.key"),
        ("attention.v_proj", "attention.attention.value"), ("attention.o_proj", "attention.output.dense"),
        ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense"),
    ]
]


def checkpoint_path(path):
    """A module's path under the checkpoint's names (unchanged where transformers keeps them)."""
    for pattern, replacement in _CHECKPOINT_NAMES:
        if pattern.match(path):
            return pattern.sub(replacement, path)
    return path


def layer_index(path):
    m = _LAYER_INDEX.search(path)
    return int(m.group(1)) if m else None


def _matching_name(path, targets):
    if isinstance(targets, str):
        return path.rsplit(".", 1)[-1] if checked_regex(targets, "target_modules").fullmatch(path) else None
    for t in targets:
        for name in (t, _ALIASES.get(t)):
            if name is not None and (path == name or path.endswith("." + name)):
                return t
    return None


def match_target(path, targets, layers=None):
    """The target a module path matches, or None (no match, or outside the chosen layers)."""
    target = _matching_name(path, targets)
    if target is None:
        return None
    if layers is not None and layer_index(path) not in layers:
        return None
    return target


def find_target_linears(model, targets, layers=None):
    """[(path, target, module)] for every nn.Linear matching; an error names a target that matches nothing."""
    if not targets:
        raise GiftTorchError("target_modules is empty: name at least one module (e.g. q_proj)")
    found, paths = [], []
    for memory_path, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        path = checkpoint_path(memory_path)
        paths.append(path)
        t = match_target(path, targets, layers)
        if t is not None:
            found.append((path, t, module))
    if layers is not None:
        present = {layer_index(p) for p in paths} - {None}
        missing = [i for i in layers if i not in present]
        if missing:
            raise GiftTorchError(f"layers {missing[:5]} are not in this model (its layers: {sorted(present)[:1]}-{sorted(present)[-1:] if present else 'none'})")
    for t in [targets] if isinstance(targets, str) else targets:
        if not any(isinstance(targets, str) or f[1] == t for f in found):
            names = sorted({re.sub(r"^.*?(?:layers|layer|h|blocks)\.\d+\.", "", p) for p in paths})[:12]
            raise GiftTorchError(f"target {t!r} matches no Linear layer; the model's linear layers are named like: {', '.join(names)}")
    return found
