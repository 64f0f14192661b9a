#!/usr/bin/env python3
"""transformers' sequence or image classifier in training mode, with every dropout's mask made a fixed pattern, so
that where each dropout sits (and what it scales by) can be compared with giftjs's, which draws the same
pattern: value i of each dropped tensor (row-major) is zeroed where (i mod 8) / 8 < p, else scaled by
1 / (1 - p). Eager attention, so the attention probabilities' dropout is torch.nn.functional.dropout too.

    python tools/encoder_dropout_reference.py FOLDER INPUT.json

INPUT: {"ids": [[...]], "mask": [[...]], "labels": [...]} (a sequence classifier) or {"pixels": [B, C, H, W]
nested lists, "labels"} (an image classifier). Prints one JSON line: {"logits", "loss",
"grads": {name: flat values}, "dropouts": how many dropout calls dropped something}.

An image classifier's INPUT may add "drop_path": {"rate": R, "keep": {layer: [[attention branch's 0/1 per
image], [MLP branch's]]}}: stochastic depth as timm's DropPath (scale_by_keep) on each layer's two residual
branches -- the output of ViTLayer's dropout, which transformers applies to each branch before its residual
add -- at timm's rate for layer i of n, torch.linspace(0, R, n)[i], with the given per-image masks (layers not
listed keep every image). The output then adds "drop_path_rates": those rates as torch computes them.
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
drop_path = batch.get("drop_path")
if drop_path is not None:
    layers = model.vit.layers if hasattr(model.vit, "layers") else model.vit.encoder.layer  # transformers 5 / 4
    rates = torch.linspace(0, drop_path["rate"], len(layers)).tolist()

    def branch_hook(index):
        branch = [0]

        def hook(module, inputs, output):
            keep = drop_path["keep"].get(str(index))
            b = branch[0] % 2
            branch[0] += 1
            if keep is None:
                return output
            mask = torch.tensor(keep[b], dtype=output.dtype).reshape(-1, *([1] * (output.dim() - 1)))
            return output * (mask / (1 - rates[index]))
        return hook

    for i, layer in enumerate(layers):
        layer.dropout.register_forward_hook(branch_hook(i))
if images:
    out = model(pixel_values=torch.tensor(batch["pixels"], dtype=torch.float32), labels=labels)
else:
    ids = torch.tensor(batch["ids"])
    out = model(input_ids=ids, attention_mask=torch.tensor(batch["mask"]), token_type_ids=torch.zeros_like(ids), labels=labels)
out.loss.backward()
print(json.dumps({
    "logits": out.logits.detach().flatten().tolist(), "loss": out.loss.item(), "dropouts": calls,
    "grads": {n: p.grad.flatten().tolist() for n, p in model.named_parameters() if p.grad is not None},
    **({"drop_path_rates": rates} if drop_path is not None else {}),
}))
