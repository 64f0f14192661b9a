#!/usr/bin/env python3
"""The reference for giftjs's trainer: TRL's SFTTrainer (transformers' Trainer underneath) fine-tunes a
model folder on a prompt/completion JSONL file from the same starting weights giftjs started from --
or, with "task": "seqcls", transformers' Trainer fine-tunes a sequence classifier on a {"text", "label"}
JSONL file (labels through the model's label2id; with "regression": true, a one-output head on numbers), or with
"task": "imgcls" an image classifier on a folder per class -- and writes what it did: each update's loss,
gradient norm (before clipping) and learning rate, and the trained tensors.

    python tools/trainer_compare.py SETTINGS.json
    python tools/trainer_compare.py --decay-names FOLDER...

The second form prints, for each model folder, the names of its parameters and of those the Trainer
applies weight decay to (Trainer.get_decay_parameter_names), as one JSON line.

SETTINGS: {"model": folder, "data": jsonl, "method": "lora" | "gift" | "bitfit" | "full", "init": the starting
adapter folder (lora: PEFT's layout, gift: giftjs's), "out": folder, "batch_size", "grad_accum",
"epochs", "lr", "warmup_ratio", "weight_decay", "max_grad_norm", "scheduler", "seed", and optionally "min_lr"
(cosine_with_min_lr's floor), "task", "regression", "max_length" (a classifier's tokens, truncated)}.
Writes OUT/logs.json ([{"step", "loss", "grad_norm", "learning_rate"}]) and OUT/trained.safetensors
(lora: PEFT's tensor names; gift: giftjs's; bitfit and full: the model's).
Runs in the peer venv (torch, transformers, peft, trl, datasets).
"""
import json
import os
import sys

import torch
from datasets import Dataset
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments
from trl import SFTConfig, SFTTrainer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import gift_torch  # noqa: E402

if sys.argv[1] == "--decay-names":
    import transformers

    out = {}
    for folder in sys.argv[2:]:
        architecture = json.load(open(os.path.join(folder, "config.json")))["architectures"][0]
        model = getattr(transformers, architecture).from_pretrained(folder, dtype=torch.float32)
        # The method reads only the model it is given, not the Trainer.
        out[folder] = {"names": [n for n, _ in model.named_parameters()], "decayed": Trainer.get_decay_parameter_names(None, model)}
    print(json.dumps(out))
    sys.exit(0)

s = json.load(open(sys.argv[1]))
torch.manual_seed(s["seed"])
seqcls = s.get("task") == "seqcls"
imgcls = s.get("task") == "imgcls"
regression = s.get("regression", False)
if imgcls:
    from transformers import AutoModelForImageClassification, ViTImageProcessorPil

    model = AutoModelForImageClassification.from_pretrained(s["model"], dtype=torch.float32, attn_implementation="eager")
    tokenizer = None
elif seqcls and regression:
    # A one-output head in place of the checkpoint's (the starting adapter holds it, as giftjs made it).
    model = AutoModelForSequenceClassification.from_pretrained(s["model"], dtype=torch.float32, num_labels=1, problem_type="regression", ignore_mismatched_sizes=True)
else:
    # Eager attention: the formulas themselves (Gemma 2's softcapped scores, sliding windows), which an SDPA
    # kernel may leave out (Gemma 2's softcapping) or compute another way.
    model = (AutoModelForSequenceClassification if seqcls else AutoModelForCausalLM).from_pretrained(s["model"], dtype=torch.float32, attn_implementation="eager")
if not imgcls:
    tokenizer = AutoTokenizer.from_pretrained(s["model"])
if s["method"] == "lora":
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, s["init"], is_trainable=True)
elif s["method"] == "gift":
    gift_torch.load_adapter(model, s["init"])  # phi and psi registered on the model, the rest frozen
elif s["method"] == "bitfit":
    # BitFit: every bias (layer norms' too), and a classifier's head beside them, as giftjs trains them.
    for name, param in model.named_parameters():
        param.requires_grad_(name.endswith(".bias") or name.startswith("classifier."))
elif s["method"] != "full":
    raise SystemExit(f"method {s['method']!r}: lora, gift, bitfit or full")

if imgcls:
    from PIL import Image

    # A folder per class, each image made as the folder's preprocessor_config.json says.
    processor = ViTImageProcessorPil.from_pretrained(s["model"])  # Pillow's (the default one needs torchvision)
    rows = []
    for name in sorted(os.listdir(s["data"])):
        for file in sorted(os.listdir(os.path.join(s["data"], name))):
            image = Image.open(os.path.join(s["data"], name, file)).convert("RGB")
            rows.append({"pixel_values": processor(images=image, return_tensors="pt")["pixel_values"][0], "labels": model.config.label2id[name]})
    dataset = Dataset.from_list(rows).with_format("torch")
else:
    records = [json.loads(line) for line in open(s["data"]) if line.strip()]
    if seqcls:
        length = {"max_length": s["max_length"]} if s.get("max_length") is not None else {}
        rows = [{**tokenizer(r["text"], truncation=True, **length), "labels": float(r["label"]) if regression else model.config.label2id[r["label"]]} for r in records]
        dataset = Dataset.from_list(rows)
    else:
        dataset = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in records])

class Logs(TrainerCallback):
    def __init__(self):
        self.rows = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.rows.append({"step": state.global_step, "loss": logs["loss"], "grad_norm": float(logs["grad_norm"]), "learning_rate": logs["learning_rate"]})


logs = Logs()
settings = dict(
    output_dir=os.path.join(s["out"], "hf"), per_device_train_batch_size=s["batch_size"], gradient_accumulation_steps=s["grad_accum"],
    num_train_epochs=s["epochs"], learning_rate=s["lr"], warmup_steps=s["warmup_ratio"], weight_decay=s["weight_decay"],
    max_grad_norm=s["max_grad_norm"], lr_scheduler_type=s["scheduler"], seed=s["seed"], logging_steps=1, save_strategy="no",
    report_to=[], use_cpu=True, bf16=False, fp16=False, optim="adamw_torch", adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, disable_tqdm=True,
    lr_scheduler_kwargs={"min_lr": s["min_lr"]} if s.get("min_lr") is not None else {},
)
if imgcls:
    trainer = Trainer(model=model, args=TrainingArguments(**settings), train_dataset=dataset, callbacks=[logs])
elif seqcls:
    trainer = Trainer(model=model, args=TrainingArguments(**settings), train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer), callbacks=[logs])
else:
    config = SFTConfig(**settings, completion_only_loss=True, packing=False, max_length=None, dataset_num_proc=None)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer, callbacks=[logs])
trainer.train()

if s["method"] == "lora":
    from peft import get_peft_model_state_dict

    trained = {k: v.detach().clone().contiguous() for k, v in get_peft_model_state_dict(model).items()}
elif s["method"] == "gift":
    pairs = model.gift_adapter.parameters()
    # The pairs under giftjs's names, and what is trained in full beside them (a classifier's head) under the model's.
    beside = {n: p for n, p in model.named_parameters() if p.requires_grad and all(p is not q for q in pairs)}
    trained = {k: v.detach().clone().contiguous() for k, v in {**model.gift_adapter.named_tensors(), **beside}.items()}
elif s["method"] == "bitfit":
    trained = {k: v.detach().clone().contiguous() for k, v in model.named_parameters() if v.requires_grad}
else:
    trained = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
save_file(trained, os.path.join(s["out"], "trained.safetensors"))
json.dump(logs.rows, open(os.path.join(s["out"], "logs.json"), "w"), indent=1)
print(json.dumps({"steps": len(logs.rows)}))
