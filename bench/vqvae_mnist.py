"""VQ-VAE beside a Gaussian VAE of the same networks, on binarised MNIST (or the bundled digits).

    .venv/bin/python bench/vqvae_mnist.py --data ../shared/data/binarized_mnist.npz --epochs 30 \\
        --out runs/vqvae_mnist
    .venv/bin/python bench/vqvae_mnist.py --digits --epochs 300 --out docs/img/latent

Both models: an MLP encoder and decoder with the same hidden widths, Adam with a
cosine schedule, batch 100. VQ-VAE (`gendsl.models.vqvae`): `--n-latents` codes of
size `--code-dim` from a codebook of `--n-codes`; the VAE (`gendsl.models.vae`) has
`n_latents * code_dim` Gaussian latent units. For each, on the test rows:

- the ELBO (nats; for VQ-VAE `log p(x | z) - n_latents log n_codes`, its uniform
  prior's cost, since the guide is a point mass),
- the reconstruction log-likelihood `log p(x | decode(encode(x)))` (at the code
  for VQ-VAE, at the posterior mean for the VAE),
- for VQ-VAE the codebook's use: codes used and the perplexity of their frequencies;
- with `--prior-epochs N`, VQ-VAE's second stage: a categorical MADE (`gendsl.models.made`,
  one-hot inputs) fitted by `mle` to the training rows' code indices, and the bound with it as the prior,
  `log p(x | z) + log p_MADE(z)` (the guide is still a point mass, so this is an ELBO).

Writes the fits (`<model>-<data>.npz`), reconstruction and sample grids (`vqvae-<data>-reconstructions.png`,
`vqvae-<data>-samples.png`) and prints Markdown rows for bench/RESULTS.md.
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
from gendsl.data import binarized_mnist, digits


def _reconstruction(fit, x):
    mean = np.clip(fit.reconstruct(x), 1e-7, 1 - 1e-7)
    return float(np.mean((x * np.log(mean) + (1 - x) * np.log1p(-mean)).sum(-1)))


def _codes(fit, x):
    index, book = _indices(fit, x), fit.params["codebook"]
    freq = np.bincount(index.ravel(), minlength=len(book)) / index.size
    nz = freq[freq > 0]
    return int((freq > 0).sum()), float(np.exp(-(nz * np.log(nz)).sum()))


def _indices(fit, x):
    """The code index of each of a row's latents, ``(N, n_latents)``."""
    z = fit.encode(x)
    return ((z[:, :, None, :] - fit.params["codebook"]) ** 2).sum(-1).argmin(-1)


