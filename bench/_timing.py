"""The timing harness shared by the speed benchmarks: medians of step times,
side by side in one run."""

from __future__ import annotations

import time

import numpy as np


def finish(out):
    """Waits for a step's result (JAX is asynchronous, CUDA too)."""
    import jax
    import torch

    if isinstance(out, jax.Array):
        out.block_until_ready()
    elif torch.is_tensor(out) and out.is_cuda:
        torch.cuda.synchronize()


def median_step_ms(impls: dict, groups: list, n_rows: int, batch: int, rounds: int, steps: int,
                   warmup: int = 5, seed: int = 0) -> dict:
    """Median milliseconds per step of each ``impls[name](row_indices)``.

    Rounds interleave the implementations of one group; groups run one after
    the other (PyTorch's OpenMP threads spin after its ops and would steal the
    cores XLA's threads need if frameworks were interleaved). Each step is
    timed to completion.
    """
    rng = np.random.default_rng(seed)
    times = {k: [] for k in impls}
    for group in groups:
        group = [g for g in group if g in impls]
        for name in group:  # warm-up and compilation
            for _ in range(warmup):
                finish(impls[name](rng.choice(n_rows, batch, replace=False)))
        for _ in range(rounds):
            for name in group:
                for _ in range(steps):
                    idx = rng.choice(n_rows, batch, replace=False)
                    start = time.perf_counter()
                    finish(impls[name](idx))
                    times[name].append(time.perf_counter() - start)
    return {k: float(np.median(v)) * 1e3 for k, v in times.items() if v}
