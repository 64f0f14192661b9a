#!/usr/bin/env python3
"""Writes tiny random Llama-family checkpoints and PyTorch reference numbers for giftjs's tests.

Run with Debian's PyTorch (CI never needs it; the outputs are committed):
    apt-get install -y python3-torch
    /usr/bin/python3 tools/make_llama_fixtures.py test/fixtures/llama

The reference model below is written from the Hugging Face Llama/Qwen2 definitions (same tensor
names, rotate-half RoPE, llama3 rope scaling, grouped-query attention, SwiGLU MLP, RMSNorm). GIFT
is applied in the authors' formulation, W_hat = W + s * W @ phi.T @ psi.T, so the tests check
giftjs's fused input form against an independent computation. LoRA is PEFT's: W x + s * B A x.

Each fixture folder holds config.json + model.safetensors (a loadable model folder) and
reference.safetensors: input_ids, labels, logits, loss, and for GIFT and LoRA the adapter
tensors used, the loss with the adapter, and the adapter's gradients.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

from safetensors_io import save_safetensors


def inv_freq(cfg):
    d = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).double() / d))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        # transformers' _compute_llama3_parameters
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, inv_l)
    return inv.float()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def forward(cfg, W, ids, gift=None, lora=None):
    """Logits of the reference model; gift = (pairs, scale, targets), lora = (weights, scale)."""
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    eps = cfg.get("rms_norm_eps", 1e-6)
    B, T = ids.shape
    pos = torch.arange(T).float()
    freqs = torch.outer(pos, inv_freq(cfg))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    def lin(name, x):
        w = W[name + ".weight"]
        b = W.get(name + ".bias")
        short = name.split(".")[-1]
        if gift is not None and short in gift[2]:
            phi, psi = gift[0][short]
            w = w + gift[1] * w @ phi.T @ psi.T  # the authors' formulation
        y = F.linear(x, w, b)
        if lora is not None and name in lora[0]:
            A, Bm = lora[0][name]
            y = y + lora[1] * (x @ A.T) @ Bm.T
        return y

    x = W["model.embed_tokens.weight"][ids]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = lin(p + "self_attn.q_proj", h).view(B, T, nh, hd).transpose(1, 2)
        k = lin(p + "self_attn.k_proj", h).view(B, T, nkv, hd).transpose(1, 2)
        v = lin(p + "self_attn.v_proj", h).view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
        o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, nh * hd)
        x = x + lin(p + "self_attn.o_proj", o)
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        x = x + lin(p + "mlp.down_proj", F.silu(lin(p + "mlp.gate_proj", h)) * lin(p + "mlp.up_proj", h))
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ head.T


def write_tokenizer(d, vocab_size):
    """A small SentencePiece-style BPE tokenizer.json (Llama layout: '\u2581' for spaces, <s> added)
    over the fixture's vocabulary, so the command-line tools can run on the fixture folders."""
    pieces = ["<unk>", "<s>", "</s>", "\u2581"] + list("abcdefghijklmnopqrstuvwxyz") + list("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + list("0123456789.,!?'-")
    bigrams = ["\u2581t", "he", "\u2581a", "in", "er", "an", "on", "\u2581s", "\u2581w", "re", "nd", "at", "ou", "\u2581the",
               "ed", "it", "is", "\u2581b", "en", "\u2581o", "ar", "or", "\u2581d", "\u2581h", "es", "\u2581l", "le", "\u2581m"]
    merges = []
    for b in bigrams:
        if len(pieces) >= vocab_size:
            break
        left, right = (b[:-1], b[-1]) if b != "\u2581the" else ("\u2581t", "he")
        merges.append(f"{left} {right}")
        pieces.append(b)
    pieces = pieces[:vocab_size]
    while len(pieces) < vocab_size:
        pieces.append(f"<extra_{len(pieces)}>")
    special = lambda i: {"id": i, "content": pieces[i], "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [special(0), special(1), special(2)],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": False, "ignore_merges": False, "vocab": {p: i for i, p in enumerate(pieces)}, "merges": merges},
    }
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                   "add_bos_token": True, "add_eos_token": False, "model_max_length": 128}, f, indent=2)


