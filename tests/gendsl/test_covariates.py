"""Covariates (gd.covariate): exogenous inputs a model conditions on but does not model (issue 27)."""

import numpy as np
import pytest
import torch
from scipy.stats import norm

import gendsl as gd
from gendsl import dist, ops
from gendsl.backends import get_backend
from gendsl.inference.fitted import Fitted

WEIGHTS = np.array([1.0, -2.0, 0.5])


@gd.model
def regression(x_dim=3):
    """y | x ~ N(x . w, s^2): x is a covariate."""
    w = gd.param("w", (x_dim,), init=0.0)
    s = gd.param("s", (), init=1.0, constraint="positive")
    with gd.plate("data"):
        x = gd.covariate("x", event_shape=x_dim)
        gd.observe("y", dist.Normal(ops.sum(x * w, -1), s))


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    return x, x @ WEIGHTS + 0.3 * rng.normal(size=400)


def test_a_covariate_is_an_input_node_in_the_plates(rows):
    model = regression()
    (x,) = model.ir.covariates
    assert (x.name, x.kind, x.plates, x.event_shape) == ("x", "input", ("data",), (3,))
    assert not any(s.name == "x" for s in model.ir.sites)  # data, not a random variable
    assert model.graph.nodes["x"]["kind"] == "covariate"
    assert ("x", "y") in model.graph.edges
    spec = model.graph_spec()
    drawn = next(n for n in spec["model"]["nodes"] if n["name"] == "x")
    assert drawn["style"] == {"shape": "box", "style": "rounded,filled", "fillcolor": "#d9d9d9"}
    assert spec["model"]["label"] == "model p(y | x)"


def test_regression_on_a_covariate_trains_scores_and_samples(backend, rows):
    x, y = rows
    fit = regression().fit({"x": x, "y": y}, backend=backend, epochs=150, lr=0.05, progress=False, seed=0)
    np.testing.assert_allclose(fit.params["w"], WEIGHTS, atol=0.05)
    assert abs(float(fit.params["s"]) - 0.3) < 0.03
    w, s = fit.params["w"], float(fit.params["s"])
    np.testing.assert_allclose(fit.log_prob({"x": x[:5], "y": y[:5]}), norm.logpdf(y[:5], x[:5] @ w, s), rtol=1e-4)
    drawn = fit.sample(2000, seed=1, given={"x": np.array([1.0, 1.0, 1.0])})["y"]  # one row, broadcast
    assert abs(drawn.mean() - w.sum()) < 0.03 and abs(drawn.std() - s) < 0.03
    assert fit.sample(5, given={"x": x[:5]})["y"].shape == (5,)


def test_a_covariate_is_required_and_checked(backend, rows):
    x, y = rows
    fit = Fitted(regression(), backend, regression().init_params(0))
    with pytest.raises(gd.DataError, match=r"takes covariate\(s\) \['x'\].*data dict"):
        fit.log_prob({"y": y})
    with pytest.raises(gd.DataError, match=r"takes covariate\(s\) \['x'\].*given=\{'x'"):
        fit.sample(4)
    with pytest.raises(gd.DataError, match=r"covariate 'x' has shape \(400, 2\).*\(3,\) per row"):
        fit.log_prob({"x": x[:, :2], "y": y})
    holes = x.copy()
    holes[3, 1] = np.nan
    with pytest.raises(gd.DataError, match="covariate 'x' has missing values"):
        fit.log_prob({"x": holes, "y": y})
    with pytest.raises(gd.DataError, match="disagree on the number of rows"):
        fit.log_prob({"x": x[:10], "y": y})
    with pytest.raises(gd.ModelError, match="for models; a guide takes its data as positional arguments"):
        @gd.model
        def latent(x_dim=1):
            with gd.plate("data"):
                gd.sample("z", dist.Normal(0.0, 1.0))

        @latent.guide
        def bad(x_dim=1):
            with gd.plate("data"):
                gd.covariate("c")
                gd.sample("z", dist.Normal(0.0, 1.0))

        latent()


@gd.model
def factor_regression(z_dim=1):
    """A latent z beside a covariate c: x | z, c ~ N(z + 2 c, 0.5^2); the guide reads c too."""
    with gd.plate("data"):
        c = gd.covariate("c")
        z = gd.sample("z", dist.Normal(0.0, 1.0))
        gd.observe("x", dist.Normal(z + 2.0 * c, 0.5))


@factor_regression.guide
def factor_guide(x, c, z_dim=1):
    """The exact posterior of z given x and c: N(0.8 (x - 2c), 0.2)."""
    with gd.plate("data"):
        gd.sample("z", dist.Normal(0.8 * (x - 2.0 * c), float(np.sqrt(0.2))))


def test_a_guide_reads_a_covariate_and_the_plain_programs_take_it(backend):
    rng = np.random.default_rng(2)
    c, x = rng.normal(size=7), rng.normal(size=7)
    model = factor_regression()
    assert [n.name for n in model.guide_ir.nodes if n.kind == "input"] == ["x", "c"]
    exact = norm.logpdf(x, 2.0 * c, np.sqrt(1.25))  # z integrated out
    fitted = Fitted(model, backend, {}, dtype="float64")
    np.testing.assert_allclose(fitted.log_likelihood({"x": x, "c": c}, k=2), exact, rtol=1e-10)
    model_fn, _ = get_backend(backend).compile(model, seed=0, dtype="float64")
    data = {"x": x, "c": c, "z": np.zeros(7)}
    expected = norm.logpdf(0.0, 0.0, 1.0) * 7 + norm.logpdf(x, 2.0 * c, 0.5).sum()
    if backend == "pyro":
        import pyro
        tdata = {k: torch.as_tensor(v) for k, v in data.items()}
        loss = pyro.infer.Trace_ELBO().loss(model_fn, lambda data=None, size=None: None, tdata)
    else:
        import jax
        from numpyro.infer import Trace_ELBO
        loss = float(Trace_ELBO().loss(jax.random.PRNGKey(0), {}, model_fn, lambda data=None, size=None: None, data))
    np.testing.assert_allclose(-loss, expected, rtol=1e-10)
