"""DDPM on 2-D toys against an 8-component Gaussian mixture, by MMD to held-out data.

    .venv/bin/python bench/diffusion_toys.py --out docs/img/diffusion

For moons, eight Gaussians and the checkerboard: 20,000 training (`--train-n`)
and 10,000 held-out points (different seeds). `sklearn.mixture.GaussianMixture(8,
covariance_type="full")` is fit on the training points and sampled; the
chain (`gendsl.models.ddpm`: TimeMLP 128-128-128, T = 1000, linear schedule)
is trained with `denoising` (`--fourier L` adds the positional encoding of
the points to its input; Adam, batch 256, lr 1e-3 for half the epochs,
3e-4 and 1e-4 for a quarter each, or `--lr-schedule cosine` from 1e-3;
keeping a moving average of the weights with decay `--ema`, which is what
is sampled) and sampled ancestrally (1000 steps) and with DDIM (50 steps,
eta = 0). Each draw of `--samples` points (default 10,000) is compared with
the held-out points by the unbiased squared MMD (Gaussian kernel; one
bandwidth per data set, the median heuristic on the held-out points, so the
rows are comparable); every figure is the mean over `--draws` independent
draws, with its standard error. The first column does the same for fresh
draws of the true distribution: what a perfect model scores, up to the
held-out set's own luck (the expectation is conditional on those 10,000
points, so it need not be zero) and, for moons, the even placement of
`make_moons` points along the arcs (an even draw of n points sits about
(1 - E k) / n below an independent one: -4 x 1e-5 at n = 10,000).

The median bandwidth is wide (the data's own scale), so the kernel sees
little beyond the first moments, and good models differ there by less than
one draw's spread at 10,000 points (about 4 x 1e-5 per draw); that spread
falls as 1 / n, so `--samples 1000000` resolves differences of 0.05 x 1e-5
(the MMD of 2-D samples is linear-time, see `gendsl.inference.metrics.mmd`).
Every MMD is also reported at a quarter of the bandwidth, where shape
matters. Both models are fit on the same training points, so at h they share
that set's luck: 20,000 checkerboard points can miss its variance by 1 %,
which moves the GMM's expected MMD by more than a unit (its closed form at h
ranges from -1.70 to -0.48 over four training seeds; fit on two sets of 10^6
points, -2.46 and -2.77); `--train-n 1000000` takes most of that luck out of
the comparison (the epochs then count passes over the larger set). Besides
the GMM's expected MMD in closed form, the last lines give the true
distribution's where it has one (eight Gaussians; the checkerboard, uniform
on squares; moons, arcs plus Gaussian noise, by quadrature over the angle):
the floor, free of draws' noise. `--fits DIR` keeps the trained chains.
Prints one Markdown row per data set and writes `<dataset>.png`: histograms
of the held-out data and of one draw of each.
"""

from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace

import numpy as np
from sklearn.mixture import GaussianMixture

import gendsl as gd
import gendsl.models as zoo
from gendsl import data, plots
from gendsl.inference.metrics import mmd

DATASETS = {"moons": dict(noise=0.05), "eight_gaussians": dict(), "checkerboard": dict(), "spirals": dict()}
BOUNDS = {"moons": (-1.5, 2.5, -1.0, 1.5), "eight_gaussians": (-2.6, 2.6, -2.6, 2.6),
          "checkerboard": (-4.2, 4.2, -4.2, 4.2), "spirals": (-4.0, 4.0, -3.6, 3.6)}


def train(x, backend, epochs, seed, ema, batch_size=256, schedule="steps", fourier=0):
    model = zoo.ddpm(x_dim=2, hidden=(128, 128, 128), steps=1000, fourier=fourier)
    if schedule == "cosine":  # one run, lr 1e-3 decayed to zero
        return model.fit(x, backend=backend, epochs=epochs, batch_size=batch_size, lr=1e-3, lr_schedule="cosine",
                         seed=seed, progress=False, ema=ema)
    fit = None
    for lr, share in ((1e-3, 0.5), (3e-4, 0.25), (1e-4, 0.25)):
        fit = model.fit(x, backend=backend, epochs=max(1, round(epochs * share)), batch_size=batch_size, lr=lr,
                        seed=seed, progress=False, init=None if fit is None else fit.params, ema=ema)
    return fit


