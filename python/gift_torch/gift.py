"""GIFT on any torch model: one (phi, psi) pair per group of Linear layers, applied in the input form
y = (x + s (x psi) phi) W^T + b through a forward pre-hook, so the base weights are never copied.
Adapters are read and written in giftjs's layout (adapter_config.json + adapter_model.safetensors with
gift.<group>.phi [r, in] and gift.<group>.psi [in, r]), so the same folder loads in both.
"""
import json
import math
import os

import torch
from torch import nn

from .errors import GiftTorchError
from .safetensors_io import load_file, save_file
from .targets import find_target_linears

_VERSION = "0.1.0"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

# Fields of a giftjs GIFT adapter_config.json. Anything else is refused by name: a field gift_torch
# does not know might change the math.
_KNOWN = {"method", "rank", "alpha", "target_modules", "layers", "share", "base_model_name_or_path", "base_architecture",
          "giftjs_version", "task", "modules_to_save"}


def parse_config(raw, source="GIFT config"):
    """A validated GIFT config (a dict as adapter_config.json or gift train's flags give it)."""
    if "peft_type" in raw:
        raise GiftTorchError(f"{source}: a PEFT {raw['peft_type']} adapter; gift_torch reads GIFT adapters (load this one with peft)")
    if raw.get("method", "gift") != "gift":
        raise GiftTorchError(f"{source}: method {raw.get('method')!r} is not GIFT")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise GiftTorchError(f"{source}: unknown field(s) {unknown}; gift_torch reads {sorted(_KNOWN)}")
    rank = raw.get("rank")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank <= 0:
        raise GiftTorchError(f"{source}: 'rank' must be a positive integer, got {rank!r}")
    alpha = raw.get("alpha")
    alpha = rank if alpha is None else alpha
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not alpha > 0 or not math.isfinite(alpha):
        raise GiftTorchError(f"{source}: 'alpha' must be a positive number, got {raw.get('alpha')!r}")
    targets = raw.get("target_modules")
    if not (isinstance(targets, str) and targets) and not (isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets)):
        raise GiftTorchError(f"{source}: 'target_modules' must be a non-empty list of module names or a regular expression, got {targets!r}")
    layers = raw.get("layers")
    if layers is not None and not (isinstance(layers, list) and all(isinstance(i, int) and i >= 0 for i in layers)):
        raise GiftTorchError(f"{source}: 'layers' must be null or a list of layer indices, got {layers!r}")
    share = raw.get("share", "target")
    if share not in ("target", "input-size"):
        raise GiftTorchError(f"{source}: 'share' must be 'target' or 'input-size', got {share!r}")
    return {"method": "gift", "rank": rank, "alpha": alpha, "target_modules": targets, "layers": layers, "share": share,
            **({"modules_to_save": raw["modules_to_save"]} if raw.get("modules_to_save") else {})}


def group_layers(found, share):
    """GIFT's grouping rule (giftjs src/peft/gift/groups.ts): one pair per target name, split by
    input size when a target's layers differ in it ("<target>_in<size>"); or one per input size."""
    sizes = {}
    for _, target, module in found:
        sizes.setdefault(target, set()).add(module.in_features)
    groups = {}
    for path, target, module in found:
        n = module.in_features
        key = f"in{n}" if share == "input-size" else (f"{target}_in{n}" if len(sizes[target]) > 1 else target)
        groups.setdefault(key, []).append((path, module))
    return groups


