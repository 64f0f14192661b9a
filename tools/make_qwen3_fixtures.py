#!/usr/bin/env python3
"""Writes Qwen3 folders exactly as transformers 5.17's save_pretrained writes them, with PyTorch's
outputs beside each, for giftjs's Qwen3 tests (test/models/qwen3.test.ts). Run with the peer venv
(../shared/peer/setup_peer.sh prints its python):
    python tools/make_qwen3_fixtures.py test/fixtures/qwen3
The outputs are committed; CI never runs this script.

Folders written:
  qwen3/       Qwen3ForCausalLM (float32): q_norm / k_norm on each head before RoPE, head_dim 16 while
               hidden / heads is 8, GQA 4/2, tied embeddings; reference.safetensors holds input_ids I32 [2, 12],
               logits F32 [2, 12, vocab], and greedy [1, 16] (8 prompt ids, then 8 ids transformers'
               generate() chose with its KV cache).
  qwen3-bf16/  the same model saved in bfloat16 (untied head), with the logits of the bf16 weights computed in float32.
  lora/        PEFT 0.21 LoRA r4 alpha 8 on q_proj, v_proj of qwen3/, with the adapted logits.
"""
import os
import sys

import torch


def save_reference(path, tensors):
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path)


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("q_norm.weight", "k_norm.weight", "layernorm.weight", "norm.weight")):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))  # every norm weight matters
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/qwen3"
    import transformers
    import peft
    from transformers import Qwen3Config, Qwen3ForCausalLM
    from peft import LoraConfig, get_peft_model
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
    ids = torch.randint(3, 96, (2, 12), generator=torch.Generator().manual_seed(1))
    for name, tied, dtype in [("qwen3", True, torch.float32), ("qwen3-bf16", False, torch.bfloat16)]:
        torch.manual_seed(0)
        config = Qwen3Config(
            vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=128, rms_norm_eps=1e-6,
            tie_word_embeddings=tied, bos_token_id=1, eos_token_id=2, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        )
        config._attn_implementation = "eager"
        model = Qwen3ForCausalLM(config).eval()
        randomize(model, 7)
        model = model.to(dtype)
        d = os.path.join(out, name)
        model.save_pretrained(d)
        # The saved weights read back in float32, as a user loads them: (a bf16 model cast with .float()
        # would also carry its RoPE frequencies rounded to bf16.)
        ref = Qwen3ForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        ref.config._attn_implementation = "eager"
        with torch.no_grad():
            logits = ref(input_ids=ids).logits.float()
            greedy = ref.generate(ids[:1, :8], max_new_tokens=8, do_sample=False, min_new_tokens=8, eos_token_id=None, pad_token_id=0)
        save_reference(os.path.join(d, "reference.safetensors"), {"input_ids": ids.to(torch.int32), "logits": logits, "greedy": greedy.to(torch.int32)})
        print(name, open(os.path.join(d, "config.json")).read())
    base = Qwen3ForCausalLM.from_pretrained(os.path.join(out, "qwen3")).eval()
    pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_A" in n or "lora_B" in n:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    pm.eval()
    d = os.path.join(out, "lora")
    pm.save_pretrained(d)
    with torch.no_grad():
        adapted = pm(input_ids=ids).logits.float()
    save_reference(os.path.join(d, "reference.safetensors"), {"input_ids": ids.to(torch.int32), "logits": adapted})


if __name__ == "__main__":
    main()
