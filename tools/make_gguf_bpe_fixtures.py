#!/usr/bin/env python3
"""Writes a Qwen2 GGUF with a byte-level BPE vocabulary (llama.cpp's "gpt2" tokenizer, pre-tokenizer "qwen2"),
as llama.cpp's convert_hf_to_gguf.py lays one out, with llama.cpp's own gguf package, and transformers 5.17's
outputs for it, for test/models/gguf_import.test.ts. Run with the peer venv (../shared/peer/setup_peer.sh gguf):
    python tools/make_gguf_bpe_fixtures.py test/fixtures/gguf
The outputs are committed; CI never runs this script.

  qwen2-bpe.gguf   Qwen2ForCausalLM (random weights: hidden 64, 2 layers, 4 heads, 2 key/value heads, MLP 96, q/k/v
                   biases, tied embeddings), F32 except Q8_0 q/k/v; the vocabulary a byte-level BPE trained here with
                   the tokenizers library (Qwen2's split pattern, 256 byte symbols, merges), plus <|endoftext|>.
  llama3-bpe.gguf  the same vocabulary as llama.cpp's "llama" architecture with Llama 3's pre-tokenizer ("llama-bpe":
                   digits in threes, merges ignored for whole-word tokens) and a <|begin_of_text|> BOS added; one
                   layer of random weights: for tokenization against llama.cpp only (transformers 5.17 reads Llama 3
                   GGUF vocabularies with GPT-2's split pattern, not Llama 3's).
  qwen2-bpe.json   what transformers computes when it loads that GGUF itself: the ids of TEXT (no BOS: Qwen adds
                   none), their logits, a greedy continuation of PROMPT.
"""
import json
import os
import sys

import numpy as np
import torch

TEXT = "The quick brown fox jumps over 12345 lazy dogs.\n  Ünïcode, emoji 🦊 and   spaces\tstay whole."
PROMPT = "The quick brown"
QWEN2_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def train_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    corpus = ["the quick brown fox jumps over the lazy dog", "a lazy dog sleeps in the sun", "foxes and dogs and cats",
              "numbers like 12345 and 678", "spaces   and\ttabs\nand lines"] * 20
    trainer = trainers.BpeTrainer(vocab_size=360, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[], show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    vocab = tok.get_vocab()
    model = json.loads(tok.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    return tokens, merges


def write_llama3(path, tokens, merges):
    import gguf
    w = gguf.GGUFWriter(path, "llama")
    n, hidden, heads = len(tokens), 32, 2
    for add, v in [(w.add_context_length, 128), (w.add_embedding_length, hidden), (w.add_block_count, 1), (w.add_feed_forward_length, 64),
                   (w.add_head_count, heads), (w.add_head_count_kv, heads), (w.add_rope_dimension_count, hidden // heads)]:
        add(v)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(500000.0)
    w.add_vocab_size(n)
    w.add_file_type(0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types([1] * (n - 2) + [3, 3])
    w.add_token_merges(merges)
    w.add_bos_token_id(n - 2)
    w.add_eos_token_id(n - 1)
    w.add_add_bos_token(True)
    r = np.random.default_rng(0)
    mat = lambda rows, cols: (0.1 * r.standard_normal((rows, cols))).astype(np.float32)
    w.add_tensor("token_embd.weight", mat(n, hidden))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(hidden, np.float32))
    for x in "qkv":
        w.add_tensor(f"blk.0.attn_{x}.weight", mat(hidden, hidden))
    w.add_tensor("blk.0.attn_output.weight", mat(hidden, hidden))
    w.add_tensor("blk.0.ffn_norm.weight", np.ones(hidden, np.float32))
    w.add_tensor("blk.0.ffn_gate.weight", mat(64, hidden))
    w.add_tensor("blk.0.ffn_up.weight", mat(64, hidden))
    w.add_tensor("blk.0.ffn_down.weight", mat(hidden, 64))
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    w.add_tensor("output.weight", mat(n, hidden))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/gguf"
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
    tokens, merges = train_tokenizer()
    tokens = tokens + ["<|endoftext|>"]
    types = [1] * (len(tokens) - 1) + [3]
    eos = len(tokens) - 1
    config = Qwen2Config(vocab_size=len(tokens), hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=True,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, eos_token_id=eos, bos_token_id=eos)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).eval()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((1.0 + 0.2 * torch.randn(p.shape, generator=g)) if name.endswith("norm.weight") else 0.15 * torch.randn(p.shape, generator=g))
    sd = {k: v.numpy().astype(np.float32) for k, v in model.state_dict().items()}
    path = os.path.join(out, "qwen2-bpe.gguf")
    Q = gguf.GGMLQuantizationType
    w = gguf.GGUFWriter(path, "qwen2")
    w.add_name("tiny-qwen2")
    w.add_context_length(256)
    w.add_embedding_length(64)
    w.add_block_count(2)
    w.add_feed_forward_length(96)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(eos)
    w.add_bos_token_id(eos)
    w.add_add_bos_token(False)

    def tensor(name, arr, qtype=None):
        if qtype is not None:
            w.add_tensor(name, gguf.quants.quantize(arr, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(name, arr)

    tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(2):
        p = f"model.layers.{i}."
        tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        for x in "qkv":
            tensor(f"blk.{i}.attn_{x}.weight", sd[p + f"self_attn.{x}_proj.weight"], Q.Q8_0)
            tensor(f"blk.{i}.attn_{x}.bias", sd[p + f"self_attn.{x}_proj.bias"])
        tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        tensor(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    tensor("output_norm.weight", sd["model.norm.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    write_llama3(os.path.join(out, "llama3-bpe.gguf"), tokens[:-1] + ["<|begin_of_text|>", "<|end_of_text|>"], merges)

    tok = AutoTokenizer.from_pretrained(out, gguf_file="qwen2-bpe.gguf")
    ref = AutoModelForCausalLM.from_pretrained(out, gguf_file="qwen2-bpe.gguf", dtype=torch.float32).eval()
    ids = tok(TEXT).input_ids
    prompt = tok(PROMPT).input_ids
    with torch.no_grad():
        logits = ref(input_ids=torch.tensor([ids])).logits[0].float()
        greedy = ref.generate(torch.tensor([prompt]), max_new_tokens=10, min_new_tokens=10, do_sample=False, pad_token_id=eos, eos_token_id=None)
    reference = {"text": TEXT, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True),
                 "logits": [float(f"{float(x):.7g}") for x in logits.flatten()], "prompt": PROMPT, "greedy": greedy[0, len(prompt):].tolist()}
    print(type(tok).__name__, len(ids), "ids", ids[:24], repr(reference["decoded"]))
    with open(os.path.join(out, "qwen2-bpe.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main()
