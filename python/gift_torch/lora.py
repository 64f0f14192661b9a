"""LoRA adapters as PEFT writes them (and giftjs, in PEFT's format), applied to a torch model with
forward hooks, for machines without peft: y = W x + s B A x with s = alpha / r (alpha / sqrt(r) with
use_rslora), per-module rank and alpha by PEFT's pattern rule. PEFT options that change the math and
are not implemented here (DoRA, bias training, fan_in_fan_out, ...) are refused by name."""
import json
import math
import os
import re

import torch
from torch import nn

from .errors import GiftTorchError, checked_regex
from .safetensors_io import load_file
from .targets import layer_index

PREFIX = "base_model.model."

# PEFT fields that change LoRA's math unless they hold the value PEFT writes by default.
_AT_DEFAULT = {
    "bias": ("none", None), "fan_in_fan_out": (False, None), "use_dora": (False, None), "lora_bias": (False, None),
    "use_qalora": (False, None), "layer_replication": (None,), "target_parameters": (None, ()), "trainable_token_indices": (None,),
    "alora_invocation_tokens": (None,), "megatron_config": (None,), "velora_config": (None,), "monteclora_config": (None,),
    "use_bdlora": (None,), "arrow_config": (None,), "kasa_config": (None,), "loftq_config": (None, {}),
}
# Fields read below, fields that only describe the run or choose starting values, and giftjs's own
# (giftjs_config.json). Any other field is refused: gift_torch does not know what it would change.
_READ = {"peft_type", "r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules", "layers_to_transform", "layers_pattern",
         "use_rslora", "rank_pattern", "alpha_pattern", "modules_to_save", "init_lora_weights"}
_DESCRIBE = {"task_type", "base_model_name_or_path", "revision", "inference_mode", "auto_mapping", "peft_version", "eva_config", "corda_config",
             "lora_ga_config", "qalora_group_size", "megatron_core", "ensure_weight_tying", "runtime_config",
             "method", "base_architecture", "giftjs_version", "task"}
_LAYER_LISTS = ("layers", "layer", "h", "blocks")


def _check(raw, source):
    unknown = sorted(set(raw) - set(_AT_DEFAULT) - _READ - _DESCRIBE)
    if unknown:
        raise GiftTorchError(f"{source}: LoRA option(s) {unknown} are unknown to gift_torch; use peft for this adapter")
    for key, allowed in _AT_DEFAULT.items():
        v = raw.get(key)
        if (tuple(v) if isinstance(v, list) else v) not in allowed:
            raise GiftTorchError(f"{source}: LoRA option {key!r} = {v!r} is not implemented by gift_torch; use peft for this adapter")
    pattern = raw.get("layers_pattern")
    if pattern is not None and not all(p in _LAYER_LISTS for p in (pattern if isinstance(pattern, list) else [pattern])):
        raise GiftTorchError(f"{source}: layers_pattern {pattern!r} is not implemented (gift_torch reads layer indices after {', '.join(_LAYER_LISTS)})")
    init = raw.get("init_lora_weights", True)
    if init not in (True, False, "gaussian", "eva", None):
        raise GiftTorchError(f"{source}: init_lora_weights = {init!r} rewrites the base weights; use peft for this adapter")
    r = raw.get("r", 8)
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        raise GiftTorchError(f"{source}: 'r' must be a positive integer, got {r!r}")
    alpha = raw.get("lora_alpha", 8)
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not (alpha > 0 and math.isfinite(alpha)):
        raise GiftTorchError(f"{source}: 'lora_alpha' must be a positive number, got {alpha!r}")


def _pattern(table, path, fallback):
    """PEFT's get_pattern_key: the first key that ends the module path."""
    for key, value in (table or {}).items():
        checked_regex(key, "a rank_pattern / alpha_pattern key")
        if re.match(rf"^(?:.*\.)?(?:{key})$", path):
            return value
    return fallback


def _matches(path, targets):
    if isinstance(targets, str):
        return checked_regex(targets, "target_modules").fullmatch(path) is not None
    return any(path == t or path.endswith("." + t) for t in targets)


def read_config(path):
    """adapter_config.json, with giftjs_config.json's fields when giftjs wrote the folder."""
    with open(os.path.join(path, "adapter_config.json")) as f:
        raw = json.load(f)
    side_path = os.path.join(path, "giftjs_config.json")
    if os.path.exists(side_path):
        with open(side_path) as f:
            side = json.load(f)
        clash = next((k for k in side if k in raw and raw[k] != side[k]), None)
        if clash is not None:
            raise GiftTorchError(f"{side_path}: {clash!r} disagrees with adapter_config.json")
        raw = {**raw, **side}
    return raw


