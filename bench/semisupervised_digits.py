"""Semi-supervised M2 on the bundled 8x8 digits with few labels, against supervised-only classifiers (issue 27)

    .venv/bin/python bench/semisupervised_digits.py [--backend numpyro] [--epochs 200] [--seeds 0]

The 80/20 split (seed 0) of ``gendsl.data.digits("binary")`` (grey level >=
8). Of the 1,437 training rows a balanced, seeded subset keeps its label
(``--labels``: ``10%``, about 14 per class, and ``5``, five per class); the
rest are NaN. ``zoo.ssvae(x_dim=64, classes=10, z_dim=8, hidden=(512,))``
(its other hyper-parameters, ``alpha`` included, and the fit options are the
zoo's defaults) trains on all rows; its classifier ``q(y | x)`` labels the
359 held-out digits (``fit.predict("y", ...)``). Beside it, on the same
labelled rows only: scikit-learn's ``LogisticRegression`` (``C=1``) and
``MLPClassifier((256,))``. Kingma et al. (2014) report M2 test errors on
MNIST of 11.97 % with 100 labels and 3.92 % with 3,000 (of 50,000): another
data set, for scale only.

Prints Markdown rows for bench/RESULTS.md; with ``--out``, writes
``ssvae-by-class.png`` there from the first run (row c: ten samples given y = c).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

import gendsl.models as zoo
from gendsl import data, plots


def balanced_labels(y, per_class, seed):
    """A boolean mask keeping ``per_class`` labels of each class (seeded)."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(y), bool)
    for c in np.unique(y):
        keep[rng.choice(np.flatnonzero(y == c), per_class, replace=False)] = True
    return keep


def per_class_for(setting, y):
    if setting.endswith("%"):
        return max(1, round(float(setting[:-1]) / 100 * len(y) / len(np.unique(y))))
    return int(setting)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpyro", choices=["pyro", "numpyro"])
    parser.add_argument("--labels", nargs="*", default=["10%", "5"])
    parser.add_argument("--epochs", type=int, default=None, help="default: the zoo's fit default")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--out", default=None, help="write ssvae-by-class.png here")
    args = parser.parse_args(argv)
    (train, y_train), (test, y_test) = data.digits("binary", return_labels=True, split=(0.8, 0.2), seed=0)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; backend {args.backend}\n")
    print("| labels | seed | M2 (ssvae) test accuracy | logistic regression | MLP | M2 epochs | M2 train s |")
    print("|---|---|---|---|---|---|---|")
    for setting in args.labels:
        per_class = per_class_for(setting, y_train)
        for seed in args.seeds:
            keep = balanced_labels(y_train, per_class, seed)
            labels = np.where(keep, y_train, np.nan)
            options = {} if args.epochs is None else {"epochs": args.epochs}
            model = zoo.ssvae(x_dim=64, classes=10, z_dim=8, hidden=(512,))
            start = time.perf_counter()
            fit = model.fit({"x": train, "y": labels}, backend=args.backend, progress=False, seed=seed, **options)
            seconds = time.perf_counter() - start
            m2 = float(np.mean(fit.predict("y", {"x": test}) == y_test))
            lr = LogisticRegression(max_iter=5000).fit(train[keep], y_train[keep]).score(test, y_test)
            mlp = MLPClassifier((256,), max_iter=5000, random_state=seed).fit(train[keep], y_train[keep])
            epochs = len(fit.history["epoch_loss"])
            print(f"| {keep.sum()} ({per_class} per class) | {seed} | **{m2:.3f}** | {lr:.3f} | "
                  f"{mlp.score(test, y_test):.3f} | {epochs} | {seconds:.0f} |", flush=True)
            if args.out:
                grid = np.concatenate([fit.sample(10, seed=c, given={"y": c})["x"] for c in range(10)])
                os.makedirs(args.out, exist_ok=True)
                plots.sample_grid(grid, os.path.join(args.out, "ssvae-by-class.png"), ncols=10,
                                  title=f"ssvae, {keep.sum()} labels: row c is ten samples given y = c")
                args.out = None


if __name__ == "__main__":
    main()