def causal_lm_loss(logits, labels):
    # transformers' shift: position t predicts labels[t + 1]; -100 is ignored
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def make(out_dir, name, cfg, weight_dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    I, V, L = cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    qwen = cfg["architectures"][0] == "Qwen2ForCausalLM"
    shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
    for i in range(L):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
            p + "self_attn.q_proj.weight": (nh * hd, H), p + "self_attn.k_proj.weight": (nkv * hd, H),
            p + "self_attn.v_proj.weight": (nkv * hd, H), p + "self_attn.o_proj.weight": (H, nh * hd),
            p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H), p + "mlp.down_proj.weight": (H, I),
        })
        if qwen:
            shapes.update({p + "self_attn.q_proj.bias": (nh * hd,), p + "self_attn.k_proj.bias": (nkv * hd,), p + "self_attn.v_proj.bias": (nkv * hd,)})
    if not cfg.get("tie_word_embeddings"):
        shapes["lm_head.weight"] = (V, H)
    W = {}
    for n, s in shapes.items():
        if n.endswith("norm.weight"):
            W[n] = 1.0 + 0.1 * torch.randn(s, generator=g)
        else:
            W[n] = (0.5 if n.endswith("embed_tokens.weight") else 0.2) * torch.randn(s, generator=g)
        # the stored precision is the truth: round through it
        W[n] = W[n].to(weight_dtype).to(torch.float32)

    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_safetensors(os.path.join(d, "model.safetensors"), {n: t.to(weight_dtype) for n, t in W.items()})
    write_tokenizer(d, V)

    ids = torch.randint(0, V, (2, 7), generator=g)
    labels = ids.clone()
    labels[1, 3] = -100
    with torch.no_grad():
        logits = forward(cfg, W, ids)
        loss = causal_lm_loss(logits, labels)
    ref = {"input_ids": ids, "labels": labels, "logits": logits, "loss": loss.reshape(1)}

    # GIFT, rank 4, alpha 8 (scale 2), q_proj and v_proj, psi non-zero so every gradient is too.
    r, alpha = 4, 8.0
    pairs = {}
    for t in ("q_proj", "v_proj"):
        phi = (0.3 * torch.randn(r, H, generator=g)).requires_grad_()
        psi = (0.3 * torch.randn(H, r, generator=g)).requires_grad_()
        pairs[t] = (phi, psi)
    gl = causal_lm_loss(forward(cfg, W, ids, gift=(pairs, alpha / r, ("q_proj", "v_proj"))), labels)
    gl.backward()
    ref["gift.loss"] = gl.detach().reshape(1)
    for t, (phi, psi) in pairs.items():
        ref[f"gift.{t}.phi"] = phi.detach()
        ref[f"gift.{t}.psi"] = psi.detach()
        ref[f"grad.gift.{t}.phi"] = phi.grad
        ref[f"grad.gift.{t}.psi"] = psi.grad

    # LoRA, rank 4, alpha 8, q_proj and v_proj of every layer (PEFT names).
    lw = {}
    for i in range(L):
        for t, out in (("q_proj", nh * hd), ("v_proj", nkv * hd)):
            n = f"model.layers.{i}.self_attn.{t}"
            lw[n] = ((0.3 * torch.randn(r, H, generator=g)).requires_grad_(), (0.3 * torch.randn(out, r, generator=g)).requires_grad_())
    ll = causal_lm_loss(forward(cfg, W, ids, lora=(lw, alpha / r)), labels)
    ll.backward()
    ref["lora.loss"] = ll.detach().reshape(1)
    for n, (A, Bm) in lw.items():
        ref[f"base_model.model.{n}.lora_A.weight"] = A.detach()
        ref[f"base_model.model.{n}.lora_B.weight"] = Bm.detach()
        ref[f"grad.base_model.model.{n}.lora_A.weight"] = A.grad
        ref[f"grad.base_model.model.{n}.lora_B.weight"] = Bm.grad
    save_safetensors(os.path.join(d, "reference.safetensors"), ref)
    print(f"{d}: loss {loss.item():.5f}, gift loss {gl.item():.5f}, lora loss {ll.item():.5f}")


def base_config(**over):
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 96, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 128, "tie_word_embeddings": False,
        "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }
    cfg.update(over)
    return cfg


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/llama"
    torch.manual_seed(0)
    make(out, "llama-gqa", base_config())
    make(out, "llama3-scaled-tied", base_config(
        num_key_value_heads=1, head_dim=16, tie_word_embeddings=True, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 256}), seed=1)
    make(out, "qwen2-bias", base_config(architectures=["Qwen2ForCausalLM"], model_type="qwen2", num_key_value_heads=4,
                                        tie_word_embeddings=True, rope_theta=1000000.0, rms_norm_eps=1e-6), seed=2)
    make(out, "llama-bf16", base_config(torch_dtype="bfloat16"), weight_dtype=torch.bfloat16, seed=3)


if __name__ == "__main__":
    main()
