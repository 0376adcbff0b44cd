"""Class-conditional flows: realnvp, maf and glow with classes=K (issue 27).

p(x | y = c) is an exact density for every class (it integrates to one),
posterior("y") is Bayes' rule over those densities, y summed out is the
log-sum-exp over classes, and sampling given y = c draws class c.
"""

import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp, softmax

import gendsl as gd
import gendsl.models as zoo
from gendsl import data
from gendsl.backends import get_backend
from gendsl.inference.fitted import Fitted

FLOWS = ["realnvp", "maf", "glow"]
CENTRES = np.array([[-2.0, -1.0], [2.0, -1.0], [0.0, 2.0]])


def _flow(name, classes=3, hidden=(16, 16), layers=2):
    return getattr(zoo, name)(x_dim=2, hidden=hidden, layers=layers, classes=classes)


@pytest.fixture(scope="module")
def blobs():
    """Three classes, one Gaussian blob each (std 0.4), with unequal frequencies."""
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=900, p=[0.5, 0.3, 0.2])
    return {"x": CENTRES[y] + 0.4 * rng.standard_normal((900, 2)), "y": y}


_FITS: dict = {}


def _short_fit(name, backend, blobs):
    """A few epochs on the blobs (shared by the tests of one flow and backend)."""
    if (name, backend) not in _FITS:
        _FITS[name, backend] = _flow(name).fit(blobs, backend=backend, epochs=8, lr=1e-2, batch_size=100,
                                               progress=False, seed=0)
    return _FITS[name, backend]


def _per_class(fitted, x):
    """``log p(x, y = c)`` for every class: ``(N, K)``."""
    return np.stack([fitted.log_prob({"x": x, "y": np.full(len(x), c)}) for c in range(3)], -1)


@pytest.mark.parametrize("name", FLOWS)
def test_each_class_density_integrates_to_one(name, backend, blobs):
    fit = _short_fit(name, backend, blobs)
    fitted = Fitted(fit.model, backend, fit.params, dtype="float64")
    start = Fitted(fit.model, backend, fit.model.init_params(0), dtype="float64")
    # not trivially the base: the short fit has moved each class's density onto its blob
    rows = np.arange(len(blobs["y"]))
    fitted_own, start_own = (_per_class(f, blobs["x"])[rows, blobs["y"]] for f in (fitted, start))
    for c in range(3):
        assert fitted_own[blobs["y"] == c].mean() > start_own[blobs["y"] == c].mean() + 1.0, c
    g = np.linspace(-6.0, 6.0, 161)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    prior = log_softmax(fit.params["y_logits"])
    joint = _per_class(fitted, grid)                               # log p(x, y = c) on the grid
    mass = np.exp(joint - prior).sum(0) * (g[1] - g[0]) ** 2       # of p(x | y = c)
    np.testing.assert_allclose(mass, 1.0, atol=0.01)


@pytest.mark.parametrize("name", FLOWS)
def test_posterior_of_y_is_bayes_rule_and_y_sums_out(name, backend, blobs):
    fit = _short_fit(name, backend, blobs)
    fitted = Fitted(fit.model, backend, fit.params, dtype="float64")
    x = np.random.default_rng(1).normal(scale=2.0, size=(50, 2))
    joint = _per_class(fitted, x)
    np.testing.assert_allclose(fitted.posterior("y", {"x": x}), softmax(joint, -1), atol=1e-6)
    np.testing.assert_array_equal(fitted.predict("y", {"x": x}), joint.argmax(-1))
    np.testing.assert_allclose(fitted.log_prob({"x": x}), logsumexp(joint, -1), rtol=1e-9)
    # a generative classifier of the blobs (Bayes rate about 0.99)
    assert np.mean(fit.predict("y", {"x": blobs["x"]}) == blobs["y"]) > 0.95


