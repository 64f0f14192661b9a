#!/usr/bin/env python3
"""Writes model and adapter folders exactly as today's transformers (5.x) and PEFT save them, with
PyTorch's outputs beside each, for giftjs's loading tests.

It needs transformers >= 5 and PEFT (not in Debian): run it where they are installed, e.g.
    python3 tools/make_hf_v5_fixtures.py test/fixtures/hf-v5
The outputs are committed; CI never runs this script.

Folders written:
  llama3-v5/          LlamaForCausalLM.save_pretrained: config.json in the v5 layout (rope_parameters
                      with llama3 scaling and rope_theta 500000, dtype), model.safetensors, and
                      reference.safetensors (input_ids I32 [2, 12], logits F32 [2, 12, vocab]).
  lora-rslora/        PEFT LoRA r4 alpha 8 with use_rslora (scale alpha / sqrt(r)) on q_proj, v_proj.
  lora-patterns/      PEFT LoRA with a regex string target_modules, rank_pattern, alpha_pattern and
                      exclude_modules.
  lora-dora/          PEFT LoRA with use_dora (DoRA; magnitudes at their initial values, the rows' norms).
Each adapter folder holds what save_pretrained wrote plus reference.safetensors with the logits of
the adapted model on the same input_ids.
"""
import json
import os
import sys
import traceback

import torch


def save_reference(path, tensors):
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/hf-v5"
    os.makedirs(out, exist_ok=True)
    import transformers
    import peft
    from transformers import LlamaConfig, LlamaForCausalLM
    from peft import LoraConfig, get_peft_model
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, rms_norm_eps=1e-5, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=2,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
    )
    config._attn_implementation = "eager"
    model = LlamaForCausalLM(config).eval()
    # Larger weights than the default init, so that every part of the network moves the logits.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.2)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 96, (2, 12), generator=g)
    base_dir = os.path.join(out, "llama3-v5")
    model.save_pretrained(base_dir)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    save_reference(os.path.join(base_dir, "reference.safetensors"), {"input_ids": ids.to(torch.int32), "logits": logits})
    print(open(os.path.join(base_dir, "config.json")).read())

    adapters = {
        "lora-rslora": dict(r=4, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "v_proj"]),
        "lora-patterns": dict(r=4, lora_alpha=8, target_modules=r".*\.(q_proj|v_proj|up_proj)",
                              rank_pattern={"v_proj": 2, "layers.1.mlp.up_proj": 6},
                              alpha_pattern={"model.layers.1.self_attn.q_proj": 32},
                              exclude_modules=["model.layers.0.mlp.up_proj"]),
        "lora-dora": dict(r=4, lora_alpha=8, use_dora=True, target_modules=["q_proj", "v_proj"]),
    }
    for index, (name, kwargs) in enumerate(adapters.items()):
        try:
            base = LlamaForCausalLM.from_pretrained(base_dir).eval()
            pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", **kwargs))
            gen = torch.Generator().manual_seed(10 + index)
            with torch.no_grad():
                for n, p in pm.named_parameters():
                    if "lora_A" in n or "lora_B" in n:
                        p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            pm.eval()
            d = os.path.join(out, name)
            pm.save_pretrained(d)
            with torch.no_grad():
                adapted = pm(input_ids=ids).logits.float()
            save_reference(os.path.join(d, "reference.safetensors"), {"input_ids": ids.to(torch.int32), "logits": adapted})
            print(name, json.dumps(json.load(open(os.path.join(d, "adapter_config.json"))), sort_keys=True))
            print(name, "max |adapted - base| =", (adapted - logits).abs().max().item())
        except Exception:
            traceback.print_exc()


if __name__ == "__main__":
    main()
