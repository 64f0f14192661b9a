"""The timed training loop the PyTorch step peers share (bench/torch_folder_step.py, torch_vit_step.py, torch_bert_step.py):
forward, backward, AdamW step, each step timed, a non-finite loss stopping the run, and the report fields
every peer prints (step times, the steady step, peak resident memory, last loss, versions)."""
import resource
import sys
import time

import torch
import transformers


def peak_rss_mb():
    """The most memory this process has had resident, in MB: Linux's VmHWM, the high-water mark of this program's own
    address space. Not getrusage's ru_maxrss, which Linux carries across exec: a peer started by `gift bench` would
    report at least the resident size of the Node process that started it. Elsewhere ru_maxrss (kB on Linux, bytes
    on macOS) is all there is."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (maxrss if sys.platform == "darwin" else maxrss * 1024) / 1e6


def timed_steps(loss_of_step, optimizer, steps, autocast=False):
    """Runs `steps` steps of loss_of_step() -> loss; returns the report fields and the steady step in seconds
    (the mean after the first step, which pays for allocation). With autocast the forward runs under
    torch.autocast("cpu", bfloat16): the float32 weights multiplied as bf16, as PyTorch users train in bf16 on
    a CPU (the backward follows the forward's dtypes)."""
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_of_step()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if loss.is_cuda:
            torch.cuda.synchronize()  # the GPU runs behind the host: the step ends when its kernels have
        times.append(time.perf_counter() - t)
        if not torch.isfinite(loss):
            raise SystemExit(f"loss {loss.item()} is not finite")
    steady = times[1:] or times
    report = {
        "step_s": times, "maxrss_mb": peak_rss_mb(), "loss": loss.item(),
        "autocast": autocast, "torch": torch.__version__, "transformers": transformers.__version__,
    }
    return report, sum(steady) / len(steady)
