"""transformers' learning-rate schedules, step by step, for test/train/schedule_reference.test.ts.

Reads a JSON list of cases {"kind", "total", "warmup", "min_lr_rate"} from argv[1] and prints, for each, the
multiplier of the base rate that get_scheduler's LambdaLR gives the update after 0, 1, ..., total completed
updates (what giftjs's lrMultiplier computes). The warmup is passed to every kind: transformers' `constant`
takes it and ignores it, which is what the test pins.
"""
import json
import sys

import torch
from transformers import get_scheduler


def multipliers(case):
    base = 1.0
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    kwargs = {"min_lr_rate": case["min_lr_rate"]} if case["kind"] == "cosine_with_min_lr" else {}
    schedule = get_scheduler(case["kind"], optimizer, num_warmup_steps=case["warmup"], num_training_steps=case["total"],
                             scheduler_specific_kwargs=kwargs)
    out = []
    for _ in range(case["total"] + 1):
        out.append(optimizer.param_groups[0]["lr"] / base)
        optimizer.step()
        schedule.step()
    return out


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    print(json.dumps([multipliers(c) for c in cases]))


if __name__ == "__main__":
    main()
