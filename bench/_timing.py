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


# -- pieces the speed benchmarks share --------------------------------------------------
BASELINE = {"torch": "torch", "torch-fused-adam": "torch", "gendsl-pyro": "torch", "pyro-svi": "torch",
            "torch-compile": "torch", "gendsl-pyro-compile": "torch", "jax": "jax", "gendsl-numpyro": "jax"}
GROUPS = [["torch", "torch-fused-adam", "gendsl-pyro", "pyro-svi", "torch-compile", "gendsl-pyro-compile"],
          ["jax", "gendsl-numpyro"]]
#: (gendsl's implementation, the hand-written one it is like for like with)
LIKE_FOR_LIKE = [("gendsl-pyro", "torch-fused-adam"), ("gendsl-pyro-compile", "torch-compile")]


def torch_loop(hand_written, x_all, lr, device, fused=False, compile=False):
    """The training step a PyTorch user writes around a hand-written loss.

    Args:
        hand_written: ``device -> (loss(x), parameters)``, the benchmark's model.
        fused: build ``torch.optim.Adam(fused=True)``, as gendsl's Pyro backend
            does (most hand-written loops use the default).
        compile: ``torch.compile`` the loss, as ``fit(compile=True)`` does.
    """
    import torch

    loss_fn, params = hand_written(device)
    opt = torch.optim.Adam(params, lr=lr, fused=True if fused else None)
    if compile:
        loss_fn = torch.compile(loss_fn, dynamic=False)
    x_all = torch.as_tensor(x_all, dtype=torch.float32, device=device)

    def step(idx):
        loss = loss_fn(x_all[torch.as_tensor(idx, device=device)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def parser(doc: str):
    import argparse

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", required=True, help="binarized_mnist.npz")
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--steps", type=int, default=20, help="timed steps per implementation per round")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--threads", type=int, default=0, help="PyTorch intra-op threads (0: its default)")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the torch.compile pair (hand-written and fit(compile=True)), which compiles first")
    p.add_argument("--keep-subnormals", action="store_true",
                   help="PyTorch's default arithmetic; otherwise every PyTorch implementation flushes "
                        "subnormals to zero, as fit(backend='pyro') does and XLA always does")
    return p


def gendsl_step(model, objective, x_all, lr, backend, device, compile=False):
    """The training step ``model.fit(backend=..., compile=...)`` runs."""
    from gendsl.inference.engines import make_engine

    engine = make_engine(model, backend, "float32", device if backend == "pyro" else None)
    return engine.stepper(objective, {"x": x_all}, {}, lr, 0, model.init_params(0), compile=compile).step


def pyro_svi_step(model, x_all, lr, device):
    """Plain ``pyro.infer.SVI`` with ``Trace_ELBO`` on ``model.to_pyro()``."""
    import pyro
    import torch

    model_fn, guide_fn = model.to_pyro(device=device)
    pyro.clear_param_store()
    svi = pyro.infer.SVI(model_fn, guide_fn, pyro.optim.Adam({"lr": lr}), pyro.infer.Trace_ELBO())
    x_all = torch.as_tensor(x_all, dtype=torch.float32, device=device)

    def step(idx):
        return svi.step({"x": x_all[torch.as_tensor(idx, device=device)]})

    return step


def report(med: dict, args) -> None:
    """Prints the machine line and the Markdown table of medians and ratios."""
    import platform

    import jax
    import torch

    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"device: {device}; jax: {jax.devices()[0]}; torch threads {torch.get_num_threads()}; "
          f"subnormals {'kept' if args.keep_subnormals else 'flushed'}; "
          f"batch {args.batch}; {args.rounds * args.steps} timed steps each")
    print("| implementation | median step ms | ratio to hand-written |")
    print("|---|---|---|")
    for name in BASELINE:
        if name in med:
            print(f"| {name} | {med[name]:.3f} | {med[name] / med[BASELINE[name]]:.3f} |")
    for ours, theirs in LIKE_FOR_LIKE:
        if ours in med and theirs in med:
            print(f"{ours} / {theirs} (like for like): {med[ours] / med[theirs]:.3f}")


def main(doc: str, make_model, make_objective, torch_step, jax_step, prepare=None) -> None:
    """A speed benchmark's whole run: every implementation of one model,
    timed side by side on binarised MNIST, then the table.

    Args:
        make_model: ``gendsl.models -> Model``.
        make_objective: ``gendsl.inference -> Objective``.
        torch_step: ``device -> (loss(x), parameters)``, hand-written (see :func:`torch_loop`).
        jax_step: ``(x, lr) -> step(row_indices)``, hand-written.
        prepare: ``x -> x`` applied to the binarised images first (e.g. dequantisation).
    """
    args = parser(doc).parse_args()

    import torch

    import gendsl.inference as inference
    import gendsl.models as zoo
    from gendsl.data import binarized_mnist

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(not args.keep_subnormals)  # the same for all: a fair comparison
    x = binarized_mnist(args.data, "train")
    if prepare is not None:
        x = prepare(x)
    lr = 1e-3
    model, objective = make_model(zoo), make_objective(inference)
    impls = {
        "torch": torch_loop(torch_step, x, lr, args.device),
        "torch-fused-adam": torch_loop(torch_step, x, lr, args.device, fused=True),
        "gendsl-pyro": gendsl_step(model, objective, x, lr, "pyro", args.device),
        "pyro-svi": pyro_svi_step(model, x, lr, args.device),
        "jax": jax_step(x, lr),
        "gendsl-numpyro": gendsl_step(model, objective, x, lr, "numpyro", args.device),
    }
    if not args.no_compile:
        impls["torch-compile"] = torch_loop(torch_step, x, lr, args.device, fused=True, compile=True)
        impls["gendsl-pyro-compile"] = gendsl_step(model, objective, x, lr, "pyro", args.device, compile=True)
    report(median_step_ms(impls, GROUPS, len(x), args.batch, args.rounds, args.steps), args)
