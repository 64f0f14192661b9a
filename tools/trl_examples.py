#!/usr/bin/env python3
"""The reference for giftjs's training examples: the token ids and labels TRL's SFTTrainer makes of each
record of a JSONL file (text, prompt/completion as strings or as lists of messages, with "tools" and
"chat_template_kwargs"), with the tokenizer of a folder. Each record is its own one-row dataset, so
records of different forms may share a file. The model is a one-layer Qwen 3 of the tokenizer's
vocabulary (SFTTrainer wants one; tokenizing does not use it).

    python tools/trl_examples.py TOKENIZER_FOLDER RECORDS.jsonl [--assistant-only-loss | --no-completion-only-loss] [--dataset-text-field F]

--assistant-only-loss: TRL's assistant_only_loss (the loss on the tokens the chat template marks with
{% generation %}), for "messages" records. --no-completion-only-loss: TRL's completion_only_loss=False
(the loss on the prompt's tokens too, for prompt-completion records; "messages" records learn every
token by TRL's default already). --dataset-text-field F: TRL's dataset_text_field, the field text records
hold their text in. Prints one JSON line: [{"input_ids": [...], "labels": [...]}, ...]. Runs in the peer venv (trl, datasets).
"""
import json
import sys
import tempfile

from datasets import Dataset
from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM
from trl import SFTConfig, SFTTrainer


def main() -> None:
    assistant_only = "--assistant-only-loss" in sys.argv[3:]
    completion_only = False if "--no-completion-only-loss" in sys.argv[3:] else None  # None: TRL's default (True for prompt-completion)
    text_field = sys.argv[sys.argv.index("--dataset-text-field") + 1] if "--dataset-text-field" in sys.argv[3:] else "text"
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                         num_attention_heads=1, num_key_value_heads=1, head_dim=8)
    model = Qwen3ForCausalLM(config)
    out = []
    for record in records:
        with tempfile.TemporaryDirectory() as d:
            args = SFTConfig(output_dir=d, report_to=[], max_length=None, use_cpu=True, bf16=False, assistant_only_loss=assistant_only,
                             completion_only_loss=completion_only, dataset_text_field=text_field)
            trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list([record]), processing_class=tokenizer)
            row = trainer.train_dataset[0]
            out.append({"input_ids": row["input_ids"], "labels": row["labels"]})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
