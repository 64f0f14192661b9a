#!/usr/bin/env python3
"""PyTorch peer of `gift bench step --shape use-lite`: the step `npm run demo` trains, on Universal Sentence Encoder
Lite's architecture written in PyTorch (no transformers class exists for it): the function giftjs's
src/models/use_lite/model.ts computes, parameter for parameter under the same names, float32, random weights. GIFT
rank --rank on every query and value projection as forward pre-hooks (bench/torch_gift_hooks.py), one pair per target
and input width (the first layer reads 256 values, the second 512, as giftjs groups them), the two-label classifier
on the pooled output trained beside it, AdamW, --batch x --seq random token ids, no padding. Needs PyTorch >= 2.

    python bench/torch_use_lite_step.py --batch 16 --seq 128 --rank 16 --steps 3 --threads 2

Prints one JSON line: sequences_per_s and tokens_per_s (after the first step), step_s (each step, the first
included), maxrss_mb (peak resident memory of the process), loss, and the versions.

    python bench/torch_use_lite_step.py --check FOLDER --ids 5,6,7,8:9,10

loads a USE Lite folder giftjs converted (config.json, model.safetensors) into the same module and prints, as JSON,
the pooled output (tanh layer) of each ':'-separated id list: test/models/use_lite_torch_peer.test.ts compares it
with giftjs's, so that the peer times the same computation.
"""
import argparse
import json
import math

import torch
from torch import nn

from torch_gift_hooks import attach_gift
from torch_timed_steps import timed_steps

# USE_LITE_DEFAULTS of src/models/use_lite/config.ts: what convertUseLite writes for the npm package's model.
DEFAULTS = {"vocab_size": 8002, "embedding_size": 256, "hidden_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 1536, "max_position_embeddings": 128, "layer_norm_eps": 1e-6, "min_timescale": 1.0,
            "max_timescale": 1e4}


class Layer(nn.Module):
    def __init__(self, c, width):
        super().__init__()
        hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.attention_norm = nn.LayerNorm(width, eps=c["layer_norm_eps"])
        self.attention = nn.ModuleDict({"query": nn.Linear(width, width), "key": nn.Linear(width, width),
                                        "value": nn.Linear(width, width), "output": nn.Linear(width, hidden)})
        self.residual_projection = nn.Linear(width, hidden) if width != hidden else None
        self.ffn_norm = nn.LayerNorm(hidden, eps=c["layer_norm_eps"])
        self.ffn = nn.ModuleDict({"fc1": nn.Linear(hidden, c["intermediate_size"]), "fc2": nn.Linear(c["intermediate_size"], hidden)})

    def forward(self, x, key_mask):
        b, t, width = x.shape
        h = self.attention_norm(x)
        heads = lambda y: y.view(b, t, self.heads, width // self.heads).transpose(1, 2)  # noqa: E731
        att = self.attention
        o = nn.functional.scaled_dot_product_attention(heads(att["query"](h)), heads(att["key"](h)), heads(att["value"](h)),
                                                       attn_mask=key_mask)
        merged = o.transpose(1, 2).reshape(b, t, width)
        residual = self.residual_projection(x) if self.residual_projection is not None else x
        a = att["output"](merged) + residual
        return a + self.ffn["fc2"](torch.relu(self.ffn["fc1"](self.ffn_norm(a))))


class UseLite(nn.Module):
    """x = 2 embed(ids) + timing; the layers; the mean over real tokens; tanh(dense(mean))."""

    def __init__(self, c, num_labels=None):
        super().__init__()
        self.c = c
        self.embeddings = nn.ModuleDict({"word_embeddings": nn.Embedding(c["vocab_size"], c["embedding_size"])})
        widths = [c["embedding_size"]] + [c["hidden_size"]] * (c["num_hidden_layers"] - 1)
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList([Layer(c, w) for w in widths])})
        self.pooler = nn.ModuleDict({"dense": nn.Linear(c["hidden_size"], c["hidden_size"])})
        self.classifier = nn.Linear(c["hidden_size"], num_labels) if num_labels else None

    def timing(self, t):
        """tensor2tensor's get_timing_signal_1d: sin and cos of position times the inverse timescales."""
        n = self.c["embedding_size"] // 2
        lo, hi = self.c["min_timescale"], self.c["max_timescale"]
        inv = torch.tensor([lo * math.exp(-i * math.log(hi / lo) / max(n - 1, 1)) for i in range(n)], dtype=torch.float32)
        angle = torch.arange(t, dtype=torch.float32)[:, None] * inv[None, :]
        return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)

    def pooled(self, ids, mask):
        x = 2 * self.embeddings["word_embeddings"](ids) + self.timing(ids.shape[1])
        key_mask = mask[:, None, None, :] > 0  # keys a query may see: the real tokens
        for layer in self.encoder["layer"]:
            x = layer(x, key_mask)
        weights = (mask > 0).float() / (mask > 0).float().sum(1, keepdim=True).clamp(min=1)
        mean = (x * weights[:, :, None]).sum(1)
        return torch.tanh(self.pooler["dense"](mean))


def config_of(folder):
    with open(f"{folder}/config.json") as f:
        raw = json.load(f)
    return {k: raw.get(k, v) for k, v in DEFAULTS.items()}


def check(folder, id_lists):
    from safetensors.torch import load_file

    model = UseLite(config_of(folder))
    model.load_state_dict(load_file(f"{folder}/model.safetensors"), strict=True)
    out = []
    with torch.no_grad():
        for ids in id_lists:
            t = torch.tensor([ids])
            out.append(model.pooled(t, torch.ones_like(t)).flatten().tolist())
    print(json.dumps({"pooled": out, "torch": torch.__version__}))


def step(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = {**DEFAULTS, "num_hidden_layers": a.layers}
    model = UseLite(c, num_labels=2)
    model.requires_grad_(False)
    model.classifier.requires_grad_(True)
    model.train()
    groups = {}
    for name, m in model.named_modules():
        for target in ("query", "value"):
            if name.endswith("attention." + target):
                groups.setdefault((target, m.in_features), []).append(m)
    params = attach_gift(groups, a.rank)
    opt = torch.optim.AdamW([*params, *model.classifier.parameters()], lr=1e-4)
    ids = torch.randint(0, c["vocab_size"], (a.batch, a.seq))
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 2, (a.batch,))
    loss_of = lambda: nn.functional.cross_entropy(model.classifier(model.pooled(ids, mask)), labels)  # noqa: E731
    report, step_s = timed_steps(loss_of, opt, a.steps, a.autocast)
    print(json.dumps({"sequences_per_s": a.batch / step_s, "tokens_per_s": a.batch * a.seq / step_s, **report}))


p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=16)
p.add_argument("--seq", type=int, default=128)
p.add_argument("--rank", type=int, default=16)
p.add_argument("--layers", type=int, default=DEFAULTS["num_hidden_layers"])
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--autocast", action="store_true", help="the forward under torch.autocast(cpu, bfloat16)")
p.add_argument("--check", metavar="FOLDER", help="print the pooled outputs of a converted USE Lite folder for --ids")
p.add_argument("--ids", default="", help="token id lists for --check: comma-separated ids, lists separated by ':'")
args = p.parse_args()
if args.check:
    check(args.check, [[int(i) for i in part.split(",")] for part in args.ids.split(":") if part])
else:
    step(args)
