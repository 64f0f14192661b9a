"""python -m gift_torch.train: GIFT training on PyTorch's engine, on one process or many.

    torchrun --nproc_per_node N -m gift_torch.train --model <HF folder> --shards <gift prepare dir> --out <dir>

Under torchrun the processes form a DistributedDataParallel group (NCCL on GPUs, gloo on CPUs; several
machines through torchrun's rendezvous). Every optimizer update consumes one global batch of
--batch-size x --grad-accum examples in a seeded order shared by all processes; each process takes its
share of every micro-batch, and the loss is summed over target tokens and divided by the global batch's
target tokens, so N processes compute the update one process would (to float rounding). The run writes
<out>/adapter/ (giftjs's adapter layout), log.jsonl and metrics.json as gift train does, checkpoints
with --save-every and continues with --resume. The model comes from transformers when it is installed,
else from gift_torch's own Llama-family implementation.
"""
import argparse
import contextlib
import hashlib
import json
import math
import os
import shutil
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import gift
from .safetensors_io import load_file, save_file

SCHEDULERS = ("linear", "cosine", "cosine_with_min_lr", "constant", "constant_with_warmup")
# The version of giftjs's training rules (TRAINING_RULES in src/train/checkpoint.ts) this trainer
# follows: a checkpoint records it, and one written under other rules is not continued. It stays 2:
# giftjs's version 3 changed only how giftjs draws dropout masks, which this trainer leaves to torch.
TRAINING_RULES = 2
# What --resume may change: the run's length, how often it reports, and where it writes.
MAY_CHANGE = {"out", "resume", "epochs", "max_steps", "eval_every", "save_every"}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m gift_torch.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face model folder")
    ap.add_argument("--shards", required=True, help="the folder gift prepare wrote")
    ap.add_argument("--out", required=True)
    ap.add_argument("--method", default="gift", choices=["gift"], help="GIFT (LoRA: use PEFT directly)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=None)
    ap.add_argument("--targets", default="q_proj,v_proj")
    ap.add_argument("--layers", default=None, help="0,1,4-7: only these blocks")
    ap.add_argument("--share", default="target", choices=["target", "input-size"])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--lr", type=float, default=2.5e-4)
    ap.add_argument("--batch-size", type=int, default=8, help="examples per micro-batch, across all processes")
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--warmup-ratio", type=float, default=None, help="default 0.1; 0 with --scheduler constant")
    ap.add_argument("--scheduler", default="linear", choices=SCHEDULERS)
    ap.add_argument("--min-lr", type=float, default=None, help="cosine_with_min_lr's final learning rate")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--save-every", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="frozen weights' dtype")
    a = ap.parse_args(argv)
    if a.warmup_ratio is None:
        a.warmup_ratio = 0.0 if a.scheduler == "constant" else 0.1
    for name in ("rank", "epochs", "batch_size", "grad_accum"):
        if getattr(a, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be a positive integer")
    if a.max_steps is not None and a.max_steps < 1:
        raise SystemExit("--max-steps must be a positive integer")
    if not (a.lr > 0 and math.isfinite(a.lr)):
        raise SystemExit("--lr must be a positive number")
    if not 0 <= a.warmup_ratio <= 1:
        raise SystemExit("--warmup-ratio must be in [0, 1]")
    if not (a.weight_decay >= 0 and math.isfinite(a.weight_decay)):
        raise SystemExit("--weight-decay must be a non-negative number")
    if not (a.max_grad_norm >= 0 and math.isfinite(a.max_grad_norm)):
        raise SystemExit("--max-grad-norm must be a non-negative number (0: no clipping)")
    if a.eval_every < 0 or a.save_every < 0:
        raise SystemExit("--eval-every and --save-every must be 0 or positive")
    if a.scheduler == "cosine_with_min_lr" and not (a.min_lr is not None and 0 <= a.min_lr <= a.lr):
        raise SystemExit("--scheduler cosine_with_min_lr needs --min-lr from 0 to --lr")
    if a.scheduler != "cosine_with_min_lr" and a.min_lr is not None:
        raise SystemExit(f"--min-lr is the floor of --scheduler cosine_with_min_lr, and the scheduler is {a.scheduler}")
    if a.scheduler == "constant" and a.warmup_ratio != 0:
        raise SystemExit("--scheduler constant has no warmup (transformers' constant schedule); --warmup-ratio must be 0, or use constant_with_warmup")
    return a


def parse_layers(text):
    if text is None:
        return None
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def lr_multiplier(kind, step, total, warmup, min_lr_rate=0.0):
    """transformers' get_scheduler shapes, as giftjs's src/train/schedule.ts."""
    if kind == "constant":
        return 1.0
    if step < warmup:
        return step / max(1, warmup)
    if kind == "constant_with_warmup":
        return 1.0
    if kind == "linear":
        return max(0.0, (total - step) / max(1, total - warmup))
    progress = (step - warmup) / max(1, total - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return max(0.0, cosine * (1 - min_lr_rate) + min_lr_rate if kind == "cosine_with_min_lr" else cosine)


def read_shard(path):
    t = load_file(path)
    ids, labels, offsets = t["ids"].long(), t["labels"].long(), t["offsets"].long()
    if ids.shape != labels.shape or offsets[0] != 0 or offsets[-1] != ids.numel():
        raise ValueError(f"{path}: ids, labels and offsets do not agree (not a gift prepare shard?)")
    return [(ids[offsets[i]:offsets[i + 1]], labels[offsets[i]:offsets[i + 1]]) for i in range(offsets.numel() - 1)]


def collate(examples, pad_id):
    """Right-padded ids and labels [n, longest]; padding has label -100."""
    T = max(len(i) for i, _ in examples)
    ids = torch.full((len(examples), T), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), T), -100, dtype=torch.long)
    for k, (i, l) in enumerate(examples):
        ids[k, :len(i)] = i
        labels[k, :len(l)] = l
    return ids, labels


def target_tokens(examples):
    """Positions scored after the shift: a label != -100 at position >= 1."""
    return sum(int((l[1:] != -100).sum()) for _, l in examples)


def loss_sum(model, ids, labels):
    logits = model(ids)
    logits = logits.logits if hasattr(logits, "logits") else logits
    return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum")


def load_model(path, dtype):
    try:  # transformers when installed, our own Llama otherwise
        from transformers import AutoModelForCausalLM  # type: ignore
        return AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype)
    except ImportError:
        from .llama import LlamaForCausalLM
        return LlamaForCausalLM.from_folder(path).to(dtype)


