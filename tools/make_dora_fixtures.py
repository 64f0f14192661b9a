#!/usr/bin/env python3
"""Writes DoRA adapters exactly as PEFT 0.21 saves them (LoraConfig(use_dora=True)), with PEFT's outputs and
gradients beside them, for giftjs's DoRA tests (test/peft/dora.test.ts). Run with the peer venv
(../shared/peer/setup_peer.sh prints its python), from the repository root:
    python tools/make_dora_fixtures.py test/fixtures/dora
The outputs are committed; CI never runs this script.

mistral-dora/  DoRA r4 alpha 8 on every linear layer of test/fixtures/sliding_window/mistral (float32, untied head,
               q/k/v/o of unequal widths under GQA), lora_A, lora_B 0.3 x normal draws and every magnitude its
               initial value (the rows' norms) times 1 + 0.2 x normal (B = 0 and m = norm would test nothing).
  reference.safetensors   as tools/make_sliding_window_fixtures.py describes: PEFT's eval-mode logits of input_ids
               [2, 14] with left padding, the loss of row 0, a greedy continuation through the KV cache.
  gradients.safetensors   in training mode (lora_dropout 0): "loss" F32 [] (row 0's mean next-token loss) and, for
               each trained tensor under its saved name, d loss / d tensor.
  merged.safetensors      "logits" F32 [2, 14, 96]: the same inputs after merge_and_unload() (PEFT's DoRA merge).
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_sliding_window_fixtures import outputs, reference_inputs, save_reference  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/dora"
    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
    ids, mask = reference_inputs()
    base_dir = "test/fixtures/sliding_window/mistral"  # relative: adapter_config.json records it
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    base.config._attn_implementation = "eager"
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=targets, use_dora=True))
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_A" in n or "lora_B" in n:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif "lora_magnitude_vector" in n:
                p.mul_(1 + 0.2 * torch.randn(p.shape, generator=g))
    d = os.path.join(out, "mistral-dora")
    pm.save_pretrained(d)
    pm.eval()
    save_reference(os.path.join(d, "reference.safetensors"), outputs(pm, ids, mask))
    # Gradients in training mode (no dropout: lora_dropout 0), keyed by the names save_pretrained wrote.
    from safetensors.torch import load_file
    saved = set(load_file(os.path.join(d, "adapter_model.safetensors")).keys())
    pm.train()
    pm.zero_grad()
    loss = pm(input_ids=ids[:1], labels=ids[:1]).loss
    loss.backward()
    grads = {"loss": loss.detach().float()}
    for n, p in pm.named_parameters():
        if p.requires_grad:
            key = n.replace(".default", "").replace(".lora_magnitude_vector.weight", ".lora_magnitude_vector")
            if key not in saved:
                raise SystemExit(f"{key} is not among the saved names {sorted(saved)[:4]}")
            grads[key] = p.grad.detach().clone()
    save_reference(os.path.join(d, "gradients.safetensors"), grads)
    pm.eval()
    merged = pm.merge_and_unload()
    with torch.no_grad():
        logits = merged(input_ids=ids, attention_mask=mask).logits.float()
    save_reference(os.path.join(d, "merged.safetensors"), {"logits": logits})
    print(sorted(saved)[:6])


if __name__ == "__main__":
    main()
