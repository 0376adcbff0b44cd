"""The ``gendsl`` command line.

Subcommands:
    demo     train a model on bundled data and write a run folder
    zoo      list the model zoo
    render   draw a model's graph (zoo name or ``path/to/file.py:function``)
    fit      train a model; write a run folder (config, checkpoint, fit, history, plots)
    sample   draw samples from a run; write a grid or scatter plot
    eval     score data under a run's model (log-likelihood, bits/dim)

MODEL is a zoo name or ``path/to/file.py:function``; hyper-parameters are
``--set key=value``. DATA is a bundled data set (``digits``,
``digits:levels``, ``moons``, ... see ``gendsl.data.DATASETS``) or a
``.npy``/``.npz`` file (rows first).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import os
import sys
import time

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

    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        path, name = spec.split(":", 1)
        if not os.path.exists(path):
            raise SystemExit(f"gendsl: no such file {path!r}")
        module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        if not hasattr(module, name):
            raise SystemExit(f"gendsl: {path} defines no {name!r}")
        return getattr(module, name)
    from gendsl.models import ZOO

    if spec not in ZOO:
        raise unknown_name("model", spec, ZOO, hint="or give path/to/file.py:function")
    return ZOO[spec]


def load_data(spec: str):
    """An array (or dict of arrays) from a bundled data set name or a file."""
    import numpy as np

    from . import data
    from .errors import DataError, unknown_name

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
    path = model.render(args.output)
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


def _fit(args) -> int:
    """Trains MODEL on DATA and writes a run folder: config.json, checkpoint.ckpt
    (every epoch, atomic; --resume continues it), fit.npz, history.json,
    loss.png and samples.png (or .npy)."""
    from . import plots

    factory = resolve_factory(args.model)
    hyper = _settings(args.set)
    model = factory(**hyper)
    data = load_data(args.data)
    os.makedirs(args.out, exist_ok=True)
    options = _settings(args.opt, "--opt")
    optimiser = {"lr_schedule": args.lr_schedule, "warmup": args.warmup, "weight_decay": args.weight_decay,
                 "clip_norm": args.clip_norm, "ema": args.ema, "compile": args.compile}
    config = {"model": args.model, "hyper": hyper, "data": args.data, "objective": args.objective,
              "options": options, "backend": args.backend, "device": args.device, "epochs": args.epochs,
              "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, **optimiser}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    fit = model.fit(data, objective=args.objective, backend=args.backend, device=args.device,
                    epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                    checkpoint=os.path.join(args.out, "checkpoint.ckpt"), resume=args.resume,
                    progress=None if not os.environ.get("CI") else False, **optimiser, **options)
    fit.save(os.path.join(args.out, "fit.npz"))
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump(fit.history, f)
    plots.loss_curve(fit.history, os.path.join(args.out, "loss.png"), title=f"{model.name}, {args.objective or 'default'}")
    samples = os.path.basename(write_samples(fit, 64, os.path.join(args.out, "samples.png"), args.seed))
    print(f"final loss {fit.history['epoch_loss'][-1]:.4f}; wrote {args.out}/ (config.json, checkpoint.ckpt, "
          f"fit.npz, history.json, loss.png, {samples})")
    return 0


def _load_run(run: str):
    from . import load

    config_path = os.path.join(run, "config.json")
    if not os.path.exists(config_path):
        from .errors import GendslError

        raise GendslError(f"{run!r} is not a run folder (no config.json); make one with `gendsl fit ... --out {run}`")
    with open(config_path) as f:
        config = json.load(f)
    return config, load(os.path.join(run, "fit.npz"), model=resolve_factory(config["model"]))


def write_samples(fit, n: int, path: str, seed: int = 0) -> str:
    """Samples of the first observed site: ``.npy``, a 2-D scatter, or an image grid."""
    import numpy as np

    from . import plots

    observed = [s.name for s in fit.model.ir.observed]
    x = fit.sample(n, seed=seed)[observed[0]].reshape(n, -1)
    if path.endswith(".npy"):
        np.save(path, x)
    elif x.shape[1] == 2:
        plots.scatter_2d({"samples": x}, path, title=f"{fit.model.name} samples")
    elif x.shape[1] >= 16 and int(round(np.sqrt(x.shape[1]))) ** 2 == x.shape[1]:
        plots.sample_grid(x, path, title=f"{fit.model.name} samples")
    else:  # neither points nor square images: keep the numbers
        path = os.path.splitext(path)[0] + ".npy"
        np.save(path, x)
    return path


def _sample(args) -> int:
    _, fit = _load_run(args.run)
    print(write_samples(fit, args.n, args.output, args.seed))
    return 0


def _eval(args) -> int:
    """Exact log-likelihood where the model has one, else the ELBO and the
    importance-sampled log-likelihood; bits/dim alongside."""
    import numpy as np

    from .dist import FAMILIES
    from .errors import ObjectiveError

    config, fit = _load_run(args.run)
    data = load_data(args.data or config["data"])
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
    fit.add_argument("--batch-size", type=int, default=128)
    fit.add_argument("--lr", type=float, default=1e-3)
    fit.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "linear"],
                     help="decay of the learning rate to 0 over the run")
    fit.add_argument("--warmup", type=int, default=0, help="learning-rate warm-up steps")
    fit.add_argument("--weight-decay", type=float, default=0.0, help="decoupled (AdamW) weight decay")
    fit.add_argument("--clip-norm", type=float, default=None, help="clip gradients to this global norm")
    fit.add_argument("--ema", type=float, default=None, help="keep and save a moving average of the weights")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--compile", action="store_true",
                     help="pyro backend: compile the training loss with torch.compile (numpyro's is always compiled)")
    fit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter")
    fit.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE", help="objective option (k=5)")
    fit.add_argument("--out", required=True, help="run folder")
    fit.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    fit.set_defaults(func=_fit)
    sample = sub.add_parser("sample", help="draw samples from a run")
    sample.add_argument("run")
    sample.add_argument("-n", type=int, default=64)
    sample.add_argument("-o", "--output", required=True, help="grid.png, scatter.png or samples.npy")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=_sample)
    evaluate = sub.add_parser("eval", help="score data under a run's model")
    evaluate.add_argument("run")
    evaluate.add_argument("--data", default=None, help="default: the run's training data")
    evaluate.add_argument("-k", type=int, default=1000, help="importance samples for latent-variable models")
    evaluate.set_defaults(func=_eval)
    return parser


def main(argv=None) -> int:
    from .errors import GendslError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GendslError as e:
        print(f"gendsl: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
