"""An HMM written as a Python loop: cost per training step against the chain's length (issue 28)

    .venv/bin/python bench/unrolled_chain.py [--steps 4 8 16 32] [--rows 1000]

The story is the loop a new user writes, one site per step: ``z_0 ~ Cat(init)``,
``z_t ~ Cat(trans[z_{t-1}])``, ``x_t ~ N(loc[z_t], 1)``, 3 states, learned
parameters. For each length T: seconds per ``mle`` training step on
``--rows`` sequences (one batch; the median of the epochs after the first,
which compiles) on both backends, and that per step of the chain. Variable
elimination sums the states out one step at a time, so the cost should grow
linearly in T (it grew as 3^T when the chain was enumerated jointly: 0.004 /
0.010 / 0.051 / 0.465 s per step for T = 4 / 6 / 8 / 10). Prints Markdown rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import gendsl as gd
from gendsl import dist, ops


@gd.model
def unrolled_hmm(steps=8, states=3):
    init = gd.param("init", (states,), init=np.full(states, 1.0 / states), constraint="simplex")
    trans = gd.param("trans", (states, states), init=np.full((states, states), 1.0 / states), constraint="simplex")
    loc = gd.param("loc", (states,), init=np.linspace(-1.0, 1.0, states))
    with gd.plate("data"):
        z = gd.sample("z0", dist.Categorical(probs=init))
        gd.observe("x0", dist.Normal(ops.getitem(loc, z), 1.0))
        for t in range(1, steps):
            z = gd.sample(f"z{t}", dist.Categorical(probs=ops.getitem(trans, z)))
            gd.observe(f"x{t}", dist.Normal(ops.getitem(loc, z), 1.0))


def seconds_per_step(steps, rows, backend, epochs=6):
    x = np.random.default_rng(0).normal(size=(rows, steps))
    times = []
    last = [time.perf_counter()]

    def tick(epoch, *args, **kwargs):
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    unrolled_hmm(steps=steps).fit({f"x{t}": x[:, t] for t in range(steps)}, backend=backend, epochs=epochs,
                                  batch_size=rows, progress=False, callback=tick)
    return float(np.median(times[1:]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[4, 8, 16, 32])
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.rows} sequences, one batch\n")
    print("| T | numpyro s/step | per chain step (ms) | pyro s/step | per chain step (ms) |")
    print("|---|---|---|---|---|")
    for steps in args.steps:
        jax_s, torch_s = (seconds_per_step(steps, args.rows, b) for b in ("numpyro", "pyro"))
        print(f"| {steps} | {jax_s:.4f} | {1e3 * jax_s / steps:.3f} | {torch_s:.4f} | {1e3 * torch_s / steps:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
