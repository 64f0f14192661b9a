"""Runs lm-eval (EleutherAI's harness) on each model folder twice -- its `hf` backend (transformers on the
folder) and its `local-completions` backend against a giftjs server -- and prints, as one JSON list (an
object a folder), each backend's per-request results: the loglikelihood requests of a multiple-choice task and the
generations of a generate_until task. test/cli/lm_eval.test.ts compares the two.

usage: lm_eval_compare.py <scratch dir> <model dir> <its server's base url, e.g. http://127.0.0.1:8080/v1> [<model dir> <url> ...]
"""
import json
import os
import sys

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import lm_eval  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

scratch = sys.argv[1]
pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))

MC = [
    {"question": "the dog sat on the", "choices": [" mat", " cat", " hat"], "label": 0},
    {"question": "once upon a", "choices": [" time", " dog", " the end"], "label": 0},
    {"question": "a cat and a", "choices": [" dog", " mat"], "label": 1},
    {"question": "the sun is", "choices": [" hot", " cold", " blue", " up"], "label": 2},
]
GEN = [
    {"question": "the dog sat on the", "answer": "mat"},
    {"question": "once upon a time there", "answer": "was"},
    {"question": "a cat", "answer": "sat"},
]

def write_task(name, docs, spec):
    """A task over `docs` (a JSONL file beside it), as lm-eval's YAML task files describe one."""
    with open(os.path.join(scratch, f"{name}.jsonl"), "w") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    task = {"task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": os.path.join(scratch, f"{name}.jsonl")}},
            "test_split": "test", "doc_to_text": "{{question}}", **spec}
    with open(os.path.join(scratch, f"{name}.yaml"), "w") as f:
        json.dump(task, f)  # (JSON is YAML)


write_task("tiny_mc", MC, {"output_type": "multiple_choice", "doc_to_target": "{{label}}", "doc_to_choice": "{{choices}}",
                           "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]})
write_task("tiny_gen", GEN, {"output_type": "generate_until", "doc_to_target": "{{answer}}",
                             "generation_kwargs": {"until": ["."], "max_gen_toks": 12, "do_sample": False},
                             "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]})

tasks = TaskManager(include_path=scratch)
out = []
for model_dir, base_url in pairs:
    backends = {
        "hf": ("hf", f"pretrained={model_dir},dtype=float32,add_bos_token=True"),
        "giftjs": ("local-completions", f"model=giftjs,base_url={base_url}/completions,tokenizer={model_dir},tokenizer_backend=huggingface,"
                   "tokenized_requests=True,num_concurrent=1,max_retries=1,add_bos_token=True"),
    }
    results = {}
    for name, (model, args) in backends.items():
        r = lm_eval.simple_evaluate(model=model, model_args=args, tasks=["tiny_mc", "tiny_gen"], task_manager=tasks, log_samples=True, device="cpu", batch_size=1)
        results[name] = {task: [s["resps"] for s in sorted(samples, key=lambda s: s["doc_id"])] for task, samples in r["samples"].items()}
    out.append(results)
print(json.dumps(out))
