"""DDPM on 2-D toys against an 8-component Gaussian mixture, by MMD to held-out data.

    .venv/bin/python bench/diffusion_toys.py --out docs/img/diffusion

For moons, eight Gaussians and the checkerboard: 20,000 training and 10,000
held-out points (different seeds). `sklearn.mixture.GaussianMixture(8,
covariance_type="full")` is fit on the training points and sampled; the
chain (`gendsl.models.ddpm`: TimeMLP 128-128-128, T = 1000, linear schedule)
is trained with `denoising` (Adam, batch 256, lr 1e-3 for half the epochs,
3e-4 and 1e-4 for a quarter each, or `--lr-schedule cosine` from 1e-3; keeping a moving average of the weights
with decay `--ema`, which is what is sampled) and sampled ancestrally (1000 steps) and
with DDIM (50 steps, eta = 0). Samples of 10,000 points are compared with
the held-out points by the unbiased squared MMD (Gaussian kernel; one
bandwidth per data set, the median heuristic on the held-out points, so the
rows are comparable). One draw of 10,000 points gives an MMD whose spread is
as large as the differences between good models, so every figure is the mean
over `--draws` independent draws (with its standard error); the first column
does the same for fresh draws of the true distribution, the floor a perfect
model would reach (make_moons and the eight Gaussians place their points
evenly, so two of their samples are closer than two independent ones, and
this floor is below zero). The median bandwidth is wide (the data's own
scale), so the kernel sees little beyond the first moments; every MMD is
also reported at a quarter of it, where shape matters. Prints one Markdown
row per data set and writes
`<dataset>.png`: histograms of the held-out data and of one draw of each.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.mixture import GaussianMixture

import gendsl.models as zoo
from gendsl import data, plots
from gendsl.inference.metrics import mmd

DATASETS = {"moons": dict(noise=0.05), "eight_gaussians": dict(), "checkerboard": dict(), "spirals": dict()}
BOUNDS = {"moons": (-1.5, 2.5, -1.0, 1.5), "eight_gaussians": (-2.6, 2.6, -2.6, 2.6),
          "checkerboard": (-4.2, 4.2, -4.2, 4.2), "spirals": (-4.0, 4.0, -3.6, 3.6)}


def train(x, backend, epochs, seed, ema, batch_size=256, schedule="steps"):
    model = zoo.ddpm(x_dim=2, hidden=(128, 128, 128), steps=1000)
    if schedule == "cosine":  # one run, lr 1e-3 decayed to zero
        return model.fit(x, backend=backend, epochs=epochs, batch_size=batch_size, lr=1e-3, lr_schedule="cosine",
                         seed=seed, progress=False, ema=ema)
    fit = None
    for lr, share in ((1e-3, 0.5), (3e-4, 0.25), (1e-4, 0.25)):
        fit = model.fit(x, backend=backend, epochs=max(1, round(epochs * share)), batch_size=batch_size, lr=lr,
                        seed=seed, progress=False, init=None if fit is None else fit.params, ema=ema)
    return fit


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--draws", type=int, default=5, help="independent samples per model")
    parser.add_argument("--ema", type=float, default=0.999, help="decay of the weights' moving average; 0 for none")
    parser.add_argument("--backend", default="numpyro", choices=["pyro", "numpyro"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr-schedule", default="steps", choices=["steps", "cosine"],
                        help="steps: 1e-3, 3e-4, 1e-4 for 1/2, 1/4, 1/4 of the epochs; cosine: 1e-3 decayed to 0")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--n", type=int, default=10_000, help="samples per model and held-out points")
    parser.add_argument("--out", default="docs/img/diffusion")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print("MMD^2 x 1e5 to the held-out points, mean ± standard error over the draws\n")
    names = ("true distribution", "GMM (8, full)", "DDPM, 1000 steps", "DDIM, 50 steps")
    print(f"| data set | bandwidth h | {' | '.join(names)} | at h / 4: {' | '.join(names)} | epochs | train s "
          f"| sample s (1000 / 50) |")
    print("|---|---|" + "---|" * 8 + "---|---|---|")
    for name in args.datasets:
        x = data.load(name, n=20_000, seed=0, **DATASETS[name]).astype(np.float64)
        held_out = data.load(name, n=args.n, seed=1, **DATASETS[name]).astype(np.float64)
        h = mmd(held_out, held_out[::-1], seed=0).bandwidth  # the median heuristic on held-out points
        gmm = GaussianMixture(8, covariance_type="full", n_init=3, random_state=0).fit(x)
        start = time.perf_counter()
        fit = train(x, args.backend, args.epochs, seed=0, ema=args.ema or None, batch_size=args.batch_size,
                    schedule=args.lr_schedule)
        train_s = time.perf_counter() - start
        samplers = {
            "true distribution": lambda s: data.load(name, n=args.n, seed=100 + s, **DATASETS[name]),
            "GMM (8)": lambda s: gmm.set_params(random_state=100 + s).sample(args.n)[0],
            "DDPM (1000)": lambda s: fit.sample(args.n, seed=s)["x"],
            "DDIM (50)": lambda s: fit.sample(args.n, seed=s, sampler="ddim", steps=50)["x"],
        }
        scores, seconds, first = {}, {}, {}
        for label, draw in samplers.items():
            values, spent = [], 0.0
            for s in range(args.draws):
                start = time.perf_counter()
                sample = np.asarray(draw(s), dtype=np.float64)
                spent += time.perf_counter() - start
                first.setdefault(label, sample)
                values.append([mmd(sample, held_out, bandwidth=h).mmd2, mmd(sample, held_out, bandwidth=h / 4).mmd2])
            seconds[label] = spent / args.draws
            values = np.asarray(values)
            scores[label] = (values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values)))
        panels = {"held-out data": held_out, **{k: v for k, v in first.items() if k != "true distribution"}}
        plots.density_row(panels, os.path.join(args.out, f"{name}.png"), bounds=BOUNDS[name], title=f"{name}: samples")
        row = " | ".join(f"{m[i] * 1e5:.1f} ± {se[i] * 1e5:.1f}" for i in (0, 1) for m, se in scores.values())
        print(f"| {name} | {h:.3f} | {row} | {args.epochs} | {train_s:.0f} "
              f"| {seconds['DDPM (1000)']:.1f} / {seconds['DDIM (50)']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