def file_digest(path):
    """A file's size and sha256, as giftjs's checkpoints record their inputs."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return f"{os.path.getsize(path)} bytes, sha256 {h.hexdigest()}"


def run_settings(a):
    """What a checkpoint records of its run: every setting --resume may not change, the training rules,
    and the contents of the shards and of the model folder's config and weights."""
    settings = {k: v for k, v in sorted(vars(a).items()) if k not in MAY_CHANGE}
    settings["training_rules"] = TRAINING_RULES
    inputs = [os.path.join(a.shards, n) for n in ("prepare.json", "train.safetensors", "valid.safetensors")]
    if os.path.isdir(a.model):
        inputs += [os.path.join(a.model, n) for n in sorted(os.listdir(a.model)) if n == "config.json" or n.endswith(".safetensors")]
    settings["contents"] = {p: file_digest(p) for p in inputs if os.path.isfile(p)}
    return settings


def resume_refusal(ckpt, saved, now):
    """Why the checkpoint cannot be continued with these settings, or None."""
    if saved is None:
        return (f"{ckpt} was written before gift_torch recorded its settings and training rules in a checkpoint, so "
                f"--resume cannot tell whether this run would continue it as it began; start afresh in another --out")
    if saved.get("training_rules") != TRAINING_RULES:
        return (f"{ckpt} was written under training rules {saved.get('training_rules')}, and this gift_torch trains by "
                f"version {TRAINING_RULES}: continuing would change the run's rules in its middle; start afresh in another --out")
    changed = []
    for key in sorted(set(saved) | set(now)):
        if key == "contents":
            for path in sorted(set(saved["contents"]) | set(now["contents"])):
                before, after = saved["contents"].get(path, "absent"), now["contents"].get(path, "absent")
                if before != after:
                    changed.append(f"the contents of {path} ({before} in the checkpoint, {after} now)")
        elif saved.get(key) != now.get(key):
            changed.append(f"--{key.replace('_', '-')}: {json.dumps(saved.get(key))} in the checkpoint, {json.dumps(now.get(key))} now")
    if not changed:
        return None
    return (f"{ckpt}: --resume continues a run with its own settings and inputs, and these differ: {'; '.join(changed)}. "
            f"Only --max-steps, --epochs, --eval-every and --save-every may change; use another --out for a new run")


def recover_checkpoint(path):
    """Finishes what a kill during _checkpoint's swap left: the previous checkpoint, whole, at path."""
    old, tmp = path + ".old", path + ".tmp"
    if not os.path.exists(os.path.join(path, "state.json")) and os.path.exists(os.path.join(old, "state.json")):
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(old, path)  # killed between the two renames
    for leftover in (old, tmp):
        if os.path.exists(leftover):
            shutil.rmtree(leftover)