class GiftAdapter:
    """GIFT attached to a model: the pairs, the hooked layers, and merge state."""

    def __init__(self, model, config, generator=None):
        self.config = config
        self.scale = config["alpha"] / config["rank"]
        self.pairs = {}  # group -> (phi, psi)
        self.members = group_layers(find_target_linears(model, config["target_modules"], config["layers"]), config["share"])
        self.hooks = []
        self.originals = None
        r = config["rank"]
        # Every group is checked before any parameter is registered: a failure leaves the model as it was.
        for group, layers in self.members.items():
            n = layers[0][1].in_features
            if r > n:
                raise GiftTorchError(f"GIFT rank {r} is larger than the input size {n} of group {group!r} (phi is [rank, in])")
        for group, layers in self.members.items():
            n = layers[0][1].in_features
            w = layers[0][1].weight
            # phi as torch.nn.Linear(in, r) initialises it (Kaiming-uniform, bound 1/sqrt(in)); psi at zero.
            bound = 1 / math.sqrt(n)
            phi = nn.Parameter(torch.empty(r, n, dtype=torch.float32, device=w.device).uniform_(-bound, bound, generator=generator))
            psi = nn.Parameter(torch.zeros(n, r, dtype=torch.float32, device=w.device))
            # Registered on the model, so optimizers, state_dict and DistributedDataParallel see them.
            model.register_parameter(_param_name(group, "phi"), phi)
            model.register_parameter(_param_name(group, "psi"), psi)
            self.pairs[group] = (phi, psi)
        self._hook_all()

    def _hook_all(self):
        for group, layers in self.members.items():
            phi, psi = self.pairs[group]
            for _, module in layers:
                self.hooks.append(module.register_forward_pre_hook(_edit_input(phi, psi, self.scale)))

    def _unhook_all(self):
        for h in self.hooks:
            h.remove()
        self.hooks = []

    def detach(self, model):
        """Removes the hooks and the registered pairs: the model is as it was before the adapter."""
        self._unhook_all()
        for group in self.pairs:
            for which in ("phi", "psi"):
                model._parameters.pop(_param_name(group, which), None)
        self.pairs = {}

    def named_tensors(self):
        """The trainable pairs under giftjs's tensor names."""
        out = {}
        for group, (phi, psi) in self.pairs.items():
            out[f"gift.{group}.phi"] = phi
            out[f"gift.{group}.psi"] = psi
        return out

    def parameters(self):
        return [t for pair in self.pairs.values() for t in pair]


def _param_name(group, which):
    return "gift_" + group.replace(".", "_") + "_" + which


def _edit_input(phi, psi, scale):
    def hook(module, args):
        x = args[0]
        low = x.to(psi.dtype) @ psi
        edited = x + (scale * (low @ phi)).to(x.dtype)
        return (edited,) + tuple(args[1:])
    return hook


def _refuse_second_adapter(model):
    if getattr(model, "gift_adapter", None) is not None:
        raise GiftTorchError("this model already has a GIFT adapter (load or apply one adapter per model)")
    if getattr(model, "lora_hooks", None):
        raise GiftTorchError("this model already has a LoRA adapter (load or apply one adapter per model)")


def apply_gift(model, config, seed=0):
    """Freezes the model and attaches GIFT; returns the trainable parameters (phi and psi of every group).
    All or nothing: on any error the model is left as it was."""
    config = parse_config(config)
    _refuse_second_adapter(model)
    saved = _modules_to_save(model, config)  # checked before anything changes
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        generator = torch.Generator().manual_seed(seed)
        adapter = GiftAdapter(model, config, generator)
    except Exception as err:
        for n, p in model.named_parameters():
            p.requires_grad_(flags.get(n, p.requires_grad))
        raise _as_error(err, "apply_gift") from None
    model.gift_adapter = adapter
    model._gift_requires_grad = flags
    for p in saved.values():
        p.requires_grad_(True)
    return adapter.parameters() + list(saved.values())


def remove_adapter(model):
    """Takes the GIFT adapter off the model (unmerged first): hooks, pairs and trainable flags as before."""
    a = _adapter(model)
    unmerge(model)
    a.detach(model)
    flags = getattr(model, "_gift_requires_grad", {})
    for n, p in model.named_parameters():
        p.requires_grad_(flags.get(n, p.requires_grad))
    model.gift_adapter = None


def _as_error(err, what):
    """A failure as the one error class: torch's RuntimeError, the system's OSError, a regex error."""
    if isinstance(err, GiftTorchError):
        return err
    if isinstance(err, (RuntimeError, OSError, ValueError, TypeError, KeyError)):
        return GiftTorchError(f"{what}: {err}")
    return err


def _modules_to_save(model, config):
    """Parameters of the modules trained in full beside GIFT (a new classifier head), by model name."""
    names = config.get("modules_to_save") or []
    params = dict(model.named_parameters())
    out = {}
    for m in names:
        chosen = {n: p for n, p in params.items() if n == m or n.startswith(m + ".")}
        if not chosen:
            raise GiftTorchError(f"modules_to_save names {m!r}, which is no module of this model")
        out.update(chosen)
    return out


def _adapter(model):
    a = getattr(model, "gift_adapter", None)
    if a is None:
        raise GiftTorchError("this model has no GIFT adapter (apply_gift or load_adapter first)")
    return a


