"""The ``gendsl`` command line.

Subcommands:
    demo     train a model on bundled data and write a run folder
    zoo      list the model zoo
    render   draw a model's graph (zoo name or ``path/to/file.py:function``)
    fit      train a model; write a run folder (config, checkpoint, fit, history, plots)
    sample   draw samples from a run; write a grid or scatter plot, or the numbers (.npz/.npy)
    eval     score data under a run's model (log-likelihood, bits/dim); write eval.json

MODEL is a zoo name or ``path/to/file.py:function``; hyper-parameters are
``--set key=value``, and those the data fix (:data:`FROM_DATA`: ``x_dim``,
``n_levels``/``levels``, ``n_classes``) come from the data unless set. DATA
is a bundled data set (``digits``, ``digits:levels``, ``moons``, ... see
``gendsl.data.DATASETS``) or a ``.npy``/``.npz`` file (rows first; an
``.npz`` holds one array per site for a model observing several). A fit that
fails leaves ``FAILED`` in its run folder. docs/cli.md is the user's page.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import json
import os
import sys
import time

from .errors import DataError, GendslError

__all__ = ["main", "resolve_model"]


def _settings(items, flag="--set") -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"gendsl: {flag} expects key=value, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def resolve_model(spec: str, settings=()):
    """A bound model from a zoo name or ``file.py:function``, with ``key=value`` hyper-parameters."""
    return resolve_factory(spec)(**_settings(settings))


def resolve_factory(spec: str):
    """The model factory named by a zoo name or ``path/to/file.py:function``."""
    from .errors import unknown_name
    from .model import ModelFactory

    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        path, name = spec.split(":", 1)
        if not os.path.exists(path):
            raise SystemExit(f"gendsl: no such file {path!r}")
        module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        if not hasattr(module, name):
            raise SystemExit(f"gendsl: {path} defines no {name!r}")
        factory = getattr(module, name)
        if not isinstance(factory, ModelFactory):
            raise GendslError(f"{spec} is not a model: decorate {name!r} with @gd.model")
        return factory
    from gendsl.models import ZOO

    if spec not in ZOO:
        raise unknown_name("model", spec, ZOO, hint="or give path/to/file.py:function")
    return ZOO[spec]


def load_data(spec: str):
    """An array (or dict of arrays) from a bundled data set name or a file."""
    import numpy as np

    from . import data
    from .errors import unknown_name

    if spec.endswith((".npy", ".npz")):
        if not os.path.exists(spec):
            raise DataError(f"no such data file {spec!r}")
        loaded = np.load(spec, allow_pickle=False)
        if spec.endswith(".npy"):
            return loaded
        with loaded:
            return {k: loaded[k] for k in loaded.files} if len(loaded.files) > 1 else loaded[loaded.files[0]]
    name, _, kind = spec.partition(":")
    if name not in data.DATASETS:
        raise unknown_name("data set", name, data.DATASETS, hint="or give a .npy/.npz file")
    parameters = inspect.signature(data.DATASETS[name]).parameters
    needs = [p for p, v in parameters.items() if v.default is inspect.Parameter.empty]
    if needs:
        raise DataError(f"data set {name!r} reads local files ({', '.join(needs)}): load it in Python with "
                        f"gendsl.data.{name}(...), np.save() the array and pass the .npy")
    if kind and "kind" not in parameters:
        raise DataError(f"data set {name!r} has no kinds; give it as --data {name}")
    out = data.load(name, kind=kind) if kind else data.load(name)
    if isinstance(out, tuple):  # (x, y) sets: the features
        out = out[0]
    return out


def _zoo(args) -> int:
    from gendsl.models import ZOO

    for name, factory in ZOO.items():
        first = (factory.__doc__ or "").strip().splitlines()[0]
        print(f"{name:20s} {first}  [objective: {factory.default_objective}]")
    return 0


def _render(args) -> int:
    model = resolve_model(args.model, args.set)
    try:
        path = model.render(args.output)
    except GendslError:
        raise
    except ValueError as e:  # a suffix render cannot write: the reason, without a traceback
        raise GendslError(str(e)) from None
    print(path)
    return 0


def _demo(args) -> int:
    """Fits a mixture of Bernoullis to the bundled binarised digits (mle, the
    cluster label summed out exactly) and writes graph, samples and loss plot."""
    import numpy as np

    from gendsl import data, plots
    from gendsl.models import bernoulli_mixture

    out = args.out
    os.makedirs(out, exist_ok=True)
    x, y = data.digits(kind="binary", return_labels=True)
    train, test = x[:1500], x[1500:]
    model = bernoulli_mixture(x_dim=64, k=args.k)
    graph = model.render(os.path.join(out, "graph.svg"))
    with open(os.path.join(out, "graph.dot"), "w") as f:
        f.write(model.to_dot())
    # Like EM, start from k-means++ seeds (pulled towards 1/2 to stay inside (0, 1)).
    from sklearn.cluster import kmeans_plusplus

    seeds, _ = kmeans_plusplus(train, args.k, random_state=args.seed)
    init = {**model.init_params(args.seed), "theta": 0.25 + 0.5 * seeds}
    start = time.perf_counter()
    fit = model.fit(train, objective="mle", backend=args.backend, epochs=args.epochs, batch_size=100,
                    lr=0.05, seed=args.seed, init=init, progress=None if not os.environ.get("CI") else False)
    seconds = time.perf_counter() - start
    fit.save(os.path.join(out, "fit.npz"))
    samples = fit.sample(64, seed=args.seed)
    plots.sample_grid(samples["x"], os.path.join(out, "samples.png"), title="samples x ~ p(x)")
    plots.sample_grid(fit.params["theta"], os.path.join(out, "components.png"), ncols=min(args.k, 10),
                      title="component means theta_k")
    plots.loss_curve(fit.history, os.path.join(out, "loss.png"), title="bernoulli_mixture, mle")
    summary = {
        "model": repr(model),
        "backend": args.backend,
        "epochs": args.epochs,
        "train_seconds": round(seconds, 2),
        "train_loglik_per_row": float(np.mean(fit.log_prob(train))),
        "test_loglik_per_row": float(np.mean(fit.log_prob(test))),
        "cluster_purity_test": _purity(fit.predict("z", test), y[1500:]),
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    for key, value in summary.items():
        print(f"{key:22s} {value}")
    print(f"wrote {graph}, samples.png, components.png, loss.png, fit.npz, summary.json to {out}/")
    return 0


def _x_rows(data):
    return data.get("x") if isinstance(data, dict) else data


def _count_levels(values):
    """``max + 1`` of non-negative integer data (levels 0..L-1, classes 0..K-1), else None."""
    import numpy as np

    values = None if values is None else np.asarray(values)
    if values is None or not values.size or not np.issubdtype(values.dtype, np.integer) or values.min() < 0:
        return None
    return int(values.max()) + 1


# Hyper-parameters the data determine, looked up by name (DESIGN §2: a model's data
# dimension is always ``x_dim``). Each rule reads the data (an array, or {site: array})
# and returns the value, or None when the data do not say.
FROM_DATA = {
    "x_dim": lambda data: int(x.shape[1]) if (x := _x_rows(data)) is not None and x.ndim == 2 else None,
    "n_levels": lambda data: _count_levels(_x_rows(data)),  # autoregressive chains, VAE decoders, Naive Bayes
    "levels": lambda data: _count_levels(_x_rows(data)),  # dequantised flows, discretised DDPM
    "n_classes": lambda data: _count_levels(data.get("y")) if isinstance(data, dict) else None,  # labels given
}


def hyper_from_data(factory, data, given: dict) -> dict:
    """The factory's data-shaped hyper-parameters (:data:`FROM_DATA`) that ``--set`` left out, read off the data."""
    found = {}
    for key, rule in FROM_DATA.items():
        if key in factory.defaults and key not in given and (value := rule(data)) is not None:
            found[key] = value
    return found


