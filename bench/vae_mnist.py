"""Binarised MNIST test NLL of VAE (k=1) and IWAE (k=5, k=50), Burda et al.'s architecture.

    .venv/bin/python bench/vae_mnist.py --data ../shared/data/binarized_mnist.npz \\
        --objective iwae --k 5 --epochs 100 --backend pyro --device cuda --out runs/iwae5

Model: `gendsl.models.vae(x_dim=784, z_dim=50, hidden=(200, 200), activation="tanh")`
(2 deterministic layers of 200 tanh units, 50 latent units, 1 stochastic layer),
trained on the 50,000 training images with Adam (lr 1e-3, batch 100, optionally a
cosine or linear decay over the run; Burda et al. used 3,280 epochs with a learning
rate decaying stepwise, see their appendix). The test
NLL is `-mean(fit.log_likelihood(x_test, k=5000))` over the test set, or over a
seeded random subset of `--test-rows` images. Training checkpoints every epoch
to `--out/checkpoint.ckpt` and resumes from it when rerun.
Writes the fit, its loss curve and a sample grid to `--out`, and prints one
Markdown row for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

import gendsl.models as zoo
from gendsl import plots
from gendsl.data import binarized_mnist

PUBLISHED = {("elbo", 1): 88.71, ("iwae", 5): 87.63, ("iwae", 50): 87.10}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--objective", default="elbo", choices=["elbo", "iwae"])
    parser.add_argument("--k", type=int, default=1, help="iwae samples")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "linear"],
                        help="learning-rate schedule over all the epochs")
    parser.add_argument("--warmup", type=int, default=0, help="learning-rate warm-up steps")
    parser.add_argument("--ema", type=float, default=None, help="evaluate a moving average of the weights")
    parser.add_argument("--backend", default="pyro", choices=["pyro", "numpyro"])
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action="store_true", help="pyro backend: fit(compile=True)")
    parser.add_argument("--test-rows", type=int, default=10000)
    parser.add_argument("--eval-k", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/vae_mnist")
    parser.add_argument("--eval-only", action="store_true", help="evaluate the fit saved in --out")
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    train = binarized_mnist(args.data, "train")
    test = binarized_mnist(args.data, "test")
    if args.test_rows < len(test):
        # a seeded random subset: the file's order is not random (its first rows are harder)
        test = test[np.random.default_rng(12345).choice(len(test), args.test_rows, replace=False)]
    model = zoo.vae(x_dim=784, z_dim=50, hidden=(200, 200), activation="tanh")
    options = {"k": args.k} if args.objective == "iwae" else {}
    checkpoint = os.path.join(args.out, "checkpoint.ckpt")
    start = time.perf_counter()
    if args.eval_only:
        import gendsl as gd

        fit = gd.load(os.path.join(args.out, "fit.npz"))
    else:
        fit = model.fit(train, objective=args.objective, backend=args.backend, device=args.device,
                        epochs=args.epochs, batch_size=100, lr=args.lr, lr_schedule=args.lr_schedule,
                        warmup=args.warmup, ema=args.ema, seed=args.seed, compile=args.compile,
                        checkpoint=checkpoint, resume=True, **options)
        fit.save(os.path.join(args.out, "fit.npz"))
    train_s = time.perf_counter() - start
    plots.loss_curve(fit.history, os.path.join(args.out, "loss.png"), title=f"vae, {args.objective} k={args.k}")
    plots.sample_grid(fit.decode(np.random.default_rng(0).normal(size=(64, 50))),
                      os.path.join(args.out, "samples.png"), title="decoder means of z ~ N(0, I)")
    start = time.perf_counter()
    nll = -float(np.mean(fit.log_likelihood(test, k=args.eval_k, seed=1)))
    eval_s = time.perf_counter() - start
    k = args.k if args.objective == "iwae" else 1
    result = {
        "objective": args.objective, "k": k, "epochs": args.epochs, "backend": args.backend,
        "lr": args.lr, "lr_schedule": args.lr_schedule, "ema": args.ema, "compile": args.compile,
        "device": args.device or "default", "test_rows": len(test), "eval_k": args.eval_k,
        "test_nll": round(nll, 2), "published": PUBLISHED.get((args.objective, k)),
        "train_s": None if args.eval_only else round(train_s, 1), "eval_s": round(eval_s, 1), "machine": platform.processor() or "cpu",
        "final_train_loss": round(fit.history["epoch_loss"][-1], 2),
    }
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))
    print(f"| {args.objective} k={k} | {nll:.2f} | {result['published']} | {len(fit.history['epoch_loss'])} | "
          f"{result['train_s']} s | {len(test)} rows, k={args.eval_k} |")


if __name__ == "__main__":
    main()
