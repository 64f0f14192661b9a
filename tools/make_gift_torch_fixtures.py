#!/usr/bin/env python3
"""Writes GIFT adapters made by python/gift_torch on transformers 5.17's own models of every causal-LM family
giftjs reads (the folders tools/make_sliding_window_fixtures.py, make_gemma_fixtures.py and
make_phi_longrope_fixtures.py and make_phi_fixtures.py wrote), with transformers' loss through each, for test/cli/gift_torch_adapters.test.ts:
an adapter gift_torch makes on a transformers model loads in giftjs and gives the same loss. Run with the peer venv
(../shared/peer/setup_peer.sh prints its python), from the repository root:
    python tools/make_gift_torch_fixtures.py test/fixtures/gift_torch [family ...]
(naming families writes only those). The outputs are committed; CI never runs this script.

For each family: gift_torch.apply_gift on AutoModelForCausalLM.from_pretrained(<folder>) (eager attention) with rank 4
on the family's default targets (q_proj,v_proj; Phi-3's fused qkv_proj), phi and psi then set to 0.2 x normal draws
(psi is zero at the start, which would test nothing), gift_torch.save_adapter into <out>/<family>/, and
<out>/<family>/reference.json: the folder it was made on and the mean next-token loss over texts.jsonl (each text with
BOS, then EOS), computed by transformers through gift_torch's hooks in float64 logits as make_sliding_window_fixtures
computes it.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "python"))
from make_sliding_window_fixtures import text_loss, FileTokenizer  # noqa: E402
import gift_torch.gift as gift  # noqa: E402

FAMILIES = {
    "mistral": ("sliding_window/mistral", ["q_proj", "v_proj"]),
    "qwen2": ("sliding_window/qwen2", ["q_proj", "v_proj"]),
    "qwen3": ("sliding_window/qwen3", ["q_proj", "v_proj"]),
    "phi3": ("sliding_window/phi3", ["qkv_proj"]),
    "phi4mini": ("phi_longrope/phi4mini", ["qkv_proj"]),
    "gemma3": ("gemma/gemma3", ["q_proj", "v_proj"]),
    "gemma2": ("gemma/gemma2", ["q_proj", "v_proj"]),
    "gemma1": ("gemma/gemma1", ["q_proj", "v_proj"]),
    "phi2": ("phi/phi2", ["q_proj", "v_proj"]),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/gift_torch"
    fixtures = os.path.join(HERE, "..", "test", "fixtures")
    import transformers
    from transformers import AutoModelForCausalLM
    print("torch", torch.__version__, "transformers", transformers.__version__)
    only = sys.argv[2:]
    for name, (folder, targets) in FAMILIES.items():
        if only and name not in only:
            continue
        path = os.path.join(fixtures, folder)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        model.config._attn_implementation = "eager"
        gift.apply_gift(model, {"method": "gift", "rank": 4, "target_modules": targets}, seed=3)
        g = torch.Generator().manual_seed(5)
        with torch.no_grad():
            for t in model.gift_adapter.parameters():
                t.copy_(0.2 * torch.randn(t.shape, generator=g))
        d = os.path.join(out, name)
        gift.save_adapter(model, d, base_model=folder)
        loss = text_loss(model, FileTokenizer(path))
        with open(os.path.join(d, "reference.json"), "w") as f:
            json.dump({"model": folder, "data": os.path.join(os.path.dirname(folder), "texts.jsonl"), "adapter_loss": loss}, f, indent=2)
            f.write("\n")
        print(name, loss)


if __name__ == "__main__":
    main()
