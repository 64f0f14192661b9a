#!/usr/bin/env python3
"""Writes a small llama GGUF whose matrices are in every ggml block type giftjs reads beyond Q8_0/Q4_0 (Q4_1,
Q5_0, Q5_1, the k-quants Q2_K..Q6_K and the i-quants IQ4_NL, IQ4_XS), and what llama.cpp's own Python package (gguf) and transformers 5.17
make of it, for test/models/gguf_kquants.test.ts. Run with the peer venv (../shared/peer/setup_peer.sh gguf
prints its python):
    python tools/make_gguf_kquant_fixtures.py test/fixtures/gguf
The outputs are committed; CI never runs this script.

The gguf package quantizes to none of the k- or i-quants, so the blocks are random bytes (codes, sub-block scales)
with their half-precision d / dmin / m fields set so every matrix has values of standard deviation ~0.05: a
random model, but every bit of every block layout is exercised. The model: hidden 256 (k-quant rows are whole
super-blocks of 256), MLP 512, 2 layers, 4 heads of 64, 2 key/value heads, untied head, the SentencePiece
vocabulary of make_gguf_fixtures.py. Files written:
  tiny-kquants.gguf    norms F32; every matrix in one of the types below (each type at least once).
  tiny-kquants.json    for each matrix, gguf.quants.dequantize's values at every 61st index (the reference the
                       reader is held to, value for value); transformers' token ids of TEXT, the logits of
                       those ids and a greedy continuation of PROMPT, from from_pretrained(gguf_file=...): its
                       own GGUF reader and dequantizer (gguf-py's).
"""
import json
import os
import sys

import numpy as np
import torch

from make_gguf_fixtures import transformers_reference, vocabulary

HIDDEN, MLP, LAYERS, HEADS, KV_HEADS = 256, 512, 2, 4, 2
SAMPLE_STRIDE = 61

# Which type each matrix has (layer 0, layer 1): every type giftjs newly reads, and Q8_0/Q4_0 beside them.
LAYER_TYPES = [
    {"attn_q": "Q4_K", "attn_k": "Q5_K", "attn_v": "Q6_K", "attn_output": "Q3_K", "ffn_gate": "Q2_K", "ffn_up": "Q4_1", "ffn_down": "Q5_0"},
    {"attn_q": "Q5_1", "attn_k": "IQ4_NL", "attn_v": "Q8_0", "attn_output": "Q4_0", "ffn_gate": "IQ4_XS", "ffn_up": "Q5_K", "ffn_down": "Q6_K"},
]

# Byte offsets of each type's half-precision fields in its block: scales (d) and offsets (dmin, or Q4_1/Q5_1's m).
HALF_FIELDS = {
    "Q8_0": {"d": 0}, "Q4_0": {"d": 0}, "Q4_1": {"d": 0, "m": 2}, "Q5_0": {"d": 0}, "Q5_1": {"d": 0, "m": 2},
    "Q2_K": {"d": 80, "dmin": 82}, "Q3_K": {"d": 108}, "Q4_K": {"d": 0, "dmin": 2}, "Q5_K": {"d": 0, "dmin": 2}, "Q6_K": {"d": 208},
    "IQ4_NL": {"d": 0}, "IQ4_XS": {"d": 0},
}
# Q4_1 / Q5_1: m centres the codes (0..15, 0..31) around zero.
CENTRE = {"Q4_1": 7.5, "Q5_1": 15.5}