def gmm_expected_mmd2(gmm, y, h):
    """The GMM's MMD^2 to ``y`` in expectation over its draws, in closed form.

    For Gaussians, E k(a, b) = h^d |S + h^2 I|^(-1/2) exp(-m' (S + h^2 I)^-1 m / 2)
    with a - b ~ N(m, S), so E k(X, X') and E k(X, y_j) are sums over pairs of
    components; the unbiased estimate's expectation is E k(X, X') - 2 mean_j
    E k(X, y_j) + (the held-out points' own U-statistic).
    """
    w, mu, cov = gmm.weights_, gmm.means_, gmm.covariances_
    d, eye = mu.shape[1], h * h * np.eye(mu.shape[1])

    def smoothed(c, diff):  # E exp(-|a - b|^2 / 2h^2) for a - b ~ N(diff, c), rows of diff
        q = np.einsum("...i,ij,...j->...", diff, np.linalg.inv(c + eye), diff)
        return h**d / np.sqrt(np.linalg.det(c + eye)) * np.exp(-0.5 * q)

    kxx = sum(w[i] * w[j] * smoothed(cov[i] + cov[j], mu[i] - mu[j]) for i in range(len(w)) for j in range(len(w)))
    kxy = sum(w[i] * smoothed(cov[i], y - mu[i]).mean() for i in range(len(w)))
    # against a copy moved 1000 bandwidths away (cross kernel exactly 0), MMD^2 is twice y's U-statistic
    kyy = mmd(y, y + 1e3 * h, bandwidth=h).mmd2 / 2.0
    return kxx - 2.0 * kxy + kyy


# the checkerboard's filled squares (lower-left corners; side 2): column c in -2..1 holds rows c % 2 and c % 2 - 2
CHECKER_CORNERS = np.asarray([(2.0 * c, 2.0 * r) for c in range(-2, 2) for r in (c % 2, c % 2 - 2)])


def checkerboard_expected_mmd2(y, h, side=2.0):
    """The true checkerboard's MMD^2 to ``y`` in expectation over its draws, in closed form.

    Uniform on each square, the kernel's expectation factorises over the two
    coordinates: E exp(-(u - b)^2 / 2h^2) for u ~ U[a, a + L] is a difference
    of erfs, and for u, v uniform on two intervals a second difference of
    Phi2(z) = z Phi1(z) + h^2 exp(-z^2 / 2h^2), Phi1 the erf antiderivative.
    """
    from scipy.special import erf

    def phi1(z):
        return h * np.sqrt(np.pi / 2) * erf(z / (np.sqrt(2) * h))

    def phi2(z):
        return z * phi1(z) + h * h * np.exp(-z * z / (2 * h * h))

    def pair(a, c):  # E exp(-(u - v)^2 / 2h^2), u ~ U[a, a + L], v ~ U[c, c + L]
        d = a - c
        return (phi2(d + side) - 2 * phi2(d) + phi2(d - side)) / side**2

    corners = CHECKER_CORNERS
    kxx = np.mean([pair(p[0], q[0]) * pair(p[1], q[1]) for p in corners for q in corners])
    kxy = np.mean([np.prod((phi1(p + side - y) - phi1(p - y)) / side, axis=1).mean() for p in corners])
    kyy = mmd(y, y + 1e3 * h, bandwidth=h).mmd2 / 2.0
    return kxx - 2.0 * kxy + kyy


