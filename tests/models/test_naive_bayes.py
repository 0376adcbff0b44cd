"""Naive Bayes against scikit-learn, on both backends, plus missing features."""

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.naive_bayes import BernoulliNB, CategoricalNB, GaussianNB

import gendsl.models as zoo
from gendsl import data


@pytest.fixture(scope="module")
def cancer():
    x, y = data.breast_cancer()
    return (x - x.mean(0)) / x.std(0), y


@pytest.fixture(scope="module", params=["pyro", "numpyro"])
def gaussian_fit(request, cancer):
    x, y = cancer
    model = zoo.naive_bayes(x_dim=x.shape[1], n_classes=2, features="gaussian")
    return model.fit({"x": x, "y": y}, backend=request.param, epochs=300, batch_size=len(x),
                     lr=0.05, progress=False)


def test_gaussian_nb_predicts_like_sklearn(gaussian_fit, cancer):
    x, y = cancer
    sk = GaussianNB(var_smoothing=1e-12).fit(x, y)
    agreement = np.mean(gaussian_fit.predict("y", {"x": x}) == sk.predict(x))
    assert agreement >= 0.99, agreement
    # the MLE is the closed form sklearn computes: class means and variances
    np.testing.assert_allclose(gaussian_fit.params["loc"], sk.theta_, atol=2e-3)
    np.testing.assert_allclose(gaussian_fit.params["scale"] ** 2, sk.var_, rtol=5e-3)
    np.testing.assert_allclose(gaussian_fit.params["pi"], sk.class_prior_, atol=1e-3)


def test_gaussian_nb_posterior_is_sklearn_predict_proba(gaussian_fit, cancer):
    x, y = cancer
    sk = GaussianNB(var_smoothing=1e-12).fit(x, y)
    np.testing.assert_allclose(gaussian_fit.posterior("y", {"x": x}), sk.predict_proba(x), atol=0.02)


def test_bernoulli_nb_on_digits_matches_sklearn(backend):
    x, y = data.digits(kind="binary", return_labels=True)
    model = zoo.naive_bayes(x_dim=64, n_classes=10)
    fit = model.fit({"x": x, "y": y}, backend=backend, epochs=200, batch_size=len(x), lr=0.1, progress=False)
    # Pixels never on in a class have MLE 0, which gradient steps only approach;
    # compare with lightly smoothed counts rather than the degenerate optimum.
    sk = BernoulliNB(alpha=0.1, force_alpha=True).fit(x, y)
    assert np.mean(fit.predict("y", {"x": x}) == sk.predict(x)) >= 0.98
    assert np.mean(fit.predict("y", {"x": x}) == y) > 0.85


def test_categorical_nb_matches_sklearn(backend):
    x, y = data.digits(kind="levels", return_labels=True)
    x = np.minimum(x // 4, 3)  # 4 levels keeps the test fast
    model = zoo.naive_bayes(x_dim=64, n_classes=10, features="categorical", n_levels=4)
    fit = model.fit({"x": x, "y": y}, backend=backend, epochs=200, batch_size=len(x), lr=0.1, progress=False)
    sk = CategoricalNB(alpha=1e-10, force_alpha=True, min_categories=4).fit(x, y)
    assert np.mean(fit.predict("y", {"x": x}) == sk.predict(x)) >= 0.99


def _gaussian_nb_log_joint(fit, x):
    """log p(x_obs, y) per row and class, by hand, with NaN features left out."""
    loc, scale, pi = fit.params["loc"], fit.params["scale"], fit.params["pi"]
    z = (x[:, None, :] - loc[None]) / scale[None]
    per_feature = -0.5 * z**2 - np.log(scale[None]) - 0.5 * np.log(2 * np.pi)
    return np.log(pi)[None] + np.where(np.isnan(per_feature), 0.0, per_feature).sum(-1)


def test_missing_features_are_marginalised(gaussian_fit, cancer):
    x, _ = cancer
    holes = x.copy()
    holes[np.random.default_rng(0).random(x.shape) < 0.3] = np.nan
    joint = _gaussian_nb_log_joint(gaussian_fit, holes)
    np.testing.assert_allclose(gaussian_fit.log_prob({"x": holes}), logsumexp(joint, axis=1), rtol=1e-4)
    expected = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    np.testing.assert_allclose(gaussian_fit.posterior("y", {"x": holes}), expected, atol=1e-4)
    # rows with holes still classify like the complete rows
    assert np.mean(gaussian_fit.predict("y", {"x": holes}) == gaussian_fit.predict("y", {"x": x})) > 0.9


def test_impute_fills_holes_with_the_posterior_mean(gaussian_fit, cancer):
    x, _ = cancer
    holes = x[:50].copy()
    holes[:, :5] = np.nan
    filled = gaussian_fit.impute({"x": holes})
    post = gaussian_fit.posterior("y", {"x": holes})  # (50, 2)
    expected = post @ gaussian_fit.params["loc"]  # E[x_j | x_obs] = sum_y p(y|x_obs) mu_{y,j}
    np.testing.assert_allclose(filled[:, :5], expected[:, :5], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(filled[:, 5:], x[:50, 5:])


def test_unsupervised_naive_bayes_is_a_mixture(backend):
    x, y = data.digits(kind="binary", return_labels=True)
    keep = y < 2  # zeros and ones separate well
    model = zoo.naive_bayes(x_dim=64, n_classes=2)
    fit = model.fit({"x": x[keep]}, backend=backend, epochs=150, batch_size=keep.sum(), lr=0.1, progress=False)
    clusters = fit.predict("y", {"x": x[keep]})
    accuracy = max(np.mean(clusters == y[keep]), np.mean(clusters != y[keep]))  # labels are exchangeable
    assert accuracy > 0.95
