#!/usr/bin/env python3
"""PyTorch peer for `gift train` on a model folder (the large-models measurements) and for `gift bench step
--torch` on a model shape: transformers' `from_pretrained(dtype=bfloat16)` (memory-mapped safetensors), or with
--config a config.json's model built in --dtype with random weights (std 0.02, a repeated table of draws, as
giftjs's bench fills its own); gradient checkpointing (unless --no-checkpointing), GIFT as a forward pre-hook
on each target (bench/torch_gift_hooks.py: phi/psi float32 and shared by all layers of a target name) or, with
--method lora, LoRA as a forward hook (y + (x A^T) B^T, A and B float32 and per layer, B starting non-zero),
or with --method full every weight trained; AdamW, --batch x --seq random token ids. Needs PyTorch >= 2.x and transformers 5 (the peer venv:
../shared/peer/setup_peer.sh).

    python bench/torch_folder_step.py --model ./llama3-8b --rank 64 --seq 128 --steps 2 --threads 2
    python bench/torch_folder_step.py --config shape.json --dtype bfloat16 --batch 1 --seq 128
    python bench/torch_folder_step.py --config shape.json --dtype bfloat16 --batch 4 --seq 256 --no-checkpointing --device cuda

Prints one JSON line: load_s, step_s (each step, the first included), tokens_per_s (after the first
step), maxrss_mb (peak resident memory of the process), loss.
"""
import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM

from torch_gift_hooks import attach_gift
from torch_random_model import random_causal_lm
from torch_timed_steps import timed_steps

p = argparse.ArgumentParser()
source = p.add_mutually_exclusive_group(required=True)
source.add_argument("--model", help="a model folder")
source.add_argument("--config", help="a config.json: the model built with random weights")
p.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
p.add_argument("--batch", type=int, default=1)
p.add_argument("--no-checkpointing", action="store_true")
p.add_argument("--method", choices=["gift", "lora", "full"], default="gift")
p.add_argument("--rank", type=int, default=64)
p.add_argument("--targets", default="q_proj,v_proj")
p.add_argument("--seq", type=int, default=128)
p.add_argument("--steps", type=int, default=2)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--device", default="cpu", help="cpu, or cuda: the GPU reference of the webgpu backend")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

dtype = getattr(torch, a.dtype)
t0 = time.perf_counter()
if a.model:
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype)
else:
    model = random_causal_lm(a.config, dtype, "torch_folder_step.py")
load_s = time.perf_counter() - t0
model.to(a.device)
torch.set_default_device(a.device)  # the adapter's parameters and the token ids beside the model
model.requires_grad_(False)
if not a.no_checkpointing:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
model.config.use_cache = False
model.train()

targets = a.targets.split(",")
matched = [(name, mod) for name, mod in model.named_modules() if name.rsplit(".", 1)[-1] in targets]
if a.method == "full":
    # Full fine-tuning: every weight trained (the tied embedding once), AdamW over all of them.
    model.requires_grad_(True)
    params = list(model.parameters())
elif a.method == "lora":
    params = []
    for name, mod in matched:
        # One A, B per layer; the update added to the layer's output in float32.
        lora_a = torch.nn.Parameter(torch.randn(a.rank, mod.in_features) / mod.in_features ** 0.5)
        lora_b = torch.nn.Parameter(torch.randn(mod.out_features, a.rank) * 0.02)
        params += [lora_a, lora_b]
        mod.register_forward_hook(lambda m, args, out, A=lora_a, B=lora_b: out + ((args[0].float() @ A.T) @ B.T).to(out.dtype))
else:
    groups = {}
    for name, mod in matched:
        groups.setdefault(name.rsplit(".", 1)[-1], []).append(mod)
    params = attach_gift(groups, a.rank)
opt = torch.optim.AdamW(params, lr=1e-4)
ids = torch.randint(0, model.config.vocab_size, (a.batch, a.seq))

report, step_s = timed_steps(lambda: model(input_ids=ids, labels=ids).loss, opt, a.steps)
print(json.dumps({"load_s": load_s, "tokens_per_s": a.batch * a.seq / step_s, **report}))
