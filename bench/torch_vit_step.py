#!/usr/bin/env python3
"""PyTorch peer of `gift bench step --shape vit-b16 --torch`: transformers' ViTForImageClassification of
ViT-B/16's config (float32, random weights), GIFT rank --rank as a forward pre-hook on every attention
output projection (bench/torch_gift_hooks.py: one float32 phi/psi pair shared by all twelve; transformers 5
names the projection attention.o_proj), the classifier trained beside it, AdamW, --batch random 224x224 images with random labels. Needs
PyTorch >= 2 and transformers 5 (the peer venv).

    python bench/torch_vit_step.py --batch 8 --rank 16 --steps 3 --threads 2

Prints one JSON line: images_per_s (after the first step), step_s (each step, the first included),
maxrss_mb (peak resident memory of the process), loss, and the versions.
"""
import argparse
import json

import torch
from transformers import ViTConfig, ViTForImageClassification

from torch_gift_hooks import attach_gift
from torch_timed_steps import timed_steps

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=8)
p.add_argument("--rank", type=int, default=16)
p.add_argument("--layers", type=int, default=12)
p.add_argument("--labels", type=int, default=1000)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--autocast", action="store_true", help="the forward under torch.autocast(cpu, bfloat16)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

config = ViTConfig(hidden_size=768, num_hidden_layers=a.layers, num_attention_heads=12, intermediate_size=3072,
                   image_size=224, patch_size=16, num_channels=3, num_labels=a.labels, layer_norm_eps=1e-12)
model = ViTForImageClassification(config)
model.requires_grad_(False)
model.classifier.requires_grad_(True)
model.train()

# (The checkpoint's attention.output.dense is attention.o_proj in transformers 5's modules.)
targets = [m for name, m in model.named_modules() if name.endswith(("attention.o_proj", "attention.output.dense"))]
assert len(targets) == a.layers, f"{len(targets)} attention output projections in {a.layers} layers"
params = attach_gift({"attention output": targets}, a.rank)
opt = torch.optim.AdamW([*params, *model.classifier.parameters()], lr=1e-4)
pixels = torch.randn(a.batch, 3, 224, 224)
labels = torch.randint(0, a.labels, (a.batch,))

report, step_s = timed_steps(lambda: model(pixel_values=pixels, labels=labels).loss, opt, a.steps, a.autocast)
print(json.dumps({"images_per_s": a.batch / step_s, **report}))
