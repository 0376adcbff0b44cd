"""The ``gendsl`` command line.

Subcommands:
    demo     train a model on bundled data and write a run folder
    zoo      list the model zoo
    render   draw a model's graph (zoo name or ``path/to/file.py:function``)
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


def resolve_model(spec: str, settings=()):
    """A bound model from a zoo name or ``file.py:function``, with ``key=value`` hyper-parameters."""
    from .errors import unknown_name

    hyper = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"gendsl: --set expects key=value, got {item!r}")
        try:
            hyper[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            hyper[key] = value
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        path, name = spec.split(":", 1)
        if not os.path.exists(path):
            raise SystemExit(f"gendsl: no such file {path!r}")
        module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        if not hasattr(module, name):
            raise SystemExit(f"gendsl: {path} defines no {name!r}")
        return getattr(module, name)(**hyper)
    from gendsl.models import ZOO

    if spec not in ZOO:
        raise unknown_name("model", spec, ZOO, hint="or give path/to/file.py:function")
    return ZOO[spec](**hyper)


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