def random_blocks(gguf, qtype_name, rows, cols, rng):
    """Random blocks of a [rows, cols] matrix, the half fields scaled for values of std ~0.05."""
    Q = gguf.GGMLQuantizationType[qtype_name]
    block_values, block_bytes = gguf.GGML_QUANT_SIZES[Q]
    assert cols % block_values == 0, (qtype_name, cols)
    n = rows * cols // block_values
    blocks = rng.integers(0, 256, size=(n, block_bytes), dtype=np.uint8)
    if qtype_name == "Q8_0":
        blocks[:, 2:] = rng.integers(-127, 128, size=(n, 32)).astype(np.int8).view(np.uint8)
    fields = HALF_FIELDS[qtype_name]
    d = rng.uniform(0.5, 1.5, size=n).astype(np.float32)
    dmin = rng.uniform(0.5, 1.5, size=n).astype(np.float32)
    m = -d * CENTRE.get(qtype_name, 0.0) * rng.uniform(0.9, 1.1, size=n).astype(np.float32)

    def set_fields(scale):
        for name, at in fields.items():
            v = {"d": d, "dmin": dmin, "m": m}[name] * np.float32(scale)
            blocks[:, at:at + 2] = v.astype(np.float16).view(np.uint8).reshape(n, 2)

    set_fields(1.0)
    set_fields(0.05 / gguf.quants.dequantize(blocks, Q).std())
    return blocks.reshape(rows, -1), Q


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/gguf"
    import gguf
    import transformers
    print("torch", torch.__version__, "transformers", transformers.__version__)
    pieces, scores, types = vocabulary()
    rng = np.random.default_rng(11)
    fname = "tiny-kquants.gguf"
    w = gguf.GGUFWriter(os.path.join(out, fname), "llama")
    w.add_name("tiny-kquants")
    for add, v in [(w.add_context_length, 256), (w.add_embedding_length, HIDDEN), (w.add_block_count, LAYERS), (w.add_feed_forward_length, MLP),
                   (w.add_rope_dimension_count, HIDDEN // HEADS), (w.add_head_count, HEADS), (w.add_head_count_kv, KV_HEADS), (w.add_vocab_size, len(pieces))]:
        add(v)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(15)  # MOSTLY_Q4_K_M: what a mixed-type file of llama.cpp's says
    w.add_tokenizer_model("llama")
    w.add_token_list(pieces)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    samples = {}

    def matrix(name, qtype_name, rows, cols):
        blocks, Q = random_blocks(gguf, qtype_name, rows, cols, rng)
        w.add_tensor(name, blocks, raw_dtype=Q)  # shape from the bytes per row
        values = gguf.quants.dequantize(blocks, Q).reshape(-1)
        samples[name] = {"type": qtype_name, "shape": [rows, cols], "values": [float(x) for x in values[::SAMPLE_STRIDE]]}

    def norm(name):
        w.add_tensor(name, (1.0 + 0.2 * rng.standard_normal(HIDDEN)).astype(np.float32))

    head_dim = HIDDEN // HEADS
    shapes = {"attn_q": (HIDDEN, HIDDEN), "attn_k": (KV_HEADS * head_dim, HIDDEN), "attn_v": (KV_HEADS * head_dim, HIDDEN),
              "attn_output": (HIDDEN, HIDDEN), "ffn_gate": (MLP, HIDDEN), "ffn_up": (MLP, HIDDEN), "ffn_down": (HIDDEN, MLP)}
    matrix("token_embd.weight", "Q6_K", len(pieces), HIDDEN)
    for i in range(LAYERS):
        norm(f"blk.{i}.attn_norm.weight")
        for part in ["attn_q", "attn_k", "attn_v", "attn_output"]:
            matrix(f"blk.{i}.{part}.weight", LAYER_TYPES[i][part], *shapes[part])
        norm(f"blk.{i}.ffn_norm.weight")
        for part in ["ffn_gate", "ffn_up", "ffn_down"]:
            matrix(f"blk.{i}.{part}.weight", LAYER_TYPES[i][part], *shapes[part])
    norm("output_norm.weight")
    matrix("output.weight", "Q5_K", len(pieces), HIDDEN)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    reference = transformers_reference(out, fname)
    del reference["decoded"]
    print(fname, len(reference["ids"]), "ids; greedy", reference["greedy"])
    reference = {"sample_stride": SAMPLE_STRIDE, "tensors": samples, **reference}
    with open(os.path.join(out, "tiny-kquants.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main()