def _learned_prior(fit, train, test, test_elbo, args, name):
    """VQ-VAE's second stage: a categorical MADE over the code indices of the
    training rows (mle); the bound with it is ``log p(x | z) + log p_MADE(z)``."""
    prior = zoo.made(x_dim=args.n_latents, hidden=(args.prior_hidden,), family="categorical",
                     n_levels=args.n_codes, one_hot_inputs=True)  # code indices are nominal
    start = time.perf_counter()
    prior_fit = prior.fit(_indices(fit, train), backend=args.backend, epochs=args.prior_epochs, batch_size=100,
                          lr=1e-3, lr_schedule="cosine", seed=args.seed)
    prior_s = time.perf_counter() - start
    log_prior = prior_fit.log_prob(_indices(fit, test))
    reconstruction = test_elbo + args.n_latents * np.log(args.n_codes)  # log p(x | z): the uniform prior's cost added back
    index = prior_fit.sample(64, seed=2)["x"]
    plots.sample_grid(fit.decode(fit.params["codebook"][index]),
                      os.path.join(args.out, f"vqvae-{name}-prior-samples.png"),
                      title="decoder means of codes drawn from the learned (MADE) prior")
    return {"model": "vqvae + MADE prior", "data": name, "epochs": f"{args.epochs} + {args.prior_epochs}",
            "backend": args.backend, "test_elbo": round(float(np.mean(reconstruction + log_prior)), 2),
            "prior_cost": round(-float(np.mean(log_prior)), 2), "train_s": round(prior_s, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", help="binarized_mnist.npz")
    parser.add_argument("--digits", action="store_true", help="use the bundled 8x8 binary digits instead")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--n-latents", type=int, default=16)
    parser.add_argument("--code-dim", type=int, default=8)
    parser.add_argument("--n-codes", type=int, default=64)
    parser.add_argument("--hidden", type=int, nargs="+", default=[400])
    parser.add_argument("--backend", default="numpyro", choices=["pyro", "numpyro"])
    parser.add_argument("--device", default=None)
    parser.add_argument("--prior-epochs", type=int, default=0,
                        help="then fit a categorical MADE prior over the code indices for this many epochs")
    parser.add_argument("--prior-hidden", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/vqvae_mnist")
    args = parser.parse_args()

    if args.digits:
        x = digits(kind="binary")
        order = np.random.default_rng(0).permutation(len(x))
        train, test, name = x[order[:1500]], x[order[1500:]], "digits"
    else:
        train, test, name = binarized_mnist(args.data, "train"), binarized_mnist(args.data, "test"), "mnist"
    x_dim = train.shape[1]
    hidden = tuple(args.hidden)
    models = {
        "vqvae": zoo.vqvae(x_dim=x_dim, n_latents=args.n_latents, code_dim=args.code_dim, n_codes=args.n_codes,
                           hidden=hidden),
        "vae": zoo.vae(x_dim=x_dim, z_dim=args.n_latents * args.code_dim, hidden=hidden, activation="relu"),
    }
    os.makedirs(args.out, exist_ok=True)
    rows = {}
    for label, model in models.items():
        start = time.perf_counter()
        fit = model.fit(train, objective="elbo", backend=args.backend, device=args.device, epochs=args.epochs,
                        batch_size=100, lr=args.lr, lr_schedule="cosine", seed=args.seed)
        train_s = time.perf_counter() - start
        fit.save(os.path.join(args.out, f"{label}-{name}.npz"))
        test_elbo = fit.elbo(test)
        row = {"model": label, "data": name, "epochs": args.epochs, "backend": args.backend,
               "test_elbo": round(float(np.mean(test_elbo)), 2),
               "test_reconstruction": round(_reconstruction(fit, test), 2),
               "train_s": round(train_s, 1), "machine": platform.processor() or "cpu"}
        if label == "vqvae":
            used, perplexity = _codes(fit, test)
            row.update(codes_used=used, perplexity=round(perplexity, 1),
                       prior_cost=round(args.n_latents * np.log(args.n_codes), 2))
            shown = test[np.random.default_rng(1).choice(len(test), 32, replace=False)]  # files are sorted
            plots.sample_grid(np.concatenate([shown, fit.reconstruct(shown)]),
                              os.path.join(args.out, f"vqvae-{name}-reconstructions.png"),
                              title="test rows (top) and VQ-VAE reconstructions (bottom)")
            plots.sample_grid(fit.decode(fit.sample(64, seed=1)["z"]),
                              os.path.join(args.out, f"vqvae-{name}-samples.png"),
                              title="decoder means of codes drawn from the uniform prior")
        rows[label] = row
        print(json.dumps(row), flush=True)
        if label == "vqvae" and args.prior_epochs:
            rows["vqvae+prior"] = _learned_prior(fit, train, test, test_elbo, args, name)
            print(json.dumps(rows["vqvae+prior"]), flush=True)
    with open(os.path.join(args.out, f"vqvae-{name}-result.json"), "w") as f:
        json.dump(rows, f, indent=2)
    for row in rows.values():
        print(f"| {row['model']} | {row['test_elbo']} | {row.get('test_reconstruction', '')} | "
              f"{row.get('codes_used', '')} | {row.get('perplexity', '')} | {row['epochs']} | {row['train_s']} s |")


if __name__ == "__main__":
    main()