def moons_expected_mmd2(y, h, noise=DATASETS["moons"]["noise"], nodes=512):
    """The true moons' MMD^2 to ``y`` in expectation over its draws, by quadrature.

    Two half circles, the angle uniform on [0, pi], plus N(0, noise^2 I): the
    Gaussian kernel smoothed by the noise is again Gaussian, h^2 / (h^2 + v)
    exp(-|a - b|^2 / 2(h^2 + v)), so only the angles are integrated
    (Gauss-Legendre). ``make_moons`` spaces its angles evenly instead of
    drawing them, so its draws sit slightly below this (see above).
    """
    t, w = np.polynomial.legendre.leggauss(nodes)
    theta = (t + 1.0) * np.pi / 2.0
    arcs = np.concatenate([np.stack([np.cos(theta), np.sin(theta)], 1),
                           np.stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)], 1)])
    w = np.concatenate([w, w]) / 4.0  # each arc half the mass; Legendre weights sum to 2

    def smoothed(a, b, var):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        return h * h / (h * h + var) * np.exp(-np.maximum(d2, 0.0) / (2.0 * (h * h + var)))

    kxx = w @ smoothed(arcs, arcs, 2.0 * noise**2) @ w
    kxy = np.mean([w @ smoothed(arcs, part, noise**2) for part in np.array_split(y, 10)], axis=0).mean()
    kyy = mmd(y, y + 1e3 * h, bandwidth=h).mmd2 / 2.0
    return kxx - 2.0 * kxy + kyy


