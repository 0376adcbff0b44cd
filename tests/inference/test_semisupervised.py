"""Semi-supervised generation (issue 27): labels observed where present and summed out where
missing, in the model and in a guide with a discrete site (Kingma et al.'s M2)."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp, softmax
from scipy.stats import multivariate_normal, norm

import gendsl as gd
import gendsl.models as zoo
from gendsl import dist, ops
from gendsl.backends import get_backend
from gendsl.inference.elbo import ELBO
from gendsl.inference.fitted import Fitted

from .test_conditional import MEANS, PRIOR, W, linear_classes

B = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0]])  # q(y | x) = softmax(x B)
PRECISION = 0.09 + float(W @ W)

# the conditional VAE test's story (y ~ Cat, z ~ N(0, 1), x | y, z ~ N(mu_y + W z, 0.3^2 I)) with M2's guide
linear_m2 = gd.model(linear_classes.fn)


@linear_m2.guide
def classifier_and_exact_z(x):
    """q(y | x) a fixed softmax classifier; q(z | x, y) the exact posterior of z given x and y, so
    ``log p(x, y, z) - log q(z | x, y) = log p(x, y)`` for every z: the bound is deterministic."""
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=ops.matmul(x, B)))
        gd.sample("z", dist.Normal(ops.sum((x - ops.getitem(MEANS, y)) * W, -1) / PRECISION,
                                   float(np.sqrt(0.09 / PRECISION))))


X = np.random.default_rng(0).normal(size=(6, 2))
LABELS = np.array([0, np.nan, 2, np.nan, 1, np.nan])


def _log_joint(x):
    """log p(x, y = c), (N, K), with z integrated out in closed form."""
    cov = np.outer(W, W) + 0.09 * np.eye(2)
    return np.stack([np.log(PRIOR[c]) + multivariate_normal(MEANS[c], cov).logpdf(x) for c in range(3)], -1)


@pytest.fixture
def m2(backend):
    return Fitted(linear_m2(), backend, {}, dtype="float64")


@pytest.mark.parametrize("particles", [1, 4])
def test_m2_bound_with_missing_labels_is_the_q_weighted_labelled_bounds_plus_entropy(m2, particles):
    joint = _log_joint(X)
    labelled = np.stack([m2.elbo({"x": X, "y": np.full(6, c)}, analytic_kl=False, num_particles=particles)
                         for c in range(3)], -1)
    np.testing.assert_allclose(labelled, joint, atol=1e-9)  # the exact z-posterior guide: log p(x, y)
    q = softmax(X @ B, -1)
    unlabelled = (q * labelled).sum(-1) - (q * np.log(q)).sum(-1)  # sum_y q(y | x) ELBO(x, y) + H[q]
    np.testing.assert_allclose(m2.elbo({"x": X}, analytic_kl=False, num_particles=particles), unlabelled,
                               atol=1e-6)
    rows = np.arange(6)
    mixed = np.where(np.isnan(LABELS), unlabelled, labelled[rows, np.nan_to_num(LABELS).astype(int)])
    np.testing.assert_allclose(m2.elbo({"x": X, "y": LABELS}, analytic_kl=False, num_particles=particles), mixed,
                               atol=1e-6)


def test_m2_importance_weights_sum_the_labels_out_exactly(m2):
    joint = _log_joint(X)
    np.testing.assert_allclose(m2.log_likelihood({"x": X}, k=3), logsumexp(joint, -1), atol=1e-9)
    rows = np.arange(6)
    labelled = joint[rows, np.nan_to_num(LABELS).astype(int)]
    np.testing.assert_allclose(m2.log_likelihood({"x": X, "y": LABELS}, k=3),
                               np.where(np.isnan(LABELS), logsumexp(joint, -1), labelled), atol=1e-9)


def test_the_closed_form_kl_leaves_an_enumerated_label_alone(m2):
    """With analytic_kl the z term is Monte Carlo, but the label's term stays its own: many
    particles come close to the exact bound on labelled and unlabelled rows alike."""
    q = softmax(X @ B, -1)
    joint = _log_joint(X)
    exact = np.where(np.isnan(LABELS), (q * (joint - np.log(q))).sum(-1),
                     joint[np.arange(6), np.nan_to_num(LABELS).astype(int)])
    np.testing.assert_allclose(m2.elbo({"x": X, "y": LABELS}, num_particles=4000), exact, atol=0.08)


def test_posterior_of_a_guide_site_is_the_guides_classifier(m2):
    assert m2.posterior_method("y") == "guide"
    np.testing.assert_allclose(m2.posterior("y", {"x": X}), softmax(X @ B, -1), atol=1e-12)
    np.testing.assert_array_equal(m2.predict("y", {"x": X}), (X @ B).argmax(-1))


def test_alpha_adds_the_classifiers_log_likelihood_of_the_labels(backend):
    fitted = Fitted(linear_m2(), backend, {}, dtype="float64")
    lowered, eng = fitted.engine.lowered, fitted.engine
    batch, missing = fitted._prepare({"x": X, "y": LABELS})
    params = eng.params_in(fitted.params)
    rng = lambda: lowered.backend.rng(0)  # noqa: E731
    plain = ELBO(analytic_kl=False).loss(lowered, params, batch, missing, 6, rng())
    supervised = ELBO(analytic_kl=False, alpha=2.5).loss(lowered, params, batch, missing, 6, rng())
    log_q = np.log(softmax(X @ B, -1))[np.arange(6), np.nan_to_num(LABELS).astype(int)]
    expected = -2.5 * np.where(np.isnan(LABELS), 0.0, log_q).mean()
    np.testing.assert_allclose(float(supervised) - float(plain), expected, atol=1e-9)


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_the_plain_programs_traceenum_elbo_agrees_with_an_enumerated_guide_site(backend):
    ours = Fitted(linear_m2(), backend, {}, dtype="float64").elbo({"x": X}, analytic_kl=False).sum()
    model_fn, guide_fn = get_backend(backend).compile(linear_m2(), seed=0, dtype="float64")
    if backend == "pyro":
        import pyro
        pyro.clear_param_store()
        loss = pyro.infer.TraceEnum_ELBO(max_plate_nesting=1).loss(model_fn, guide_fn, {"x": torch.as_tensor(X)})
    else:
        import jax
        from numpyro.infer import TraceEnum_ELBO
        loss = float(TraceEnum_ELBO(max_plate_nesting=1).loss(jax.random.PRNGKey(0), {}, model_fn, guide_fn,
                                                              {"x": X}))
    np.testing.assert_allclose(-loss, ours, rtol=1e-9)


@gd.model
def labelled_mixture():
    pi = gd.param("pi", (3,), init=PRIOR, constraint="simplex")
    with gd.plate("rows"):
        y = gd.sample("y", dist.Categorical(probs=pi))
        gd.sample("x", dist.Normal(ops.getitem(np.array([-2.0, 0.0, 3.0]), y), 1.0))


def test_a_label_missing_in_some_rows_is_summed_out_there_and_observed_elsewhere(backend):
    """Without a guide the model enumerates the label where it is NaN and keeps only the given
    label's term elsewhere (not the masked-leaf rule, which would decode a missing label as 0)."""
    x, y = np.array([0.5, 2.0, -1.0]), np.array([np.nan, 1.0, np.nan])
    model = labelled_mixture()
    fitted = Fitted(model, backend, model.init_params(0), dtype="float64")
    joint = np.log(PRIOR) + norm.logpdf(x[:, None], [-2.0, 0.0, 3.0])
    np.testing.assert_allclose(fitted.log_prob({"x": x, "y": y}),
                               [logsumexp(joint[0]), joint[1, 1], logsumexp(joint[2])], rtol=1e-12)


