#!/usr/bin/env python3
"""Writes a Phi-2-shaped folder (PhiForCausalLM) exactly as transformers 5.17's save_pretrained writes it, with
PyTorch's outputs beside it, for giftjs's Phi tests (test/models/phi.test.ts, test/cli/modern_families.test.ts).
Run with the peer venv (../shared/peer/setup_peer.sh prints its python), from the repository root:
    python tools/make_phi_fixtures.py test/fixtures/phi
The outputs are committed; CI never runs this script.

Folders written (float32, 2 layers, vocabulary 96, hidden 32, 4 heads of head_dim 8, GQA 4/2):
  phi2/        PhiForCausalLM: LayerNorm with biases, attention and MLP side by side, biases on every projection and on
               the untied LM head, GELU (gelu_new) MLP, partial_rotary_factor 0.5 (RoPE over 4 of 8 dimensions), and
               Phi-2's resid_pdrop 0.1 (off in evaluation, where the references are taken); every weight and bias random.
  phi2-lora/   PEFT 0.21 LoRA r4 alpha 8 on q_proj, k_proj, v_proj, dense, fc1 and fc2 of phi2/, with the adapted outputs.
reference.safetensors and cli_reference.json are laid out as tools/make_sliding_window_fixtures.py says.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_sliding_window_fixtures import reference_inputs, write_cli_reference, write_lora_fixture, write_model_fixture  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/phi"
    import peft
    import transformers
    from transformers import PhiConfig
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
    ids, mask = reference_inputs()
    config = PhiConfig(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=128, layer_norm_eps=1e-5, resid_pdrop=0.1,
                       partial_rotary_factor=0.5, bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    ref = write_model_fixture(out, "phi2", config, ids, mask)
    write_cli_reference(os.path.join(out, "phi2"), ref)
    write_lora_fixture(out, "phi2", ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"], ids, mask, with_cli_reference=False)


if __name__ == "__main__":
    main()
