"""Training-step time of one VAE, side by side in one run.

    .venv/bin/python bench/vae_speed.py --data ../shared/data/binarized_mnist.npz [--device cuda]

Implementations, all the identical model (Burda et al.'s one-stochastic-layer
MNIST VAE: 784-200-200-(2x50) tanh encoder, 50-200-200-784 tanh decoder,
Bernoulli likelihood, closed-form KL, Adam lr 1e-3, batch 100):

- torch:         hand-written PyTorch step
- torch-fused-adam: the same, with `torch.optim.Adam(fused=True)` as gendsl's Pyro backend uses
- gendsl-pyro:   gendsl's Pyro-backend step (what `fit(backend="pyro")` runs)
- pyro-svi:      plain `pyro.infer.SVI` + `Trace_ELBO` on `model.to_pyro()`
- jax:           hand-written `jax.jit` step with optax
- gendsl-numpyro: gendsl's NumPyro-backend step (what `fit(backend="numpyro")` runs)
- torch-compile:  the torch-fused-adam step with its loss `torch.compile`d
- gendsl-pyro-compile: what `fit(backend="pyro", compile=True)` runs
  (the pair is skipped with `--no-compile`)

Rounds interleave the implementations of one framework (PyTorch group, then
JAX group); each step is timed to completion (CUDA synchronised / JAX
blocked), and the median per implementation is reported with its ratio to
the hand-written baseline of its framework.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _timing  # noqa: E402


def torch_vae(device):
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 100)).to(device)
    dec = nn.Sequential(nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 784)).to(device)

    def loss(x):
        loc, log_scale = enc(x).chunk(2, -1)
        scale = log_scale.exp()
        z = loc + scale * torch.randn_like(loc)
        rec = -F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").sum(-1)
        kl = 0.5 * (loc**2 + scale**2 - 1).sum(-1) - log_scale.sum(-1)
        return -(rec - kl).mean()

    return loss, [*enc.parameters(), *dec.parameters()]


def jax_vae(x_all, lr):
    import jax
    import jax.numpy as jnp
    import optax

    def dense(key, a, b):
        bound = 1 / np.sqrt(a)
        k1, k2 = jax.random.split(key)
        return (jax.random.uniform(k1, (a, b), minval=-bound, maxval=bound),
                jax.random.uniform(k2, (b,), minval=-bound, maxval=bound))

    keys = jax.random.split(jax.random.PRNGKey(0), 6)
    sizes = [(784, 200), (200, 200), (200, 100), (50, 200), (200, 200), (200, 784)]
    params = [dense(k, a, b) for k, (a, b) in zip(keys, sizes)]
    opt = optax.adam(lr)
    state = opt.init(params)
    x_all = jnp.asarray(x_all, dtype=jnp.float32)

    def mlp(layers, h):
        for i, (w, b) in enumerate(layers):
            h = h @ w + b
            h = jnp.tanh(h) if i < len(layers) - 1 else h
        return h

    def loss_fn(params, x, key):
        loc, log_scale = jnp.split(mlp(params[:3], x), 2, -1)
        scale = jnp.exp(log_scale)
        z = loc + scale * jax.random.normal(key, loc.shape)
        logits = mlp(params[3:], z)
        rec = jnp.sum(x * logits - jax.nn.softplus(logits), -1)
        kl = 0.5 * jnp.sum(loc**2 + scale**2 - 1, -1) - jnp.sum(log_scale, -1)
        return -jnp.mean(rec - kl)

    @jax.jit
    def _step(params, state, idx, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, x_all[idx], key)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    box = {"p": params, "s": state, "key": jax.random.PRNGKey(1)}

    def step(idx):
        box["key"], sub = jax.random.split(box["key"])
        box["p"], box["s"], loss = _step(box["p"], box["s"], jnp.asarray(idx), sub)
        return loss

    return step


def main():
    _timing.main(__doc__, lambda zoo: zoo.vae(x_dim=784, z_dim=50, hidden=(200, 200)), lambda inference: inference.ELBO(), torch_vae, jax_vae)


if __name__ == "__main__":
    main()
