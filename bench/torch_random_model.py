"""A transformers causal LM built from a config.json with random weights, for the PyTorch peers of `gift bench`
(bench/torch_folder_step.py --config, bench/torch_hf_generate.py): built on the meta device, then given storage
and filled with a repeated table of normal draws (std 0.02), as giftjs's bench fills its own; norms are ones.
"""
import json

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def random_causal_lm(config_path, dtype, script):
    with open(config_path) as f:
        raw = json.load(f)
    config = AutoConfig.for_model(raw.pop("model_type", "llama"), **raw)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.to_empty(device="cpu")
    # to_empty leaves buffers as uninitialised memory too: the rotary embedding's inv_freq (not in any
    # checkpoint) held garbage and the loss came out NaN on some runs. Rebuild each rotary module on the CPU
    # and take its buffers; any other buffer is refused rather than run on garbage.
    for name, mod in model.named_modules():
        if hasattr(mod, "inv_freq"):
            fresh = type(mod)(model.config)
            for buf_name, buf in fresh.named_buffers(recurse=False):
                getattr(mod, buf_name).copy_(buf)
    unknown = [n for n, _ in model.named_buffers() if n.rsplit(".", 1)[-1] not in ("inv_freq", "original_inv_freq")]
    if unknown:
        raise SystemExit(f"{script} --config: buffers {unknown[:3]} are not rebuilt after to_empty")
    table = torch.randn(1 << 16) * 0.02
    with torch.no_grad():
        for i, (name, t) in enumerate(model.named_parameters()):
            flat = t.view(-1)
            if name.endswith("norm.weight"):
                flat.fill_(1.0)
                continue
            start = (i * 7919) % table.numel()
            for at in range(0, flat.numel(), table.numel()):
                n = min(table.numel(), flat.numel() - at)
                flat[at:at + n].copy_(table.roll(-start)[:n])
    model.tie_weights()
    return model
