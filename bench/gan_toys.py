"""GANs on eight Gaussians: mode coverage and sample quality, per loss and backend.

    .venv/bin/python bench/gan_toys.py [--losses non_saturating wgan_gp minimax] [--backends pyro numpyro]

The data are the mode-counting set of the Unrolled-GAN / VEEGAN papers: an
equal mixture of 8 Gaussians of std 0.02 on a circle of radius 2 (20,000
training points). The model is `gendsl.models.gan`, an MLP generator and
an MLP discriminator (widths in `CONFIGS`), trained with `adversarial` and
the named loss; the generator's moving average of the weights is sampled.
For 10,000 samples the table reports the modes covered (a mode is covered
when at least 5% of the samples fall within 3 std of its centre), the
fraction of "high-quality" samples (within 3 std of some centre), the
squared MMD to 10,000 held-out points (Gaussian kernel, median bandwidth),
and the training time. Each run writes `<loss>-<backend>.png`, the samples
over the data, to `--out`.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import gendsl.models as zoo
from gendsl import data
from gendsl.data import EIGHT_GAUSSIANS_CENTRES, EIGHT_GAUSSIANS_STD
from gendsl.inference import metrics

# per loss: model widths and training settings (lr is the generator's; lr_d the discriminator's)
CONFIGS = {
    "non_saturating": dict(epochs=250, batch_size=256, lr=2e-4),
    "minimax": dict(epochs=250, batch_size=256, lr=2e-4),
    "wgan_gp": dict(epochs=300, batch_size=256, lr=1e-3, n_critic=5),
}
MODEL = dict(z_dim=2, hidden=(256, 256), critic_hidden=(256, 256))


def train(x, backend, loss, seed=0, progress=False, **overrides):
    """``gendsl.models.gan`` trained on ``x`` with ``loss`` and its :data:`CONFIGS` entry."""
    config = {**CONFIGS.get(loss, CONFIGS["non_saturating"]), **overrides}
    model = zoo.gan(x_dim=x.shape[1], **MODEL)
    return model.fit(x, objective="adversarial", loss=loss, backend=backend, seed=seed, ema=0.999,
                     progress=progress, **config)


def _plot(samples, held_out, title, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    ax.scatter(held_out[:2000, 0], held_out[:2000, 1], s=2, c="#999999", label="data")
    ax.scatter(samples[:2000, 0], samples[:2000, 1], s=2, c="#1f77b4", alpha=0.6, label="samples")
    ax.set(xlim=(-2.6, 2.6), ylim=(-2.6, 2.6), aspect="equal", title=title, xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", nargs="*", default=["non_saturating", "wgan_gp", "minimax"])
    parser.add_argument("--backends", nargs="*", default=["pyro", "numpyro"])
    parser.add_argument("--epochs", type=int, default=None, help="override every loss's epochs")
    parser.add_argument("--out", default="docs/img/gan")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    x = data.load("eight_gaussians", n=20_000, seed=0)
    held_out = data.load("eight_gaussians", n=10_000, seed=1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; model {MODEL}\n")
    print("| loss | backend | modes covered | high-quality samples | MMD^2 x 1e3 | epochs | train s |")
    print("|---|---|---|---|---|---|---|")
    for loss in args.losses:
        for backend in args.backends:
            overrides = {} if args.epochs is None else {"epochs": args.epochs}
            start = time.perf_counter()
            fit = train(x, backend, loss, **overrides)
            seconds = time.perf_counter() - start
            samples = fit.sample(10_000, seed=2)["x"]
            cov = metrics.mode_coverage(samples, EIGHT_GAUSSIANS_CENTRES, EIGHT_GAUSSIANS_STD)
            mmd2 = metrics.mmd(samples, held_out).mmd2
            epochs = overrides.get("epochs", CONFIGS[loss]["epochs"])
            print(f"| {loss} | {backend} | {cov.covered} / 8 | {cov.high_quality:.3f} | {1e3 * mmd2:.2f} | "
                  f"{epochs} | {seconds:.0f} |", flush=True)
            _plot(samples, held_out, f"{loss} ({backend})", os.path.join(args.out, f"{loss}-{backend}.png"))


if __name__ == "__main__":
    main()