def load_lora_adapter(model, path):
    """Attaches a LoRA adapter folder to the model (frozen, hooks on every adapted Linear); returns its
    tensors. All or nothing: every tensor is checked before the model is touched, so a failure leaves
    it as it was; a model holding an adapter already is refused (a second load would add it twice)."""
    if getattr(model, "lora_hooks", None) or getattr(model, "gift_adapter", None) is not None:
        raise GiftTorchError("this model already has an adapter (load one adapter per model)")
    try:
        return _load_lora(model, path)
    except GiftTorchError:
        raise
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as err:
        raise GiftTorchError(f"{path}: {err}") from None


def _load_lora(model, path):
    raw = read_config(path)
    source = os.path.join(path, "adapter_config.json")
    if raw.get("peft_type") != "LORA":
        raise GiftTorchError(f"{source}: not a LoRA adapter (peft_type {raw.get('peft_type')!r})")
    _check(raw, source)
    r, alpha = raw.get("r", 8), raw.get("lora_alpha", 8)
    targets, exclude = raw.get("target_modules"), raw.get("exclude_modules")
    layers = raw.get("layers_to_transform")
    layers = [layers] if isinstance(layers, int) else layers
    stored = load_file(os.path.join(path, "adapter_model.safetensors"))
    tensors, plan = {}, []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or not _matches(name, targets) or (exclude and _matches(name, exclude)):
            continue
        if layers is not None and layer_index(name) not in layers:
            continue
        rank = _pattern(raw.get("rank_pattern"), name, r)
        a = _pattern(raw.get("alpha_pattern"), name, alpha)
        scale = a / math.sqrt(rank) if raw.get("use_rslora") else a / rank
        A, B = stored.get(f"{PREFIX}{name}.lora_A.weight"), stored.get(f"{PREFIX}{name}.lora_B.weight")
        if A is None or B is None:
            raise GiftTorchError(f"{path}: no lora_A / lora_B for {name}")
        if tuple(A.shape) != (rank, module.in_features) or tuple(B.shape) != (module.out_features, rank):
            raise GiftTorchError(f"{path}: {name}: lora_A {list(A.shape)}, lora_B {list(B.shape)} do not fit rank {rank} on [{module.out_features}, {module.in_features}]")
        if not (torch.isfinite(A).all() and torch.isfinite(B).all()):
            raise GiftTorchError(f"{path}: the LoRA tensors of {name} hold NaN or infinite values")
        A, B = nn.Parameter(A.float()), nn.Parameter(B.float())
        tensors[f"{PREFIX}{name}.lora_A.weight"], tensors[f"{PREFIX}{name}.lora_B.weight"] = A, B
        plan.append((module, A, B, scale))
    if not tensors:
        raise GiftTorchError(f"{source}: target_modules {targets!r} match no Linear layer of this model")
    params = dict(model.named_parameters())
    used = set(tensors)
    copies = []
    for m in raw.get("modules_to_save") or []:
        chosen = {n: p for n, p in params.items() if n.startswith(m + ".")}
        if not chosen:
            raise GiftTorchError(f"{source}: modules_to_save names {m!r}, which is no module of this model")
        for n, p in chosen.items():
            key = PREFIX + n if PREFIX + n in stored else n  # PEFT's name, or giftjs 0.1's
            t = stored.get(key)
            if t is None or tuple(t.shape) != tuple(p.shape):
                raise GiftTorchError(f"{path}: no tensor of shape {list(p.shape)} for {n}")
            if not torch.isfinite(t).all():
                raise GiftTorchError(f"{path}: tensor {key!r} holds NaN or infinite values")
            copies.append((p, t))
            used.add(key)
    unused = sorted(set(stored) - used)
    if unused:
        raise GiftTorchError(f"{path}: tensors no adapted layer of this model reads: {unused[:5]}")
    # Everything checked: only now is the model changed.
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        for p, t in copies:
            p.copy_(t.to(p.dtype))
    model.lora_hooks = [module.register_forward_hook(_add_low_rank(A, B, scale)) for module, A, B, scale in plan]
    return tensors


def _add_low_rank(A, B, scale):
    def hook(module, args, out):
        x = args[0]
        return out + (scale * ((x.to(A.dtype) @ A.T) @ B.T)).to(out.dtype)
    return hook
