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
- ``maf``, ``realnvp``, ``glow``: ``zoo.maf(x_dim=64, hidden=(256, 256),
  layers=5, levels=17, classes=10)`` (a conditional MADE in every layer;
  realnvp and glow 6 layers, the label in every coupling MLP), on the 17 grey
  levels dequantised and logit-transformed as ``bench/flows_digits.py``
  encodes them, ``mle`` with the zoo's fit defaults; samples are the drawn
  integer levels. Also each flow's generative-classifier accuracy on the
  held-out digits, ``fit.predict("y", {"x": X})`` (Bayes' rule, exact: y
  summed out by enumeration); with ``--models maf`` a second table sets the
  MAF beside other generative classifiers of the same digits: scikit-learn's
  ``GaussianNB`` on the grey levels, the zoo's Bernoulli Naive Bayes on the
  binary digits and a class-conditional Bernoulli mixture (one
  ``zoo.bernoulli_mixture(x_dim=64, k=5)`` per class, Bayes' rule with the
  class frequencies).
- ``ddpm``: ``zoo.ddpm(x_dim=64, levels=17, hidden=(256, 256, 256),
  classes=10)`` (a TimeMLP with the label's embedding added to the step's,
  label dropout 0.1) on the 17 grey levels as ``bench/diffusion_digits.py``
  encodes them (integers scaled to [-1, 1], a discretised decoder),
  ``denoising`` with the zoo's fit defaults; 1000-step ancestral samples given
  ``y`` with classifier-free guidance ``w`` = 0, 1, 3, each beside the C2ST
  (``gendsl.inference.metrics.c2st``, an MLP told to tell them apart) of the
  1,000 samples against the held-out digits (the real training digits score
  the floor). With ``--out``, ``ddpm-guidance.png``: a row per guidance
  strength, a column per class.

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
from gendsl.inference import metrics

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


FLOWS = {"maf": dict(layers=5), "realnvp": dict(layers=6), "glow": dict(layers=6)}


def _run_flow(name, args):
    (train, y_train), (test, y_test) = data.digits("levels", return_labels=True, split=(0.8, 0.2), seed=0)
    clf, real = _classifier(train, y_train, test, y_test)
    model = getattr(zoo, name)(x_dim=64, hidden=(256, 256), levels=17, classes=10, **FLOWS[name])
    start = time.perf_counter()
    fit = model.fit({"x": train, "y": y_train}, backend=args.backend, epochs=args.flow_epochs, progress=False, seed=0)
    seconds = time.perf_counter() - start
    asked, per_class, grid = _asked(fit, clf)
    generative = float(np.mean(fit.predict("y", {"x": test}) == y_test))
    return {"model": f"{name}(classes=10)", "data": "17 levels, dequantised", "epochs": args.flow_epochs,
            "real": real, "asked": asked, "per_class": per_class, "accuracy": generative, "seconds": seconds,
            "extra": f"generative classifier on held-out digits: {generative:.3f} (`predict(\"y\")`, exact)",
            "grid": grid}


def run_maf(args):
    return _run_flow("maf", args)


def run_realnvp(args):
    return _run_flow("realnvp", args)


def run_glow(args):
    return _run_flow("glow", args)


def generative_classifiers(args):
    """Held-out accuracy of other generative classifiers of the digits (Bayes' rule over p(x | y) p(y))."""
    from sklearn.naive_bayes import GaussianNB

    (levels, y_train), (levels_test, y_test) = data.digits("levels", return_labels=True, split=(0.8, 0.2), seed=0)
    (binary, _), (binary_test, _) = data.digits("binary", return_labels=True, split=(0.8, 0.2), seed=0)
    rows = [("scikit-learn `GaussianNB`", "17 levels", float(GaussianNB().fit(levels, y_train).score(
        levels_test, y_test)))]
    nb = zoo.naive_bayes(x_dim=64, n_classes=10).fit({"x": binary, "y": y_train}, backend=args.backend, epochs=100,
                                                    progress=False, seed=0)
    rows.append(("`zoo.naive_bayes` (Bernoulli), 100 epochs", "binary",
                 float(np.mean(nb.predict("y", {"x": binary_test}) == y_test))))
    joint = []
    for c in range(10):
        mix = zoo.bernoulli_mixture(x_dim=64, k=5).fit(binary[y_train == c], backend=args.backend, epochs=100,
                                                       progress=False, seed=0)
        joint.append(mix.log_prob(binary_test) + np.log(np.mean(y_train == c)))
    rows.append(("`zoo.bernoulli_mixture(k=5)` per class, 100 epochs", "binary",
                 float(np.mean(np.argmax(np.stack(joint, -1), -1) == y_test))))
    return rows


