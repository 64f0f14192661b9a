#!/usr/bin/env python3
"""Writes Phi-3.5- and Phi-4-mini-shaped folders (LongRoPE; Phi-4-mini's partial rotary) exactly as
transformers 5.17's save_pretrained writes them, with PyTorch's outputs beside each, for giftjs's tests
(test/models/phi_longrope.test.ts, test/cli/modern_families.test.ts). Run with the peer venv
(../shared/peer/setup_peer.sh prints its python):
    python tools/make_phi_longrope_fixtures.py test/fixtures/phi_longrope
The outputs are committed; CI never runs this script.

Folders written (float32, 2 layers, vocabulary 96, head_dim 8, GQA 4/2, original_max_position_embeddings 8 and
max_position_embeddings 64, so the 14-id texts use the long factors and greedy decoding crosses from short to long):
  phi35/          Phi3ForCausalLM with rope_scaling longrope (4 short and 4 long factors), untied head.
  phi4mini/       the same with partial_rotary_factor 0.75 (RoPE over 6 of 8 dimensions; 3 factors each), tied.
  phi4mini-lora/  PEFT 0.21 LoRA r4 alpha 8 (values 0.15 x normal) on qkv_proj, o_proj, gate_up_proj, down_proj of phi4mini/.
Each reference.safetensors and cli_reference.json is laid out as tools/make_sliding_window_fixtures.py says, except
that every greedy continuation comes from generate(use_cache=False): the full forward at each step, which is what
transformers means to compute (its Phi-3 prepare_inputs_for_generation drops the cache when the text first passes
original_max_position_embeddings, "enforce re-compute cache"). With the cache, 5.17 then feeds only the newest token
with no past at every later step (checked here: past_key_values None, input_ids [1, 1] from position 8 on), so its
tokens there depend on no context at all.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_sliding_window_fixtures import reference_inputs, write_cli_reference, write_lora_fixture, write_model_fixture  # noqa: E402


def full_forward_generate():
    """Every generate() call of this script (outputs(), write_cli_reference(), PEFT's) runs with use_cache=False."""
    from transformers.generation import utils
    generate = utils.GenerationMixin.generate

    def without_cache(self, *args, **kwargs):
        kwargs["use_cache"] = False
        return generate(self, *args, **kwargs)
    utils.GenerationMixin.generate = without_cache


def main():
    full_forward_generate()
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/phi_longrope"
    import transformers
    import peft
    from transformers import Phi3Config
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
    ids, mask = reference_inputs()
    common = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, original_max_position_embeddings=8,
                  rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    configs = {
        "phi35": Phi3Config(**common, tie_word_embeddings=False, rope_scaling={
            "type": "longrope", "short_factor": [1.0, 1.1, 1.3, 2.0], "long_factor": [1.0, 1.5, 3.0, 6.0]}),
        "phi4mini": Phi3Config(**common, tie_word_embeddings=True, partial_rotary_factor=0.75, rope_scaling={
            "type": "longrope", "short_factor": [1.0, 1.2, 1.7], "long_factor": [1.0, 2.5, 5.0]}),
    }
    os.makedirs(out, exist_ok=True)
    for name, config in configs.items():
        write_cli_reference(os.path.join(out, name), write_model_fixture(out, name, config, ids, mask))
    # Adapter values of 0.15 x normal: at 0.3 this model's float32 logits are ill-conditioned (transformers' own
    # float32 logits were 2.8e-4 from its float64 ones at one position), too far to check a float32 program to 3e-5.
    write_lora_fixture(out, "phi4mini", ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"], ids, mask, scale=0.15)


if __name__ == "__main__":
    main()
