#!/usr/bin/env python3
"""Writes small GGUF files with llama.cpp's own Python package (gguf, from the local wheel index) and
transformers' outputs for them, for giftjs's GGUF import tests (test/models/gguf_import.test.ts). Run with
the peer venv (../shared/peer/setup_peer.sh gguf prints its python):
    python tools/make_gguf_fixtures.py test/fixtures/gguf
The outputs are committed; CI never runs this script.

The model is a LlamaForCausalLM (transformers 5.17, random weights: hidden 64, 2 layers, 4 heads of 16, 2
key/value heads, MLP 96, untied head) with a SentencePiece vocabulary of 3 specials, 256 byte tokens, the
characters of English text and merges of them (scores: earlier merges higher), laid out as llama.cpp's
convert_hf_to_gguf.py lays out a Llama: q_proj / k_proj rows permuted per head to interleaved RoPE pairs.
Files written:
  tiny-f32.gguf    every tensor F32.
  tiny-q8_0.gguf   matrices Q8_0, Q4_0 for the MLP's down_proj (both by gguf.quants), norms F32.
  tiny-phi3.gguf   a Phi3ForCausalLM (same sizes, fused qkv_proj / gate_up_proj, rotate-half RoPE: nothing permuted) as
                   llama.cpp's "phi3" architecture, F32, with the same vocabulary.
  tiny-phi3-chat.gguf  the same with Phi-3's chat tokens appended to the vocabulary (llama.cpp's phi3 loader needs
                   them; test/cli/gguf_export.test.ts exports it back for llama.cpp), no reference.
  reference.json   for each file, what transformers computes when it loads that GGUF itself
                   (from_pretrained(gguf_file=...): its own GGUF reader, dequantizer and tokenizer converter):
                   the ids of TEXT, the logits of those ids, and a greedy continuation of PROMPT.
"""
import json
import os
import sys

import numpy as np
import torch

TEXT = "The quick brown fox jumps over the lazy dog, then sleeps. Ünïcode and emoji 🦊 use byte fallback."
PROMPT = "The lazy dog"


def vocabulary():
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    chars = ["\u2581"] + list("etaoinshrdlcumwfgypbvkjxqzTHEAOINSRDLCUMWFGYPBVKJXQZ.,!?'-0123456789")
    merges = ["\u2581t", "he", "\u2581a", "in", "er", "an", "\u2581the", "on", "\u2581s", "en", "at", "\u2581o", "ed", "\u2581w", "\u2581T",
              "\u2581The", "ou", "\u2581f", "\u2581d", "ow", "\u2581b", "\u2581l", "\u2581do", "\u2581dog", "ps", "\u2581j"]
    scores = [0.0, 0.0, 0.0] + [0.0] * 256
    types = [2, 3, 3] + [6] * 256
    for i, c in enumerate(chars):
        pieces.append(c)
        scores.append(-1000.0 - i)  # single characters: below every merge
        types.append(1)
    for k, m in enumerate(merges):
        pieces.append(m)
        scores.append(-float(k))
        types.append(1)
    return pieces, scores, types


