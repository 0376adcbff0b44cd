"""Class-conditional models: zoo.vae(classes=K), and posterior(y) by importance-sampled Bayes' rule (issue 27)."""

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import multivariate_normal

import gendsl as gd
import gendsl.models as zoo
from gendsl import dist, ops
from gendsl.inference.fitted import Fitted

MEANS = np.array([[-1.0, 0.5], [1.0, 0.0], [0.0, -1.5]])
W = np.array([0.8, -0.4])
PRIOR = np.array([0.5, 0.3, 0.2])


@gd.model
def linear_classes():
    """y ~ Cat, z ~ N(0, 1), x | y, z ~ N(mu_y + W z, 0.3^2 I): p(x | y) = N(mu_y, W W^T + 0.09 I)."""
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(probs=PRIOR))
        z = gd.sample("z", dist.Normal(0.0, 1.0))
        gd.observe("x", dist.Normal(ops.getitem(MEANS, y) + z[..., None] * W, 0.3).to_event(1))


@linear_classes.guide
def exact_guide(x, y):
    """q(z | x, y): the exact posterior, N(W.(x - mu_y) / (0.09 + |W|^2), 0.09 / (0.09 + |W|^2))."""
    precision = 0.09 + float(W @ W)
    with gd.plate("data"):
        gd.sample("z", dist.Normal(ops.sum((x - ops.getitem(MEANS, y)) * W, -1) / precision,
                                   float(np.sqrt(0.09 / precision))))


def _exact_posterior(x):
    cov = np.outer(W, W) + 0.09 * np.eye(2)
    joint = np.stack([np.log(PRIOR[c]) + multivariate_normal(MEANS[c], cov).logpdf(x) for c in range(3)], -1)
    return softmax(joint, -1)


def test_posterior_of_a_label_beside_guided_latents_is_bayes_rule(backend):
    x = np.random.default_rng(0).normal(size=(40, 2))
    fit = Fitted(linear_classes(), backend, {}, dtype="float64")
    # with the exact posterior as guide every importance weight is p(x, y = c): Bayes' rule to rounding
    estimate = fit.posterior("y", {"x": x}, k=3)
    assert estimate.shape == (40, 3)
    np.testing.assert_allclose(estimate, _exact_posterior(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fit.predict("y", {"x": x}, k=3), estimate.argmax(-1))


@pytest.fixture(scope="module")
def labelled():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    probs = np.array([[0.9, 0.9, 0.1, 0.1, 0.1, 0.1], [0.1, 0.1, 0.9, 0.9, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1, 0.9, 0.9]])
    return {"x": (rng.random((300, 6)) < probs[y]).astype(float), "y": y}


def test_a_conditional_vae_draws_and_classifies_as_asked(backend, labelled):
    model = zoo.vae(x_dim=6, z_dim=2, hidden=(16,), classes=3)
    assert model.ir["y"].dist.family == "Categorical" and "y_logits" in model.init_params(0)
    assert [n.name for n in model.guide_ir.nodes if n.kind == "input"] == ["x", "y"]  # q(z | x, y)
    fit = model.fit(labelled, backend=backend, epochs=150, lr=1e-2, progress=False, seed=0)
    for c in range(3):
        drawn = fit.sample(400, seed=c, given={"y": c})
        assert np.all(drawn["y"] == c)
        on = drawn["x"][:, 2 * c: 2 * c + 2].mean()  # class c's two pixels are on with probability 0.9
        assert on > 0.75, (c, drawn["x"].mean(0))
    accuracy = np.mean(fit.predict("y", {"x": labelled["x"]}, k=50) == labelled["y"])
    assert accuracy > 0.9  # the Bayes rate of these rows is about 0.97


def test_classes_is_checked_and_the_unconditional_vae_is_unchanged():
    with pytest.raises(gd.ModelError, match="classes must be an integer >= 2"):
        zoo.vae(x_dim=4, classes=1)
    plain = zoo.vae(x_dim=4, z_dim=2, hidden=(8,))
    assert "y" not in plain.ir and "y_logits" not in plain.init_params(0)
    assert [n.name for n in plain.guide_ir.nodes if n.kind == "input"] == ["x"]  # y=None: no such site


def test_a_conditional_gan_draws_the_mode_asked_for(backend):
    """gan(classes=8) on eight Gaussians labelled by mode: given y = c, the samples sit at mode c."""
    from gendsl import data

    x, y = data.eight_gaussians(n=4000, seed=0, return_labels=True)
    model = zoo.gan(x_dim=2, classes=8, hidden=(64, 64), critic_hidden=(64, 64))
    assert {"critic_embed", "y"} <= set(model.init_params(0)) | set(model.ir.by_name)
    assert [n.name for n in model.discriminator_ir.nodes if n.kind == "input"] == ["x", "y"]
    fit = model.fit({"x": x, "y": y}, backend=backend, epochs=40, progress=False, seed=0)
    for c in (0, 3, 6):
        drawn = fit.sample(300, seed=c, given={"y": c})
        nearest = np.linalg.norm(drawn["x"][:, None] - data.EIGHT_GAUSSIANS_CENTRES[None], axis=-1).argmin(-1)
        assert np.all(drawn["y"] == c) and np.mean(nearest == c) > 0.8, (c, np.bincount(nearest, minlength=8))


def test_the_unconditional_gan_is_unchanged():
    plain = zoo.gan(x_dim=2, hidden=(8,), critic_hidden=(8,))
    assert "y" not in plain.ir and not any(k.startswith("critic_") for k in plain.init_params(0))
    assert [n.name for n in plain.discriminator_ir.nodes if n.kind == "input"] == ["x"]
