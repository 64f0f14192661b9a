#!/usr/bin/env python3
"""PyTorch baseline for `gift bench generate --torch`: greedy decoding with a KV cache on a random
Llama-shaped model (written here from the Hugging Face Llama definition; no transformers needed).

    /usr/bin/python3 bench/torch_generate.py --hidden 2048 --inter 8192 --layers 16 --heads 32 --kv 8 --vocab 128256 --tokens 32
Prints one JSON line: {"tokens_per_s": ...}.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
for name, default in [("hidden", 2048), ("inter", 8192), ("layers", 16), ("heads", 32), ("kv", 8), ("vocab", 128256), ("prompt", 16), ("tokens", 32), ("threads", 2)]:
    p.add_argument(f"--{name}", type=int, default=default)
p.add_argument("--theta", type=float, default=500000.0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
H, nh, nkv, hd = a.hidden, a.heads, a.kv, a.hidden // a.heads
r = lambda *s: torch.randn(*s) * 0.02
emb = r(a.vocab, H)
layers = [dict(q=r(nh * hd, H), k=r(nkv * hd, H), v=r(nkv * hd, H), o=r(H, nh * hd), g=r(a.inter, H), u=r(a.inter, H), d=r(H, a.inter),
               n1=torch.ones(H), n2=torch.ones(H)) for _ in range(a.layers)]
norm = torch.ones(H)
inv = 1.0 / (a.theta ** (torch.arange(0, hd, 2).float() / hd))


def rms(x, w):
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)


def rot(x):
    return torch.cat((-x[..., hd // 2:], x[..., : hd // 2]), -1)


@torch.no_grad()
def step(ids, cache, pos):
    T = ids.shape[1]
    f = torch.outer(torch.arange(pos, pos + T).float(), inv)
    e = torch.cat((f, f), -1)
    cos, sin = e.cos(), e.sin()
    x = emb[ids]
    for i, L in enumerate(layers):
        h = rms(x, L["n1"])
        q = F.linear(h, L["q"]).view(1, T, nh, hd).transpose(1, 2)
        k = F.linear(h, L["k"]).view(1, T, nkv, hd).transpose(1, 2)
        v = F.linear(h, L["v"]).view(1, T, nkv, hd).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        if cache[i] is not None:
            k, v = torch.cat((cache[i][0], k), 2), torch.cat((cache[i][1], v), 2)
        cache[i] = (k, v)
        kk, vv = k.repeat_interleave(nh // nkv, 1), v.repeat_interleave(nh // nkv, 1)
        att = q @ kk.transpose(-1, -2) / math.sqrt(hd)
        if T > 1:
            att = att + torch.full((T, T), float("-inf")).triu(1)
        o = (att.softmax(-1) @ vv).transpose(1, 2).reshape(1, T, nh * hd)
        x = x + F.linear(o, L["o"])
        h = rms(x, L["n2"])
        x = x + F.linear(F.silu(F.linear(h, L["g"])) * F.linear(h, L["u"]), L["d"])
    return F.linear(rms(x[:, -1], norm), emb)


ids = torch.randint(0, a.vocab, (1, a.prompt))
cache = [None] * a.layers
logits = step(ids, cache, 0)
t0 = time.perf_counter()
pos = a.prompt
for _ in range(a.tokens):
    nxt = logits.argmax(-1, keepdim=True)
    logits = step(nxt, cache, pos)
    pos += 1
dt = time.perf_counter() - t0
print(json.dumps({"tokens_per_s": a.tokens / dt, "torch": torch.__version__, "threads": a.threads}))