GUIDANCE = (0.0, 1.0, 3.0)


def run_ddpm(args):
    """One row per guidance strength: samples labelled as asked, and their C2ST against held-out digits."""
    (train, y_train), (test, y_test) = data.digits("levels", return_labels=True, split=(0.8, 0.2), seed=0)
    clf, real = _classifier(train, y_train, test, y_test)
    floor = metrics.c2st(train[np.random.default_rng(0).choice(len(train), len(test), replace=False)], test)
    model = zoo.ddpm(x_dim=64, levels=17, hidden=(256, 256, 256), classes=10)
    start = time.perf_counter()
    fit = model.fit({"x": train, "y": y_train}, backend=args.backend, epochs=args.ddpm_epochs, progress=False, seed=0)
    seconds = time.perf_counter() - start
    rows, strip = [], []
    for w in GUIDANCE:
        start = time.perf_counter()
        drawn = [np.asarray(fit.sample(PER_CLASS, seed=c, given={"y": c}, guidance=w)["x"], dtype=np.float64)
                 for c in range(10)]
        per_class = [float(np.mean(clf.predict(x) == c)) for c, x in enumerate(drawn)]
        two_sample = metrics.c2st(np.concatenate(drawn), test)
        strip.append(np.stack([x[0] for x in drawn]))
        rows.append({"model": f"ddpm(classes=10), guidance {w:g}", "data": "17 levels", "epochs": args.ddpm_epochs,
                     "real": real, "asked": float(np.mean(per_class)), "per_class": per_class,
                     "extra": f"C2ST vs held-out: {two_sample:.3f} (real training digits: {floor:.3f}); "
                              f"sampling {time.perf_counter() - start:.0f} s",
                     "seconds": seconds, "grid": np.concatenate([x[:10] for x in drawn]), "figures": {}})
    rows[-1]["figures"] = {"ddpm-guidance.png": (np.concatenate(strip), "DDPM given y = column: guidance 0, 1, 3 "
                                                                         "(rows)")}
    return rows


RUNS = {"vae": run_vae, "gan": run_gan, "ddpm": run_ddpm, "maf": run_maf, "realnvp": run_realnvp, "glow": run_glow}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpyro", choices=["pyro", "numpyro"])
    parser.add_argument("--models", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--vae-epochs", type=int, default=200)
    parser.add_argument("--gan-epochs", type=int, default=300)
    parser.add_argument("--flow-epochs", type=int, default=100)
    parser.add_argument("--ddpm-epochs", type=int, default=2000)
    parser.add_argument("--out", default=None, help="write <model>-by-class.png here")
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; backend {args.backend}\n")
    print("| model | pixels | epochs | classifier on real held-out | samples labelled as asked | lowest class | "
          "train s | also |")
    print("|---|---|---|---|---|---|---|---|")
    classifiers = {}  # the flows' held-out accuracy as generative classifiers
    for name in args.models:
        results = RUNS[name](args)
        for r in results if isinstance(results, list) else [results]:  # the DDPM: a row per guidance strength
            if "accuracy" in r:
                classifiers[r["model"]] = r["accuracy"]
            low = int(np.argmin(r["per_class"]))
            print(f"| {r['model']} | {r['data']} | {r['epochs']} | {r['real']:.3f} | **{r['asked']:.3f}** | "
                  f"{low}: {r['per_class'][low]:.2f} | {r['seconds']:.0f} | {r['extra']} |", flush=True)
            if args.out:
                os.makedirs(args.out, exist_ok=True)
                figures = r.get("figures", {f"{name}-by-class.png": (r["grid"], f"{r['model']}: row c is ten "
                                                                                  f"samples given y = c")})
                for file, (images, title) in figures.items():
                    plots.sample_grid(images, os.path.join(args.out, file), ncols=10, title=title)
    if "maf" in args.models:
        print("\n| generative classifier | pixels | held-out accuracy |\n|---|---|---|")
        rows = [(f"`zoo.{m}`, {args.flow_epochs} epochs", "17 levels, dequantised", a) for m, a in classifiers.items()]
        for model, pixels, accuracy in rows + generative_classifiers(args):
            print(f"| {model} | {pixels} | {accuracy:.3f} |", flush=True)


if __name__ == "__main__":
    main()
