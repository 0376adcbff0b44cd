"""One contract test per zoo entry: documented, trainable, saveable, every
parameter reached by the gradient, on both backends."""

import jax
import numpy as np
import pytest

import gendsl as gd
import gendsl.models as zoo
from gendsl.inference import Fitted
from gendsl.inference.engines import make_engine

from ..gendsl.cases import CASES, case_data, fit_data


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_zoo_entry_is_documented(name):
    factory = zoo.ZOO[name]
    assert factory.__name__ == name == name.lower()
    assert "x_dim" in factory.defaults
    doc = factory.__doc__
    assert "References:" in doc and "objective" in doc.lower()
    assert factory.default_objective in gd.objectives.OBJECTIVES


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradients_reach_every_parameter(case, backend):
    """With the model's default objective: guide and model weights alike."""
    model, data = case_data(case)
    eng = make_engine(model, backend, "float64")
    params = eng.params_in(model.init_params(0))
    batch = eng.put_data(fit_data(model, data))
    objective = gd.objectives.get(model.factory.default_objective)
    if backend == "pyro":
        u = {k: v.clone().requires_grad_(True) for k, v in eng.lowered.unconstrain(params).items()}
        objective.loss(eng.lowered, eng.lowered.constrain(u), batch, {}, 40, eng.backend.rng(None)).backward()
        grads = {k: v.grad.numpy() for k, v in u.items()}
    else:
        u = eng.lowered.unconstrain(params)
        key = jax.random.PRNGKey(0)
        grads = jax.jit(jax.grad(lambda u: objective.loss(
            eng.lowered, eng.lowered.constrain(u), batch, {}, 40, eng.backend.rng(key))))(u)
    for k, g in grads.items():
        assert np.all(np.isfinite(g)) and np.any(np.asarray(g) != 0), f"no gradient reaches {k!r}"


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
    assert back.params.keys() == fit.params.keys()
    if model.factory.default_objective == "denoising":  # a diffusion chain: its (deterministic) bound
        np.testing.assert_allclose(back.elbo(data), fit.elbo(data), rtol=1e-6)
    else:
        np.testing.assert_allclose(back.log_prob(data), fit.log_prob(data), rtol=1e-6)
    samples = back.sample(7)
    assert all(v.shape[0] == 7 for v in samples.values())


def test_seeded_fits_repeat(backend):
    model, data = case_data(CASES[4])
    a = model.fit(data, backend=backend, epochs=2, batch_size=8, lr=0.05, seed=4, progress=False)
    b = model.fit(data, backend=backend, epochs=2, batch_size=8, lr=0.05, seed=4, progress=False)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_training_decreases_the_loss(backend):
    model, data = case_data(CASES[5], n=200)
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
