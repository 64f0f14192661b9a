#!/usr/bin/env python3
"""PyTorch (OpenBLAS on Debian) GEMM throughput, the baseline `gift bench gemm --torch` prints
next to giftjs's own numbers in the same run. Shapes mirror src/bench/gemm.ts.

    apt-get install -y python3-torch libopenblas0-pthread
    /usr/bin/python3 bench/torch_gemm.py --size 1024 --threads 2
Prints one JSON line: {"square": gflops, "shapes": [gflops, ...], "threads": n, "blas": "..."}.
"""
import argparse
import json
import time

import torch


def bench(fn, flops, budget):
    for _ in range(2):
        fn()
    samples = []
    start = time.perf_counter()
    while len(samples) < 3 or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return flops / samples[len(samples) // 2] / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=1024)
    p.add_argument("--budget", type=float, default=1.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    n = a.size
    A = torch.randn(n, n, generator=g)
    B = torch.randn(n, n, generator=g)
    square = bench(lambda: torch.mm(A, B), 2 * n**3, a.budget)
    T, din, dout = a.tokens, 576, 1536
    X = torch.randn(T, din, generator=g)
    W = torch.randn(dout, din, generator=g)
    Wt = W.t().contiguous()
    dY = torch.randn(T, dout, generator=g)
    shapes = [
        bench(lambda: torch.mm(X, W.t()), 2 * T * din * dout, a.budget),   # Y = X W^T
        bench(lambda: torch.mm(X, Wt), 2 * T * din * dout, a.budget),      # Y = X W
        bench(lambda: torch.mm(dY, W), 2 * T * din * dout, a.budget),      # dX = dY W
        bench(lambda: torch.mm(dY.t(), X), 2 * T * din * dout, a.budget),  # dW = dY^T X
    ]
    blas = "openblas" if "openblas" in torch.__config__.show().lower() else "unknown"
    print(json.dumps({"square": square, "shapes": shapes, "threads": torch.get_num_threads(), "blas": blas, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
