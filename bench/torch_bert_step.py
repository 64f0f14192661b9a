#!/usr/bin/env python3
"""PyTorch peer of `gift bench step --shape bert-base --torch`: transformers' BertForSequenceClassification of
bert-base-uncased's config (float32, random weights, two labels), GIFT rank --rank as a forward pre-hook on
every query and value projection (bench/torch_gift_hooks.py: one float32 phi/psi pair per target name, shared
by all layers), the classifier trained beside it, AdamW, --batch x --seq random token ids, no padding. Needs
PyTorch >= 2 and transformers 5 (the peer venv).

    python bench/torch_bert_step.py --batch 8 --seq 128 --rank 32 --steps 3 --threads 2

Prints one JSON line: sequences_per_s and tokens_per_s (after the first step), step_s (each step, the first
included), maxrss_mb (peak resident memory of the process), loss, and the versions.
"""
import argparse
import json

import torch
from transformers import BertConfig, BertForSequenceClassification

from torch_gift_hooks import attach_gift
from torch_timed_steps import timed_steps

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=8)
p.add_argument("--seq", type=int, default=128)
p.add_argument("--rank", type=int, default=32)
p.add_argument("--layers", type=int, default=12)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--autocast", action="store_true", help="the forward under torch.autocast(cpu, bfloat16)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=a.layers, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
                    layer_norm_eps=1e-12, num_labels=2)
model = BertForSequenceClassification(config)
model.requires_grad_(False)
model.classifier.requires_grad_(True)
model.train()

groups = {target: [m for name, m in model.named_modules() if name.endswith("attention.self." + target)] for target in ("query", "value")}
for target, modules in groups.items():
    assert len(modules) == a.layers, f"{len(modules)} {target} projections in {a.layers} layers"
params = attach_gift(groups, a.rank)
opt = torch.optim.AdamW([*params, *model.classifier.parameters()], lr=1e-4)
ids = torch.randint(0, config.vocab_size, (a.batch, a.seq))
labels = torch.randint(0, 2, (a.batch,))

report, step_s = timed_steps(lambda: model(input_ids=ids, labels=labels).loss, opt, a.steps, a.autocast)
print(json.dumps({"sequences_per_s": a.batch / step_s, "tokens_per_s": a.batch * a.seq / step_s, **report}))
