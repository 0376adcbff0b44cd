"""Sampling time of one diffusion chain, side by side in one run.

    .venv/bin/python bench/diffusion_speed.py [--device cuda] [--n 10000] [--rounds 5]

The chain is `gendsl.models.ddpm(x_dim=2)`: a TimeMLP 2-128-128-128-2 with
SiLU and a 64-wide sinusoidal step embedding, T = 1000, the linear schedule,
sigma_t^2 = beta_t. Each timed call draws `--n` points with the 1000
ancestral steps of Ho et al.'s algorithm 2 and returns them as a NumPy array:

- torch:          a hand-written PyTorch loop of the same network (no_grad, the step's
                  embedding computed once per step, per-step constants as Python floats)
- gendsl-pyro:    `Fitted.sample(n)` on the Pyro backend
- jax:            a hand-written `jax.jit` + `lax.fori_loop` of the same network
- gendsl-numpyro: `Fitted.sample(n)` on the NumPyro backend

and, beside them, gendsl's DDIM with 50 steps (eta = 0) on each backend.
Weights are the model's initial ones, perturbed; before timing, each
hand-written network is checked against gendsl's on random inputs. Prints
the median time per call and its ratio to the hand-written loop of its
framework.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np

T, HIDDEN, TIME_DIM = 1000, (128, 128, 128), 64


def _weights(seed=0):
    import gendsl.models as zoo

    model = zoo.ddpm(x_dim=2, hidden=HIDDEN, steps=T, time_dim=TIME_DIM)
    rng = np.random.default_rng(seed)
    params = {k: v + 0.05 * rng.normal(size=np.shape(v)) for k, v in model.init_params(seed).items()}
    return model, params


def _constants():
    betas = np.linspace(1e-4, 0.02, T)
    alphas = 1 - betas
    abar = np.cumprod(alphas)
    half = TIME_DIM // 2
    return {"inv_sqrt_alpha": 1 / np.sqrt(alphas), "eps_coef": betas / np.sqrt(1 - abar),
            "sigma": np.sqrt(betas), "freqs": np.exp(-math.log(10000.0) * np.arange(half) / half)}


def torch_sampler(params, n, device):
    import torch
    import torch.nn.functional as F

    c = _constants()
    w = {k[4:]: torch.as_tensor(v, dtype=torch.float32, device=device) for k, v in params.items()}
    freqs = torch.as_tensor(c["freqs"], dtype=torch.float32, device=device)

    def net(x, t):  # t: a Python int, one step for every row
        emb = F.silu(F.linear(torch.cat([torch.sin(t * freqs), torch.cos(t * freqs)]), w["time.weight"],
                              w["time.bias"]))
        h = x
        for i in range(len(HIDDEN)):
            h = F.silu(F.linear(h, w[f"{i}.weight"], w[f"{i}.bias"]) + w[f"{i}.time.weight"] @ emb)
        return F.linear(h, w["out.weight"], w["out.bias"])

    @torch.no_grad()
    def sample(seed):
        torch.manual_seed(seed)
        x = torch.randn(n, 2, device=device)
        for t in reversed(range(T)):
            x = float(c["inv_sqrt_alpha"][t]) * (x - float(c["eps_coef"][t]) * net(x, t))
            if t > 0:
                x = x + float(c["sigma"][t]) * torch.randn(n, 2, device=device)
        return x.cpu().numpy()

    return sample, net


def jax_sampler(params, n):
    import jax
    import jax.numpy as jnp

    c = {k: jnp.asarray(v, jnp.float32) for k, v in _constants().items()}
    w = {k[4:]: jnp.asarray(v, jnp.float32) for k, v in params.items()}

    def net(x, t):  # t: a scalar step
        args = t.astype(jnp.float32) * c["freqs"]
        emb = jax.nn.silu(w["time.weight"] @ jnp.concatenate([jnp.sin(args), jnp.cos(args)]) + w["time.bias"])
        h = x
        for i in range(len(HIDDEN)):
            h = jax.nn.silu(h @ w[f"{i}.weight"].T + w[f"{i}.bias"] + w[f"{i}.time.weight"] @ emb)
        return h @ w["out.weight"].T + w["out.bias"]

    @jax.jit
    def run(key):
        k_init, k_steps = jax.random.split(key)

        def body(j, x):
            t = T - 1 - j
            x = c["inv_sqrt_alpha"][t] * (x - c["eps_coef"][t] * net(x, t))
            return x + (t > 0) * c["sigma"][t] * jax.random.normal(jax.random.fold_in(k_steps, j), (n, 2))

        return jax.lax.fori_loop(0, T, body, jax.random.normal(k_init, (n, 2)))

    return (lambda seed: np.asarray(run(jax.random.PRNGKey(seed)))), net


def _check_network(backend, hand_net, params, device):
    """The hand-written network computes gendsl's function (float32 tolerance)."""
    import jax.numpy as jnp
    import torch

    from gendsl.backends import get_backend
    from gendsl.nn import TimeMLP

    spec, b = TimeMLP("eps", 2, hidden=HIDDEN, time_dim=TIME_DIM), get_backend(backend)
    x = np.random.default_rng(1).normal(size=(16, 2))
    for t in (0, 517, T - 1):
        if backend == "pyro":
            ws = {k: torch.as_tensor(v, dtype=torch.float32, device=device) for k, v in params.items()}
            ours = b.net(spec, ws, "eps.")(torch.as_tensor(x, dtype=torch.float32, device=device),
                                           torch.full((16,), t, device=device))
            theirs = hand_net(torch.as_tensor(x, dtype=torch.float32, device=device), t)
            ours, theirs = ours.cpu().numpy(), theirs.cpu().numpy()
        else:
            ws = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
            ours = np.asarray(b.net(spec, ws, "eps.")(jnp.asarray(x, jnp.float32), jnp.full((16,), t)))
            theirs = np.asarray(hand_net(jnp.asarray(x, jnp.float32), jnp.asarray(t)))
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5, err_msg=f"{backend} network, t = {t}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import jax
    import torch

    from gendsl.inference import Fitted

    model, params = _weights()
    torch_sample, torch_net = torch_sampler(params, args.n, args.device)
    jax_sample, jax_net = jax_sampler(params, args.n)
    _check_network("pyro", torch_net, params, args.device)
    _check_network("numpyro", jax_net, params, args.device)
    fits = {b: Fitted(model, b, params, device=args.device if b == "pyro" else None) for b in ("pyro", "numpyro")}
    impls = {
        "torch": torch_sample,
        "gendsl-pyro": lambda s: fits["pyro"].sample(args.n, seed=s)["x"],
        "gendsl-pyro DDIM 50": lambda s: fits["pyro"].sample(args.n, seed=s, sampler="ddim", steps=50)["x"],
        "jax": jax_sample,
        "gendsl-numpyro": lambda s: fits["numpyro"].sample(args.n, seed=s)["x"],
        "gendsl-numpyro DDIM 50": lambda s: fits["numpyro"].sample(args.n, seed=s, sampler="ddim", steps=50)["x"],
    }
    groups = [["torch", "gendsl-pyro", "gendsl-pyro DDIM 50"], ["jax", "gendsl-numpyro", "gendsl-numpyro DDIM 50"]]
    baseline = {name: group[0] for group in groups for name in group}
    times = {k: [] for k in impls}
    for group in groups:  # one framework at a time (their thread pools would fight), rounds interleaved
        for name in group:
            out = impls[name](0)  # warm-up and compilation
            assert out.shape == (args.n, 2) and np.isfinite(out).all(), name
        for r in range(args.rounds):
            for name in group:
                start = time.perf_counter()
                impls[name](r + 1)
                times[name].append(time.perf_counter() - start)
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"device: {device}; jax: {jax.devices()[0]}; torch threads {torch.get_num_threads()}; "
          f"{args.n} points, T = {T}; median of {args.rounds} calls each")
    print("| implementation | median ms per call | ratio to hand-written |")
    print("|---|---|---|")
    for name, ms in med.items():
        print(f"| {name} | {ms:.1f} | {ms / med[baseline[name]]:.3f} |")


if __name__ == "__main__":
    main()
