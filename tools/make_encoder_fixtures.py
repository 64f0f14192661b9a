#!/usr/bin/env python3
"""Writes tiny random BERT, RoBERTa and ViT checkpoints and PyTorch reference numbers for giftjs.

Run with Debian's PyTorch (CI never needs it; the outputs are committed):
    apt-get install -y python3-torch
    /usr/bin/python3 tools/make_encoder_fixtures.py test/fixtures/encoders

The reference models below follow Hugging Face's BertForSequenceClassification,
RobertaForSequenceClassification and ViTForImageClassification in eval mode (no dropout): the same
tensor names, post-norm BERT layers, RoBERTa's positions from padding_idx + 1 and its two-layer head
on <s>, ViT's pre-norm blocks with a 16x16-style strided patch convolution. GIFT is applied in the
authors' formulation, W_hat = W + s * W @ phi.T @ psi.T, on every layer of a target, one (phi, psi)
pair per target; its gradients come from autograd through that formulation.

Each folder holds config.json, model.safetensors, a small hand-made tokenizer.json (text models)
and reference.safetensors: inputs, logits, the mean cross-entropy, and with GIFT: phi, psi, the
loss, and the gradients of phi, psi and the classifier.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

from safetensors_io import save_safetensors


def lin(W, name, x, gift=None):
    w = W[name + ".weight"]
    if gift is not None:
        for target, (phi, psi, s) in gift.items():
            if name.endswith("." + target):
                w = w + s * w @ phi.T @ psi.T  # the authors' formulation
    b = W.get(name + ".bias")
    return x @ w.T + (b if b is not None else 0)


def attention(q, k, v, mask, heads):
    B, T, H = q.shape
    d = H // heads
    sh = lambda t: t.view(B, T, heads, d).transpose(1, 2)
    scores = sh(q) @ sh(k).transpose(-1, -2) / math.sqrt(d)
    if mask is not None:
        scores = scores + (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
    return (scores.softmax(-1) @ sh(v)).transpose(1, 2).reshape(B, T, H)


def bert_logits(cfg, W, ids, mask, types, gift=None):
    roberta = cfg["model_type"] == "roberta"
    p = "roberta." if roberta else "bert."
    eps = cfg["layer_norm_eps"]
    ln = lambda x, n: F.layer_norm(x, x.shape[-1:], W[n + ".weight"], W[n + ".bias"], eps)
    if roberta:
        pad = cfg["pad_token_id"]
        m = (ids != pad).long()
        pos = torch.cumsum(m, 1) * m + pad  # transformers' create_position_ids_from_input_ids
    else:
        pos = torch.arange(ids.shape[1])[None].expand_as(ids)
    x = W[p + "embeddings.word_embeddings.weight"][ids] + W[p + "embeddings.position_embeddings.weight"][pos] + W[p + "embeddings.token_type_embeddings.weight"][types]
    x = ln(x, p + "embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        L = f"{p}encoder.layer.{i}."
        ctx = attention(lin(W, L + "attention.self.query", x, gift), lin(W, L + "attention.self.key", x, gift), lin(W, L + "attention.self.value", x, gift), mask, cfg["num_attention_heads"])
        a = ln(lin(W, L + "attention.output.dense", ctx, gift) + x, L + "attention.output.LayerNorm")
        h = F.gelu(lin(W, L + "intermediate.dense", a, gift))
        x = ln(lin(W, L + "output.dense", h, gift) + a, L + "output.LayerNorm")
    first = x[:, 0]
    if roberta:
        return lin(W, "classifier.out_proj", torch.tanh(lin(W, "classifier.dense", first)))
    return lin(W, "classifier", torch.tanh(lin(W, p + "pooler.dense", first)))


def vit_logits(cfg, W, pixels, gift=None):
    eps = cfg["layer_norm_eps"]
    ln = lambda x, n: F.layer_norm(x, x.shape[-1:], W[n + ".weight"], W[n + ".bias"], eps)
    P = cfg["patch_size"]
    x = F.conv2d(pixels, W["vit.embeddings.patch_embeddings.projection.weight"], W["vit.embeddings.patch_embeddings.projection.bias"], stride=P)
    x = x.flatten(2).transpose(1, 2)
    cls = W["vit.embeddings.cls_token"].expand(x.shape[0], -1, -1)
    x = torch.cat([cls, x], 1) + W["vit.embeddings.position_embeddings"]
    for i in range(cfg["num_hidden_layers"]):
        L = f"vit.encoder.layer.{i}."
        h = ln(x, L + "layernorm_before")
        ctx = attention(lin(W, L + "attention.attention.query", h, gift), lin(W, L + "attention.attention.key", h, gift), lin(W, L + "attention.attention.value", h, gift), None, cfg["num_attention_heads"])
        x = x + lin(W, L + "attention.output.dense", ctx, gift)
        x = x + lin(W, L + "output.dense", F.gelu(lin(W, L + "intermediate.dense", ln(x, L + "layernorm_after"), gift)), gift)
    return lin(W, "classifier", ln(x, "vit.layernorm")[:, 0])


def random_weights(shapes, g):
    W = {}
    for name, shape in shapes.items():
        if name.endswith("LayerNorm.weight") or name.endswith("layernorm_before.weight") or name.endswith("layernorm_after.weight") or name == "vit.layernorm.weight":
            W[name] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            W[name] = 0.2 * torch.randn(shape, generator=g)
    return W


def bert_shapes(cfg):
    roberta = cfg["model_type"] == "roberta"
    p = "roberta." if roberta else "bert."
    H, I, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_labels"]
    s = {
        p + "embeddings.word_embeddings.weight": (cfg["vocab_size"], H),
        p + "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], H),
        p + "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], H),
        p + "embeddings.LayerNorm.weight": (H,), p + "embeddings.LayerNorm.bias": (H,),
    }
    for i in range(cfg["num_hidden_layers"]):
        L = f"{p}encoder.layer.{i}."
        for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
            s[L + m + ".weight"], s[L + m + ".bias"] = (H, H), (H,)
        s[L + "attention.output.LayerNorm.weight"], s[L + "attention.output.LayerNorm.bias"] = (H,), (H,)
        s[L + "intermediate.dense.weight"], s[L + "intermediate.dense.bias"] = (I, H), (I,)
        s[L + "output.dense.weight"], s[L + "output.dense.bias"] = (H, I), (H,)
        s[L + "output.LayerNorm.weight"], s[L + "output.LayerNorm.bias"] = (H,), (H,)
    s[p + "pooler.dense.weight"], s[p + "pooler.dense.bias"] = (H, H), (H,)  # RoBERTa checkpoints carry an unused pooler too
    if roberta:
        s["classifier.dense.weight"], s["classifier.dense.bias"] = (H, H), (H,)
        s["classifier.out_proj.weight"], s["classifier.out_proj.bias"] = (n, H), (n,)
    else:
        s["classifier.weight"], s["classifier.bias"] = (n, H), (n,)
    return s


def vit_shapes(cfg):
    H, I, C, P, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_channels"], cfg["patch_size"], cfg["num_labels"]
    patches = (cfg["image_size"] // P) ** 2
    s = {
        "vit.embeddings.cls_token": (1, 1, H), "vit.embeddings.position_embeddings": (1, patches + 1, H),
        "vit.embeddings.patch_embeddings.projection.weight": (H, C, P, P), "vit.embeddings.patch_embeddings.projection.bias": (H,),
        "vit.layernorm.weight": (H,), "vit.layernorm.bias": (H,), "classifier.weight": (n, H), "classifier.bias": (n,),
    }
    for i in range(cfg["num_hidden_layers"]):
        L = f"vit.encoder.layer.{i}."
        for m in ["attention.attention.query", "attention.attention.key", "attention.attention.value", "attention.output.dense"]:
            s[L + m + ".weight"], s[L + m + ".bias"] = (H, H), (H,)
        for m in ["layernorm_before", "layernorm_after"]:
            s[L + m + ".weight"], s[L + m + ".bias"] = (H,), (H,)
        s[L + "intermediate.dense.weight"], s[L + "intermediate.dense.bias"] = (I, H), (I,)
        s[L + "output.dense.weight"], s[L + "output.dense.bias"] = (H, I), (H,)
    return s


def bert_tokenizer_json():
    """A WordPiece tokenizer as transformers' BertTokenizerFast writes one (lower-cased, [CLS] A [SEP] B [SEP])."""
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "##s", "run", "##ning", ".", ",", "!", "is", "big"]
    vocab = {w: i for i, w in enumerate(words)}
    special = lambda w: {"id": vocab[w], "content": w, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special(w) for w in words[:5]],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {w: {"id": w, "ids": [vocab[w]], "tokens": [w]} for w in ["[CLS]", "[SEP]"]},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
    }, vocab


