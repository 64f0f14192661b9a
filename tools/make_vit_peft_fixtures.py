#!/usr/bin/env python3
"""Writes a ViT folder with transformers 5.17's save_pretrained and a LoRA adapter PEFT 0.21 saves on it, for
test/models/vit_adapter_naming.test.ts. transformers 5 names ViT's modules in memory otherwise than in its
checkpoint (vit.layers.0.attention.q_proj vs vit.encoder.layer.0.attention.attention.query), and PEFT saves the
in-memory names. Run with the peer venv (../shared/peer/setup_peer.sh prints its python):
    python tools/make_vit_peft_fixtures.py test/fixtures/vit_peft
The outputs are committed; CI never runs this script.
  vit/   ViTForImageClassification (float32; hidden 16, 2 layers, 2 heads, MLP 32, 8x8 images of 4x4 patches, 3 labels)
  lora/  PEFT LoRA r2 alpha 4 on q_proj, v_proj, o_proj and fc2 (the MLP's output: "output.dense" in the checkpoint,
         a name that also ends attention.output.dense), with reference.safetensors: pixel_values F32 [2, 3, 8, 8] and
         the adapted logits F32 [2, 3] (and base_logits without the adapter).
"""
import os
import sys

import torch


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/vit_peft"
    import transformers
    import peft
    from transformers import ViTConfig, ViTForImageClassification
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
    torch.manual_seed(0)
    config = ViTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, image_size=8, patch_size=4,
                       num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    model = ViTForImageClassification(config).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g) + (1.0 if name.endswith("layernorm_before.weight") or name.endswith("layernorm_after.weight") or name.endswith("layernorm.weight") else 0.0))
    model.save_pretrained(os.path.join(out, "vit"))
    pixels = torch.randn(2, 3, 8, 8, generator=g)
    with torch.no_grad():
        base_logits = model(pixel_values=pixels).logits
    pm = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj", "o_proj", "fc2"]))
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_" in n:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    pm.eval()
    pm.save_pretrained(os.path.join(out, "lora"))
    with torch.no_grad():
        logits = pm(pixel_values=pixels).logits
    save_file({"pixel_values": pixels.contiguous(), "logits": logits.contiguous(), "base_logits": base_logits.contiguous()}, os.path.join(out, "lora", "reference.safetensors"))
    print(sorted(__import__("safetensors").safe_open(os.path.join(out, "lora", "adapter_model.safetensors"), "pt").keys())[:4])


if __name__ == "__main__":
    main()
