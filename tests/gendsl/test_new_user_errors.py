"""Mistakes a new user makes, and errors that teach (issue 26, items 2 and 4).

- ``gd.param(..., init=None)``, as a factory forwarding its own ``init=None``
  does, means the default initialiser (it was NaN);
- text data names the site, the dtype found and what works;
- a distribution argument outside its support (a Normal's scale that is, or
  becomes, negative) names the site, family and argument, before training
  (first-step validation) and when a step makes the loss NaN;
- a name observed twice says ``gd.observe``, not "sample".

Data are tiny and fits run an epoch or three, so the file stays fast.
"""

from __future__ import annotations

import numpy as np
import pytest

import gendsl as gd
from gendsl import dist, ops
from gendsl.constraints import DEFAULT_INIT, resolve_init
from gendsl.errors import DataError, ModelError, SiteError, TrainingError
from gendsl.inference._data import as_data
from gendsl.inference.diagnose import invalid_arguments
from gendsl.inference.engines import _Stop, make_engine

BACKENDS = ["pyro", "numpyro"]
N_ROWS = 20


def _x(d=2, scale=1.0):
    return scale * np.random.default_rng(0).normal(size=(N_ROWS, d))


# ------------------------------------------------------------------ init=None means the default


@gd.model
def forwards_init(x_dim=2, init=None):
    """A factory that forwards its own ``init=None`` to ``gd.param``."""
    loc = gd.param("loc", (x_dim,), init=init)
    scale = gd.param("scale", (x_dim,), init=init, constraint="positive")
    with gd.plate("data"):
        gd.observe("x", dist.Normal(loc, scale).to_event(1))


@gd.model
def default_init(x_dim=2):
    """The same model, ``init`` left out."""
    loc = gd.param("loc", (x_dim,))
    scale = gd.param("scale", (x_dim,), constraint="positive")
    with gd.plate("data"):
        gd.observe("x", dist.Normal(loc, scale).to_event(1))


def test_init_none_resolves_to_the_default_initialiser():
    assert resolve_init(None, (3,), "w") == ("named", DEFAULT_INIT) == resolve_init(DEFAULT_INIT, (3,), "w")
    nodes = {p.name: p for p in forwards_init().ir.params}
    assert nodes["loc"].init == nodes["scale"].init == ("named", DEFAULT_INIT)


