"""Chain-structured discrete latents written as a Python loop are eliminated step by step (issue 28):
an unrolled HMM costs T K^2 per row, not K^T, and its log-likelihood is exact."""

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

import gendsl as gd
from gendsl import dist, ops
from gendsl.backends import get_backend
from gendsl.inference.fitted import Fitted

INIT = np.array([0.5, 0.3, 0.2])
TRANS = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])
LOC = np.array([-1.0, 0.5, 2.0])


@gd.model
def unrolled_hmm(steps=6):
    """z_0 ~ Cat(init), z_t | z_{t-1} ~ Cat(trans[z_{t-1}]), x_t | z_t ~ N(loc[z_t], 1): one site per step."""
    with gd.plate("data"):
        z = gd.sample("z0", dist.Categorical(probs=INIT))
        gd.observe("x0", dist.Normal(ops.getitem(LOC, z), 1.0))
        for t in range(1, steps):
            z = gd.sample(f"z{t}", dist.Categorical(probs=ops.getitem(TRANS, z)))
            gd.observe(f"x{t}", dist.Normal(ops.getitem(LOC, z), 1.0))


def _forward(x):
    """The forward algorithm in NumPy: log p(x) per row."""
    alpha = np.log(INIT) + norm.logpdf(x[:, :1], LOC)
    for t in range(1, x.shape[1]):
        alpha = logsumexp(alpha[:, :, None] + np.log(TRANS), axis=1) + norm.logpdf(x[:, t:t + 1], LOC)
    return logsumexp(alpha, axis=1)


def _brute_force(row):
    paths = itertools.product(range(3), repeat=len(row))
    return logsumexp([np.log(INIT[p[0]]) + np.log(TRANS[p[:-1], p[1:]]).sum() + norm.logpdf(row, LOC[list(p)]).sum()
                      for p in paths])


def _data(x):
    return {f"x{t}": x[:, t] for t in range(x.shape[1])}


def test_an_unrolled_chain_is_exact(backend):
    x = np.random.default_rng(0).normal(size=(4, 6))
    fitted = Fitted(unrolled_hmm(steps=6), backend, {}, dtype="float64")
    expected = [_brute_force(row) for row in x]
    np.testing.assert_allclose(fitted.log_prob(_data(x)), expected, rtol=1e-12)
    np.testing.assert_allclose(_forward(x), expected, rtol=1e-12)


@pytest.mark.parametrize("steps", [12, 32])
def test_an_unrolled_chain_is_eliminated_step_by_step(backend, steps, monkeypatch):
    """3^32 joint states would not fit in memory: the largest table summed is one step's K x K per row."""
    x = np.random.default_rng(1).normal(size=(10, steps))
    ops_table = get_backend(backend).ops
    largest = []
    logsumexp_op = ops_table["logsumexp"]

    def recording(f, *args, **kwargs):
        largest.append(int(np.prod(f.shape)))
        return logsumexp_op(f, *args, **kwargs)

    monkeypatch.setitem(ops_table, "logsumexp", recording)
    fitted = Fitted(unrolled_hmm(steps=steps), backend, {}, dtype="float64")
    np.testing.assert_allclose(fitted.log_prob(_data(x)), _forward(x), rtol=1e-10)
    assert max(largest) <= 3 * 3 * 10
