"""RealNVP and MAF against an 8-component Gaussian mixture on 2-D toys.

    .venv/bin/python bench/flows_toys.py --out docs/img/flows

For moons, eight Gaussians and the checkerboard: 20,000 training and 10,000
held-out points (different seeds), `sklearn.mixture.GaussianMixture(8,
covariance_type="full")` fit on the training points, and RealNVP / MAF
trained with `mle` (Adam, batch 256, lr 1e-3 halved at 50% and 75% of the
epochs by restarting from the last parameters). Prints one Markdown row per
data set (held-out average log-likelihood, nats per point) and writes
`<dataset>.png`: the held-out data and each model's density.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.mixture import GaussianMixture

import gendsl.models as zoo
from gendsl import data, plots

DATASETS = {"moons": dict(noise=0.05), "eight_gaussians": dict(), "checkerboard": dict(), "spirals": dict()}
BOUNDS = {"moons": (-1.5, 2.5, -1.0, 1.5), "eight_gaussians": (-2.6, 2.6, -2.6, 2.6),
          "checkerboard": (-4.2, 4.2, -4.2, 4.2), "spirals": (-4.0, 4.0, -3.6, 3.6)}
FLOWS = {
    "RealNVP": lambda: zoo.realnvp(x_dim=2, hidden=(64, 64), layers=8),
    "MAF": lambda: zoo.maf(x_dim=2, hidden=(64, 64), layers=5),
}


def train(model, x, backend, epochs, seed):
    """Adam with the learning rate halved at 50% and 75% of the epochs."""
    fit, spent = None, 0
    for lr, share in ((1e-3, 0.5), (5e-4, 0.25), (2.5e-4, 0.25)):
        n = max(1, int(round(epochs * share)))
        fit = model.fit(x, backend=backend, epochs=n, batch_size=256, lr=lr, seed=seed + spent, progress=False,
                        init=None if fit is None else fit.params)
        spent += n
    return fit


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--backend", default="numpyro", choices=["pyro", "numpyro"])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--out", default="docs/img/flows")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"| data set | GMM (8, full) | {' | '.join(FLOWS)} | epochs | seconds ({' / '.join(FLOWS)}) |")
    print("|---|---|" + "---|" * len(FLOWS) + "---|---|")
    for name in args.datasets:
        x = data.load(name, n=20_000, seed=0, **DATASETS[name]).astype(np.float64)
        held_out = data.load(name, n=10_000, seed=1, **DATASETS[name]).astype(np.float64)
        gmm = GaussianMixture(8, covariance_type="full", n_init=3, random_state=0).fit(x)
        scores, seconds, panels = {}, {}, {"held-out data": held_out, "GMM (8)": gmm.score_samples}
        for label, make in FLOWS.items():
            start = time.perf_counter()
            fit = train(make(), x, args.backend, args.epochs, seed=0)
            seconds[label] = time.perf_counter() - start
            scores[label] = float(np.mean(fit.log_prob(held_out)))
            panels[label] = fit.log_prob
        plots.density_row(panels, os.path.join(args.out, f"{name}.png"), bounds=BOUNDS[name], title=name)
        row = " | ".join(f"{scores[k]:.3f}" for k in FLOWS)
        secs = " / ".join(f"{seconds[k]:.0f}" for k in FLOWS)
        print(f"| {name} | {gmm.score(held_out):.3f} | {row} | {args.epochs} | {secs} |", flush=True)


if __name__ == "__main__":
    main()
