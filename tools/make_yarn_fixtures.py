#!/usr/bin/env python3
"""Writes Qwen3- and Llama-shaped folders with YaRN RoPE scaling exactly as transformers 5.17's save_pretrained
writes them, with PyTorch's outputs beside each, for giftjs's tests (test/models/yarn.test.ts). Run with the peer
venv (../shared/peer/setup_peer.sh prints its python):
    python tools/make_yarn_fixtures.py test/fixtures/yarn
The outputs are committed; CI never runs this script.

Folders written (float32, 2 layers, vocabulary 96, hidden 32, head_dim 16 so that 8 frequencies span YaRN's ramp):
  qwen3-yarn/  Qwen3ForCausalLM, rope_parameters {yarn, theta 10000, factor 4, original_max_position_embeddings 64}
               (max_position_embeddings 256): the ramp's ends truncated to whole dimensions, attention factor
               0.1 ln 4 + 1.
  llama-yarn/  LlamaForCausalLM, {yarn, theta 500000, factor 8, original 32, beta_fast 16, beta_slow 2, mscale 1,
               mscale_all_dim 0.5, truncate false} (max 256): a fractional ramp, the attention factor as the ratio
               of the two mscales.
(Phi3ForCausalLM is left out: transformers reads Phi-3's "yarn" as an old name of LongRoPE, and giftjs refuses it.)
Each reference.safetensors is laid out as tools/make_sliding_window_fixtures.py says; rope_reference.safetensors
holds transformers' own inv_freq F32 [8] and attention_scaling F32 [1] of the model's rotary embedding.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_sliding_window_fixtures import reference_inputs, save_reference, write_model_fixture  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/yarn"
    import transformers
    from transformers import LlamaConfig, Qwen3Config
    print("torch", torch.__version__, "transformers", transformers.__version__)
    ids, mask = reference_inputs()
    common = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-6, bos_token_id=1,
                  eos_token_id=2, tie_word_embeddings=False)
    configs = {
        "qwen3-yarn": Qwen3Config(**common, rope_parameters={
            "rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 64}),
        "llama-yarn": LlamaConfig(**common, rope_parameters={
            "rope_type": "yarn", "rope_theta": 500000.0, "factor": 8.0, "original_max_position_embeddings": 32,
            "beta_fast": 16.0, "beta_slow": 2.0, "mscale": 1.0, "mscale_all_dim": 0.5, "truncate": False}),
    }
    os.makedirs(out, exist_ok=True)
    for name, config in configs.items():
        model = write_model_fixture(out, name, config, ids, mask)
        rotary = model.model.rotary_emb
        save_reference(os.path.join(out, name, "rope_reference.safetensors"), {
            "inv_freq": rotary.inv_freq.float(), "attention_scaling": torch.tensor([float(rotary.attention_scaling)])})
        print(name, "inv_freq", rotary.inv_freq.tolist(), "attention_scaling", rotary.attention_scaling)


if __name__ == "__main__":
    main()