def save_adapter(model, path, base_model=None):
    """Writes the adapter folder in giftjs's layout; an adapter with NaN or infinite values is refused, not written."""
    a = _adapter(model)
    if a.originals is not None:
        raise GiftTorchError("the adapter is merged; unmerge before saving it")
    tensors = {k: v.detach().float().cpu() for k, v in a.named_tensors().items()}
    tensors.update({k: v.detach().float().cpu() for k, v in _modules_to_save(model, a.config).items()})
    bad = sorted(k for k, t in tensors.items() if not torch.isfinite(t).all())
    if bad:
        raise GiftTorchError(f"{path}: the adapter was not written: {bad[:4]} hold NaN or infinite values (did training diverge?)")
    if os.path.exists(path) and not os.path.isdir(path):
        raise GiftTorchError(f"{path} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise GiftTorchError(f"cannot write {path}: {err.strerror}") from None
    config = dict(a.config)
    if base_model is not None:
        config["base_model_name_or_path"] = base_model
    config["giftjs_version"] = f"gift_torch {_VERSION}"
    tmp = os.path.join(path, ADAPTER_CONFIG + f".tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(path, ADAPTER_CONFIG))
    save_file(tensors, os.path.join(path, ADAPTER_WEIGHTS), metadata={"format": "pt", "giftjs_method": "gift"})


def load_adapter(model, path):
    """Attaches the GIFT adapter of a folder (giftjs's or gift_torch's) and loads its tensors. All or
    nothing: every tensor is checked (present, of its shape, finite, none left over) before the model
    is kept changed; on any error the adapter is taken off again and the model is as it was."""
    config_path = os.path.join(path, ADAPTER_CONFIG)
    try:
        with open(config_path) as f:
            raw = json.load(f)
        stored = load_file(os.path.join(path, ADAPTER_WEIGHTS))
    except (OSError, ValueError) as err:
        raise GiftTorchError(f"{path}: cannot read the adapter ({err})") from None
    apply_gift(model, parse_config(raw, config_path))  # refuses a model that has an adapter already
    a = model.gift_adapter
    try:
        wanted = {**a.named_tensors(), **_modules_to_save(model, a.config)}
        for name, param in wanted.items():
            if name not in stored:
                raise GiftTorchError(f"{path}: the adapter has no tensor {name!r}")
            t = stored[name]
            if tuple(t.shape) != tuple(param.shape):
                raise GiftTorchError(f"{path}: tensor {name!r} has shape {list(t.shape)}, this model needs {list(param.shape)}")
            if not torch.isfinite(t).all():
                raise GiftTorchError(f"{path}: tensor {name!r} holds NaN or infinite values")
        unused = sorted(set(stored) - set(wanted))
        if unused:
            raise GiftTorchError(f"{path}: tensors the config does not place on this model: {unused[:4]}")
        with torch.no_grad():
            for name, param in wanted.items():
                param.copy_(stored[name].to(param.dtype))
    except Exception as err:
        remove_adapter(model)
        raise _as_error(err, path) from None
    return a


@torch.no_grad()
def merge(model):
    """Folds GIFT into the weights (W += s W phi^T psi^T) and removes the hooks; unmerge restores them bit for bit."""
    a = _adapter(model)
    if a.originals is not None:
        return
    merged = []
    for group, layers in a.members.items():
        phi, psi = a.pairs[group]
        for path, module in layers:
            w = module.weight
            wf = w.detach().float()
            new = (wf + a.scale * (wf @ phi.T) @ psi.T).to(w.dtype)
            if not torch.isfinite(new).all():
                raise GiftTorchError(f"merge: the merged weight of {path} holds NaN or infinite values (the adapter's or the weight's values overflow {w.dtype}); nothing was merged")
            merged.append((w, new))
    # Every merged weight is computed and checked before any is written: all or nothing.
    a.originals = [w.detach().clone() for w, _ in merged]
    for w, new in merged:
        w.copy_(new)
    a._unhook_all()


@torch.no_grad()
def unmerge(model):
    a = _adapter(model)
    if a.originals is None:
        return
    i = 0
    for group, layers in a.members.items():
        for _, module in layers:
            module.weight.copy_(a.originals[i])
            i += 1
    a.originals = None
    a._hook_all()
