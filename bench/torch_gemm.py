#!/usr/bin/env python3
"""PyTorch GEMM throughput, the baseline `gift bench gemm --torch` prints next to giftjs's own numbers
in the same run: under the peer venv's PyTorch 2 (MKL, oneDNN) where it exists, else Debian's
python3-torch (OpenBLAS). Shapes mirror src/bench/gemm.ts (transformerShapes, then lmHeadShape).

    python bench/torch_gemm.py --size 1024 --threads 2 [--tokens T --din D --dout F --vocab V] [--bf16]
Prints one JSON line: {"square": gflops, "shapes": [gflops, ...], "bf16_shapes": [...] (with --bf16),
"threads": n, "blas": "...", "torch": "..."}.
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
    p.add_argument("--din", type=int, default=576)
    p.add_argument("--dout", type=int, default=1536)
    p.add_argument("--vocab", type=int, default=49152)
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--bf16", action="store_true", help="also time the weight products in bf16 (PyTorch 2)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    n = a.size
    A = torch.randn(n, n, generator=g)
    B = torch.randn(n, n, generator=g)
    square = bench(lambda: torch.mm(A, B), 2 * n**3, a.budget)
    T, din, dout = a.tokens, a.din, a.dout
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
    E = torch.randn(a.vocab, din, generator=g)
    shapes.append(bench(lambda: torch.mm(X, E.t()), 2 * T * din * a.vocab, a.budget))  # logits = X E^T
    out = {"square": square, "shapes": shapes, "threads": torch.get_num_threads(), "blas": blas_of(torch), "torch": torch.__version__}
    if a.bf16:
        # The weight products again in bf16 (both operands, as under autocast): the peer of giftjs's
        # bf16 weights with bf16 products.
        Xb, Wb, Wtb, dYb, Eb = (t.to(torch.bfloat16) for t in (X, W, Wt, dY, E))
        out["bf16_shapes"] = [
            bench(lambda: torch.mm(Xb, Wb.t()), 2 * T * din * dout, a.budget),
            bench(lambda: torch.mm(Xb, Wtb), 2 * T * din * dout, a.budget),
            bench(lambda: torch.mm(dYb, Wb), 2 * T * din * dout, a.budget),
            bench(lambda: torch.mm(Xb, Eb.t()), 2 * T * din * a.vocab, a.budget),
        ]
    print(json.dumps(out))


def blas_of(torch):
    config = torch.__config__.show().lower()
    for name in ("mkl", "openblas"):
        if name in config:
            return name
    return "unknown"


if __name__ == "__main__":
    main()
