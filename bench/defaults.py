"""Every zoo model fitted with its defaults on its canonical bundled data, against a baseline (issue 26).

    .venv/bin/python bench/defaults.py [--models gan ddpm ...] [--cli]

Each fit sets only ``epochs`` (and the data-shaped hyper-parameters:
``x_dim``, a digit classifier's ``n_classes``); everything else (objective,
learning rate and its schedule, batch size, weight averaging, ...) is the
model's own default (``factory.default_objective`` and ``factory.fit_defaults``,
merged by ``Model.fit``). The epochs are chosen so each fit takes at most 60 s
of CPU on the development VM (``time.process_time()`` around the fit; torch
and XLA are held to one thread, so the figure is one core's time, not two
spinning threads'). Data and baselines:

- 2-D toys (``moons``, noise 0.05; ``spirals``; ``eight_gaussians``): 20,000
  training and 10,000 held-out points (seeds 0 and 1), as in the toy benches.
  Flows and RNADE: held-out mean log-likelihood against
  ``sklearn.mixture.GaussianMixture(8, covariance_type="full", n_init=3)`` on
  the training points. DDPM: squared MMD (x 1e5; ``gendsl.inference.metrics.mmd``,
  3 draws of 10,000 samples, mean) to the held-out points at the median
  bandwidth ``h`` of the held-out points and at ``h / 4``, against the same
  GMM's expected MMD in closed form (``bench/diffusion_toys.py``). At ``h`` the
  kernel sees little beyond the first two moments, which the GMM matches to
  the training set's luck (it sits within 0.1 of the true distribution's
  value on moons), so there the bar is a tie: within two standard errors of
  the draws. GAN: 10,000 samples against the eight modes
  (``metrics.mode_coverage``: a mode is covered by >= 5 % of samples within
  3 std); the bar is 8 / 8 modes and >= 80 % of samples near a mode.
- Binarised 8x8 digits (grey level >= 8), 80/20 split (seed 0), against
  independent Bernoullis with the training frequencies: test NLL
  (autoregressive chains, the Bernoulli mixture), the negative ELBO (VAE,
  GMVAE, VQ-VAE: an upper bound on the NLL; the VQ-VAE's uniform code prior
  costs ``n_latents log n_codes``, and its bound with the codes' training
  frequencies per position as the prior is shown for information), and a denoising
  autoencoder's NLL of held-out rows reconstructed from their corruption
  (25 % of the pixels masked, the model's own corruption). Naive Bayes:
  test accuracy of the digit class against ``sklearn.naive_bayes.BernoulliNB``
  (the same model in closed form; the bar is within one point of it).
- Gaussian mixture: ``gendsl.data.blobs(n=1500, k=3)``, 1000 / 500 rows,
  held-out log-likelihood against ``GaussianMixture(3, "diag")`` (EM from a
  k-means start; the bar is within 0.02 nats, issue 2's). Factor analysis:
  breast cancer (30 features, standardised with the training rows' moments;
  80/20, seed 0), the exact held-out log-likelihood of the fitted ``W``,
  ``mu``, ``psi`` against ``sklearn.decomposition.FactorAnalysis`` with as
  many factors (EM; the bar is within 0.5 nats: the ELBO's diagonal guide
  cannot match the exact posterior's correlations, so its optimum lies a
  little below EM's). Independent Gaussians score -45.2 there.

Prints one Markdown table (model, data, metric, gendsl, baseline, beats?, CPU s,
the defaults it used) and the table of declared defaults, and exits 1 if any
row misses its bar. ``--cli`` trains through ``gendsl fit MODEL --data
train.npy --epochs N`` instead of ``Model.fit`` (the same training rows, saved
to a temporary ``.npy``; CPU seconds are then the child process's, imports
and the run folder's plots included), and scores the run's ``fit.npz``.
"""

from __future__ import annotations

import os

# one thread each, before torch and jax are imported (see the docstring)
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

import gendsl as gd  # noqa: E402
import gendsl.models as zoo  # noqa: E402
from gendsl import data  # noqa: E402
from gendsl.cli import FROM_DATA  # noqa: E402
from gendsl.inference import metrics  # noqa: E402

torch.set_num_threads(1)

TOYS = {"moons": dict(noise=0.05), "spirals": dict(), "eight_gaussians": dict()}
TRAIN_N, HELD_OUT_N = 20_000, 10_000
CPU_BUDGET = 60.0  # seconds of CPU per fit


# -- data and baselines ----------------------------------------------------------------------------

