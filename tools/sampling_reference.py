"""transformers' sampling distribution, for test/generate/sampling_reference.test.ts.

Reads a JSON list of cases {"logits": [...], "temperature", "top_k", "top_p", "min_p"} from argv[1] and prints, for each,
the probability generate(do_sample=True) draws each token with: the warpers generate builds for that
GenerationConfig (temperature, then top-k, then top-p, then min-p; generation/utils.py _get_logits_processor),
then a softmax, as sample() takes it. top_k 0 and top_p 1 are off, as in GenerationConfig; min_p absent or None is.
"""
import json
import sys

import torch
from transformers import GenerationConfig, LogitsProcessorList
from transformers.generation.logits_process import MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper


def distribution(case):
    config = GenerationConfig(do_sample=True, temperature=case["temperature"], top_k=case["top_k"], top_p=case["top_p"], min_p=case.get("min_p"))
    warpers = LogitsProcessorList()
    # The conditions of _get_logits_processor for a single sequence (min_tokens_to_keep 1).
    if config.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(config.temperature))
    if config.top_k != 0:
        warpers.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=1))
    if config.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=1))
    if config.min_p is not None:
        warpers.append(MinPLogitsWarper(min_p=config.min_p, min_tokens_to_keep=1))
    scores = torch.tensor([case["logits"]], dtype=torch.float32)
    warped = warpers(torch.zeros((1, 1), dtype=torch.long), scores)
    return torch.softmax(warped, dim=-1)[0].tolist()


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    print(json.dumps([distribution(c) for c in cases]))


if __name__ == "__main__":
    main()