def test_init_none_draws_the_default_values():
    got, want = forwards_init().init_params(seed=3), default_init().init_params(seed=3)
    assert got.keys() == want.keys()
    for k in want:
        assert np.all(np.isfinite(got[k])), k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert np.all(got["scale"] > 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_none_fits(backend):
    fit = forwards_init().fit(_x(), backend=backend, epochs=2, progress=False)
    assert all(np.isfinite(loss) for loss in fit.history["epoch_loss"])
    assert all(np.all(np.isfinite(v)) for v in fit.params.values())


def test_init_that_is_not_a_number_names_the_param():
    @gd.model
    def bad_init():
        gd.param("w", (2,), init={"a": 1})

    with pytest.raises(ModelError, match=r"param 'w'") as e:
        bad_init()
    assert "None for the default ('uniform')" in str(e.value)


# ------------------------------------------------------------------ text data


@gd.model
def labelled(x_dim=2, k=3):
    """A class label ``y`` and Gaussian features ``x``."""
    pi = gd.param("pi", (k,), constraint="simplex")
    loc = gd.param("loc", (k, x_dim), init="normal")
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(probs=pi))
        gd.observe("x", dist.Normal(loc[y], 1.0).to_event(1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_text_array_names_the_site_and_what_works(backend):
    with pytest.raises(DataError, match=r"site 'x'") as e:
        default_init().fit(np.array([["a", "b"]]), backend=backend, epochs=1, progress=False)
    msg = str(e.value)
    assert "<U1" in msg and "text" in msg and "'a'" in msg  # the dtype found, and a value
    assert "Normal" in msg  # what the site is
    assert "astype(float)" in msg and "integers" in msg and "dist.Categorical" in msg  # what works
    assert "could not convert" not in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_text_labels_in_a_dict_name_the_label_site(backend):
    data = {"x": _x(), "y": np.array(["cat", "dog"] * (N_ROWS // 2))}
    with pytest.raises(DataError, match=r"site 'y'") as e:
        labelled().fit(data, backend=backend, epochs=1, progress=False)
    msg = str(e.value)
    assert "Categorical" in msg and "'cat'" in msg
    assert "integers 0..K-1" in msg and "np.unique" in msg


def test_object_array_names_the_site():
    data = np.array([[1.0, "n/a"]] * N_ROWS, dtype=object)  # (None would read as NaN: missing)
    with pytest.raises(DataError, match=r"site 'x'.*dtype object \(Python objects, e\.g\. 'n/a'\)"):
        default_init().fit(data, epochs=1, progress=False)


def test_numeric_text_is_read_as_numbers():
    fit = default_init().fit(_x().astype(str), epochs=1, progress=False)
    assert np.isfinite(fit.history["epoch_loss"][-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_data_names_a_text_site(backend):
    lowered = make_engine(default_init(), backend).lowered
    with pytest.raises(DataError, match=r"site 'x'.*<U1.*its Normal takes numbers"):
        lowered.check_data({"x": np.array([["a", "b"]])})


# ------------------------------------------------------------------ arguments outside their support


@gd.model
def negative_scale(x_dim=2):
    """A Normal whose scale is an unconstrained param, negative from the start."""
    loc = gd.param("loc", (x_dim,), init=0.0)
    scale = gd.param("scale", (x_dim,), init=-1.0)
    with gd.plate("data"):
        gd.observe("x", dist.Normal(loc, scale).to_event(1))


@gd.model
def negative_expression(x_dim=2):
    """A Normal whose scale is an ops expression, negative from the start."""
    a = gd.param("a", (x_dim,), init=0.5, constraint="positive")
    with gd.plate("data"):
        gd.observe("x", dist.Normal(0.0, a - 1.0).to_event(1))


@gd.model
def diverges(x_dim=2):
    """Fine at init; one huge Adam step drives the unconstrained scale negative."""
    loc = gd.param("loc", (x_dim,), init=0.0)
    scale = gd.param("scale", (x_dim,), init=1.0)
    with gd.plate("data"):
        gd.observe("x", dist.Normal(loc, scale).to_event(1))


@gd.model
def latent_scale():
    """The bad argument on a latent site (drawn, not scored, by the check)."""
    s = gd.param("s", (), init=-2.0)
    with gd.plate("data"):
        z = gd.sample("z", dist.Normal(0.0, s))
        gd.observe("x", dist.Normal(z, 1.0))


@latent_scale.guide
def latent_scale_guide(x):
    with gd.plate("data"):
        gd.sample("z", dist.Normal(0.0, 1.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_scale_at_init_fails_before_training(backend):
    seen = []
    with pytest.raises(ModelError, match=r"site 'x': Normal's scale has 2 of 2 values <= 0") as e:
        negative_scale().fit(_x(), backend=backend, epochs=1, progress=False, callback=lambda *a: seen.append(a))
    msg = str(e.value)
    assert "cannot start training" in msg and "initial parameters" in msg
    assert "(smallest -1)" in msg
    assert "param 'scale' (constraint='real')" in msg  # where the argument comes from
    assert "constraint='positive'" in msg and "ops.softplus" in msg  # what would work
    assert "smaller lr" not in msg
    assert not seen  # no epoch ran


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_ops_expression_names_the_op(backend):
    with pytest.raises(ModelError, match=r"site 'x': Normal's scale has 2 of 2 values <= 0") as e:
        negative_expression().fit(_x(), backend=backend, epochs=1, progress=False)
    msg = str(e.value)
    assert "computed by ops.subtract" in msg and "pass it through ops.softplus" in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_argument_of_a_latent_site(backend):
    with pytest.raises(ModelError, match=r"site 'z': Normal's scale has a value <= 0") as e:
        latent_scale().fit(_x(1)[:, 0], objective="elbo", backend=backend, epochs=1, progress=False)
    assert "param 's'" in str(e.value)


def _train_until_nan(model, backend, x, lr):
    """The engine's loop as ``fit`` runs it, up to the ``_Stop`` it raises on a non-finite loss."""
    objective = gd.objectives.get("mle")
    data = as_data(model, x)
    engine = make_engine(model, backend)
    missing = engine.lowered.check_data(data)
    with pytest.raises(_Stop) as e:
        engine.train(objective, data, missing, 3, 128, lr, 0, model.init_params(0), False)
    return e.value


@pytest.mark.parametrize("backend", BACKENDS)
def test_scale_becoming_negative_in_training_is_diagnosed(backend):
    stop = _train_until_nan(diverges(), backend, _x(scale=0.01), lr=10.0)
    assert stop.diagnosis.startswith("a distribution's argument left its support: site 'x': Normal's scale has "
                                     "2 of 2 values <= 0")
    assert "param 'scale' (constraint='real')" in stop.diagnosis and "constraint='positive'" in stop.diagnosis
    assert np.all(stop.params["scale"] > 0)  # the last good parameters are still inside


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nan_the_arguments_do_not_explain_has_no_diagnosis(backend):
    @gd.model
    def overflows():
        """Every argument valid; the log-density overflows float32 (a scale of 1e-30)."""
        loc = gd.param("loc", (), init=0.0)
        with gd.plate("data"):
            gd.observe("x", dist.Normal(loc, 1e-30))

    stop = _train_until_nan(overflows(), backend, 1e10 * _x(1)[:, 0], lr=1e-3)
    assert stop.diagnosis is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_scale_becoming_negative_in_training_is_named(backend):
    with pytest.raises(TrainingError, match=r"NaN or infinite") as e:
        diverges().fit(_x(scale=0.01), backend=backend, epochs=3, lr=10.0, progress=False)
    msg = str(e.value)
    assert "'diverges'" in msg and "'mle'" in msg
    assert "site 'x': Normal's scale has 2 of 2 values <= 0" in msg
    assert "param 'scale' (constraint='real')" in msg and "constraint='positive'" in msg
    assert "err.fitted" in msg
    fitted = e.value.fitted  # the last good parameters, as for any non-finite loss
    assert isinstance(fitted, gd.inference.Fitted) and fitted.backend == backend
    assert np.all(fitted.params["scale"] > 0)
    assert np.all(np.isfinite(fitted.log_prob(_x(scale=0.01))))


@pytest.mark.parametrize("backend", BACKENDS)
def test_probabilities_outside_the_unit_interval(backend):
    @gd.model
    def coins(x_dim=3):
        p = gd.param("p", (x_dim,), init=1.5)
        with gd.plate("data"):
            gd.observe("x", dist.Bernoulli(probs=p).to_event(1))

    with pytest.raises(ModelError, match=r"site 'x': Bernoulli's probs has 3 of 3 values outside \[0, 1\]") as e:
        coins().fit(np.ones((N_ROWS, 3)), backend=backend, epochs=1, progress=False)
    assert "constraint='unit_interval'" in str(e.value) and "ops.sigmoid" in str(e.value)


@gd.model
def valid_edges():
    """Valid models the check must pass: -inf logits (a masked category), a
    Uniform (its bounds are a dependent constraint), a softplus scale."""
    logits = gd.param("logits", (3,), init=0.0) + np.array([0.0, 0.0, -np.inf])  # category 2 masked out
    w = gd.param("w", (), init=-3.0)
    with gd.plate("data"):
        gd.observe("c", dist.Categorical(logits=logits))
        gd.observe("u", dist.Uniform(-1.0, 1.0))
        gd.observe("x", dist.Normal(0.0, ops.softplus(w)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_valid_arguments_pass_the_first_step_check(backend):
    rng = np.random.default_rng(0)
    data = {"c": rng.integers(0, 2, N_ROWS), "u": rng.uniform(-0.9, 0.9, N_ROWS), "x": rng.normal(size=N_ROWS)}
    model = valid_edges()
    assert invalid_arguments(make_engine(model, backend), model.init_params(), data) is None
    fit = model.fit(data, backend=backend, epochs=1, progress=False)
    assert np.isfinite(fit.history["epoch_loss"][-1])


# ------------------------------------------------------------------ a name observed twice


def test_name_observed_twice_says_observe():
    @gd.model
    def twice():
        with gd.plate("data"):
            gd.observe("x", dist.Normal(0.0, 1.0))
            gd.observe("x", dist.Normal(0.0, 1.0))

    with pytest.raises(SiteError, match=r"'x' is used twice") as e:
        twice()
    msg = str(e.value)
    assert "first as an observed sample (gd.observe), now as an observed sample (gd.observe)" in msg
    assert "as a sample" not in msg
    assert "its own name" in msg


def test_sample_then_observe_says_which_is_which():
    @gd.model
    def mixed():
        with gd.plate("data"):
            gd.sample("z", dist.Normal(0.0, 1.0))
            gd.observe("z", dist.Normal(0.0, 1.0))

    with pytest.raises(SiteError, match=r"first as a sample \(gd\.sample\), now as an observed sample \(gd\.observe\)"):
        mixed()