_CACHE: dict = {}


def _cached(key, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def toy(name):
    """``(train, held_out)`` of a 2-D toy, float64."""
    return _cached(("toy", name), lambda: tuple(
        data.load(name, n=n, seed=seed, **TOYS[name]).astype(np.float64)
        for n, seed in ((TRAIN_N, 0), (HELD_OUT_N, 1))))


def toy_gmm(name):
    """The 8-component full-covariance GMM on a toy's training points."""
    return _cached(("gmm8", name), lambda: GaussianMixture(8, covariance_type="full", n_init=3, random_state=0)
                   .fit(toy(name)[0]))


def binary_digits():
    return _cached("digits", lambda: data.digits("binary", split=(0.8, 0.2), seed=0))


def independent_bernoulli_nll():
    train, test = binary_digits()
    p = np.clip(train.mean(0), 1e-3, 1 - 1e-3)
    return float(-(test * np.log(p) + (1 - test) * np.log(1 - p)).sum(1).mean())


def bernoulli_nll(x, probs):
    probs = np.clip(probs, 1e-7, 1 - 1e-7)
    return float(-(x * np.log(probs) + (1 - x) * np.log(1 - probs)).sum(1).mean())


# -- rows ------------------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the table; ``beats`` is ``"yes"``, ``"tie"`` (a bar that is a tie) or ``"no"``."""

    model: str
    data: str
    metric: str
    value: float
    baseline: float
    beats: str
    bar: str
    cpu: float = float("nan")
    defaults: str = ""


def higher(value, baseline, margin=0.0):
    return "yes" if value > baseline - margin else "no"


def lower(value, baseline):
    return "yes" if value < baseline else "no"


# -- fitting: the Python API, or the command line ------------------------------------------------

@dataclass
class Case:
    """One zoo model on one data set.

    Args:
        model: the zoo name.
        data: the data's label in the table.
        epochs: the one fit setting the bench gives.
        train: ``() -> training data`` (an array, or a dict of sites).
        hyper: the data-shaped hyper-parameters.
        options: objective options that pick the variant (a GAN's ``loss``).
        score: ``(fitted, case) -> [Row]`` without the CPU and defaults columns.
        label: the name in ``--models`` and the table (default ``model``).
    """

    model: str
    data: str
    epochs: int
    train: Callable
    hyper: dict
    score: Callable
    options: dict = field(default_factory=dict)
    label: str = ""

    @property
    def name(self):
        return self.label or self.model


def describe_defaults(model, options, overrides) -> str:
    """The objective and declared fit defaults a call with ``options`` (and a probe's ``overrides``) uses."""
    objective = model.factory.default_objective
    declared = model.default_fit_options(**options, **overrides)
    chosen = ", ".join(f"{k}={v}" for k, v in options.items())
    parts = [f"{objective}" + (f"({chosen})" if chosen else "")]
    parts += [f"{k}={v}" for k, v in declared.items()] or ["fit()'s own (lr=0.001, batch_size=128)"]
    parts += [f"{k}={v} (probe)" for k, v in overrides.items()]
    return "; ".join(parts)


def fit_api(case, overrides):
    model = zoo.ZOO[case.model](**case.hyper)
    train = case.train()
    start = time.process_time()
    fitted = model.fit(train, epochs=case.epochs, progress=False, **case.options, **overrides)
    return fitted, time.process_time() - start


# fit keywords with a flag of their own on `gendsl fit`
CLI_FLAGS = {"lr": "--lr", "batch_size": "--batch-size", "lr_schedule": "--lr-schedule", "ema": "--ema",
             "seed": "--seed", "warmup": "--warmup", "weight_decay": "--weight-decay", "clip_norm": "--clip-norm"}


def fit_cli(case, overrides):
    """The same fit through ``gendsl fit``: the training rows go in as a ``.npy`` (or ``.npz`` of sites)."""
    train = case.train()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.npz" if isinstance(train, dict) else "train.npy")
        np.savez(path, **train) if isinstance(train, dict) else np.save(path, train)
        run = os.path.join(tmp, "run")
        command = [os.path.join(os.path.dirname(sys.executable), "gendsl"), "fit", case.model, "--data", path,
                   "--epochs", str(case.epochs), "--out", run]
        # hyper-parameters the command line does not read off the data (x_dim, n_classes, ...: cli.FROM_DATA)
        command += [f"--set={k}={v}" for k, v in case.hyper.items() if k not in FROM_DATA]
        command += [f"--opt={k}={v}" for k, v in case.options.items()]
        for key, value in overrides.items():  # a probe's fit keywords: the optimiser's flags, else objective options
            flag = CLI_FLAGS.get(key)
            command += [flag, str(value)] if flag else [f"--opt={key}={value}"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "CI": "1"})
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        fitted = gd.load(os.path.join(run, "fit.npz"))
    return fitted, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