def permute(w, heads):
    # convert_hf_to_gguf.py's LlamaModel.permute: Hugging Face's rotate-half rows to interleaved pairs.
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/gguf"
    os.makedirs(out, exist_ok=True)
    import gguf
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM
    print("torch", torch.__version__, "transformers", transformers.__version__, "gguf", gguf.__version__ if hasattr(gguf, "__version__") else "?")
    pieces, scores, types = vocabulary()
    config = LlamaConfig(vocab_size=len(pieces), hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=False,
                         bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((1.0 + 0.2 * torch.randn(p.shape, generator=g)) if name.endswith("norm.weight") else 0.15 * torch.randn(p.shape, generator=g))
    sd = {k: v.numpy().astype(np.float32) for k, v in model.state_dict().items()}
    Q = gguf.GGMLQuantizationType
    reference = {}
    for fname, qtype in [("tiny-f32.gguf", None), ("tiny-q8_0.gguf", Q.Q8_0)]:
        path = os.path.join(out, fname)
        w = gguf.GGUFWriter(path, "llama")
        w.add_name("tiny")
        w.add_context_length(256)
        w.add_embedding_length(64)
        w.add_block_count(2)
        w.add_feed_forward_length(96)
        w.add_rope_dimension_count(16)
        w.add_head_count(4)
        w.add_head_count_kv(2)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_freq_base(10000.0)
        w.add_vocab_size(len(pieces))
        w.add_file_type(0 if qtype is None else 7)
        w.add_tokenizer_model("llama")
        w.add_token_list(pieces)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)

        def tensor(name, arr, matrix_type=qtype):
            if arr.ndim == 2 and matrix_type is not None:
                w.add_tensor(name, gguf.quants.quantize(arr, matrix_type), raw_dtype=matrix_type)
            else:
                w.add_tensor(name, arr)

        tensor("token_embd.weight", sd["model.embed_tokens.weight"])
        for i in range(2):
            p = f"model.layers.{i}."
            tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
            tensor(f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], 4))
            tensor(f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], 2))
            tensor(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
            tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
            tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
            tensor(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
            tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
            tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"], Q.Q4_0 if qtype is not None else None)
        tensor("output_norm.weight", sd["model.norm.weight"])
        tensor("output.weight", sd["lm_head.weight"])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

        # transformers reads the GGUF itself: the reference for the weights and the tokenizer.
        reference[fname] = transformers_reference(out, fname)
        ids = reference[fname]["ids"]
        print(fname, len(ids), "ids", ids[:20])
    reference["tiny-phi3.gguf"] = write_phi3(out, pieces, scores, types)
    # The same with Phi-3's chat tokens (control tokens) after the others: a vocabulary llama.cpp's phi3 loads.
    write_phi3(out, pieces + PHI3_CHAT_TOKENS, scores + [0.0] * len(PHI3_CHAT_TOKENS), types + [3] * len(PHI3_CHAT_TOKENS), "tiny-phi3-chat.gguf", reference=False)
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f)


def transformers_reference(out, fname, logits_of=None):
    """What transformers 5.17 makes of the GGUF out/fname when it reads it itself (its GGUF reader, dequantizer and
    tokenizer converter): the ids of TEXT, their logits and decoded text, and a greedy continuation of PROMPT."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(out, gguf_file=fname)
    ref = AutoModelForCausalLM.from_pretrained(out, gguf_file=fname, dtype=torch.float32).eval()
    # The text's pieces without special tokens (transformers 5.17's GGUF tokenizer adds no BOS
    # although the file says add_bos_token), then BOS put first by hand, as llama.cpp puts it.
    ids = [1] + tok(TEXT, add_special_tokens=False).input_ids
    prompt = [1] + tok(PROMPT, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = ref(input_ids=torch.tensor([ids])).logits[0].float()
        greedy = ref.generate(torch.tensor([prompt]), max_new_tokens=10, min_new_tokens=10, do_sample=False, pad_token_id=0)
    return {"text": TEXT, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True),
            "logits": [float(f"{float(x):.7g}") for x in logits.flatten()], "prompt": PROMPT, "greedy": greedy[0, len(prompt):].tolist()}


# Phi-3's chat tokens, which llama.cpp's phi3 vocabulary loader looks up by text.
PHI3_CHAT_TOKENS = ["<|endoftext|>", "<|end|>", "<|user|>", "<|assistant|>"]


def write_phi3(out, pieces, scores, types, fname="tiny-phi3.gguf", reference=True):
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer, Phi3Config, Phi3ForCausalLM
    config = Phi3Config(vocab_size=len(pieces), hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, max_position_embeddings=256, original_max_position_embeddings=256, rms_norm_eps=1e-5,
                        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    model = Phi3ForCausalLM(config).eval()
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((1.0 + 0.2 * torch.randn(p.shape, generator=g)) if name.endswith("norm.weight") else 0.15 * torch.randn(p.shape, generator=g))
    sd = {k: v.numpy().astype(np.float32) for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(os.path.join(out, fname), "phi3")
    w.add_name("tiny-phi3")
    for add, v in [(w.add_context_length, 256), (w.add_embedding_length, 64), (w.add_block_count, 2), (w.add_feed_forward_length, 96),
                   (w.add_head_count, 4), (w.add_head_count_kv, 2), (w.add_rope_dimension_count, 16), (w.add_vocab_size, len(pieces))]:
        add(v)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list(pieces)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(0)  # transformers' Phi-3 GGUF tokenizer reads a pad id
    w.add_add_bos_token(True)
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(2):
        p = f"model.layers.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        w.add_tensor(f"blk.{i}.attn_qkv.weight", sd[p + "self_attn.qkv_proj.weight"])
        w.add_tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        w.add_tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.gate_up_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.add_tensor("output.weight", sd["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if not reference:
        return None
    # The ids from the same vocabulary read as a llama file: transformers 5.17's Phi-3 GGUF tokenizer builds its
    # BPE without the SentencePiece merges (other ids than llama.cpp's); its Llama one gives llama.cpp's.
    tok = AutoTokenizer.from_pretrained(out, gguf_file="tiny-f32.gguf")
    ref = AutoModelForCausalLM.from_pretrained(out, gguf_file=fname, dtype=torch.float32).eval()
    ids = [1] + tok(TEXT, add_special_tokens=False).input_ids
    prompt = [1] + tok(PROMPT, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = ref(input_ids=torch.tensor([ids])).logits[0].float()
        greedy = ref.generate(torch.tensor([prompt]), max_new_tokens=10, min_new_tokens=10, do_sample=False, pad_token_id=0)
        # The GGUF read back by transformers is the model written: the file is what convert_hf_to_gguf.py writes.
        direct = model(input_ids=torch.tensor([ids])).logits[0].float()
    print(fname, "transformers' GGUF reader vs the model written: max |d logits|", (logits - direct).abs().max().item())
    return {"text": TEXT, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True),
            "logits": [float(f"{float(x):.7g}") for x in logits.flatten()], "prompt": PROMPT, "greedy": greedy[0, len(prompt):].tolist()}


if __name__ == "__main__":
    main()