def _check_sites(model, data, spec: str) -> None:
    """Several observed sites need one array each, which on the command line only an .npz holds."""
    observed = [s.name for s in model.ir.observed]
    given = sorted(data) if isinstance(data, dict) else None
    if (given is None and len(observed) > 1) or (given is not None and set(observed) - set(given)):
        held = "is one array" if given is None else f"holds {given}"
        example = ", ".join(f"{name}=..." for name in observed)
        raise DataError(f"model {model.name!r} observes {observed} but --data {spec} {held}. On the command line "
                        f"data for several sites is one .npz with an array per site (rows first), written with "
                        f"np.savez('data.npz', {example}); then pass --data data.npz")


def _x_dim_hint(error, given: dict, data):
    """A shape error after ``--set x_dim=`` disagreed with the data: say which value fits."""
    width = FROM_DATA["x_dim"](data)
    if "x_dim" in given and width is not None and given["x_dim"] != width:
        message = str(error).split("; for these data build the model with")[0]  # Python's advice: --set's below
        return DataError(f"{message}. The data have {width} columns: --set x_dim={width}, or leave x_dim out "
                         f"and the command line takes it from the data")
    return error


def _fit(args) -> int:
    """Trains MODEL on DATA and writes a run folder: config.json, checkpoint.ckpt
    (every epoch, atomic; --resume continues it), fit.npz, history.json,
    loss.png and samples.png (samples.npz when there is nothing to draw). A
    fit that fails once the folder exists leaves ``FAILED`` there, with the reason."""
    from gendsl.inference import objectives

    factory = resolve_factory(args.model)
    given = _settings(args.set)
    data = load_data(args.data)
    inferred = hyper_from_data(factory, data, given)
    if inferred:
        print(", ".join(f"{k}={v!r}" for k, v in inferred.items()) + " from the data (--set overrides)")
    hyper = {**given, **inferred}
    model = factory(**hyper)
    _check_sites(model, data, args.data)
    options = _settings(args.opt, "--opt")
    objectives.get(args.objective or getattr(factory, "default_objective", "mle"), **options)  # its name, options
    data, valid = _held_out(args, data)
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    try:
        wrote = _train_run(args, model, hyper, given, options, data, valid)
    except BaseException as e:
        _mark_failed(args.out, e, started)
        raise
    if os.path.exists(os.path.join(args.out, FAILED)):  # an earlier attempt's mark: this one succeeded
        os.remove(os.path.join(args.out, FAILED))
    print(wrote)
    return 0


