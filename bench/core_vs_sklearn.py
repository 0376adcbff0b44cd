"""Core figures: Naive Bayes and Gaussian mixtures fit with `mle` against scikit-learn.

Run:  .venv/bin/python bench/core_vs_sklearn.py [--repeats 3]

For each backend it fits (1) Gaussian Naive Bayes on breast cancer (standardised),
comparing predictions with sklearn.naive_bayes.GaussianNB, and (2) a diagonal and a
full-covariance Gaussian mixture (K=3) on a 3-cluster 2-D set (gendsl.data.blobs,
1000 train / 500 test), comparing average log-likelihood with
sklearn.mixture.GaussianMixture (same K and covariance type, k-means start for both).
Times are medians over repeats of the whole fit (CPU; absolute times count only on a GPU).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from sklearn.cluster import kmeans_plusplus
from sklearn.mixture import GaussianMixture
from sklearn.naive_bayes import GaussianNB

import gendsl.models as zoo
from gendsl import data


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, float(np.median(times))


def naive_bayes_rows(repeats):
    x, y = data.breast_cancer()
    x = (x - x.mean(0)) / x.std(0)
    sk, sk_time = timed(lambda: GaussianNB(var_smoothing=1e-12).fit(x, y), repeats)
    rows = []
    for backend in ("pyro", "numpyro"):
        model = zoo.naive_bayes(x_dim=30, n_classes=2, features="gaussian")
        fit, t = timed(lambda: model.fit({"x": x, "y": y}, backend=backend, epochs=300, batch_size=len(x),
                                         lr=0.05, progress=False), repeats)
        pred = fit.predict("y", {"x": x})
        rows.append((backend, np.mean(pred == sk.predict(x)), np.mean(pred == y), t, sk_time))
    return rows


def gmm_rows(repeats):
    x = data.blobs(n=1500, k=3, seed=0).astype(float)
    order = np.random.default_rng(1).permutation(len(x))
    train, test = x[order[:1000]], x[order[1000:]]
    centres, _ = kmeans_plusplus(train, 3, random_state=0)
    rows = []
    for cov in ("diag", "full"):
        sk, sk_time = timed(lambda: GaussianMixture(3, covariance_type=cov, random_state=0).fit(train), repeats)
        for backend in ("pyro", "numpyro"):
            model = zoo.gmm(x_dim=2, k=3, covariance=cov)
            init = {**model.init_params(0), "locs": centres}
            fit, t = timed(lambda: model.fit(train, backend=backend, epochs=300, batch_size=len(train), lr=0.05,
                                             init=init, progress=False), repeats)
            rows.append((cov, backend, fit.log_prob(train).mean(), sk.score(train),
                         fit.log_prob(test).mean(), sk.score(test), t, sk_time))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    print("\nGaussian Naive Bayes, breast cancer (569 rows, 30 features), mle, 300 full-batch epochs")
    print("| backend | agreement with GaussianNB | accuracy | fit s (median) | sklearn s |")
    print("|---|---|---|---|---|")
    for backend, agree, acc, t, skt in naive_bayes_rows(args.repeats):
        print(f"| {backend} | {agree:.4f} | {acc:.4f} | {t:.2f} | {skt:.4f} |")
    print("\nGaussian mixture K=3, blobs (1000 train / 500 test), mle, 300 full-batch epochs")
    print("| covariance | backend | train ll | sklearn train ll | test ll | sklearn test ll | |gap| test | fit s | sklearn s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cov, backend, tr, sktr, te, skte, t, skt in gmm_rows(args.repeats):
        print(f"| {cov} | {backend} | {tr:.5f} | {sktr:.5f} | {te:.5f} | {skte:.5f} | {abs(te - skte):.1e} | {t:.2f} | {skt:.4f} |")


if __name__ == "__main__":
    main()
