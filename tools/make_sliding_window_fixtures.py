#!/usr/bin/env python3
"""Writes folders with sliding-window attention exactly as transformers 5.17's save_pretrained writes
them, with PyTorch's outputs beside each, for giftjs's sliding-window tests
(test/models/sliding_window.test.ts). Run with the peer venv (../shared/peer/setup_peer.sh prints its python):
    python tools/make_sliding_window_fixtures.py test/fixtures/sliding_window
The outputs are committed; CI never runs this script.

Folders written (float32, 2 layers, vocabulary 96, texts of 14 ids: longer than every window):
  mistral/       MistralForCausalLM, sliding_window 5 on every layer, GQA 4/2, untied head.
  qwen2/         Qwen2ForCausalLM, use_sliding_window with max_window_layers 1: layer 0 attends to
                 everything, layer 1 over a window of 4 (transformers writes layer_types itself).
  qwen3/         Qwen3ForCausalLM, use_sliding_window, layer_types [sliding, full] given, window 3, tied.
  phi3/          Phi3ForCausalLM: fused qkv_proj and gate_up_proj, sliding_window 5 on every layer, GQA 4/2.
  mistral-lora/  PEFT 0.21 LoRA r4 alpha 8 on every linear layer of mistral/, with the adapted outputs.
  phi3-lora/     the same on every linear layer of phi3/ (qkv_proj, o_proj, gate_up_proj, down_proj).
  qwen2-lora/, qwen3-lora/   the same on every linear layer of qwen2/ and qwen3/.
Each model folder also gets the 96-token tokenizer of test/fixtures/llama/llama-gqa and cli_reference.json:
what `gift eval --data texts.jsonl` and `gift generate --prompt` must print, computed by transformers from
texts.jsonl (each text tokenized with BOS, then EOS appended; the mean next-token loss over every token of
every text) and greedy generate() (12 new tokens, decoded without special tokens); "adapter_loss" is the same
loss through the folder's -lora adapter where there is one.
Each reference.safetensors holds input_ids I32 [2, 14], attention_mask I32 [2, 14] (row 1 starts with
3 padding positions), logits F32 [2, 14, vocab] (transformers' forward with that mask; the padded
rows' logits are meaningless there), loss F32 [] (transformers' mean next-token loss of row 0, no
mask), and greedy I32 [1, 20] (6 prompt ids, then 14 ids generate() chose with its KV cache).
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
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))  # every norm weight matters
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def outputs(model, ids, mask):
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        loss = model(input_ids=ids[:1], labels=ids[:1]).loss.float()
        greedy = model.generate(ids[:1, :6], max_new_tokens=14, min_new_tokens=14, do_sample=False, eos_token_id=None, pad_token_id=0)
    return {"input_ids": ids.to(torch.int32), "attention_mask": mask.to(torch.int32), "logits": logits, "loss": loss, "greedy": greedy.to(torch.int32)}


TEXTS = ["the bird sat on the stone and sang a song to the hen", "In the end it is one word, then another.", "Hand her the red hat and the boat"]
PROMPT = "the cat"
TOKENIZER_FROM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "llama", "llama-gqa")


class FileTokenizer:
    """tokenizer.json's own pipeline (the tokenizers library). Not AutoTokenizer: transformers 5.17 builds
    Qwen2Tokenizer for a model_type qwen2 folder from the vocabulary alone, with Qwen2's byte-level
    pre-tokenizer, whatever tokenizer.json's normalizer says (checked here: other ids for this vocabulary)."""

    def __init__(self, folder):
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.eos_token_id = self.tok.token_to_id("</s>")

    def encode(self, text):
        return self.tok.encode(text).ids

    def decode(self, ids):
        return self.tok.decode(ids, skip_special_tokens=True)


def text_loss(model, tok):
    total, count = 0.0, 0
    with torch.no_grad():
        for text in TEXTS:
            ids = torch.tensor([tok.encode(text) + [tok.eos_token_id]])
            logits = model(input_ids=ids).logits.double()
            total += torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum").item()
            count += ids.shape[1] - 1
    return total / count


