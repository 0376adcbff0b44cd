"""Training-step time of one MAF, side by side in one run.

    .venv/bin/python bench/maf_speed.py --data ../shared/data/binarized_mnist.npz [--device cuda]

Implementations, all the identical model (`gendsl.models.maf(x_dim=784,
hidden=(512,), layers=5)`: five MADE-parametrised affine layers, ReLU, natural
order with a reversal between layers, log-scales soft-clamped `5 tanh(a / 5)`,
standard normal base; Adam lr 1e-3, batch 100), on binarised MNIST
dequantised to `(x + u) / 2`. Each step scores the batch in one pass per
layer (the density direction) and updates:

- torch:          hand-written PyTorch (masked `F.linear`, the change of variables written out)
- torch-fused-adam: the same, with `torch.optim.Adam(fused=True)` as gendsl's Pyro backend uses
- gendsl-pyro:    gendsl's Pyro-backend step (what `fit(backend="pyro")` runs)
- pyro-svi:       plain `pyro.infer.SVI` + `Trace_ELBO` on `model.to_pyro()` (no latents)
- jax:            hand-written `jax.jit` step with optax
- gendsl-numpyro: gendsl's NumPyro-backend step (what `fit(backend="numpyro")` runs)
- torch-compile:  the torch-fused-adam step with its loss `torch.compile`d
- gendsl-pyro-compile: what `fit(backend="pyro", compile=True)` runs
  (the pair is skipped with `--no-compile`)

Prints the median step time of each and its ratio to the hand-written step
of its framework.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _timing  # noqa: E402

D, HIDDEN, LAYERS = 784, 512, 5


def _masks():
    """Each layer's MADE masks, exactly as ``gendsl.models.maf`` draws them."""
    from gendsl import transforms as T

    out = []
    for i in range(LAYERS):
        made = T.MaskedAutoregressive(f"layer{i}", D, (HIDDEN,), seed=i).made()
        out.append([m[0].astype("float32") for m in made.masks()])
    return out


def _dequantise(x):
    import numpy as np

    return ((x + np.random.default_rng(0).random(x.shape)) / 2).astype("float32")


def torch_maf(device):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    masks = [[torch.as_tensor(m, device=device) for m in pair] for pair in _masks()]
    nets = [(torch.nn.Linear(D, HIDDEN).to(device), torch.nn.Linear(HIDDEN, 2 * D).to(device))
            for _ in range(LAYERS)]

    def log_prob(y):
        log_det = 0.0
        for i in reversed(range(LAYERS)):
            (l1, l2), (m1, m2) = nets[i], masks[i]
            out = F.linear(torch.relu(F.linear(y, l1.weight * m1, l1.bias)), l2.weight * m2, l2.bias)
            out = out.view(*y.shape, 2)
            a = 5.0 * torch.tanh(out[..., 1] / 5.0)
            y = (y - out[..., 0]) * torch.exp(-a)
            log_det = log_det + a.sum(-1)
            if i:
                y = y.flip(-1)
        return (-0.5 * y * y).sum(-1) - 0.5 * D * math.log(2 * math.pi) - log_det

    def loss(x):
        return -log_prob(x).mean()

    return loss, [p for pair in nets for layer in pair for p in layer.parameters()]


def jax_maf(x_all, lr):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    masks = [[jnp.asarray(m) for m in pair] for pair in _masks()]
    rng = np.random.default_rng(0)
    params = [{"w1": rng.uniform(-D ** -0.5, D ** -0.5, (HIDDEN, D)), "b1": np.zeros(HIDDEN),
               "w2": rng.uniform(-HIDDEN ** -0.5, HIDDEN ** -0.5, (2 * D, HIDDEN)) * 0.01, "b2": np.zeros(2 * D)}
              for _ in range(LAYERS)]
    params = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float32), params)
    opt = optax.adam(lr)
    x_all = jnp.asarray(x_all, jnp.float32)

    def loss_fn(ps, y):
        log_det = 0.0
        for i in reversed(range(LAYERS)):
            p, (m1, m2) = ps[i], masks[i]
            out = jax.nn.relu(y @ (p["w1"] * m1).T + p["b1"]) @ (p["w2"] * m2).T + p["b2"]
            out = out.reshape(*y.shape, 2)
            a = 5.0 * jnp.tanh(out[..., 1] / 5.0)
            y = (y - out[..., 0]) * jnp.exp(-a)
            log_det = log_det + a.sum(-1)
            if i:
                y = y[..., ::-1]
        return -jnp.mean((-0.5 * y * y).sum(-1) - 0.5 * D * math.log(2 * math.pi) - log_det)

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
    _timing.main(__doc__, lambda zoo: zoo.maf(x_dim=D, hidden=(HIDDEN,), layers=LAYERS),
                 lambda inference: inference.MLE(), torch_maf, jax_maf, prepare=_dequantise)


if __name__ == "__main__":
    main()
