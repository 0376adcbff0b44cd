"""Training-step time of one MADE, side by side in one run.

    .venv/bin/python bench/made_speed.py --data ../shared/data/binarized_mnist.npz [--device cuda]

Implementations, all the identical model (MADE 784-500-784, ReLU, one mask,
natural order, Bernoulli conditionals, Adam lr 1e-3, batch 100; the masks are
the ones `gendsl.nn.MADE` draws, so every implementation computes the same
function):

- torch:          hand-written PyTorch step (masked `F.linear`, BCE with logits)
- gendsl-pyro:    gendsl's Pyro-backend step (what `fit(backend="pyro")` runs)
- pyro-svi:       plain `pyro.infer.SVI` + `Trace_ELBO` on `model.to_pyro()`
- jax:            hand-written `jax.jit` step with optax
- gendsl-numpyro: gendsl's NumPyro-backend step (what `fit(backend="numpyro")` runs)

Prints the median step time of each and its ratio to the hand-written step
of its framework.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import median_step_ms  # noqa: E402

HIDDEN = 500


def _masks(dtype_np="float32"):
    from gendsl import nn

    spec = nn.MADE("made", 784, hidden=[HIDDEN])
    return [m[0].astype(dtype_np) for m in spec.masks()]


def torch_made(x_all, lr, device):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    m1, m2 = (torch.as_tensor(m, device=device) for m in _masks())
    l1, l2 = torch.nn.Linear(784, HIDDEN).to(device), torch.nn.Linear(HIDDEN, 784).to(device)
    opt = torch.optim.Adam([*l1.parameters(), *l2.parameters()], lr=lr)
    x_all = torch.as_tensor(x_all, dtype=torch.float32, device=device)

    def step(idx):
        x = x_all[torch.as_tensor(idx, device=device)]
        h = torch.relu(F.linear(x, l1.weight * m1, l1.bias))
        logits = F.linear(h, l2.weight * m2, l2.bias)
        loss = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def jax_made(x_all, lr):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    m1, m2 = (jnp.asarray(m) for m in _masks())
    rng = np.random.default_rng(0)
    params = {"w1": rng.uniform(-784 ** -0.5, 784 ** -0.5, (HIDDEN, 784)), "b1": np.zeros(HIDDEN),
              "w2": rng.uniform(-HIDDEN ** -0.5, HIDDEN ** -0.5, (784, HIDDEN)), "b2": np.zeros(784)}
    params = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    opt = optax.adam(lr)
    x_all = jnp.asarray(x_all, jnp.float32)

    def loss_fn(p, x):
        h = jax.nn.relu(x @ (p["w1"] * m1).T + p["b1"])
        logits = h @ (p["w2"] * m2).T + p["b2"]
        return -jnp.mean(jnp.sum(x * logits - jax.nn.softplus(logits), -1))

    @jax.jit
    def _step(p, s, idx):
        loss, g = jax.value_and_grad(loss_fn)(p, x_all[idx])
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    box = {"p": params, "s": opt.init(params)}

    def step(idx):
        box["p"], box["s"], loss = _step(box["p"], box["s"], jnp.asarray(idx))
        return loss

    return step


def _model():
    import gendsl.models as zoo

    return zoo.made(x_dim=784, hidden=(HIDDEN,))


def gendsl_step(x_all, lr, backend, device):
    from gendsl.inference import MLE
    from gendsl.inference.engines import make_engine

    model = _model()
    engine = make_engine(model, backend, "float32", device if backend == "pyro" else None)
    return engine.stepper(MLE(), {"x": x_all}, {}, lr, 0, model.init_params(0)).step


def pyro_svi_step(x_all, lr, device):
    import pyro
    import torch

    model_fn, guide_fn = _model().to_pyro(device=device)
    pyro.clear_param_store()
    svi = pyro.infer.SVI(model_fn, guide_fn, pyro.optim.Adam({"lr": lr}), pyro.infer.Trace_ELBO())
    x_all = torch.as_tensor(x_all, dtype=torch.float32, device=device)

    def step(idx):
        return svi.step({"x": x_all[torch.as_tensor(idx, device=device)]})

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="binarized_mnist.npz")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per implementation per round")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="PyTorch intra-op threads (0: its default)")
    args = parser.parse_args()

    import jax
    import torch

    from gendsl.data import binarized_mnist

    if args.threads:
        torch.set_num_threads(args.threads)
    x = binarized_mnist(args.data, "train")
    lr = 1e-3
    impls = {
        "torch": torch_made(x, lr, args.device),
        "gendsl-pyro": gendsl_step(x, lr, "pyro", args.device),
        "pyro-svi": pyro_svi_step(x, lr, args.device),
        "jax": jax_made(x, lr),
        "gendsl-numpyro": gendsl_step(x, lr, "numpyro", args.device),
    }
    groups = [["torch", "gendsl-pyro", "pyro-svi"], ["jax", "gendsl-numpyro"]]
    med = median_step_ms(impls, groups, len(x), args.batch, args.rounds, args.steps)
    base = {"torch": "torch", "gendsl-pyro": "torch", "pyro-svi": "torch", "jax": "jax", "gendsl-numpyro": "jax"}
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"device: {device}; jax: {jax.devices()[0]}; torch threads {torch.get_num_threads()}; "
          f"batch {args.batch}; {args.rounds * args.steps} timed steps each")
    print("| implementation | median step ms | ratio to hand-written |")
    print("|---|---|---|")
    for name in ("torch", "gendsl-pyro", "pyro-svi", "jax", "gendsl-numpyro"):
        if name in med:
            print(f"| {name} | {med[name]:.3f} | {med[name] / med[base[name]]:.3f} |")


if __name__ == "__main__":
    main()
