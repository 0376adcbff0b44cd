"""Sampling given values: ``fit.sample(n, given={site: value})`` (issue 27)."""

import numpy as np
import pytest
from scipy.stats import chisquare

import gendsl as gd
import gendsl.models as zoo
from gendsl import dist, ops
from gendsl.errors import DataError
from gendsl.inference.fitted import Fitted

PRIOR = np.array([0.2, 0.3, 0.5])
TRANS = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
EMIT = np.array([0.1, 0.5, 0.9])


@gd.model
def chain():
    """y -> x -> w, all discrete: the conditional given y is known exactly."""
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(probs=PRIOR))
        x = gd.sample("x", dist.Categorical(probs=ops.getitem(TRANS, y)))
        gd.sample("w", dist.Bernoulli(probs=ops.getitem(EMIT, x)))


def _fit(backend):
    return Fitted(chain(), backend, {}, dtype="float64")


def _joint_given(y):
    """p(x, w | y) over the 6 cells (x, w), x-major."""
    return np.array([TRANS[y, x] * (EMIT[x] if w else 1 - EMIT[x]) for x in range(3) for w in range(2)])


@pytest.mark.parametrize("label", [0, 2])
def test_given_a_scalar_clamps_and_the_rest_follow_the_conditional(backend, label):
    n = 20_000
    s = _fit(backend).sample(n, seed=1, given={"y": label})
    assert s["y"].shape == (n,) and np.all(s["y"] == label)
    counts = np.bincount(s["x"].astype(int) * 2 + s["w"].astype(int), minlength=6)
    assert chisquare(counts, n * _joint_given(label)).pvalue > 1e-3
    # and not the marginal: the same test against p(x, w) rejects
    marginal = sum(PRIOR[y] * _joint_given(y) for y in range(3))
    assert chisquare(counts, n * marginal).pvalue < 1e-6


def test_given_an_array_of_rows(backend):
    n = 9_000
    labels = np.arange(n) % 3
    s = _fit(backend).sample(n, seed=2, given={"y": labels})
    np.testing.assert_array_equal(s["y"], labels)
    for label in range(3):
        rows = labels == label
        counts = np.bincount(s["x"][rows].astype(int) * 2 + s["w"][rows].astype(int), minlength=6)
        assert chisquare(counts, rows.sum() * _joint_given(label)).pvalue > 1e-3


def test_several_given_sites(backend):
    s = _fit(backend).sample(5_000, seed=3, given={"y": 0, "x": 2})
    assert np.all(s["x"] == 2) and abs(s["w"].mean() - EMIT[2]) < 0.02


def test_given_errors_name_the_site(backend):
    fit = _fit(backend)
    with pytest.raises(DataError, match=r"'z' is not a site .*\['w', 'x', 'y'\]"):
        fit.sample(3, given={"z": 1})
    with pytest.raises(DataError, match=r"site 'y' is outside the support of its Categorical: .*\[0, 3\)"):
        fit.sample(3, given={"y": 3})
    with pytest.raises(DataError, match=r"site 'y'.*integers"):
        fit.sample(3, given={"y": 0.5})
    with pytest.raises(DataError, match=r"site 'x' depends on sampled site\(s\) \['y'\]"):
        fit.sample(3, given={"x": 1})
    with pytest.raises(DataError, match=r"site 'y' has shape \(2,\).*\(3,\) for n=3"):
        fit.sample(3, given={"y": [0, 1]})
    with pytest.raises(DataError, match=r"takes \{site: value\}"):
        fit.sample(3, given=[1])


def test_given_a_latent_decodes_it(backend):
    """A VAE sampled given its code: every row's x is drawn from the decoder at that code."""
    model = zoo.vae(x_dim=6, z_dim=2, hidden=(8,))
    fit = Fitted(model, backend, model.init_params(0), dtype="float64")
    code = np.array([0.5, -1.0])
    s = fit.sample(4_000, seed=0, given={"z": code})
    assert np.all(s["z"] == code)
    np.testing.assert_allclose(s["x"].mean(0), fit.decode(code[None])[0], atol=0.03)