def _train_run(args, model, hyper: dict, given: dict, options: dict, data, valid) -> str:
    from . import plots

    # the optimiser's settings the command line gives; those it leaves out are the model's fit defaults
    given_fit = {"batch_size": args.batch_size, "lr": args.lr, "lr_schedule": args.lr_schedule, "warmup": args.warmup,
                 "weight_decay": args.weight_decay, "clip_norm": args.clip_norm, "ema": args.ema}
    optimiser = {**{k: v for k, v in given_fit.items() if v is not None}, "compile": args.compile}
    defaults = {**_fit_signature_defaults(given_fit), **model.default_fit_options(args.objective, **options, **optimiser)}
    config = {"model": _portable(args.model), "hyper": hyper, "data": _portable(args.data),
              "objective": args.objective, "options": options, "backend": args.backend, "device": args.device,
              "epochs": args.epochs, "seed": args.seed, **given_fit, **defaults, **optimiser,
              "valid": args.valid, "valid_every": args.valid_every, "patience": args.patience}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    try:
        fit = model.fit(data, objective=args.objective, backend=args.backend, device=args.device,
                        epochs=args.epochs, seed=args.seed, checkpoint=os.path.join(args.out, "checkpoint.ckpt"), resume=args.resume,
                        progress=None if not os.environ.get("CI") else False, valid=valid,
                        valid_every=args.valid_every, patience=args.patience, **optimiser, **options)
    except DataError as e:
        raise _x_dim_hint(e, given, data) from None
    fit.save(os.path.join(args.out, "fit.npz"))
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump(fit.history, f)
    plots.loss_curve(fit.history, os.path.join(args.out, "loss.png"), title=f"{model.name}, {args.objective or 'default'}")
    try:
        samples, _ = write_samples(fit, 64, os.path.join(args.out, "samples.png"), args.seed)
    except NothingToDraw:
        samples, _ = write_samples(fit, 64, os.path.join(args.out, "samples.npz"), args.seed)
    return (f"final loss {fit.history['epoch_loss'][-1]:.4f}; wrote {args.out}/ (config.json, checkpoint.ckpt, "
            f"fit.npz, history.json, loss.png, {os.path.basename(samples)})")