def write_cli_reference(folder, model):
    """Copies the tokenizer into the folder and writes what gift eval / gift generate must print."""
    import json
    import shutil
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZER_FROM, name), os.path.join(folder, name))
    tok = FileTokenizer(folder)
    with open(os.path.join(os.path.dirname(folder), "texts.jsonl"), "w") as f:
        for text in TEXTS:
            f.write(json.dumps({"text": text}) + "\n")
    prompt = torch.tensor([tok.encode(PROMPT)])
    with torch.no_grad():
        out = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0)
    reference = {"loss": text_loss(model, tok), "prompt": PROMPT,
                 "generated": tok.decode(out[0, prompt.shape[1]:].tolist()),
                 "generated_ids": out[0, prompt.shape[1]:].tolist()}
    with open(os.path.join(folder, "cli_reference.json"), "w") as f:
        json.dump(reference, f, indent=2)


def add_adapter_loss(folder, adapted):
    """The same loss through a PEFT model (computed after the base's: PEFT changes the base in place)."""
    import json
    path = os.path.join(folder, "cli_reference.json")
    reference = json.load(open(path))
    reference["adapter_loss"] = text_loss(adapted, FileTokenizer(folder))
    with open(path, "w") as f:
        json.dump(reference, f, indent=2)


def write_lora_fixture(out, name, targets, ids, mask, with_cli_reference=True, scale=0.3):
    """<name>-lora/: PEFT LoRA r4 alpha 8 on `targets` of <name>/ (random adapter values, `scale` x normal), with its
    outputs, and the adapted loss in <name>/cli_reference.json (written first from the base when with_cli_reference)."""
    from transformers import AutoModelForCausalLM
    from peft import LoraConfig, get_peft_model
    base = AutoModelForCausalLM.from_pretrained(os.path.join(out, name)).eval()
    base.config._attn_implementation = "eager"
    if with_cli_reference:
        write_cli_reference(os.path.join(out, name), base)
    pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=targets))
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_A" in n or "lora_B" in n:
                p.copy_(scale * torch.randn(p.shape, generator=g))
    pm.eval()
    d = os.path.join(out, f"{name}-lora")
    pm.save_pretrained(d)
    save_reference(os.path.join(d, "reference.safetensors"), outputs(pm, ids, mask))
    add_adapter_loss(os.path.join(out, name), pm)


def reference_inputs():
    """input_ids and attention_mask [2, 14]: row 1 starts with 3 padding positions."""
    ids = torch.randint(3, 96, (2, 14), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 14, dtype=torch.long)
    mask[1, :3] = 0
    ids[1, :3] = 0
    return ids, mask


def write_model_fixture(out, name, config, ids, mask):
    """<out>/<name>/: a model of `config` with randomized weights as save_pretrained writes it, and transformers'
    outputs beside it (reference.safetensors); returns the model read back from the folder."""
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    config._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(config).eval()
    randomize(model, 7)
    d = os.path.join(out, name)
    model.save_pretrained(d)
    ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    ref.config._attn_implementation = "eager"
    save_reference(os.path.join(d, "reference.safetensors"), outputs(ref, ids, mask))
    print(name, open(os.path.join(d, "config.json")).read())
    return ref


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/sliding_window"
    import transformers
    import peft
    from transformers import MistralConfig, Phi3Config, Qwen2Config, Qwen3Config
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)
    ids, mask = reference_inputs()
    common = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2)
    configs = {
        "mistral": MistralConfig(**common, sliding_window=5, tie_word_embeddings=False),
        "qwen2": Qwen2Config(**common, use_sliding_window=True, sliding_window=4, max_window_layers=1, tie_word_embeddings=False),
        "qwen3": Qwen3Config(**common, head_dim=8, use_sliding_window=True, sliding_window=3,
                             layer_types=["sliding_attention", "full_attention"], tie_word_embeddings=True),
        "phi3": Phi3Config(**{**common, "eos_token_id": 2, "pad_token_id": 0}, sliding_window=5, tie_word_embeddings=False),
    }
    for name, config in configs.items():
        write_model_fixture(out, name, config, ids, mask)
    every_linear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lora_targets = {"mistral": every_linear, "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"], "qwen2": every_linear, "qwen3": every_linear}
    for name, targets in lora_targets.items():
        write_lora_fixture(out, name, targets, ids, mask)

if __name__ == "__main__":
    main()
