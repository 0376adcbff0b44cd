"""Training-step time of one MADE, side by side in one run.

    .venv/bin/python bench/made_speed.py --data ../shared/data/binarized_mnist.npz [--device cuda]

Implementations, all the identical model (MADE 784-500-784, ReLU, one mask,
natural order, Bernoulli conditionals, Adam lr 1e-3, batch 100; the masks are
the ones `gendsl.nn.MADE` draws, so every implementation computes the same
function):

- torch:          hand-written PyTorch step (masked `F.linear`, BCE with logits)
- torch-fused-adam: the same, with `torch.optim.Adam(fused=True)` as gendsl's Pyro backend uses
- gendsl-pyro:    gendsl's Pyro-backend step (what `fit(backend="pyro")` runs)
- pyro-svi:       plain `pyro.infer.SVI` + `Trace_ELBO` on `model.to_pyro()`
- jax:            hand-written `jax.jit` step with optax
- gendsl-numpyro: gendsl's NumPyro-backend step (what `fit(backend="numpyro")` runs)
- torch-compile:  the torch-fused-adam step with its loss `torch.compile`d
- gendsl-pyro-compile: what `fit(backend="pyro", compile=True)` runs
  (the pair is skipped with `--no-compile`)

Prints the median step time of each and its ratio to the hand-written step
of its framework.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _timing  # noqa: E402

HIDDEN = 500


def _masks(dtype_np="float32"):
    from gendsl import nn

    spec = nn.MADE("made", 784, hidden=[HIDDEN])
    return [m[0].astype(dtype_np) for m in spec.masks()]


def torch_made(device):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    m1, m2 = (torch.as_tensor(m, device=device) for m in _masks())
    l1, l2 = torch.nn.Linear(784, HIDDEN).to(device), torch.nn.Linear(HIDDEN, 784).to(device)

    def loss(x):
        h = torch.relu(F.linear(x, l1.weight * m1, l1.bias))
        logits = F.linear(h, l2.weight * m2, l2.bias)
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()

    return loss, [*l1.parameters(), *l2.parameters()]


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


def main():
    _timing.main(__doc__, lambda zoo: zoo.made(x_dim=784, hidden=(HIDDEN,)), lambda inference: inference.MLE(), torch_made, jax_made)


if __name__ == "__main__":
    main()