def _fit_signature_defaults(keys) -> dict:
    """``fit``'s own defaults of ``keys`` (what a run uses where neither the command nor the model sets them)."""
    import inspect

    from gendsl.inference import fit

    params = inspect.signature(fit).parameters
    return {k: params[k].default for k in keys if k in params}


def _held_out(args, data):
    """``(training rows, held-out rows or None)`` from ``--valid``: a data spec, or a
    fraction of ``--data``'s rows (a seeded shuffle, the same on every resume)."""
    import numpy as np

    if args.valid is None:
        return data, None
    try:
        fraction = float(args.valid)
    except ValueError:
        return data, load_data(args.valid)
    arrays = data if isinstance(data, dict) else {"__rows__": data}
    n = len(next(iter(arrays.values())))
    if not 0.0 < fraction < 1.0 or int(n * fraction) < 1:
        raise DataError(f"--valid {args.valid}: a fraction of the rows must lie in (0, 1) and hold out at least "
                       f"one of the {n} rows; or give a data spec as for --data")
    order = np.random.default_rng(args.seed).permutation(n)
    held, kept = order[:int(n * fraction)], order[int(n * fraction):]
    split = [{k: np.asarray(v)[idx] for k, v in arrays.items()} for idx in (kept, held)]
    return tuple(part if isinstance(data, dict) else part["__rows__"] for part in split)


def _portable(spec: str) -> str:
    """A ``file.py:function`` model or a ``.npy``/``.npz`` data spec with an absolute path, so that
    ``sample``, ``eval`` and ``--resume`` find them from any directory."""
    path, sep, name = spec.partition(":")
    if sep and path.endswith(".py"):
        return f"{os.path.abspath(path)}:{name}"
    return os.path.abspath(spec) if spec.endswith((".npy", ".npz")) else spec


#: The file a failed ``gendsl fit`` leaves in its run folder, holding the reason.
FAILED = "FAILED"


def _mark_failed(out: str, error: BaseException, started: float) -> None:
    """Writes ``FAILED``: the error; and, when training itself was cut short (Ctrl-C, a crash, not a
    gendsl error that resuming would meet again), that this attempt's checkpoint can be resumed."""
    reason = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error) or type(error).__name__
    checkpoint = os.path.join(out, "checkpoint.ckpt")
    if not isinstance(error, GendslError) and os.path.exists(checkpoint) and os.path.getmtime(checkpoint) >= started:
        reason += "\ncheckpoint.ckpt holds the last finished epoch: the same command with --resume continues it"
    with open(os.path.join(out, FAILED), "w") as f:
        f.write(f"{type(error).__name__}: {reason}\n")