@pytest.mark.parametrize("name", FLOWS)
def test_samples_given_a_label_land_on_its_mode(name, backend):
    x, y = data.eight_gaussians(n=4000, seed=0, return_labels=True)
    fit = _flow(name, classes=8, hidden=(32, 32), layers=3).fit({"x": x, "y": y}, backend=backend, epochs=15,
                                                                progress=False, seed=0)
    for c in (0, 3, 6):
        drawn = fit.sample(300, seed=c, given={"y": c})
        assert np.all(drawn["y"] == c)
        nearest = np.linalg.norm(drawn["x"][:, None] - data.EIGHT_GAUSSIANS_CENTRES, axis=-1).argmin(-1)
        assert np.mean(nearest == c) > 0.9, (c, np.bincount(nearest, minlength=8))


@pytest.mark.parametrize("name", FLOWS)
def test_plain_programs_sum_the_label_out(name, blobs):
    """The plain Pyro and NumPyro programs enumerate y through the conditioners (TraceEnum_ELBO)."""
    import jax
    import pyro
    import torch
    from numpyro.infer import TraceEnum_ELBO

    model = _flow(name)
    params = model.init_params(3)
    x = blobs["x"][:20]
    expected = Fitted(model, "pyro", params, dtype="float64").log_prob({"x": x}).sum()
    no_guide = lambda data=None, size=None: None  # noqa: E731  (y is enumerated, x observed)
    model_fn, _ = get_backend("pyro").compile(model, seed=3, dtype="float64")
    pyro.clear_param_store()
    loss = pyro.infer.TraceEnum_ELBO(max_plate_nesting=1).loss(model_fn, no_guide, {"x": torch.as_tensor(x)})
    np.testing.assert_allclose(-loss, expected, rtol=1e-8)
    model_fn, _ = get_backend("numpyro").compile(model, seed=3, dtype="float64")
    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(jax.random.PRNGKey(0), {}, model_fn, no_guide, {"x": x})
    np.testing.assert_allclose(-float(loss), expected, rtol=1e-8)


@pytest.mark.parametrize("name", FLOWS)
def test_the_label_feeds_every_conditioner_and_the_graph_draws_y_to_x(name):
    model = _flow(name)
    conditioners = [n.spec for n in model.ir.nets if type(n.spec).__name__ in ("AffineCoupling",
                                                                               "MaskedAutoregressive")]
    assert len(conditioners) == 2 and all(t.context == 3 for t in conditioners)
    assert model.ir["y"].dist.family == "Categorical" and "y_logits" in model.init_params(0)
    assert "y" in set(model.graph.predecessors("x"))
    plain = getattr(zoo, name)(x_dim=2, hidden=(16, 16), layers=2)
    assert "y" not in plain.ir and "y_logits" not in plain.init_params(0)
    assert all(n.spec.context == 0 for n in plain.ir.nets)
    with pytest.raises(gd.ModelError, match="classes must be an integer >= 2"):
        getattr(zoo, name)(x_dim=2, classes=1)


def test_a_context_is_checked_against_the_transforms():
    from gendsl import dist, ops
    from gendsl import transforms as T

    base = dist.Normal(0.0, 1.0).expand([2]).to_event(1)

    @gd.model
    def missing():
        with gd.plate("data"):
            gd.observe("x", dist.TransformedDistribution(base, [T.AffineCoupling("c", 2, [4], context=3)]))

    @gd.model
    def wrong_width():
        with gd.plate("data"):
            y = gd.sample("y", dist.Categorical(logits=ops.zeros(4)))
            gd.observe("x", dist.TransformedDistribution(base, [T.AffineCoupling("c", 2, [4], context=3)],
                                                         context=ops.one_hot(y, 4)))

    with pytest.raises(gd.ModelError, match="read a context"):
        missing()
    with pytest.raises(gd.ShapeError, match="width"):
        wrong_width()
    with pytest.raises(gd.ModelError, match="context must be an integer"):
        T.MaskedAutoregressive("m", 2, context=-1)
