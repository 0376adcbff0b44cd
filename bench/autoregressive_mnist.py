"""Binarised MNIST test NLL of FVSBN, NADE and MADE (exact log-likelihoods).

    .venv/bin/python bench/autoregressive_mnist.py --data ../shared/data/binarized_mnist.npz \\
        --model made --epochs 30 --backend pyro --out runs/made_mnist

Models (`gendsl.models`): `fvsbn(x_dim=784)` (d(d+1)/2 = 307,720 parameters),
`nade(x_dim=784, hidden=500)` and `made(x_dim=784, hidden=(500,))`, natural
pixel order, trained with `mle` on the 50,000 training images (Adam, batch
100). Each round the validation NLL is measured and the best parameters so far
are kept (early stopping on the 10,000 validation images, as the papers do:
`fit(valid=..., valid_every=--epochs)`).
The test NLL is `-mean(fit.log_prob(x_test))` over all 10,000 test images:
exact, no sampling. Writes the fit, its loss curve and a sample grid to
`--out`, and prints one Markdown row for bench/RESULTS.md. `--init` starts
from a saved fit's parameters (a second phase at a lower learning rate);
`--lr-schedule`, `--weight-decay` and `--ema` pass fit's optimiser options.
Validation runs every `--epochs` epochs for `--rounds` rounds, in one run.
Checkpoints every epoch to `--out/checkpoint.ckpt`; a rerun resumes.
`--evaluate FIT` trains nothing: it scores a saved fit on the test images,
times sampling 64 images (the first call, with its set-up, and a second) on
`--backend`, and writes the grid.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

import gendsl as gd
import gendsl.models as zoo
from gendsl import plots
from gendsl.data import binarized_mnist
from gendsl.inference import Fitted

PUBLISHED = {"fvsbn": 97.45, "nade": 88.33, "made": 88.04}
TARGET = {"fvsbn": 100.0, "nade": 91.0, "made": 91.0}


def build(name, hidden, num_masks, direct=False, ordering=None):
    if name == "fvsbn":
        return zoo.fvsbn(x_dim=784)
    if name == "nade":
        return zoo.nade(x_dim=784, hidden=hidden)
    return zoo.made(x_dim=784, hidden=(hidden,), num_masks=num_masks,
                    ordering=ordering or ("natural" if num_masks == 1 else "random"), direct=direct)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True, choices=sorted(PUBLISHED))
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--num-masks", type=int, default=1)
    parser.add_argument("--ordering", default=None, choices=["natural", "random"],
                        help="MADE orderings (default: natural for one mask, random for several); with "
                             "'natural' and several masks only the hidden connectivity differs")
    parser.add_argument("--direct", action="store_true", help="MADE with direct input-output connections")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per validation round")
    parser.add_argument("--rounds", type=int, default=1, help="validation rounds (epochs each)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "linear"],
                        help="decay over the whole run (epochs x rounds)")
    parser.add_argument("--warmup", type=int, default=0, help="learning-rate warm-up steps")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="decoupled (AdamW) weight decay")
    parser.add_argument("--ema", type=float, default=None, help="validate and test a moving average of the weights")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--backend", default="pyro", choices=["pyro", "numpyro"])
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action="store_true", help="pyro backend: fit(compile=True)")
    parser.add_argument("--train-rows", type=int, default=None, help="fewer rows for a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default=None,
                        help="start from the parameters of a saved fit (e.g. a lower-lr second phase)")
    parser.add_argument("--out", default="runs/ar_mnist")
    parser.add_argument("--evaluate", default=None, metavar="FIT", help="score and sample a saved fit; no training")
    args = parser.parse_args()
    if args.evaluate:
        return evaluate(args)

    os.makedirs(args.out, exist_ok=True)
    train = binarized_mnist(args.data, "train")[: args.train_rows]
    valid = binarized_mnist(args.data, "valid")
    test = binarized_mnist(args.data, "test")
    model = build(args.model, args.hidden, args.num_masks, args.direct, args.ordering)
    checkpoint = os.path.join(args.out, "checkpoint.ckpt")
    best_path = os.path.join(args.out, "fit.npz")
    start = time.perf_counter()
    init = gd.load(args.init).params if args.init else None
    # fit validates every --epochs epochs (valid=, valid_every=) in one run, which carries the
    # learning-rate schedule, and returns the best round's parameters; the checkpoint keeps the
    # rounds, the record below their wall-clock times, so both survive a resumed run
    record = os.path.join(args.out, "validation.json")
    history = []
    if os.path.exists(checkpoint) and os.path.exists(record):
        with open(record) as f:
            history = json.load(f)

    def log_round(epoch, get_params, run_history):
        if not run_history["valid_epoch"] or run_history["valid_epoch"][-1] != epoch + 1:
            return
        history.append({"epochs": epoch + 1, "valid_nll": round(-run_history["valid"][-1], 3),
                        "seconds": round(time.perf_counter() - start, 1)})
        print(json.dumps(history[-1]), flush=True)
        with open(record, "w") as f:
            json.dump(history, f)

    fit = model.fit(train, backend=args.backend, device=args.device, epochs=args.epochs * args.rounds,
                    batch_size=args.batch_size, lr=args.lr, seed=args.seed, checkpoint=checkpoint, resume=True,
                    init=init, valid=valid, valid_every=args.epochs, callback=log_round,
                    lr_schedule=args.lr_schedule, warmup=args.warmup, weight_decay=args.weight_decay, ema=args.ema,
                    compile=args.compile)
    train_s = time.perf_counter() - start
    fit.save(best_path)  # the best round's parameters
    seconds = {h["epochs"]: h["seconds"] for h in history}
    rounds = [{"epochs": e, "valid_nll": round(-v, 3), "seconds": seconds.get(e)}
              for e, v in zip(fit.history["valid_epoch"], fit.history["valid"])]
    start = time.perf_counter()
    nll = -float(np.mean(fit.log_prob(test)))
    eval_s = time.perf_counter() - start
    plots.loss_curve(fit.history, os.path.join(args.out, "loss.png"), title=f"{args.model}, mle")
    start = time.perf_counter()
    samples = fit.sample(64, seed=0)["x"]
    sample_s = time.perf_counter() - start
    plots.sample_grid(samples, os.path.join(args.out, "samples.png"), title=f"{args.model} samples, binarised MNIST")
    result = {
        "model": args.model, "hidden": args.hidden, "num_masks": args.num_masks, "ordering": args.ordering, "direct": args.direct,
        "backend": args.backend, "lr": args.lr, "lr_schedule": args.lr_schedule, "warmup": args.warmup,
        "weight_decay": args.weight_decay, "ema": args.ema, "init": args.init, "compile": args.compile,
        "device": args.device or "default", "epochs": len(fit.history["epoch_loss"]),
        "best_epochs": fit.history["best_epoch"],
        "validation": rounds, "test_nll": round(nll, 2), "published": PUBLISHED[args.model],
        "target": TARGET[args.model], "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
        "sample_64_s": round(sample_s, 1), "machine": platform.processor() or "cpu",
    }
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))
    print(f"| {args.model} | {nll:.2f} | {PUBLISHED[args.model]} | {TARGET[args.model]} | {result['epochs']} "
          f"(best {result['best_epochs']}) | {result['train_s']} s |")


def evaluate(args):
    os.makedirs(args.out, exist_ok=True)
    saved = gd.load(args.evaluate)
    fit = Fitted(saved.model, args.backend, saved.params, dtype="float32", device=args.device)
    start = time.perf_counter()
    nll = -float(np.mean(fit.log_prob(binarized_mnist(args.data, "test"))))
    eval_s = time.perf_counter() - start
    sample_s = []
    for seed in (0, 1):
        start = time.perf_counter()
        samples = fit.sample(64, seed=seed)["x"]
        sample_s.append(round(time.perf_counter() - start, 2))
    plots.sample_grid(samples, os.path.join(args.out, "samples.png"), title=f"{args.model} samples, binarised MNIST")
    result = {"fit": args.evaluate, "backend": args.backend, "device": args.device or "default", "test_nll": round(nll, 2),
              "eval_s": round(eval_s, 1), "sample_64_s": {"first": sample_s[0], "second": sample_s[1]},
              "machine": platform.processor() or "cpu"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