def _load_run(run: str):
    from . import load

    config_path = os.path.join(run, "config.json")
    if not os.path.exists(config_path):
        raise GendslError(f"{run!r} is not a run folder (no config.json); make one with `gendsl fit ... --out {run}`")
    failed = os.path.join(run, FAILED)
    if os.path.exists(failed):
        with open(failed) as f:
            reason = f.read().strip()
        raise GendslError(f"the last `gendsl fit` into {run!r} failed ({failed}): {reason}. Fix that and fit again"
                          + (f", or delete {failed} to use the earlier fit.npz" if os.path.exists(
                              os.path.join(run, "fit.npz")) else ""))
    with open(config_path) as f:
        config = json.load(f)
    return config, load(os.path.join(run, "fit.npz"), model=resolve_factory(config["model"]))


class NothingToDraw(GendslError):
    """No sampled site is a square image or a 2-D point: a picture would say nothing."""


# the pictures write_samples draws (matplotlib writes each without extra packages)
_PICTURES = (".png", ".svg", ".pdf")


def write_samples(fit, n: int, path: str, seed: int = 0, given: dict | None = None,
                  options: dict | None = None) -> tuple:
    """Draws ``n`` samples (clamping the sites in ``given``, with a chain's sampling
    ``options`` such as ``guidance``, see ``Fitted.sample``) and writes them to
    ``path``; returns ``(path, what)``.

    ``.npz``: every site (and deterministic node), by name; ``.npy``: the one
    observed site; ``.png``/``.svg``/``.pdf``: a grid of the first image-like
    observed site (square, 16 pixels or more) or a scatter of the first 2-D
    one, its rows ordered (grid) or coloured (scatter) by a discrete site.

    Raises:
        GendslError: ``.npy`` for a model with several observed sites, or
            an unknown suffix.
        NothingToDraw: (a GendslError) a picture of sites that are neither.
    """
    import numpy as np

    observed = [s.name for s in fit.model.ir.observed]
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".npz", ".npy", *_PICTURES):
        raise GendslError(f"cannot write samples to {path!r}: give a .npz (every site), .npy (the observed "
                          f"site) or a picture ({', '.join(_PICTURES)})")
    if suffix == ".npy" and len(observed) > 1:
        raise GendslError(f"model {fit.model.name!r} observes {observed} and a .npy holds one array: write "
                          f"them all with -o {os.path.splitext(path)[0]}.npz")
    samples = fit.sample(n, seed=seed, given=given or None, **(options or {}))
    if suffix == ".npz":
        np.savez(path, **samples)
        return path, f"{n} samples of {', '.join(samples)}"
    if suffix == ".npy":
        np.save(path, samples[observed[0]])
        return path, f"{n} samples of {observed[0]}"
    return path, _draw(fit, samples, observed, path)


def _draw(fit, samples: dict, observed: list, path: str) -> str:
    import numpy as np

    from . import plots

    rows = {name: np.asarray(samples[name]).reshape(len(samples[name]), -1) for name in observed}
    images = [name for name, x in rows.items() if x.shape[1] >= 16 and int(np.sqrt(x.shape[1])) ** 2 == x.shape[1]]
    points = [name for name, x in rows.items() if x.shape[1] == 2]
    if not images and not points:
        widths = {name: x.shape[1] for name, x in rows.items()}
        raise NothingToDraw(f"the samples of {fit.model.name!r} ({widths} numbers per row) are neither square "
                            f"images nor 2-D points: nothing to draw; write them with -o samples.npz")
    site = (images or points)[0]
    label = _label_site(fit, samples, exclude=site)
    name = fit.model.name
    if images:
        x = rows[site] if label is None else rows[site][np.argsort(samples[label], kind="stable")]
        by = "" if label is None else f", ordered by {label}"
        plots.sample_grid(x, path, title=f"{name} samples of {site}{by}")
        return f"a grid of {site}{by}"
    if label is None:
        plots.scatter_2d({site: rows[site]}, path, title=f"{name} samples")
        return f"a scatter of {site}"
    groups = {f"{label}={v}": rows[site][samples[label] == v] for v in np.unique(samples[label])}
    plots.scatter_2d(groups, path, title=f"{name} samples of {site}, coloured by {label}")
    return f"a scatter of {site}, coloured by {label}"


