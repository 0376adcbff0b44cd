"""HMM log-likelihood time: gendsl's parallel forward algorithm against hmmlearn's, side by side.

    .venv/bin/python bench/hmm_speed.py [--n 1000] [--steps 1000] [--states 3] [--x-dim 1] [--repeats 5]

The same Gaussian HMM (diagonal covariances, parameters drawn once from a fixed
seed) scores ``n`` sequences of ``steps`` steps sampled from it:

- hmmlearn:        ``GaussianHMM.score(X, lengths)`` (its C forward algorithm, a loop over steps, float64)
- gendsl-pyro:     ``Fitted.log_prob`` on the Pyro backend (the log-semiring tree product, O(log T) levels)
- gendsl-numpyro:  the same on the NumPyro backend (compiled by ``jax.jit``)

in float64 (the numbers are checked to agree) and float32. Each is timed to
completion after one warm-up call (compilation); the median of ``repeats``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _median_s(fn, repeats):
    fn()  # warm-up: compilation, first allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--states", type=int, default=3)
    ap.add_argument("--x-dim", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    from hmmlearn.hmm import GaussianHMM

    import gendsl.models as zoo
    from gendsl.inference.fitted import Fitted

    k, d, t, n = args.states, args.x_dim, args.steps, args.n
    rng = np.random.default_rng(0)
    params = {"init": rng.dirichlet(np.ones(k)), "trans": rng.dirichlet(np.ones(k) * 2, size=k),
              "loc": rng.normal(0.0, 2.0, (k, d)), "scale": rng.uniform(0.5, 1.5, (k, d))}
    ref = GaussianHMM(n_components=k, covariance_type="diag", init_params="", params="")
    ref.startprob_, ref.transmat_ = params["init"], params["trans"]
    ref.means_, ref.covars_ = params["loc"], params["scale"] ** 2
    x = np.stack([ref.sample(t, random_state=s)[0] for s in range(n)])      # (n, T, d)
    flat, lengths = x.reshape(n * t, d), [t] * n

    model = zoo.hmm(states=k, x_dim=d, steps=t)
    expected = ref.score(flat, lengths)
    rows = [("hmmlearn", "float64", lambda: ref.score(flat, lengths))]
    for backend in ("pyro", "numpyro"):
        for dtype in ("float64", "float32"):
            fit = Fitted(model, backend, params, dtype=dtype)
            total = float(fit.log_prob(x, batch_size=n).sum())
            if dtype == "float64":
                assert abs(total - expected) < 1e-6 * abs(expected), (backend, total, expected)
            rows.append((f"gendsl-{backend}", dtype, lambda fit=fit: fit.log_prob(x, batch_size=n)))
    print(f"log p of {n} sequences x {t} steps, K = {k} states, x_dim = {d}; total {expected:.3f} nats; "
          f"median of {args.repeats}")
    base = None
    for name, dtype, fn in rows:
        s = _median_s(fn, args.repeats)
        base = base or s
        print(f"{name:16s} {dtype:8s} {s * 1e3:9.1f} ms   hmmlearn / this = {base / s:5.2f}")


if __name__ == "__main__":
    main()
