"""GANs on the bundled 8x8 digits: sample grids and the classifier two-sample test.

    .venv/bin/python bench/gan_digits.py --out docs/img/gan

`gendsl.models.gan(x_dim=64, z_dim=16, hidden=(256, 256), critic_hidden=(256, 256),
output="sigmoid")` on the 80% training split (seed 0) of the digits as grey
level / 16 in [0, 1], trained with `adversarial` for each loss in
`--losses` (Adam lr `--lr` for both players, batch 64; the generator's moving average of the weights
is sampled). The C2ST accuracy (`gendsl.inference.metrics.c2st`, an MLP
classifier, 5 folds) compares samples with the 359 held-out images; beside
them, the same test for fresh training images (the floor, about 0.5) and
for samples of `sklearn.mixture.GaussianMixture(10, covariance_type="full")`
fit on the training images. Every sample is clipped to [0, 1] and rounded to
the 17 grey levels of the data first, so the classifier cannot win on
quantisation alone. Writes `<loss>-digits.png` (64 samples).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.mixture import GaussianMixture

import gendsl.models as zoo
from gendsl import plots
from gendsl.data import digits
from gendsl.inference import metrics

LEVELS = 16  # grey levels 0..16


def _levels(x):
    return np.round(np.clip(x, 0.0, 1.0) * LEVELS) / LEVELS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", nargs="*", default=["non_saturating", "wgan_gp", "minimax", "hinge", "lsgan"])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--backend", default="numpyro", choices=["pyro", "numpyro"])
    parser.add_argument("--out", default="docs/img/gan")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    train, test = digits("unit", split=(0.8, 0.2), seed=0)
    n = len(test)
    rng = np.random.default_rng(0)
    rows = [("training images (floor)", metrics.c2st(train[rng.choice(len(train), n, replace=False)], test), "-", "-")]
    gmm = GaussianMixture(10, covariance_type="full", random_state=0).fit(train)
    rows.append(("GaussianMixture(10, full)", metrics.c2st(_levels(gmm.sample(n)[0]), test), "-", "-"))
    model = zoo.gan(x_dim=64, z_dim=16, hidden=(256, 256), critic_hidden=(256, 256), output="sigmoid")
    for loss in args.losses:
        start = time.perf_counter()
        fit = model.fit(train, objective="adversarial", loss=loss, backend=args.backend, epochs=args.epochs,
                        batch_size=64, lr=args.lr, seed=0, ema=0.999, progress=False)
        seconds = time.perf_counter() - start
        samples = _levels(fit.sample(n, seed=1)["x"])
        rows.append((f"gan, {loss}", metrics.c2st(samples, test), args.epochs, f"{seconds:.0f}"))
        plots.sample_grid(samples[:64], os.path.join(args.out, f"{loss}-digits.png"), image_shape=(8, 8),
                          title=f"gan, {loss}")
    print(f"backend {args.backend}; {n} held-out images\n")
    print("| samples | C2ST accuracy vs held-out | epochs | train s |")
    print("|---|---|---|---|")
    for name, acc, epochs, seconds in rows:
        print(f"| {name} | {acc:.3f} | {epochs} | {seconds} |", flush=True)


if __name__ == "__main__":
    main()