def _label_site(fit, samples: dict, exclude: str):
    """An integer site with one value per row and at most 20 values (a class, a
    cluster), observed ones first; None if there is none."""
    import numpy as np

    sites = sorted(fit.model.ir.sites, key=lambda s: not s.observed)
    for s in sites:
        value = np.asarray(samples.get(s.name, ()))
        if s.name != exclude and s.dtype == "int" and value.ndim == 1 and len(np.unique(value)) <= 20:
            return s.name
    return None


def _sample(args) -> int:
    _, fit = _load_run(args.run)
    given = _settings(args.given, "--given") if args.given else None
    options = {} if args.guidance is None else {"guidance": args.guidance}
    path, what = write_samples(fit, args.n, args.output, args.seed, given=given, options=options)
    print(f"wrote {path} ({what})")
    return 0


def _eval(args) -> int:
    """Exact log-likelihood where the model has one, else the ELBO and the
    importance-sampled log-likelihood; bits/dim alongside."""
    import numpy as np

    from .dist import FAMILIES
    from .errors import ObjectiveError

    config, fit = _load_run(args.run)
    spec = args.data or config["data"]
    data = load_data(spec)
    _check_sites(fit.model, data, spec)
    dims = int(np.prod(np.shape(data)[1:])) if not isinstance(data, dict) else None
    implicit = [site.name for site in fit.model.ir.observed if FAMILIES[site.dist.family].density == "implicit"]
    if implicit and not isinstance(data, dict):
        return _eval_samples(args, fit, data)
    point = fit.model.guide_ir is not None and any(FAMILIES[s.dist.family].point_mass
                                                for s in fit.model.guide_ir.sites)
    try:
        result = {"log_likelihood": float(np.mean(fit.log_prob(data))), "method": "exact"}
    except ObjectiveError:
        if point:  # every importance sample of a point-mass guide is the same: the ELBO is the figure
            result = {"elbo": float(np.mean(fit.elbo(data))), "method": "elbo (a point-mass guide: a bound)"}
        else:
            result = {"elbo": float(np.mean(fit.elbo(data))),
                      "log_likelihood": float(np.mean(fit.log_likelihood(data, k=args.k))),
                      "method": f"importance sampling, k={args.k}"}
    if dims:
        result["bits_per_dim"] = -result.get("log_likelihood", result.get("elbo")) / (dims * np.log(2))
    result["rows"] = int(len(data if not isinstance(data, dict) else next(iter(data.values()))))
    with open(os.path.join(args.run, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    for key, value in result.items():
        print(f"{key:16s} {value}")
    print(f"wrote {os.path.join(args.run, 'eval.json')}")
    return 0


def _eval_samples(args, fit, data) -> int:
    """An implicit model (a GAN) has no likelihood: two-sample metrics against the data instead."""
    import numpy as np

    from gendsl.inference import metrics

    rows = np.asarray(data, dtype=np.float64).reshape(len(data), -1)[:2000]
    site = [s.name for s in fit.model.ir.observed][0]
    samples = fit.sample(len(rows), seed=0)[site].reshape(len(rows), -1)
    result = {"mmd2": metrics.mmd(samples, rows).mmd2, "sliced_wasserstein": metrics.sliced_wasserstein(samples, rows),
              "c2st_accuracy": metrics.c2st(samples, rows), "method": "two-sample metrics (no likelihood)",
              "rows": int(len(rows))}
    with open(os.path.join(args.run, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    for key, value in result.items():
        print(f"{key:20s} {value}")
    print(f"wrote {os.path.join(args.run, 'eval.json')}")
    return 0


def _purity(clusters, labels) -> float:
    import numpy as np

    hits = sum(np.bincount(labels[clusters == c]).max() for c in np.unique(clusters))
    return round(float(hits / len(labels)), 4)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gendsl", description="Generative models as textbook stories.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a mixture model on bundled digits; write a run folder")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--backend", default="pyro", choices=["pyro", "numpyro"])
    demo.add_argument("--epochs", type=int, default=40)
    demo.add_argument("--k", type=int, default=10)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    zoo = sub.add_parser("zoo", help="list the model zoo")
    zoo.set_defaults(func=_zoo)
    render = sub.add_parser("render", help="draw a model's graph")
    render.add_argument("model", help="zoo name or path/to/file.py:function")
    render.add_argument("-o", "--output", required=True, help="file.svg | .png | .pdf | .dot")
    render.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter")
    render.set_defaults(func=_render)
    fit = sub.add_parser("fit", help="train a model; write a run folder")
    fit.add_argument("model", help="zoo name or path/to/file.py:function")
    fit.add_argument("--data", required=True, help="bundled data set name (digits, digits:levels, moons, ...) or .npy/.npz")
    fit.add_argument("--objective", default=None, help="registered objective (default: the model's)")
    fit.add_argument("--backend", default="pyro", choices=["pyro", "numpyro"])
    fit.add_argument("--device", default=None)
    fit.add_argument("--epochs", type=int, default=50)
    fit.add_argument("--batch-size", type=int, default=None, help="rows per step (default: the model's, else 128)")
    fit.add_argument("--lr", type=float, default=None, help="learning rate (default: the model's, else 1e-3)")
    fit.add_argument("--lr-schedule", default=None, choices=["constant", "cosine", "linear"],
                     help="decay of the learning rate to 0 over the run")
    fit.add_argument("--warmup", type=int, default=None, help="learning-rate warm-up steps")
    fit.add_argument("--weight-decay", type=float, default=None, help="decoupled (AdamW) weight decay")
    fit.add_argument("--clip-norm", type=float, default=None, help="clip gradients to this global norm")
    fit.add_argument("--ema", type=float, default=None, help="keep and save a moving average of the weights")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--compile", action="store_true",
                     help="pyro backend: compile the training loss with torch.compile (numpyro's is always compiled)")
    fit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter")
    fit.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE", help="objective option (k=5)")
    fit.add_argument("--out", required=True, help="run folder")
    fit.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    fit.add_argument("--valid", default=None, metavar="DATA|FRACTION",
                     help="held-out rows scored between epochs, the best epoch's parameters kept: a data spec as "
                          "for --data, or a fraction (0.1) of --data's rows held out (seeded by --seed)")
    fit.add_argument("--valid-every", type=int, default=1, help="epochs per validation round")
    fit.add_argument("--patience", type=int, default=None,
                     help="stop after this many validation rounds without a better held-out score")
    fit.set_defaults(func=_fit)
    sample = sub.add_parser("sample", help="draw samples from a run")
    sample.add_argument("run")
    sample.add_argument("-n", type=int, default=64)
    sample.add_argument("-o", "--output", required=True,
                        help="a picture (.png, .svg, .pdf: a grid or a scatter), .npz (every site) or .npy")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--given", action="append", default=[], metavar="SITE=VALUE",
                        help="clamp a site for every row (repeatable; VALUE a Python literal: 3, [0.5, -1]); "
                             "the other sites are drawn given it")
    sample.add_argument("--guidance", type=float, default=None, metavar="W",
                        help="classifier-free guidance of a class-conditional DDPM (with --given y=C): "
                             "0 is the conditional model, larger values stronger guidance")
    sample.set_defaults(func=_sample)
    evaluate = sub.add_parser("eval", help="score data under a run's model")
    evaluate.add_argument("run")
    evaluate.add_argument("--data", default=None, help="default: the run's training data")
    evaluate.add_argument("-k", type=int, default=1000, help="importance samples for latent-variable models")
    evaluate.set_defaults(func=_eval)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GendslError as e:
        print(f"gendsl: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