def roberta_tokenizer_json():
    """A byte-level BPE tokenizer as RobertaTokenizerFast writes one (<s> A </s></s> B </s>)."""
    base = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    chars = list("abcdefghijklmnopqrstuvwxyz.,!") + ["Ġ"]
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "c"), ("a", "t"), ("Ġc", "at"), ("Ġ", "s"), ("Ġs", "at"), ("Ġ", "d"), ("o", "g"), ("Ġd", "og"), ("t", "he")]
    words = base + chars + ["".join(m) for m in merges]
    vocab = {}
    for w in words:
        vocab.setdefault(w, len(vocab))
    special = lambda w: {"id": vocab[w], "content": w, "single_word": False, "lstrip": w == "<mask>", "rstrip": False, "normalized": False, "special": True}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special(w) for w in base],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", vocab["</s>"]], "cls": ["<s>", vocab["<s>"]], "trim_offsets": True, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }, vocab


def gift_pairs(g, targets, in_features, rank, alpha):
    out = {}
    for t in targets:
        phi = (0.3 * torch.randn(rank, in_features, generator=g)).requires_grad_()
        psi = (0.3 * torch.randn(in_features, rank, generator=g)).requires_grad_()
        out[t] = (phi, psi, alpha / rank)
    return out


def write_text_fixture(root, name, model_type, seed):
    g = torch.Generator().manual_seed(seed)
    roberta = model_type == "roberta"
    tok, vocab = roberta_tokenizer_json() if roberta else bert_tokenizer_json()
    cfg = {
        "architectures": ["RobertaForSequenceClassification" if roberta else "BertForSequenceClassification"], "model_type": model_type,
        "vocab_size": len(vocab) + 3, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
        "hidden_act": "gelu", "max_position_embeddings": 20, "type_vocab_size": 1 if roberta else 2, "layer_norm_eps": 1e-5 if roberta else 1e-12,
        "pad_token_id": 1 if roberta else 0, "id2label": {"0": "neg", "1": "pos", "2": "neutral"}, "label2id": {"neg": 0, "pos": 1, "neutral": 2},
        "num_labels": 3,
    }
    W = random_weights(bert_shapes(cfg), g)
    pad = cfg["pad_token_id"]
    lengths = [7, 5, 3]
    ids = torch.full((3, 7), pad, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(5, cfg["vocab_size"], (n,), generator=g)
    mask = (torch.arange(7)[None] < torch.tensor(lengths)[:, None]).float()
    types = torch.zeros_like(ids)
    if not roberta:
        types[0, 4:7] = 1  # a sentence pair in the first row
    labels = torch.tensor([2, 0, 1])
    logits = bert_logits(cfg, W, ids, mask, types)
    loss = F.cross_entropy(logits, labels)
    gift = gift_pairs(g, ["query", "value"], 16, 4, 8.0)
    head_names = ["classifier.dense.weight", "classifier.out_proj.weight"] if roberta else ["classifier.weight"]
    for n in head_names:
        W[n].requires_grad_()
    gl = F.cross_entropy(bert_logits(cfg, W, ids, mask, types, gift), labels)
    gl.backward()
    ref = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels, "logits": logits.detach(), "loss": loss.detach().reshape(1), "gift_loss": gl.detach().reshape(1)}
    for t, (phi, psi, _) in gift.items():
        ref[f"gift.{t}.phi"], ref[f"gift.{t}.psi"] = phi.detach(), psi.detach()
        ref[f"grad.gift.{t}.phi"], ref[f"grad.gift.{t}.psi"] = phi.grad, psi.grad
    for n in head_names:
        ref[f"grad.{n}"] = W[n].grad
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_safetensors(os.path.join(d, "model.safetensors"), {k: v.detach() for k, v in W.items()})
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tok, f)
    save_safetensors(os.path.join(d, "reference.safetensors"), ref)


