"""A Llama-family causal LM as plain torch modules with Hugging Face's names (model.layers.N.self_attn.q_proj,
...), used when transformers is not installed: rotate-half RoPE (with llama3 scaling), grouped-query
attention, SwiGLU, RMSNorm, tied or untied output, q/k/v biases (Qwen2). Options it does not implement
(other rope types, sliding windows) are refused by name."""
import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from .safetensors_io import load_file
from .errors import GiftTorchError


def rope_settings(cfg):
    """(theta, scaling or None) from transformers 5's rope_parameters or 4's rope_theta / rope_scaling."""
    rp = cfg.get("rope_parameters")
    if rp is not None:
        if "rope_scaling" in cfg or "rope_theta" in cfg:
            raise GiftTorchError("config.json has both rope_parameters (transformers 5) and rope_theta/rope_scaling (4)")
        kind = rp.get("rope_type", "default")
        return rp.get("rope_theta", 10000.0), (None if kind == "default" else rp)
    return cfg.get("rope_theta", 10000.0), cfg.get("rope_scaling")


def inv_freq(cfg, d):
    base, rs = rope_settings(cfg)
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).double() / d))
    if rs:
        kind = rs.get("rope_type", rs.get("type"))
        if kind != "llama3":
            raise GiftTorchError(f"rope type {kind!r} is not implemented by gift_torch's Llama (install transformers)")
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < old / high) & ~(wavelen > old / low)
        inv = torch.where(medium, smoothed, inv_l)
    return inv.float()


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, self.nh, self.nkv = c["hidden_size"], c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
        self.hd = c.get("head_dim") or H // self.nh
        bias = c.get("model_type") == "qwen2" or c.get("attention_bias", False)
        self.q_proj = nn.Linear(H, self.nh * self.hd, bias=bias)
        self.k_proj = nn.Linear(H, self.nkv * self.hd, bias=bias)
        self.v_proj = nn.Linear(H, self.nkv * self.hd, bias=bias)
        self.o_proj = nn.Linear(self.nh * self.hd, H, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        rot = lambda t: torch.cat((-t[..., self.hd // 2:], t[..., : self.hd // 2]), dim=-1)  # noqa: E731
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(self.nh // self.nkv, 1), v.repeat_interleave(self.nh // self.nkv, 1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        return self.o_proj((att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, self.nh * self.hd))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, I = c["hidden_size"], c["intermediate_size"]
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(H, I, bias=False), nn.Linear(H, I, bias=False), nn.Linear(I, H, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        eps = c.get("rms_norm_eps", 1e-6)
        self.input_layernorm, self.self_attn = RMSNorm(c["hidden_size"], eps), Attention(c)
        self.post_attention_layernorm, self.mlp = RMSNorm(c["hidden_size"], eps), MLP(c)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c.get("rms_norm_eps", 1e-6))


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Body(c)
        self.tied = bool(c.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.register_buffer("inv_freq", inv_freq(c, hd), persistent=False)

    def forward(self, ids):
        B, T = ids.shape
        freqs = torch.outer(torch.arange(T).float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        x = self.model.norm(x)
        return x @ (self.model.embed_tokens.weight if self.tied else self.lm_head.weight).T

    @classmethod
    def from_folder(cls, path):
        with open(os.path.join(path, "config.json")) as f:
            c = json.load(f)
        arch = (c.get("architectures") or [None])[0]
        if arch not in ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"):
            raise GiftTorchError(f"{path}: architecture {arch!r} is not a Llama-family causal LM")
        for key in ("sliding_window", "partial_rotary_factor"):
            if c.get(key) not in (None, 1, 1.0) and not (key == "sliding_window" and not c.get("use_sliding_window", False)):
                raise GiftTorchError(f"{path}: {key} = {c[key]!r} is not implemented by gift_torch's Llama (install transformers)")
        m = cls(c)
        state = {}
        index = os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                names = sorted(set(json.load(f)["weight_map"].values()))
            if any(os.path.basename(n) != n for n in names):
                raise GiftTorchError(f"{index}: shards must be files in {path} itself")
        elif os.path.exists(os.path.join(path, "model.safetensors")):
            names = ["model.safetensors"]
        else:
            raise GiftTorchError(f"{path}: no model.safetensors (or index) found")
        for name in names:
            state.update({k: v.float() for k, v in load_file(os.path.join(path, name)).items() if not k.endswith("rotary_emb.inv_freq")})
        if m.tied:
            state.pop("lm_head.weight", None)
        m.load_state_dict(state, strict=True)
        return m


def causal_lm_loss(logits, ids):
    """Hugging Face's causal-LM loss: position t predicts token t + 1, mean over the predictions."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