def test_discrete_guide_sites_are_checked():
    @gd.model
    def global_label():
        y = gd.sample("y", dist.Categorical(probs=PRIOR))
        with gd.plate("data"):
            gd.observe("x", dist.Normal(ops.getitem(MEANS[:, 0], y), 1.0))

    @global_label.guide
    def global_guide(x):
        gd.sample("y", dist.Categorical(logits=ops.zeros(3)))

    with pytest.raises(gd.ObjectiveError, match="'y'.*outside the row plate"):
        ELBO().check(global_label(), ["x"])
    with pytest.raises(gd.ObjectiveError, match="dreg=True.*'y'.*discrete"):
        gd.objectives.get("iwae", dreg=True).check(linear_m2(), ["x"])
    with pytest.raises(gd.ObjectiveError, match="alpha >= 0"):
        ELBO(alpha=-1.0)


@pytest.fixture(scope="module")
def partly_labelled():
    """Three classes of six binary pixels, 10 % of the rows labelled."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    probs = np.array([[0.9, 0.9, 0.1, 0.1, 0.1, 0.1], [0.1, 0.1, 0.9, 0.9, 0.1, 0.1],
                      [0.1, 0.1, 0.1, 0.1, 0.9, 0.9]])
    x = (rng.random((600, 6)) < probs[y]).astype(float)
    return x, y, np.where(rng.random(600) < 0.1, y, np.nan)


def test_ssvae_learns_a_classifier_from_few_labels(backend, partly_labelled):
    x, y, labels = partly_labelled
    model = zoo.ssvae(x_dim=6, classes=3, z_dim=2, hidden=(16,))
    assert model.default_fit_options("elbo") == {"alpha": model.hyper["alpha"], "ema": 0.999}
    assert {s.name for s in model.guide_ir.sites} == {"y", "z"}
    fit = model.fit({"x": x, "y": labels}, backend=backend, epochs=60, lr=1e-2, progress=False, seed=0)
    assert fit.posterior_method("y") == "guide"
    assert np.mean(fit.predict("y", {"x": x}) == y) > 0.9  # the Bayes rate of these rows is about 0.97
    drawn = fit.sample(300, seed=0, given={"y": 2})["x"]
    assert drawn[:, 4:].mean() > 0.7 and drawn[:, :4].mean() < 0.3


def test_ssvae_draws_the_label_into_x_and_into_the_guides_z():
    model = zoo.ssvae(x_dim=6, classes=3, z_dim=2, hidden=(8,))
    assert {("y", "x"), ("z", "x")} <= set(model.graph.edges())
    assert {("x", "y"), ("y", "z"), ("x", "z")} <= set(model.guide_graph.edges())


def test_a_conditional_vae_trains_on_missing_labels_and_classifies_by_bayes_rule(backend, partly_labelled):
    """The new user's path: vae(classes=K), labels NaN where missing; y is summed out there (in the
    model: the guide draws only z), and predict("y") answers by importance-sampled Bayes' rule."""
    x, y, labels = partly_labelled
    fit = zoo.vae(x_dim=6, z_dim=2, hidden=(16,), classes=3).fit(
        {"x": x, "y": labels}, backend=backend, epochs=60, lr=1e-2, progress=False, seed=0)
    assert fit.posterior_method("y") == "importance"
    assert np.mean(fit.predict("y", {"x": x}, k=20) == y) > 0.85


def test_missing_labels_may_be_masked_instead_of_nan(backend):
    x = np.array([0.5, 2.0, -1.0])
    model = labelled_mixture()
    fitted = Fitted(model, backend, model.init_params(0), dtype="float64")
    masked = np.ma.masked_array([7, 1, 7], mask=[True, False, True])  # the masked 7s are no labels at all
    np.testing.assert_allclose(fitted.log_prob({"x": x, "y": masked}),
                               fitted.log_prob({"x": x, "y": np.array([np.nan, 1.0, np.nan])}), rtol=1e-12)