def main(argv=None):
    a = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    with open(os.path.join(a.shards, "prepare.json")) as f:
        info = json.load(f)
    train = read_shard(os.path.join(a.shards, "train.safetensors"))
    valid_path = os.path.join(a.shards, "valid.safetensors")
    valid = read_shard(valid_path) if os.path.exists(valid_path) else []
    pad = int(info.get("pad_id", 0))

    model = load_model(a.model, torch.bfloat16 if a.dtype == "bfloat16" else torch.float32).to(device)
    config = {"method": "gift", "rank": a.rank, "alpha": a.alpha, "target_modules": a.targets.split(","), "layers": parse_layers(a.layers), "share": a.share}
    params = gift.apply_gift(model, config, seed=a.seed)
    adapter = model.gift_adapter
    trainable = adapter.named_tensors()
    engine = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda" else None) if world > 1 else model
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)

    batches_per_epoch = math.ceil(len(train) / a.batch_size)
    updates_per_epoch = math.ceil(batches_per_epoch / a.grad_accum)
    total = a.max_steps if a.max_steps is not None else a.epochs * updates_per_epoch
    warmup = math.ceil(total * a.warmup_ratio)  # transformers' get_warmup_steps, as giftjs's warmupSteps
    ckpt = os.path.join(a.out, "checkpoint")
    log_path = os.path.join(a.out, "log.jsonl")
    start = 0
    if rank == 0:
        os.makedirs(a.out, exist_ok=True)
        recover_checkpoint(ckpt)
    if world > 1:
        dist.barrier()  # every process reads the checkpoint rank 0 recovered
    settings = run_settings(a) if (a.resume or a.save_every) else None
    if a.resume:
        if not os.path.exists(os.path.join(ckpt, "state.json")):
            raise SystemExit(f"--resume: {ckpt} holds no checkpoint")
        with open(os.path.join(ckpt, "state.json")) as f:
            state = json.load(f)
        refusal = resume_refusal(ckpt, state.get("settings"), settings)
        if refusal is not None:
            raise SystemExit(refusal)
        start = state["step"]
        saved = load_file(os.path.join(ckpt, "adapter_model.safetensors"))
        with torch.no_grad():
            for n, p in trainable.items():
                p.copy_(saved[n].to(p.dtype))
        load_optimizer(opt, ckpt)
        if rank == 0 and os.path.exists(log_path):
            with open(log_path) as f:
                kept = [l for l in f if l.strip() and json.loads(l)["step"] <= start]
            with open(log_path, "w") as f:
                f.writelines(kept)
    elif os.path.exists(os.path.join(ckpt, "state.json")):
        # As gift train: a fresh run never writes over a run that can still be resumed.
        raise SystemExit(f"{a.out} holds a checkpoint of an earlier run: continue it with --resume, or choose another --out")
    elif rank == 0:
        open(log_path, "w").close()

    def evaluate():
        if not valid:
            return None
        engine.eval()
        total_loss, tokens = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(valid), a.batch_size):
                group = valid[i:i + a.batch_size]
                ids, labels = collate(group, pad)
                total_loss += loss_sum(model, ids.to(device), labels.to(device)).item()
                tokens += target_tokens(group)
        return total_loss / tokens

    history = []
    if start == 0 and valid and rank == 0:
        history.append({"step": 0, "loss": evaluate()})
    t0 = time.time()
    seen = 0
    order = None
    for step in range(start, total):
        epoch = step // updates_per_epoch
        if order is None or order[0] != epoch:
            g = torch.Generator().manual_seed(a.seed * 1000003 + epoch)
            order = (epoch, torch.randperm(len(train), generator=g).tolist())
        first = (step % updates_per_epoch) * a.grad_accum
        micro = [order[1][b * a.batch_size:(b + 1) * a.batch_size] for b in range(first, min(first + a.grad_accum, batches_per_epoch))]
        global_tokens = sum(target_tokens([train[i] for i in m]) for m in micro)
        engine.train()
        local_sum = 0.0
        for k, m in enumerate(micro):
            share = m[rank::world]  # this process's examples of the micro-batch
            sync = k == len(micro) - 1
            ctx = engine.no_sync() if (world > 1 and not sync) else contextlib.nullcontext()
            with ctx:
                if share:
                    ids, labels = collate([train[i] for i in share], pad)
                else:
                    # More processes than examples in this micro-batch: run one example with no target
                    # (a zero loss) so this process still joins DistributedDataParallel's gradient average.
                    ids, labels = collate([train[m[0]]], pad)
                    labels.fill_(-100)
                s = loss_sum(engine, ids.to(device), labels.to(device))
                # DDP averages gradients over processes: scale so the average is the global-batch mean.
                (s * world / global_tokens).backward()
                local_sum += float(s.detach())
        loss_total = torch.tensor([local_sum], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(loss_total)
        loss = loss_total.item() / global_tokens
        if not math.isfinite(loss):
            raise SystemExit(f"training diverged at step {step + 1}: the loss is {loss}")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm if a.max_grad_norm > 0 else float("inf")).item()
        if not math.isfinite(grad_norm):
            raise SystemExit(f"training diverged at step {step + 1}: the gradient norm is {grad_norm}; last good checkpoint: "
                             f"{ckpt if os.path.exists(os.path.join(ckpt, 'state.json')) else 'none (set --save-every)'}")
        lr = a.lr * lr_multiplier(a.scheduler, step, total, warmup, (a.min_lr or 0.0) / a.lr)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        opt.zero_grad(set_to_none=True)
        seen += sum(len(train[i][0]) for m in micro for i in m)
        done = step + 1
        if rank == 0:
            log = {"step": done, "epoch": step / updates_per_epoch, "loss": loss, "lr": lr, "grad_norm": grad_norm,
                   "tokens": global_tokens, "tokens_per_s": seen / max(time.time() - t0, 1e-9), "processes": world}
            with open(log_path, "a") as f:
                f.write(json.dumps(log) + "\n")
            if a.eval_every and done % a.eval_every == 0 and done < total and valid:
                history.append({"step": done, "loss": evaluate()})
            if a.save_every and done % a.save_every == 0 and done < total:
                _checkpoint(ckpt, trainable, opt, done, settings)
    if rank == 0:
        if valid:
            history.append({"step": total, "loss": evaluate()})
        gift.save_adapter(model, os.path.join(a.out, "adapter"), base_model=a.model)
        logs = [json.loads(l) for l in open(log_path) if l.strip()]
        metrics = {"method": "gift", "engine": "torch", "processes": world, "trainable_parameters": sum(p.numel() for p in trainable.values()),
                   "steps": total, "final_train_loss": logs[-1]["loss"] if logs else None,
                   "held_out_loss_start": history[0]["loss"] if history else None, "held_out_loss_end": history[-1]["loss"] if history else None,
                   "held_out_history": history, "tokens_per_s": logs[-1]["tokens_per_s"] if logs else None, "options": vars(a)}
        with open(os.path.join(a.out, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
            f.write("\n")
        print(json.dumps({k: metrics[k] for k in ("steps", "final_train_loss", "held_out_loss_end", "processes")}))
    if world > 1:
        # Leave without tearing the process group down. In CI, gloo's teardown (a closing barrier then
        # destroy_process_group, and then destroy_process_group alone) twice left one process spinning
        # after the run was complete and its outputs written, so torchrun never returned. No collective
        # follows the loop's last all-reduce, which every rank has consumed, and only rank 0 writes
        # outputs (closed above); exiting here skips gloo's destructors and cannot hang.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def save_optimizer(opt, folder):
    """AdamW's state as tensors (optimizer.safetensors) and numbers (optimizer.json): no pickle, which
    a checkpoint could use to run code when loaded, and which Debian's PyTorch 1.13 cannot load safely."""
    sd = opt.state_dict()
    tensors, numbers = {}, {}
    for index, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().cpu()
            else:
                numbers[f"{index}.{key}"] = value
    save_file(tensors, os.path.join(folder, "optimizer.safetensors"))
    with open(os.path.join(folder, "optimizer.json"), "w") as f:
        json.dump({"param_groups": sd["param_groups"], "numbers": numbers}, f)


def load_optimizer(opt, folder):
    """The state save_optimizer wrote, back into opt (load_state_dict moves it to the parameters' device)."""
    with open(os.path.join(folder, "optimizer.json")) as f:
        meta = json.load(f)
    state = {}
    for name, value in list(load_file(os.path.join(folder, "optimizer.safetensors")).items()) + list(meta["numbers"].items()):
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _checkpoint(path, trainable, opt, step, settings):
    """The adapter tensors, the optimizer state, the step and the run's settings, replaced as a whole
    (state.json last; a kill between the renames is finished by recover_checkpoint)."""
    tmp = path + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    save_file({n: p.detach().float().cpu() for n, p in trainable.items()}, os.path.join(tmp, "adapter_model.safetensors"))
    save_optimizer(opt, tmp)
    with open(os.path.join(tmp, "state.json"), "w") as f:
        json.dump({"step": step, "settings": settings}, f)
    old = path + ".old"
    if os.path.exists(path):
        os.replace(path, old)
    os.replace(tmp, path)
    if os.path.exists(old):
        shutil.rmtree(old)


if __name__ == "__main__":
    main()