# -- scores ----------------------------------------------------------------------------------------

def flow_score(name):
    def score(fit, case):
        _, held_out = toy(name)
        return [Row(case.name, name, "held-out log-lik (nats/point)", float(np.mean(fit.log_prob(held_out))),
                    float(toy_gmm(name).score(held_out)), "", "> GMM(8, full)")]

    return score


def ddpm_score(name, draws=3, n=10_000):
    def score(fit, case):
        from diffusion_toys import gmm_expected_mmd2  # bench/, on sys.path when run as a script

        _, held_out = toy(name)
        h = metrics.mmd(held_out, held_out[::-1], seed=0).bandwidth  # the median heuristic, as diffusion_toys
        values = []
        for s in range(draws):
            sample = np.asarray(fit.sample(n, seed=s)["x"], dtype=np.float64)
            sample = sample[np.isfinite(sample).all(axis=1)]
            values.append([metrics.mmd(sample, held_out, bandwidth=bw).mmd2 * 1e5 for bw in (h, h / 4)])
        values = np.asarray(values)
        mean, se = values.mean(0), values.std(0, ddof=1) / np.sqrt(draws)
        gmm = [gmm_expected_mmd2(toy_gmm(name), held_out, bw) * 1e5 for bw in (h, h / 4)]
        at_h = "yes" if mean[0] < gmm[0] else ("tie" if mean[0] - 2 * se[0] <= gmm[0] else "no")
        return [Row(case.name, name, f"MMD² x1e5 at h = {h:.2f} (± {se[0]:.1f})", mean[0], gmm[0], at_h,
                    "<= GMM(8) + 2 s.e."),
                Row(case.name, name, f"MMD² x1e5 at h/4 (± {se[1]:.1f})", mean[1], gmm[1], lower(mean[1], gmm[1]),
                    "< GMM(8)")]

    return score


def gan_score(fit, case):
    sample = fit.sample(10_000, seed=2)["x"]
    cov = metrics.mode_coverage(sample, data.EIGHT_GAUSSIANS_CENTRES, data.EIGHT_GAUSSIANS_STD)
    return [Row(case.name, "eight_gaussians", "modes covered (of 8)", cov.covered, 8, "yes" if cov.covered == 8
                else "no", "8 / 8"),
            Row(case.name, "eight_gaussians", "samples near a mode", cov.high_quality, 0.80,
                "yes" if cov.high_quality >= 0.80 else "no", ">= 0.80")]


def digits_nll(fit, case):
    _, test = binary_digits()
    return [Row(case.name, "binary digits", "test NLL (nats/image)", -float(np.mean(fit.log_prob(test))),
                independent_bernoulli_nll(), "", "< independent Bernoullis")]


def digits_elbo(fit, case):
    _, test = binary_digits()
    return [Row(case.name, "binary digits", "test -ELBO (nats/image)", -float(np.mean(fit.elbo(test))),
                independent_bernoulli_nll(), "", "< independent Bernoullis")]


def vqvae_score(fit, case):
    """The model's own bound (uniform code prior), and for information the bound with
    each latent position's code prior set to its training frequencies (add-one)."""
    from gendsl.models.latent import _code_count

    train, test = binary_digits()
    hyper = fit.model.hyper
    n_latents, n_codes = _code_count(hyper["x_dim"], hyper["n_latents"]), hyper["n_codes"]
    codebook = fit.params["codebook"]

    def codes(x):  # (rows, n_latents): the nearest codebook row to each chosen code vector
        z = fit.encode(x).reshape(len(x), n_latents, -1)
        return np.argmin(((z[:, :, None, :] - codebook[None, None]) ** 2).sum(-1), axis=-1)

    counts = np.ones((n_latents, n_codes))
    np.add.at(counts, (np.arange(n_latents)[None].repeat(len(train), 0), codes(train)), 1.0)
    log_prior = np.log(counts / counts.sum(1, keepdims=True))
    reconstruction = fit.elbo(test) + n_latents * np.log(n_codes)  # log p(x | z): the ELBO without the uniform prior
    bound = -(reconstruction + log_prior[np.arange(n_latents), codes(test)].sum(1))
    return [Row(case.name, "binary digits", f"test -ELBO, uniform prior over {n_latents} x {n_codes} codes (nats)",
                -float(np.mean(fit.elbo(test))), independent_bernoulli_nll(), "", "< independent Bernoullis"),
            Row(case.name, "binary digits", "test bound, empirical code prior (nats)", float(np.mean(bound)),
                independent_bernoulli_nll(), "n/a", "for information: a fitted code prior's gain")]


