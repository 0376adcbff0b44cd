"""Mixtures: the exact log-likelihood reaches scikit-learn's EM optimum."""

import numpy as np
import pytest
from sklearn.cluster import kmeans_plusplus
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

import gendsl.models as zoo
from gendsl import data


@pytest.fixture(scope="module")
def blobs():
    x = data.blobs(n=1500, k=3, seed=0).astype(float)
    order = np.random.default_rng(1).permutation(len(x))
    return x[order[:1000]], x[order[1000:]]


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_gmm_matches_sklearn_log_likelihood(backend, blobs, covariance):
    train, test = blobs
    sk = GaussianMixture(3, covariance_type=covariance, random_state=0).fit(train)
    model = zoo.gmm(x_dim=2, k=3, covariance=covariance)
    centres, _ = kmeans_plusplus(train, 3, random_state=0)  # sklearn's GMM starts from k-means too
    fit = model.fit(train, backend=backend, epochs=300, batch_size=len(train), lr=0.05, progress=False,
                    init={**model.init_params(0), "locs": centres})
    assert abs(fit.log_prob(train).mean() - sk.score(train)) < 0.02
    assert abs(fit.log_prob(test).mean() - sk.score(test)) < 0.02
    # the same partition of the points, whatever the components' order
    assert adjusted_rand_score(sk.predict(train), fit.predict("z", train)) > 0.99


def test_gmm_samples_follow_the_fitted_mixture(backend):
    model = zoo.gmm(x_dim=2, k=2)
    params = {"weights": np.array([0.25, 0.75]), "locs": np.array([[-5.0, 0.0], [5.0, 1.0]]),
              "scales": np.array([[1.0, 0.5], [0.5, 2.0]])}
    from gendsl.inference import Fitted

    s = Fitted(model, backend, params).sample(20000, seed=0)
    assert abs(np.mean(s["z"] == 1) - 0.75) < 0.015
    for k in (0, 1):
        pts = s["x"][s["z"] == k]
        np.testing.assert_allclose(pts.mean(0), params["locs"][k], atol=0.1)
        np.testing.assert_allclose(pts.std(0), params["scales"][k], rtol=0.05)


def test_bernoulli_mixture_finds_digit_clusters(backend):
    x, y = data.digits(kind="binary", return_labels=True)
    keep = np.isin(y, [0, 1, 6])
    model = zoo.bernoulli_mixture(x_dim=64, k=3)
    # like EM, start from k-means++ seeds (pulled towards 1/2 to stay inside (0, 1))
    seeds, _ = kmeans_plusplus(x[keep], 3, random_state=0)
    init = {**model.init_params(0), "theta": 0.25 + 0.5 * seeds}
    fit = model.fit(x[keep], backend=backend, epochs=150, batch_size=keep.sum(), lr=0.1, seed=0,
                    init=init, progress=False)
    z = fit.predict("z", x[keep])
    # each true digit lands mostly in one cluster
    purity = sum(np.bincount(z[y[keep] == d], minlength=3).max() for d in (0, 1, 6)) / keep.sum()
    assert purity > 0.9
    assert fit.history["epoch_loss"][-1] < fit.history["epoch_loss"][0]
