"""Class-conditional models on the bundled 8x8 digits: do samples given a label show that digit? (issue 27)

    .venv/bin/python bench/conditional_digits.py [--backend numpyro] [--models vae gan] [--out DIR]

For each conditional zoo model, 100 samples per class are drawn with
``fit.sample(100, given={"y": c})`` and labelled by a classifier trained on
the real training digits of the same encoding (scikit-learn's ``SVC``, RBF
kernel; its accuracy on the held-out real digits is printed beside, and must
exceed 0.95 for the figure to mean anything). The figure is the share of
samples the classifier labels as asked. Data: the 80/20 split (seed 0).

- ``vae``: ``zoo.vae(x_dim=64, z_dim=8, hidden=(256,), classes=10)`` on the
  binary digits (grey level >= 8), ``elbo`` with the zoo's fit defaults;
  samples are the drawn binary images (not decoder means). Also its
  generative-classifier accuracy on the held-out digits,
  ``fit.predict("y", {"x": X}, k=100)`` (Bayes' rule, importance-sampled).
- ``gan``: ``zoo.gan(x_dim=64, z_dim=16, hidden=(256, 256),
  critic_hidden=(256, 256), output="sigmoid", classes=10)`` (a projection
  discriminator) on grey level / 16 in [0, 1], ``adversarial`` with
  ``loss="wgan_gp"`` and the zoo's defaults but ``bench/gan_digits.py``'s lr 5e-4
  and batch 64 (its best unconditional recipe); samples clipped to [0, 1]
  and rounded to the 17 grey levels.

Prints Markdown rows for bench/RESULTS.md; with ``--out``, writes a
class-by-class grid per model (row c: ten samples given y = c).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from sklearn.svm import SVC

import gendsl.models as zoo
from gendsl import data, plots

PER_CLASS = 100


def _classifier(train, y_train, test, y_test):
    clf = SVC(gamma="scale").fit(train, y_train)
    return clf, float(clf.score(test, y_test))


def _asked(fit, clf, transform=lambda x: x, seed=0):
    """The share of samples given y = c that the classifier labels c, and a grid of ten per class."""
    hits, grid = [], []
    for c in range(10):
        drawn = transform(np.asarray(fit.sample(PER_CLASS, seed=seed + c, given={"y": c})["x"], dtype=np.float64))
        hits.append(np.mean(clf.predict(drawn) == c))
        grid.append(drawn[:10])
    return float(np.mean(hits)), [float(h) for h in hits], np.concatenate(grid)


def run_vae(args):
    (train, y_train), (test, y_test) = data.digits("binary", return_labels=True, split=(0.8, 0.2), seed=0)
    clf, real = _classifier(train, y_train, test, y_test)
    model = zoo.vae(x_dim=64, z_dim=8, hidden=(256,), classes=10)
    start = time.perf_counter()
    fit = model.fit({"x": train, "y": y_train}, backend=args.backend, epochs=args.vae_epochs, progress=False, seed=0)
    seconds = time.perf_counter() - start
    asked, per_class, grid = _asked(fit, clf)
    generative = float(np.mean(fit.predict("y", {"x": test}, k=100) == y_test))
    return {"model": "vae(classes=10)", "data": "binary", "epochs": args.vae_epochs, "real": real, "asked": asked,
            "per_class": per_class, "extra": f"generative classifier on held-out digits: {generative:.3f}",
            "seconds": seconds, "grid": grid}


def run_gan(args):
    (train, y_train), (test, y_test) = data.digits("unit", return_labels=True, split=(0.8, 0.2), seed=0)
    clf, real = _classifier(train, y_train, test, y_test)
    model = zoo.gan(x_dim=64, z_dim=16, hidden=(256, 256), critic_hidden=(256, 256), output="sigmoid", classes=10)
    start = time.perf_counter()
    fit = model.fit({"x": train, "y": y_train}, backend=args.backend, epochs=args.gan_epochs, loss="wgan_gp",
                    lr=5e-4, batch_size=64, progress=False, seed=0)
    seconds = time.perf_counter() - start
    asked, per_class, grid = _asked(fit, clf, transform=lambda x: np.round(np.clip(x, 0, 1) * 16) / 16)
    return {"model": "gan(classes=10), wgan_gp", "data": "grey / 16", "epochs": args.gan_epochs, "real": real,
            "asked": asked, "per_class": per_class, "extra": "", "seconds": seconds, "grid": grid}


RUNS = {"vae": run_vae, "gan": run_gan}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpyro", choices=["pyro", "numpyro"])
    parser.add_argument("--models", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--vae-epochs", type=int, default=200)
    parser.add_argument("--gan-epochs", type=int, default=300)
    parser.add_argument("--out", default=None, help="write <model>-by-class.png here")
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; backend {args.backend}\n")
    print("| model | pixels | epochs | classifier on real held-out | samples labelled as asked | lowest class | "
          "train s | also |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        r = RUNS[name](args)
        low = int(np.argmin(r["per_class"]))
        print(f"| {r['model']} | {r['data']} | {r['epochs']} | {r['real']:.3f} | **{r['asked']:.3f}** | "
              f"{low}: {r['per_class'][low]:.2f} | {r['seconds']:.0f} | {r['extra']} |", flush=True)
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            plots.sample_grid(r["grid"], os.path.join(args.out, f"{name}-by-class.png"), ncols=10,
                              title=f"{r['model']}: row c is ten samples given y = c")


if __name__ == "__main__":
    main()
