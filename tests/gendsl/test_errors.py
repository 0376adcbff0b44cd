"""Errors that teach (STYLE §8, DESIGN §1 and §3).

Each test provokes one mistake a user can make and checks three things: the
specific gendsl error class, that the message names the offending site, shape
or option, and that it says what would work. Data are tiny (20 rows) and
training runs one epoch, so the whole file stays fast.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import gendsl as gd
from gendsl import dist, nn, ops
from gendsl.errors import (
    DataError,
    GendslError,
    ModelError,
    ObjectiveError,
    ShapeError,
    SiteError,
    TrainingError,
    UnknownAttributeError,
    UnknownNameError,
)

N_ROWS = 20
BACKENDS = ["pyro", "numpyro"]


def _msg(excinfo) -> str:
    return str(excinfo.value)


# ------------------------------------------------------------------ shared models


@gd.model
def nb(x_dim=4, k=3):
    """Naive Bayes with Bernoulli features (the DSL example)."""
    pi = gd.param("pi", (k,), constraint="simplex")
    theta = gd.param("theta", (k, x_dim), constraint="unit_interval")
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(probs=pi))
        gd.observe("x", dist.Bernoulli(probs=theta[y]).to_event(1))


@gd.model
def continuous_latent():
    """A continuous latent and no guide: only guide-based objectives can train it."""
    with gd.plate("data"):
        z = gd.sample("z", dist.Normal(0.0, 1.0))
        gd.observe("x", dist.Normal(z, 1.0))


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return (rng.random((N_ROWS, 4)) > 0.5).astype(np.float64)


@pytest.fixture(scope="module")
def nb_fit(X):
    return nb().fit({"x": X}, epochs=1, progress=False)


# ------------------------------------------------------------------ 1. names used twice


def test_site_named_twice():
    @gd.model
    def twice():
        with gd.plate("data"):
            gd.sample("z", dist.Normal(0.0, 1.0))
            gd.observe("z", dist.Normal(0.0, 1.0))

    with pytest.raises(SiteError, match=r"'z' is used twice") as e:
        twice()
    msg = _msg(e)
    assert "model 'twice'" in msg
    assert "f-string" in msg and "f'z_{i}'" in msg


def test_param_and_sample_share_a_name():
    @gd.model
    def shared():
        a = gd.param("a", ())
        with gd.plate("data"):
            gd.observe("a", dist.Normal(a, 1.0))

    with pytest.raises(SiteError, match=r"'a' is used twice") as e:
        shared()
    msg = _msg(e)
    assert "param" in msg and "sample" in msg  # says what each use was
    assert "its own name" in msg


# ------------------------------------------------------------------ 2. unknown names


def test_unknown_distribution_lists_registered_ones():
    with pytest.raises(UnknownAttributeError, match=r"unknown distribution 'Foo'") as e:
        dist.Foo  # noqa: B018
    msg = _msg(e)
    for name in ("'Normal'", "'Bernoulli'", "'Categorical'"):
        assert name in msg
    assert isinstance(e.value, AttributeError)
    assert isinstance(e.value, GendslError)
    assert not hasattr(dist, "Foo")


def test_unknown_op_lists_registered_ones():
    with pytest.raises(UnknownAttributeError, match=r"unknown op 'foo'") as e:
        ops.foo  # noqa: B018
    msg = _msg(e)
    for name in ("'exp'", "'matmul'", "'logsumexp'", "'where'"):
        assert name in msg
    assert "NumPy" in msg  # ops follow NumPy's names
    assert isinstance(e.value, AttributeError)
    assert not hasattr(ops, "foo")


# ------------------------------------------------------------------ 3. shapes


def test_distribution_arguments_cannot_broadcast():
    with pytest.raises(ShapeError, match=r"dist\.Normal") as e:
        dist.Normal(np.zeros(3), np.ones(4))
    msg = _msg(e)
    assert "(3,)" in msg and "(4,)" in msg
    assert "cannot broadcast" in msg
    assert "1 where a value should be shared" in msg


def test_to_event_more_axes_than_batch():
    with pytest.raises(ShapeError, match=r"to_event\(2\)") as e:
        dist.Normal(np.zeros(3), 1.0).to_event(2)
    msg = _msg(e)
    assert "(3,)" in msg  # the batch shape
    assert re.search(r"\b1 batch ax", msg)  # how many batch axes there are
    assert ".expand(" in msg and "to_event(1)" in msg  # what would work


def test_site_axis_not_declared_by_a_plate_suggests_to_event():
    @gd.model
    def decoder_without_to_event(x_dim=64, z_dim=2):
        decoder = nn.MLP("decoder", [z_dim, 8, x_dim])
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
            gd.observe("x", dist.Bernoulli(logits=decoder(z)))

    with pytest.raises(ShapeError, match=r"site 'x'") as e:
        decoder_without_to_event()
    msg = _msg(e)
    assert "(N_data, 64)" in msg
    assert "no plate declares" in msg
    assert ".to_event(1)" in msg


def test_site_axis_disagrees_with_fixed_size_plate():
    @gd.model
    def wrong_plate_size():
        with gd.plate("p", 5):
            gd.sample("a", dist.Normal(np.zeros(4), 1.0))

    with pytest.raises(ShapeError, match=r"site 'a'") as e:
        wrong_plate_size()
    msg = _msg(e)
    assert "plate 'p'" in msg
    assert "4" in msg and "5" in msg
    assert "make them agree" in msg and ".to_event()" in msg


def test_network_input_size_mismatch():
    @gd.model
    def wrong_net_input():
        net = nn.MLP("net", [3, 8, 2])
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(np.zeros(5), 1.0).to_event(1))
            gd.observe("x", dist.Normal(net(z), 1.0).to_event(1))

    with pytest.raises(ShapeError, match=r"network 'net'") as e:
        wrong_net_input()
    msg = _msg(e)
    assert "last axis 3" in msg  # what the network expects
    assert "(N_data, 5)" in msg  # what it got


def test_matmul_inner_sizes_differ():
    @gd.model
    def bad_matmul():
        w = gd.param("w", (3, 4))
        v = gd.param("v", (5, 2))
        with gd.plate("data"):
            gd.observe("x", dist.Normal(ops.matmul(w, v), 1.0).to_event(2))

    with pytest.raises(ShapeError, match=r"ops\.matmul") as e:
        bad_matmul()
    msg = _msg(e)
    assert "(3, 4)" in msg and "(5, 2)" in msg
    assert "inner sizes differ" in msg
    assert "last axis of the left operand must equal the second-to-last of the right" in msg


# ------------------------------------------------------------------ 4. data


def test_data_for_a_site_that_does_not_exist(X):
    with pytest.raises(DataError, match=r"'bogus'") as e:
        nb().fit({"x": X, "bogus": X}, epochs=1, progress=False)
    msg = _msg(e)
    assert "no site of that name" in msg
    assert "['x', 'y']" in msg  # lists the sites that do exist


def test_data_shape_does_not_match_site():
    x5 = np.zeros((N_ROWS, 5))
    with pytest.raises(DataError, match=r"site 'x'") as e:
        nb(x_dim=4).fit({"x": x5}, epochs=1, progress=False)
    msg = _msg(e)
    assert "(20, 5)" in msg  # the data's shape
    assert "(N_data, 4)" in msg  # the site's shape
    assert "rows first" in msg


def test_one_array_for_two_observed_sites():
    @gd.model
    def two_observed():
        with gd.plate("data"):
            gd.observe("a", dist.Normal(0.0, 1.0))
            gd.observe("b", dist.Normal(0.0, 1.0))

    with pytest.raises(DataError, match=r"\['a', 'b'\]") as e:
        two_observed().fit(np.zeros(N_ROWS), epochs=1, progress=False)
    assert "pass a dict {site: array}" in _msg(e)


def test_missing_data_for_an_observed_site():
    labels = np.zeros(N_ROWS, dtype=np.int64)
    with pytest.raises(DataError, match=r"\['x'\]") as e:
        nb().fit({"y": labels}, epochs=1, progress=False)
    msg = _msg(e)
    assert "observes" in msg
    assert "pass data" in msg


# ------------------------------------------------------------------ 5. objective the model cannot support


def test_mle_with_a_continuous_latent_suggests_elbo():
    with pytest.raises(ObjectiveError, match=r"continuous latent site 'z'") as e:
        continuous_latent().fit(np.zeros(N_ROWS), objective="mle", epochs=1, progress=False)
    msg = _msg(e)
    assert "'mle'" in msg
    assert "objective='elbo'" in msg
    assert "guide" in msg


def test_mle_through_a_delta_has_no_density():
    @gd.model
    def gan():
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0))
            gd.observe("x", dist.Delta(z * 2.0))

    # DESIGN §3's message, word for word (with 'mle' for 'elbo').
    expected = ("model 'gan' observes 'x' through a Delta: it has no density, so 'mle' "
                "cannot score it; use objective='adversarial'")
    with pytest.raises(ObjectiveError, match=re.escape(expected)):
        gan().fit(np.zeros(N_ROWS), objective="mle", epochs=1, progress=False)


# ------------------------------------------------------------------ 6. unknown registry names


def test_unknown_objective_name(X):
    with pytest.raises(UnknownNameError, match=r"unknown objective 'nope'") as e:
        nb().fit(X, objective="nope", epochs=1, progress=False)
    msg = _msg(e)
    assert "'mle'" in msg
    assert isinstance(e.value, KeyError)
    assert msg.startswith("unknown objective")  # plain text, not KeyError's quoted repr


def test_unknown_backend_name(X):
    with pytest.raises(UnknownNameError, match=r"unknown backend 'nope'") as e:
        nb().fit(X, backend="nope", epochs=1, progress=False)
    msg = _msg(e)
    assert "'pyro'" in msg and "'numpyro'" in msg
    assert isinstance(e.value, KeyError)


# ------------------------------------------------------------------ 7. model-structure mistakes


def test_sample_outside_a_model():
    with pytest.raises(ModelError, match=r"gd\.sample only works inside a model") as e:
        gd.sample("z", dist.Normal(0.0, 1.0))
    assert "@gd.model" in _msg(e)


def test_python_if_on_a_traced_value_suggests_where():
    @gd.model
    def branches():
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0))
            if z > 0:
                gd.observe("x", dist.Normal(z, 1.0))

    with pytest.raises(ModelError, match=r"no truth value") as e:
        branches()
    msg = _msg(e)
    assert "`if`" in msg
    assert "ops.where(cond, a, b)" in msg


def test_python_if_on_a_site_names_it():
    @gd.model
    def branches_on_site():
        with gd.plate("data"):
            z = gd.sample("z", dist.Bernoulli(probs=0.5))
            if z:
                gd.observe("x", dist.Normal(0.0, 1.0))

    with pytest.raises(ModelError, match=r"traced value 'z'") as e:
        branches_on_site()
    assert "ops.where" in _msg(e)


def test_model_with_a_positional_parameter():
    def positional(x_dim):
        with gd.plate("data"):
            gd.observe("x", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))

    with pytest.raises(ModelError, match=r"\['x_dim'\] have no default") as e:
        gd.model(positional)
    msg = _msg(e)
    assert "model 'positional'" in msg
    assert "def positional(x_dim=64, ...)" in msg


def test_unknown_hyper_parameter():
    with pytest.raises(ModelError, match=r"no hyper-parameter\(s\) \['bogus'\]") as e:
        nb(bogus=1)
    assert "['k', 'x_dim']" in _msg(e)


def test_guide_argument_matches_no_model_site():
    @gd.model
    def with_guide():
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0))
            gd.observe("x", dist.Normal(z, 1.0))

    @with_guide.guide
    def guide(w):
        with gd.plate("data"):
            gd.sample("z", dist.Normal(0.0, 1.0))

    with pytest.raises(SiteError, match=r"argument 'w' matches no site") as e:
        with_guide()
    msg = _msg(e)
    assert "guide 'guide'" in msg
    assert "['z', 'x']" in msg  # the names a guide argument may take


def test_unknown_constraint_name():
    @gd.model
    def typo():
        gd.param("s", (), constraint="postive")

    with pytest.raises(UnknownNameError, match=r"unknown constraint 'postive'") as e:
        typo()
    msg = _msg(e)
    for name in ("'positive'", "'real'", "'simplex'", "'unit_interval'"):
        assert name in msg


@gd.model
def negative_init():
    s = gd.param("s", (), init=-1.0, constraint="positive")
    with gd.plate("data"):
        gd.observe("x", dist.Normal(0.0, s))


def test_param_init_outside_its_constraint():
    with pytest.raises(ModelError, match=r"param 's'") as e:
        negative_init().fit(np.zeros(N_ROWS), epochs=1, progress=False)
    msg = _msg(e)
    assert "'positive'" in msg
    assert "inside the support" in msg and "'uniform'" in msg


def test_param_init_outside_its_constraint_fails_at_declaration():
    with pytest.raises(ModelError, match=r"param 's'") as e:
        negative_init()  # tracing alone: the init is a constant, no seed is needed
    msg = _msg(e)
    assert "'positive'" in msg
    assert "-1.0" in msg


# ------------------------------------------------------------------ 8. non-finite loss


@gd.model
def overflows(x_dim=2):
    """Every argument valid; the log-density overflows float32 (a scale of 1e-30)."""
    loc = gd.param("loc", (x_dim,), init=0.0)
    with gd.plate("data"):
        gd.observe("x", dist.Normal(loc, 1e-30).to_event(1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_loss_raises_training_error_with_fitted(backend):
    x = 1e10 * np.random.default_rng(0).normal(size=(N_ROWS, 2))
    with pytest.raises(TrainingError, match=r"NaN or infinite") as e:
        overflows().fit(x, backend=backend, epochs=1, progress=False)
    msg = _msg(e)
    assert "'overflows'" in msg and "'mle'" in msg
    assert "err.fitted" in msg
    assert "smaller lr" in msg and "float64" in msg  # what to try
    assert isinstance(e.value, RuntimeError)
    fitted = e.value.fitted
    assert isinstance(fitted, gd.inference.Fitted)
    assert fitted.backend == backend
    assert set(fitted.params) == {"loc"}
    assert all(np.all(np.isfinite(v)) for v in fitted.params.values())


@gd.model
def diverges(x_dim=2):
    """Fine at init; one huge Adam step drives the scale negative."""
    loc = gd.param("loc", (x_dim,), init=0.0)
    scale = gd.param("scale", (x_dim,), init=1.0)
    with gd.plate("data"):
        gd.observe("x", dist.Normal(loc, scale).to_event(1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_loss_keeps_a_state_whose_loss_was_finite(backend):
    x = 0.01 * np.random.default_rng(0).normal(size=(N_ROWS, 2))
    with pytest.raises(TrainingError) as e:
        diverges().fit(x, backend=backend, epochs=3, lr=10.0, progress=False)
    fitted = e.value.fitted
    assert len(fitted.history["epoch_loss"]) >= 1  # at least one epoch was fine
    assert np.all(np.isfinite(fitted.log_prob(x)))


# ------------------------------------------------------------------ 9. queries on the wrong site


def test_posterior_of_an_observed_site(nb_fit, X):
    with pytest.raises(SiteError, match=r"posterior\('x'\)") as e:
        nb_fit.posterior("x", {"x": X})
    msg = _msg(e)
    assert "discrete latent" in msg and "observed" in msg


def test_posterior_of_a_continuous_latent_site():
    m = continuous_latent()
    fitted = gd.inference.Fitted(m, "pyro", m.init_params())
    with pytest.raises(SiteError, match=r"posterior\('z'\)") as e:
        fitted.posterior("z", {"x": np.zeros(N_ROWS)})
    msg = _msg(e)
    assert "discrete latent" in msg and "Normal" in msg


def test_posterior_of_an_unknown_site(nb_fit, X):
    with pytest.raises(SiteError, match=r"no site 'nosuch'") as e:
        nb_fit.posterior("nosuch", {"x": X})
    assert "'y'" in _msg(e) and "'x'" in _msg(e)


def test_posterior_error_names_the_sites_that_would_work(nb_fit, X):
    with pytest.raises(SiteError, match=r"posterior\('x'\)") as e:
        nb_fit.posterior("x", {"x": X})
    assert "'y'" in _msg(e)
