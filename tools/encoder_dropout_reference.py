#!/usr/bin/env python3
"""transformers' sequence or image classifier in training mode, with every dropout's mask made a fixed pattern, so
that where each dropout sits (and what it scales by) can be compared with giftjs's, which draws the same
pattern: value i of each dropped tensor (row-major) is zeroed where (i mod 8) / 8 < p, else scaled by
1 / (1 - p). Eager attention, so the attention probabilities' dropout is torch.nn.functional.dropout too.

    python tools/encoder_dropout_reference.py FOLDER INPUT.json

INPUT: {"ids": [[...]], "mask": [[...]], "labels": [...]} (a sequence classifier) or {"pixels": [B, C, H, W]
nested lists, "labels"} (an image classifier). Prints one JSON line: {"logits", "loss",
"grads": {name: flat values}, "dropouts": how many dropout calls dropped something}.
"""
import json
import sys

import torch
from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

calls = 0
original_dropout = torch.nn.functional.dropout


def patterned_dropout(x, p=0.5, training=True, inplace=False):
    global calls
    if not training or p == 0:
        return x
    calls += 1
    pattern = (torch.arange(x.numel()).reshape(x.shape) % 8).to(x.dtype) / 8
    return x * (pattern >= p).to(x.dtype) / (1 - p)


torch.nn.functional.dropout = patterned_dropout

folder, input_path = sys.argv[1], sys.argv[2]
batch = json.load(open(input_path))
images = "pixels" in batch
kind = AutoModelForImageClassification if images else AutoModelForSequenceClassification
model = kind.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
model.train()
labels = torch.tensor(batch["labels"])
if images:
    out = model(pixel_values=torch.tensor(batch["pixels"], dtype=torch.float32), labels=labels)
else:
    ids = torch.tensor(batch["ids"])
    out = model(input_ids=ids, attention_mask=torch.tensor(batch["mask"]), token_type_ids=torch.zeros_like(ids), labels=labels)
out.loss.backward()
print(json.dumps({
    "logits": out.logits.detach().flatten().tolist(), "loss": out.loss.item(), "dropouts": calls,
    "grads": {n: p.grad.flatten().tolist() for n, p in model.named_parameters() if p.grad is not None},
}))
