#!/usr/bin/env python3
"""PyTorch peer for `gift bench generate --torch`: transformers' own greedy `generate` with its KV cache on a
causal LM built from a config.json with random weights (bench/torch_random_model.py, as `gift bench` fills its
own), in --dtype, on --threads; PyTorch 2 + transformers 5 (the peer venv: ../shared/peer/setup_peer.sh).

    python bench/torch_hf_generate.py --config shape.json --dtype bfloat16 --prompt 16 --tokens 32 --threads 2

A warm-up generation first, then one timed: the prefill is the time to the first new token, decoding the
tokens after it. Prints one JSON line: tokens_per_s (decoding), prefill_tokens_per_s, load_s, torch, transformers.
"""
import argparse
import json
import time

import torch
import transformers
from transformers.generation.streamers import BaseStreamer

from torch_random_model import random_causal_lm

p = argparse.ArgumentParser()
p.add_argument("--config", required=True, help="a config.json: the model built with random weights")
p.add_argument("--dtype", choices=["bfloat16", "float32"], default="float32")
p.add_argument("--prompt", type=int, default=16)
p.add_argument("--tokens", type=int, default=32)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

t0 = time.perf_counter()
model = random_causal_lm(a.config, getattr(torch, a.dtype), "torch_hf_generate.py")
model.eval()
load_s = time.perf_counter() - t0


class Clock(BaseStreamer):
    """The time of each new token (generate puts the prompt first, then one token per step)."""

    def __init__(self):
        self.times = []
        self.prompt_seen = False

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self):
        pass


ids = torch.randint(0, model.config.vocab_size, (1, a.prompt))
# Greedy past any end-of-sequence token, every token made (as giftjs's benchmark and llama.cpp's decode).
settings = dict(max_new_tokens=a.tokens + 1, min_new_tokens=a.tokens + 1, do_sample=False, use_cache=True, pad_token_id=0)
with torch.inference_mode():
    model.generate(ids, **settings)
    clock = Clock()
    start = time.perf_counter()
    out = model.generate(ids, streamer=clock, **settings)
made = out.shape[1] - a.prompt
if made != a.tokens + 1 or len(clock.times) != made:
    raise SystemExit(f"torch_hf_generate.py: generate made {made} tokens ({len(clock.times)} timed), asked {a.tokens + 1}")
print(json.dumps({
    "tokens_per_s": a.tokens / (clock.times[-1] - clock.times[0]),
    "prefill_tokens_per_s": a.prompt / (clock.times[0] - start),
    "load_s": load_s,
    "torch": torch.__version__,
    "transformers": transformers.__version__,
}))