def dae_score(fit, case):
    _, test = binary_digits()
    level = fit.model.hyper["level"]
    corrupted = test * (np.random.default_rng(0).random(test.shape) >= level)
    probs = fit.reconstruct(corrupted)
    return [Row(case.name, "binary digits", f"test NLL from {level:.0%} masked pixels", bernoulli_nll(test, probs),
                independent_bernoulli_nll(), "", "< independent Bernoullis")]


def naive_bayes_score(fit, case):
    from sklearn.naive_bayes import BernoulliNB

    (train, y_train), (test, y_test) = _cached("digits-labels", lambda: data.digits(
        "binary", return_labels=True, split=(0.8, 0.2), seed=0))
    accuracy = float(np.mean(fit.predict("y", {"x": test}) == y_test))
    sk = float(BernoulliNB().fit(train, y_train).score(test, y_test))
    return [Row(case.name, "binary digits + labels", "test accuracy", accuracy, sk, higher(accuracy, sk, 0.01),
                ">= BernoulliNB - 0.01")]


def labelled_digits():
    (train, y), _ = _cached("digits-labels", lambda: data.digits("binary", return_labels=True, split=(0.8, 0.2),
                                                                 seed=0))
    return {"x": train, "y": y}


def blobs():
    def make():
        x = data.blobs(n=1500, k=3, seed=0).astype(np.float64)
        order = np.random.default_rng(1).permutation(len(x))
        return x[order[:1000]], x[order[1000:]]

    return _cached("blobs", make)


def gmm_score(fit, case):
    train, test = blobs()
    sk = GaussianMixture(3, covariance_type="diag", random_state=0).fit(train)
    value = float(np.mean(fit.log_prob(test)))
    return [Row(case.name, "blobs (k=3)", "held-out log-lik (nats/point)", value, float(sk.score(test)),
                higher(value, float(sk.score(test)), 0.02), ">= EM's GMM(3, diag) - 0.02")]


def cancer():
    def make():
        (train, _), (test, _) = data.breast_cancer(split=(0.8, 0.2), seed=0)
        loc, scale = train.mean(0), train.std(0)
        return (train - loc) / scale, (test - loc) / scale

    return _cached("cancer", make)


def factor_analysis_score(fit, case):
    from scipy.stats import multivariate_normal
    from sklearn.decomposition import FactorAnalysis

    train, test = cancer()
    w, mu, psi = (np.asarray(fit.params[k], dtype=np.float64) for k in ("W", "mu", "psi"))
    value = float(np.mean(multivariate_normal(mu, w @ w.T + np.diag(psi)).logpdf(test)))
    em = float(FactorAnalysis(w.shape[1], random_state=0).fit(train).score(test))
    return [Row(case.name, "breast cancer (30, standardised)", "held-out log-lik (exact, nats/row)", value, em,
                higher(value, em, 0.5), f">= EM's FactorAnalysis({w.shape[1]}) - 0.5")]


def _toy_case(model, name, epochs, score, **kw):
    return Case(model, name, epochs, lambda: toy(name)[0], {"x_dim": 2}, score, **kw)


def _digits_case(model, epochs, score, **kw):
    return Case(model, "binary digits", epochs, lambda: binary_digits()[0], {"x_dim": 64}, score, **kw)


