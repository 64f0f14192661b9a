#!/usr/bin/env python3
"""Writes Gemma 3 (text), Gemma 2 and Gemma folders exactly as transformers 5.17's save_pretrained writes
them, with PyTorch's outputs beside each, for giftjs's Gemma tests (test/models/gemma.test.ts). Run with the
peer venv (../shared/peer/setup_peer.sh prints its python):
    python tools/make_gemma_fixtures.py test/fixtures/gemma [folder ...]
(naming folders writes only those, and their -lora folders). The outputs are committed; CI never runs this script.

Folders written (3 layers, vocabulary 96, hidden 32, 4/2 heads of head_dim 16, texts of 14 ids):
  gemma3/       Gemma3ForCausalLM (float32, tied): layer_types [sliding, full, sliding] with window 4,
                global RoPE theta 1e6 with linear scaling x2, local theta 1e4, query_pre_attn_scalar 24,
                q/k norms, every (1 + w) norm weight random.
  gemma3-bf16/  the same model saved in bfloat16 (untied head); its outputs those of the bf16 weights in float32.
  gemma2/       Gemma2ForCausalLM (float32, tied), final_logit_softcapping 3 and attn_logit_softcapping 0.6
                (small, so the caps matter), layer_types by transformers' default (every second layer global).
  gemma1/       GemmaForCausalLM (float32, tied): two norms a block, 1/sqrt(head_dim), every layer global, and
                hidden_act "gelu" (the erf form), as the hub's gemma-2b and gemma-7b configs say it.
  gemma3-lora/, gemma2-lora/, gemma1-lora/   PEFT 0.21 LoRA r4 alpha 8 on every linear layer of gemma3/, gemma2/
                and gemma1/, with the adapted outputs.
gemma3/, gemma2/ and gemma1/ also get the tokenizer and cli_reference.json (with the adapter's loss) as
tools/make_sliding_window_fixtures.py describes; token ids 1 and 2 are BOS and EOS, as that tokenizer has them.
Each reference.safetensors holds what tools/make_sliding_window_fixtures.py describes: input_ids and
attention_mask I32 [2, 14] (row 1 left-padded by 3), logits F32 [2, 14, 96], loss F32 [] (row 0, no
mask), greedy I32 [1, 20] (6 prompt ids, 14 chosen by generate() with its KV cache).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_sliding_window_fixtures import outputs, save_reference, write_cli_reference, write_lora_fixture  # noqa: E402


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))  # Gemma's norms scale by (1 + w)
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/gemma"
    import transformers
    import peft
    from transformers import AutoModelForCausalLM, Gemma2Config, Gemma3TextConfig, GemmaConfig
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
    ids = torch.randint(3, 96, (2, 14), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 14, dtype=torch.long)
    mask[1, :3] = 0
    ids[1, :3] = 0
    shape = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, max_position_embeddings=128, rms_norm_eps=1e-6,
                 bos_token_id=1, eos_token_id=2, pad_token_id=0)
    common = dict(**shape, sliding_window=4, query_pre_attn_scalar=24)
    gemma3 = lambda tied: Gemma3TextConfig(
        **common, tie_word_embeddings=tied, layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
    configs = [
        ("gemma3", gemma3(True), torch.float32),
        ("gemma3-bf16", gemma3(False), torch.bfloat16),
        ("gemma2", Gemma2Config(**common, tie_word_embeddings=True, final_logit_softcapping=3.0, attn_logit_softcapping=0.6), torch.float32),
        ("gemma1", GemmaConfig(**shape, tie_word_embeddings=True, hidden_act="gelu"), torch.float32),
    ]
    only = sys.argv[2:]
    for name, config, dtype in configs:
        if only and name not in only:
            continue
        torch.manual_seed(0)
        config._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(config).eval()
        randomize(model, 7)
        model = model.to(dtype)
        d = os.path.join(out, name)
        model.save_pretrained(d)
        ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        ref.config._attn_implementation = "eager"
        save_reference(os.path.join(d, "reference.safetensors"), outputs(ref, ids, mask))
        if name != "gemma3-bf16":
            write_cli_reference(d, ref)
        print(name, open(os.path.join(d, "config.json")).read())
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    for name in ("gemma3", "gemma2", "gemma1"):
        if only and name not in only:
            continue
        write_lora_fixture(out, name, targets, ids, mask, with_cli_reference=False)

if __name__ == "__main__":
    main()
