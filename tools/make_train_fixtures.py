#!/usr/bin/env python3
"""PyTorch reference numbers for giftjs's optimizer tests: torch.optim.AdamW on fixed gradients,
with two parameter groups (different learning-rate scales and weight decays) and a changing
learning rate, as the trainer drives it.

    /usr/bin/python3 tools/make_train_fixtures.py test/fixtures/train/adamw.json
"""
import json
import sys

import torch

g = torch.Generator().manual_seed(0)
a = torch.randn(5, generator=g)
b = torch.randn(3, generator=g)
pa, pb = a.clone().requires_grad_(), b.clone().requires_grad_()
opt = torch.optim.AdamW([{"params": [pa], "weight_decay": 0.01}, {"params": [pb], "weight_decay": 0.1, "lr": 2e-2}],
                        lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
lrs = [1e-2, 8e-3, 5e-3, 1e-3, 0.0]
steps = []
for i, lr in enumerate(lrs):
    ga = torch.randn(5, generator=g) * (i + 1)
    gb = torch.randn(3, generator=g)
    opt.param_groups[0]["lr"] = lr
    opt.param_groups[1]["lr"] = 2 * lr
    pa.grad, pb.grad = ga.clone(), gb.clone()
    opt.step()
    steps.append({"lr": lr, "grad_a": ga.tolist(), "grad_b": gb.tolist(), "a": pa.detach().tolist(), "b": pb.detach().tolist()})
json.dump({"a0": a.tolist(), "b0": b.tolist(), "steps": steps}, open(sys.argv[1], "w"), indent=1)
print("wrote", sys.argv[1])
