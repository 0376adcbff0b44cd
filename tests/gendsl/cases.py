"""Every model in the zoo with small data, for suites that run over all of them."""

import numpy as np

import gendsl.models as zoo

# (id, factory, hyper-parameters, data maker(rng, n) -> dict)
CASES = [
    ("naive_bayes-bernoulli", zoo.naive_bayes, dict(x_dim=5, n_classes=3),
     lambda r, n: {"x": (r.random((n, 5)) < 0.4).astype(float)}),
    ("naive_bayes-bernoulli-supervised", zoo.naive_bayes, dict(x_dim=5, n_classes=3),
     lambda r, n: {"x": (r.random((n, 5)) < 0.4).astype(float), "y": r.integers(0, 3, n)}),
    ("naive_bayes-gaussian", zoo.naive_bayes, dict(x_dim=4, n_classes=2, features="gaussian"),
     lambda r, n: {"x": r.normal(size=(n, 4))}),
    ("naive_bayes-categorical", zoo.naive_bayes, dict(x_dim=3, n_classes=2, features="categorical", n_levels=4),
     lambda r, n: {"x": r.integers(0, 4, (n, 3))}),
    ("gmm-diag", zoo.gmm, dict(x_dim=2, k=3), lambda r, n: {"x": r.normal(size=(n, 2))}),
    ("gmm-full", zoo.gmm, dict(x_dim=3, k=2, covariance="full"), lambda r, n: {"x": r.normal(size=(n, 3))}),
    ("bernoulli_mixture", zoo.bernoulli_mixture, dict(x_dim=6, k=4),
     lambda r, n: {"x": (r.random((n, 6)) < 0.3).astype(float)}),
]


def case_data(case, n=40, seed=0):
    _, factory, hyper, make = case
    return factory(**hyper), make(np.random.default_rng(seed), n)
