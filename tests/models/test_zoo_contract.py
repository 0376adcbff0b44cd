"""One contract test per zoo entry: documented, trainable, saveable, every
parameter reached by the gradient, on both backends."""

import numpy as np
import pytest

import gendsl as gd
import gendsl.models as zoo
from gendsl.inference import Fitted
from gendsl.inference.engines import make_engine

from ..gendsl.cases import CASES, case_data, case_named, fit_data, gradients, players, rows_of, scored_by


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_zoo_entry_is_documented(name):
    factory = zoo.ZOO[name]
    assert factory.__name__ == name == name.lower()
    assert "x_dim" in factory.defaults
    doc = factory.__doc__
    assert "References:" in doc and "objective" in doc.lower()
    assert factory.default_objective in gd.objectives.OBJECTIVES


def test_every_zoo_entry_has_a_case():
    """A zoo model missing from CASES would escape every suite that runs over them."""
    missing = [name for name, factory in zoo.ZOO.items() if not any(case[1] is factory for case in CASES)]
    assert not missing, f"zoo entries with no case in tests/gendsl/cases.py: {missing}"
    assert len({case[0] for case in CASES}) == len(CASES)  # ids are unique


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradients_reach_every_parameter(case, backend):
    """With the model's default objective: guide, model and discriminator weights alike, each
    reached by the loss of the player that trains it (a game's discriminator and generator)."""
    model, data = case_data(case)
    eng = make_engine(model, backend, "float64")
    params = eng.params_in(model.init_params(0))
    batch = eng.put_data(fit_data(model, data))
    objective = gd.objectives.get(model.factory.default_objective)
    trained = set()
    for player, loss, names in players(objective, eng.lowered, 40):
        value, grads = gradients(eng, loss, params, batch)
        assert np.isfinite(value), player
        assert set(grads) == set(model.init_params(0))
        for k in names:
            g = grads[k]
            assert np.all(np.isfinite(g)) and np.any(g != 0), f"no gradient of player {player!r}'s loss reaches {k!r}"
        trained |= names
    assert trained == set(model.init_params(0))  # every parameter is some player's


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fit_save_load_round_trip(case, backend, tmp_path):
    model, data = case_data(case)
    # JAX compiles a step per batch shape: the partial last batch (8 of 40 rows) is exercised under Pyro
    batch_size = 16 if backend == "pyro" else 20
    fit = model.fit(fit_data(model, data), backend=backend, epochs=3, batch_size=batch_size, lr=0.05, progress=False)
    assert len(fit.history["epoch_loss"]) == 3 and len(fit.history["step_loss"]) == 3 * -(-40 // batch_size)
    path = fit.save(tmp_path / "fit.npz")
    back = gd.load(path)
    assert back.model.hyper == model.hyper and back.backend == backend
    assert back.params.keys() == fit.params.keys() == model.init_params(0).keys()
    for k in fit.params:
        np.testing.assert_array_equal(back.params[k], fit.params[k], err_msg=k)
    if scored_by(case) is not None:  # log_prob, or a diffusion chain's (deterministic) bound
        np.testing.assert_allclose(rows_of(back, data), rows_of(fit, data), rtol=1e-6)
    samples, again = back.sample(7, seed=1), fit.sample(7, seed=1)
    assert samples.keys() == again.keys() and all(v.shape[0] == 7 for v in samples.values())
    for k in samples:  # the same draws: a model without a density is compared by what it generates
        np.testing.assert_allclose(samples[k], again[k], rtol=1e-6, err_msg=k)


# a mixture, and the two models without a density (tests/inference/test_objective_contract.py
# repeats a seeded fit, and checks another seed differs, for every objective)
SEEDED = [case_named(name) for name in ("gmm-diag", "dae", "gan")]


@pytest.mark.parametrize("case", SEEDED, ids=[c[0] for c in SEEDED])
def test_seeded_fits_repeat(case, backend):
    model, data = case_data(case)
    data = fit_data(model, data)
    kw = dict(backend=backend, epochs=2, batch_size=8, lr=0.05, progress=False)
    a, b = model.fit(data, seed=4, **kw), model.fit(data, seed=4, **kw)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert a.history == b.history


def test_training_decreases_the_loss(backend):
    model, data = case_data(case_named("gmm-full"), n=200)
    fit = model.fit(data, backend=backend, epochs=20, batch_size=50, lr=0.05, progress=False)
    h = fit.history["epoch_loss"]
    assert h[-1] < h[0] - 0.1
    assert all(type(v) is float for v in h)  # plain floats, read back once per epoch


def test_loaded_fit_needs_the_factory_for_main_models(tmp_path):
    @gd.model
    def local(x_dim=2):
        loc = gd.param("loc", (x_dim,), init=0.0)
        with gd.plate("data"):
            gd.observe("x", gd.dist.Normal(loc, 1.0).to_event(1))

    fit = Fitted(local(), "pyro", {"loc": np.array([1.0, 2.0])})
    path = fit.save(tmp_path / "local.npz")
    with pytest.raises(gd.GendslError, match="pass it"):
        gd.load(path)
    np.testing.assert_array_equal(gd.load(path, model=local).params["loc"], [1.0, 2.0])


def test_corrupt_fit_file_is_reported(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a fit")
    with pytest.raises(gd.GendslError, match="not a readable gendsl fit"):
        gd.load(bad)


def test_data_of_another_size_names_the_factory_call_that_fits_them():
    """A new user's first fit: zoo.vae() (x_dim 784) on the 8x8 digits."""
    x = np.zeros((10, 64))
    with pytest.raises(gd.DataError, match=r"gendsl\.models\.vae\(x_dim=64\)"):
        zoo.vae().fit(x, epochs=1)
    with pytest.raises(gd.DataError, match=r"gendsl\.models\.vae\(x_dim=64, z_dim=4\)"):
        zoo.vae(z_dim=4).fit(x, epochs=1)
