"""What giftjs's interop test asks of gift_torch (one JSON line out):
  loss  --model M --adapter A --ids JSON   loss with the adapter (GIFT: also after merge, and whether unmerge is exact)
  logits --model M --adapter A --reference R   largest difference from the logits in R (input_ids, logits)
  train --model M --config JSON --ids JSON --steps N --out DIR   trains GIFT with AdamW, saves the adapter,
        prints the loss of the saved adapter on the ids."""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import gift_torch  # noqa: E402
from gift_torch.llama import LlamaForCausalLM, causal_lm_loss  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["loss", "train", "logits"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter")
    ap.add_argument("--config")
    ap.add_argument("--ids")
    ap.add_argument("--reference")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.manual_seed(0)
    model = LlamaForCausalLM.from_folder(a.model)
    if a.what == "logits":
        from gift_torch.safetensors_io import load_file
        ref = load_file(a.reference)
        gift_torch.load_adapter(model, a.adapter)
        with torch.no_grad():
            diff = (model(ref["input_ids"].long()) - ref["logits"]).abs().max().item()
        print(json.dumps({"max_abs_diff": diff}))
        return
    ids = torch.tensor(json.loads(a.ids))
    if a.what == "loss":
        gift_torch.load_adapter(model, a.adapter)
        with torch.no_grad():
            loss = causal_lm_loss(model(ids), ids).item()
            if getattr(model, "gift_adapter", None) is None:
                print(json.dumps({"loss": loss}))
                return
            before = {n: p.detach().clone() for n, p in model.named_parameters()}
            gift_torch.merge(model)
            merged = causal_lm_loss(model(ids), ids).item()
            gift_torch.unmerge(model)
            exact = all(torch.equal(before[n], p) for n, p in model.named_parameters())
            again = causal_lm_loss(model(ids), ids).item()
        print(json.dumps({"loss": loss, "merged_loss": merged, "unmerge_exact": exact, "loss_after_unmerge": again}))
    else:
        params = gift_torch.apply_gift(model, json.loads(a.config), seed=3)
        opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
        losses = []
        for _ in range(a.steps):
            loss = causal_lm_loss(model(ids), ids)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        gift_torch.save_adapter(model, a.out, base_model=a.model)
        with torch.no_grad():
            final = causal_lm_loss(model(ids), ids).item()
        frozen_untouched = all(not p.requires_grad for n, p in model.named_parameters() if not n.startswith("gift_"))
        print(json.dumps({"losses": losses, "loss": final, "frozen_untouched": frozen_untouched}))


if __name__ == "__main__":
    main()