def closed_forms(name, gmm, held_out, h):
    """One line: the GMM's expected MMD^2, and the true distribution's where it has a closed form."""
    at_h, at_quarter = (gmm_expected_mmd2(gmm, held_out, bw) * 1e5 for bw in (h, h / 4))
    line = f"{name}: in expectation over draws (closed form), x 1e5: GMM (8) {at_h:.3f} at h, {at_quarter:.3f} at h / 4"
    # eight Gaussians is itself an equal mixture of eight known Gaussians
    mixture = SimpleNamespace(weights_=np.full(8, 1 / 8), means_=np.asarray(data.EIGHT_GAUSSIANS_CENTRES, float),
                              covariances_=np.tile(np.eye(2) * data.EIGHT_GAUSSIANS_STD**2, (8, 1, 1)))
    truths = {"eight_gaussians": lambda y, bw: gmm_expected_mmd2(mixture, y, bw),
              "checkerboard": checkerboard_expected_mmd2, "moons": moons_expected_mmd2}
    if name in truths:
        line += (f"; true distribution {truths[name](held_out, h) * 1e5:.3f} at h, "
                 f"{truths[name](held_out, h / 4) * 1e5:.3f} at h / 4")
    return line


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--draws", type=int, default=5, help="independent samples per model")
    parser.add_argument("--ema", type=float, default=0.999, help="decay of the weights' moving average; 0 for none")
    parser.add_argument("--backend", default="numpyro", choices=["pyro", "numpyro"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr-schedule", default="steps", choices=["steps", "cosine"],
                        help="steps: 1e-3, 3e-4, 1e-4 for 1/2, 1/4, 1/4 of the epochs; cosine: 1e-3 decayed to 0")
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--n", type=int, default=10_000, help="held-out points")
    parser.add_argument("--train-n", type=int, default=20_000,
                        help="training points, the same for the GMM and the chain (an epoch is one pass over them)")
    parser.add_argument("--samples", type=int, default=None,
                        help="points in each draw of each model (default: as many as held-out points)")
    parser.add_argument("--out", default="docs/img/diffusion")
    parser.add_argument("--fits", default=None,
                        help="folder of trained chains: <dataset>.npz is loaded when there, else trained and saved")
    parser.add_argument("--standardise", action="store_true",
                        help="train the chain on the training points scaled to zero mean and unit variance")
    parser.add_argument("--fourier", type=int, default=0,
                        help="the TimeMLP's input frequencies per coordinate (nn.TimeMLP's fourier; 0: none)")
    parser.add_argument("--closed-form-only", action="store_true",
                        help="print only the expected MMDs that have a closed form (no chain is trained or sampled)")
    args = parser.parse_args()
    samples = args.samples or args.n
    os.makedirs(args.out, exist_ok=True)
    if not args.closed_form_only:
        print("MMD^2 x 1e5 to the held-out points, mean ± standard error over the draws\n")
        names = ("true distribution", "GMM (8, full)", "DDPM, 1000 steps", "DDIM, 50 steps")
        print(f"| data set | bandwidth h | {' | '.join(names)} | at h / 4: {' | '.join(names)} | epochs | train s "
              f"| sample s (1000 / 50) |")
        print("|---|---|" + "---|" * 8 + "---|---|---|")
    exact, dropped = [], {}
    for name in args.datasets:
        x = data.load(name, n=args.train_n, seed=0, **DATASETS[name]).astype(np.float64)
        held_out = data.load(name, n=args.n, seed=1, **DATASETS[name]).astype(np.float64)
        h = mmd(held_out, held_out[::-1], seed=0).bandwidth  # the median heuristic on held-out points
        gmm = GaussianMixture(8, covariance_type="full", n_init=3, random_state=0).fit(x)
        exact.append(closed_forms(name, gmm, held_out, h))
        if args.closed_form_only:
            continue
        # the chain models standardised points when asked (its N(0, I) end then has the data's scale)
        loc, scale = (x.mean(0), x.std(0)) if args.standardise else (0.0, 1.0)
        tag = ("-standardised" if args.standardise else "") + (f"-fourier{args.fourier}" if args.fourier else "")
        tag += f"-train{args.train_n}" if args.train_n != 20_000 else ""
        saved = os.path.join(args.fits, f"{name}{tag}.npz") if args.fits else None
        start = time.perf_counter()
        if saved and os.path.exists(saved):
            fit, train_s = gd.load(saved).to(args.backend), float("nan")  # trained by an earlier run
        else:
            fit = train((x - loc) / scale, args.backend, args.epochs, seed=0, ema=args.ema or None,
                        batch_size=args.batch_size, schedule=args.lr_schedule, fourier=args.fourier)
            train_s = time.perf_counter() - start
            if saved:
                os.makedirs(args.fits, exist_ok=True)
                fit.save(saved)
        samplers = {
            "true distribution": lambda s: data.load(name, n=samples, seed=100 + s, **DATASETS[name]),
            "GMM (8)": lambda s: gmm.set_params(random_state=100 + s).sample(samples)[0],
            "DDPM (1000)": lambda s: loc + scale * fit.sample(samples, seed=s)["x"],
            "DDIM (50)": lambda s: loc + scale * fit.sample(samples, seed=s, sampler="ddim", steps=50)["x"],
        }
        scores, seconds, first = {}, {}, {}
        for label, draw in samplers.items():
            values, spent = [], 0.0
            for s in range(args.draws):
                start = time.perf_counter()
                sample = np.asarray(draw(s), dtype=np.float64)
                spent += time.perf_counter() - start
                finite = np.isfinite(sample).all(axis=1)  # a row that diverged scores as absent: said below
                if not finite.all():
                    dropped[name, label] = dropped.get((name, label), 0) + int((~finite).sum())
                    sample = sample[finite]
                first.setdefault(label, sample)
                values.append([mmd(sample, held_out, bandwidth=h).mmd2, mmd(sample, held_out, bandwidth=h / 4).mmd2])
            seconds[label] = spent / args.draws
            values = np.asarray(values)
            scores[label] = (values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values)))
        panels = {"held-out data": held_out, **{k: v for k, v in first.items() if k != "true distribution"}}
        plots.density_row(panels, os.path.join(args.out, f"{name}.png"), bounds=BOUNDS[name], title=f"{name}: samples")
        row = " | ".join(f"{m[i] * 1e5:.2f} ± {se[i] * 1e5:.2f}" for i in (0, 1) for m, se in scores.values())
        trained = "loaded" if np.isnan(train_s) else f"{train_s:.0f}"
        print(f"| {name} | {h:.3f} | {row} | {args.epochs} | {trained} "
              f"| {seconds['DDPM (1000)']:.1f} / {seconds['DDIM (50)']:.1f} |", flush=True)
    print(("" if args.closed_form_only else "\n") + "\n".join(exact))
    for (name, label), count in dropped.items():
        print(f"{name}, {label}: {count} of {args.draws * samples} rows non-finite (diverged), left out of the MMD")


if __name__ == "__main__":
    main()
