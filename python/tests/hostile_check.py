"""Hostile adapters against gift_torch (one JSON line out, one entry per case): a failed load must leave
the model exactly as it was (same parameters, same outputs, no hooks, a retry possible), a second load
is refused instead of doubling the adapter, merge and save refuse non-finite results, and every
failure is a GiftTorchError (never a raw RuntimeError, re.error or FileExistsError)."""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import gift_torch  # noqa: E402
from gift_torch import GiftTorchError  # noqa: E402
from gift_torch.llama import LlamaForCausalLM  # noqa: E402
from gift_torch.safetensors_io import load_file, save_file  # noqa: E402


def state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}, sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def unchanged(model, before, ids):
    params, hooks = state(model)
    same = set(params) == set(before[0]) and all(torch.equal(params[n], before[0][n]) for n in params)
    return same and hooks == before[1] and torch.equal(model(ids), before[2])


def attempt(fn):
    try:
        fn()
        return "ok"
    except GiftTorchError as err:
        return f"GiftTorchError: {err}"
    except Exception as err:  # noqa: BLE001 -- what the check is about: nothing else may escape
        return f"{type(err).__name__}: {err}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--gift", required=True, help="a valid GIFT adapter folder")
    ap.add_argument("--lora", required=True, help="a valid LoRA adapter folder (PEFT's layout)")
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    ids = torch.tensor([[1, 5, 9, 2, 7, 3]])
    out = {}

    def fresh():
        m = LlamaForCausalLM.from_folder(a.model)
        with torch.no_grad():
            return m, (*state(m), m(ids))

    def variant(src, name, edit):
        d = os.path.join(work, name)
        shutil.copytree(src, d)
        edit(d)
        return d

    def drop_tensor(d, which):
        t = load_file(os.path.join(d, "adapter_model.safetensors"))
        del t[sorted(k for k in t if which in k)[-1]]
        save_file(t, os.path.join(d, "adapter_model.safetensors"))

    def nan_tensor(d, which):
        t = load_file(os.path.join(d, "adapter_model.safetensors"))
        k = sorted(k for k in t if which in k)[-1]
        t[k] = t[k].clone()
        t[k].view(-1)[0] = float("nan")
        save_file(t, os.path.join(d, "adapter_model.safetensors"))

    def set_config(d, **fields):
        p = os.path.join(d, "adapter_config.json")
        c = json.load(open(p))
        c.update(fields)
        json.dump(c, open(p, "w"))

    with torch.no_grad():
        cases = {
            "gift_missing_tensor": variant(a.gift, "g1", lambda d: drop_tensor(d, "psi")),
            "gift_nan_tensor": variant(a.gift, "g2", lambda d: nan_tensor(d, "phi")),
            "lora_missing_tensor": variant(a.lora, "l1", lambda d: drop_tensor(d, "lora_B")),
            "lora_nan_tensor": variant(a.lora, "l2", lambda d: nan_tensor(d, "lora_A")),
            "lora_bad_regex": variant(a.lora, "l3", lambda d: set_config(d, target_modules="(q_proj")),
            "lora_nested_regex": variant(a.lora, "l4", lambda d: set_config(d, target_modules="(.*)*q_proj")),
            "gift_nested_regex": variant(a.gift, "g3", lambda d: set_config(d, target_modules="(.*)*q_proj")),
        }
        for name, folder in cases.items():
            model, before = fresh()
            result = attempt(lambda: gift_torch.load_adapter(model, folder))
            kept = unchanged(model, before, ids)
            good = a.lora if name.startswith("lora") else a.gift
            out[name] = {"error": result, "unchanged": kept, "retry": attempt(lambda: gift_torch.load_adapter(model, good))}

        for kind, folder in (("lora", a.lora), ("gift", a.gift)):
            model, _ = fresh()
            gift_torch.load_adapter(model, folder)
            once = model(ids)
            second = attempt(lambda: gift_torch.load_adapter(model, folder))
            out[f"{kind}_twice"] = {"error": second, "same_output": torch.equal(model(ids), once)}

        model, _ = fresh()
        gift_torch.load_adapter(model, a.gift)
        for p in model.gift_adapter.parameters():
            p.fill_(1e30)
        before = state(model)[0]
        out["merge_overflow"] = {"error": attempt(lambda: gift_torch.merge(model)), "weights_unchanged": all(torch.equal(before[n], p) for n, p in model.named_parameters())}
        model.gift_adapter.parameters()[0].fill_(float("nan"))
        target = os.path.join(work, "saved-nan")
        out["save_nan"] = {"error": attempt(lambda: gift_torch.save_adapter(model, target)), "written": os.path.exists(os.path.join(target, "adapter_model.safetensors"))}
        model, _ = fresh()
        gift_torch.load_adapter(model, a.gift)
        blocker = os.path.join(work, "a-file")
        open(blocker, "w").write("mine")
        out["save_onto_file"] = {"error": attempt(lambda: gift_torch.save_adapter(model, blocker)), "file_kept": open(blocker).read() == "mine"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
