"""Writes test/fixtures/quant/: float32 matrices and the Q8_0 / Q4_0 blocks the `gguf` Python package
(llama.cpp's own gguf-py, from this machine's local wheel index) makes of them, the independent
reference for giftjs's int8 and int4 quantizers (src/formats/quantized.ts).

giftjs's int8 is Q8_0's rule over a whole row and its int4 is Q4_0's rule over blocks of 32, so a
matrix 32 wide must come out as the same bytes: per block (per row for int8), d as float16 then the
codes (Q8_0: 32 signed bytes; Q4_0: 16 bytes, value i in the low nibble of byte i, value i + 16 in its
high one).

Run with the peer venv: python tools/make_quant_fixtures.py  (../shared/peer/setup_peer.sh gguf)
"""
import json
import os

import numpy as np
from gguf import GGMLQuantizationType, quants

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'quant')
os.makedirs(OUT, exist_ok=True)

rng = np.random.default_rng(2312)
rows, cols = 48, 32
w = rng.standard_normal((rows, cols)).astype(np.float32) * 0.05
w[0] = 0.0                                   # a zero block: d = 0, every code the middle one
w[1, 5] = -0.4                               # the largest magnitude negative: Q4_0's d flips sign
w[2] = np.linspace(-1.0, 1.0, cols)          # evenly spread, halves between codes
w[3, :16] = 1e-3; w[3, 16:] = -2e-3          # tiny values
w[4] *= 1000.0                               # large values
w[5] = np.float32(0.5) * np.arange(-16, 16)  # exact multiples: ties when scaled
w = w.astype(np.float32)

q8 = quants.quantize(w, GGMLQuantizationType.Q8_0)
q4 = quants.quantize(w, GGMLQuantizationType.Q4_0)
w.tofile(os.path.join(OUT, 'weight.f32'))
np.asarray(q8, dtype=np.uint8).tofile(os.path.join(OUT, 'q8_0.bin'))
np.asarray(q4, dtype=np.uint8).tofile(os.path.join(OUT, 'q4_0.bin'))
# gguf's dequantization, the values a llama.cpp reader of these blocks computes with.
quants.dequantize(q8, GGMLQuantizationType.Q8_0).astype(np.float32).tofile(os.path.join(OUT, 'q8_0.dequantized.f32'))
quants.dequantize(q4, GGMLQuantizationType.Q4_0).astype(np.float32).tofile(os.path.join(OUT, 'q4_0.dequantized.f32'))
with open(os.path.join(OUT, 'meta.json'), 'w') as f:
    json.dump({'rows': rows, 'cols': cols, 'source': 'gguf-py quants.quantize (Q8_0, Q4_0)', 'q8_0_block_bytes': 34, 'q4_0_block_bytes': 18}, f, indent=2)
    f.write('\n')
print('wrote', OUT)