def write_vit_fixture(root, seed):
    g = torch.Generator().manual_seed(seed)
    cfg = {
        "architectures": ["ViTForImageClassification"], "model_type": "vit", "image_size": 8, "patch_size": 4, "num_channels": 3,
        "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "qkv_bias": True, "id2label": {"0": "a", "1": "b", "2": "c"}, "label2id": {"a": 0, "b": 1, "c": 2},
    }
    cfg["num_labels"] = 3
    W = random_weights(vit_shapes(cfg), g)
    pixels = torch.randn(2, 3, 8, 8, generator=g)
    labels = torch.tensor([1, 2])
    logits = vit_logits(cfg, W, pixels)
    gift = gift_pairs(g, ["attention.output.dense"], 16, 4, 4.0)
    W["classifier.weight"].requires_grad_()
    gl = F.cross_entropy(vit_logits(cfg, W, pixels, gift), labels)
    gl.backward()
    phi, psi, _ = gift["attention.output.dense"]
    ref = {"pixel_values": pixels, "labels": labels, "logits": logits.detach(), "gift_loss": gl.detach().reshape(1),
           "gift.attention.output.dense.phi": phi.detach(), "gift.attention.output.dense.psi": psi.detach(),
           "grad.gift.attention.output.dense.phi": phi.grad, "grad.gift.attention.output.dense.psi": psi.grad, "grad.classifier.weight": W["classifier.weight"].grad}
    d = os.path.join(root, "vit")
    os.makedirs(d, exist_ok=True)
    del cfg["num_labels"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
        json.dump({"do_resize": True, "size": {"height": 8, "width": 8}, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_rescale": True, "rescale_factor": 1 / 255}, f, indent=2)
    save_safetensors(os.path.join(d, "model.safetensors"), {k: v.detach() for k, v in W.items()})
    save_safetensors(os.path.join(d, "reference.safetensors"), ref)
    # The same weights under timm's names (vit_* checkpoints: fused qkv, blocks.N, head), and timm's config.
    T = {"cls_token": W["vit.embeddings.cls_token"], "pos_embed": W["vit.embeddings.position_embeddings"],
         "patch_embed.proj.weight": W["vit.embeddings.patch_embeddings.projection.weight"], "patch_embed.proj.bias": W["vit.embeddings.patch_embeddings.projection.bias"],
         "norm.weight": W["vit.layernorm.weight"], "norm.bias": W["vit.layernorm.bias"], "head.weight": W["classifier.weight"], "head.bias": W["classifier.bias"]}
    for i in range(cfg["num_hidden_layers"]):
        L, B = f"vit.encoder.layer.{i}.", f"blocks.{i}."
        for part in ["weight", "bias"]:
            T[B + "attn.qkv." + part] = torch.cat([W[L + f"attention.attention.{m}.{part}"] for m in ["query", "key", "value"]])
            for hf, tm in [("layernorm_before", "norm1"), ("layernorm_after", "norm2"), ("attention.output.dense", "attn.proj"), ("intermediate.dense", "mlp.fc1"), ("output.dense", "mlp.fc2")]:
                T[B + tm + "." + part] = W[L + hf + "." + part]
    dt = os.path.join(root, "vit-timm")
    os.makedirs(dt, exist_ok=True)
    with open(os.path.join(dt, "config.json"), "w") as f:
        json.dump({"architecture": "vit_tiny_patch4_8", "num_classes": 3, "num_heads": 2, "label_names": ["a", "b", "c"],
                   "pretrained_cfg": {"input_size": [3, 8, 8], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}, f, indent=2)
    save_safetensors(os.path.join(dt, "model.safetensors"), {k: v.detach() for k, v in T.items()})


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/encoders"
    torch.set_grad_enabled(True)
    write_text_fixture(root, "bert", "bert", 11)
    write_text_fixture(root, "roberta", "roberta", 12)
    write_vit_fixture(root, 13)
    print("wrote", root)