# every zoo model, in DESIGN §2's order; epochs: the most that fit CPU_BUDGET on the development VM
CASES = [
    Case("naive_bayes", "binary digits + labels", 100, labelled_digits, {"x_dim": 64, "n_classes": 10},
         naive_bayes_score),
    Case("gmm", "blobs (k=3)", 300, lambda: blobs()[0], {"x_dim": 2}, gmm_score),
    _digits_case("bernoulli_mixture", 100, digits_nll),
    _digits_case("fvsbn", 150, digits_nll),
    _digits_case("nade", 60, digits_nll),
    _digits_case("made", 150, digits_nll),
    _toy_case("rnade", "moons", 150, flow_score("moons")),
    _toy_case("rnade", "spirals", 150, flow_score("spirals")),
    _digits_case("vae", 200, digits_elbo),
    _digits_case("gmvae", 200, digits_elbo),
    _digits_case("vqvae", 100, vqvae_score),
    Case("factor_analysis", "breast cancer", 300, lambda: cancer()[0], {"x_dim": 30}, factor_analysis_score),
    *[_toy_case(flow, name, epochs, flow_score(name))
      for flow, epochs in (("nice", 100), ("realnvp", 100), ("maf", 100), ("iaf", 60), ("glow", 60))
      for name in ("moons", "spirals")],
    Case("gan", "eight_gaussians", 100, lambda: toy("eight_gaussians")[0], {"x_dim": 2}, gan_score,
         options={"loss": "non_saturating"}, label="gan (non_saturating)"),
    Case("gan", "eight_gaussians", 200, lambda: toy("eight_gaussians")[0], {"x_dim": 2}, gan_score,
         options={"loss": "wgan_gp"}, label="gan (wgan_gp)"),
    *[_toy_case("ddpm", name, 250, ddpm_score(name)) for name in ("moons", "spirals")],
    _digits_case("dae", 100, dae_score),
]


def _settings(items):
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _format(value):
    if isinstance(value, (int, np.integer)) or float(value).is_integer() and abs(value) < 100:
        return f"{value:g}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"


def defaults_table() -> list[str]:
    """The declared defaults of every factory, for its canonical call."""
    lines = ["| model | default objective | declared fit defaults (`fit_defaults`) |", "|---|---|---|"]
    seen = set()
    for case in CASES:
        if case.name in seen:
            continue
        seen.add(case.name)
        model = zoo.ZOO[case.model](**case.hyper)
        declared = model.default_fit_options(**case.options)
        text = ", ".join(f"`{k}={v}`" for k, v in declared.items()) or "none: `fit()`'s own"
        objective = model.factory.default_objective + (
            "(" + ", ".join(f"{k}={v}" for k, v in case.options.items()) + ")" if case.options else "")
        lines.append(f"| {case.name} (x_dim={case.hyper['x_dim']}) | {objective} | {text} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None,
                        help=f"a subset, by model or label: {sorted({c.name for c in CASES} | set(zoo.ZOO))}")
    parser.add_argument("--cli", action="store_true", help="train through `gendsl fit` instead of Model.fit")
    parser.add_argument("--fit", nargs="*", default=[], metavar="KEY=VALUE",
                        help="probe: fit keywords over the defaults (the defaults column shows them)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="probe: hyper-parameters over the factory's defaults (shown in the defaults column)")
    parser.add_argument("--epochs", type=int, default=None, help="probe: every case's epochs")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if args.models is None or c.model in args.models or c.name in args.models]
    if not cases:
        parser.error(f"--models {args.models} names no case")
    overrides, hyper = _settings(args.fit), _settings(args.set)
    for case in cases:
        case.hyper = {**case.hyper, **hyper}
        case.epochs = args.epochs or case.epochs
    fitter = fit_cli if args.cli else fit_api
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, one thread; "
          f"{datetime.date.today()}; {'gendsl fit (CLI)' if args.cli else 'Model.fit'}\n")
    print("| model | data | metric | gendsl | baseline | beats? (bar) | CPU s | epochs | defaults used |")
    print("|---|---|---|---|---|---|---|---|---|")
    misses = []
    for case in cases:
        fitted, cpu = fitter(case, overrides)
        model = zoo.ZOO[case.model](**case.hyper)
        used = describe_defaults(model, case.options, overrides) + "".join(f"; {k}={v} (probe)" for k, v in hyper.items())
        for row in case.score(fitted, case):
            if not row.beats:
                better = row.bar.startswith("<")
                row.beats = lower(row.value, row.baseline) if better else higher(row.value, row.baseline)
            if row.beats == "no" or cpu > CPU_BUDGET:
                misses.append(f"{row.model} on {row.data}: {row.metric}")
            over = " (over budget)" if cpu > CPU_BUDGET else ""
            print(f"| {row.model} | {row.data} | {row.metric} | {_format(row.value)} | {_format(row.baseline)} | "
                  f"{row.beats} ({row.bar}) | {cpu:.0f}{over} | {case.epochs} | {used} |", flush=True)
    print("\nDeclared defaults:\n")
    print("\n".join(defaults_table()))
    if misses:
        print("\nmisses:\n- " + "\n- ".join(misses))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
