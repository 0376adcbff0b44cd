"""The denoising autoencoder: its loss on both backends, training that
denoises, codes and reconstructions, Bengio et al.'s sampling chain, the
graph, and the errors and refusals a user meets first."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import gendsl as gd
import gendsl.models as zoo
from gendsl import data, dist, nn
from gendsl.backends import get_backend
from gendsl.families.dae import Autoencoder
from gendsl.inference.engines import make_engine

BACKENDS = ["pyro", "numpyro"]


@pytest.fixture(scope="module")
def digits():
    return data.digits(kind="binary")


def _autoencoder(backend, model, params, likelihood, corruption, level):
    b = get_backend(backend)
    like = (torch.float64, None) if backend == "pyro" else jnp.float64
    ws = {k: b.asarray(v, like=like) for k, v in params.items()}
    nets = [b.net(model.ir[name].spec, ws, f"{name}.") for name in ("encoder", "decoder")]
    return Autoencoder(b, *nets, likelihood, corruption, level, like), b


@pytest.mark.parametrize("likelihood, corruption", [("bernoulli", "mask"), ("normal", "gaussian")])
def test_loss_is_the_reconstruction_nll_of_the_corrupted_rows_on_both_backends(likelihood, corruption):
    model = zoo.dae(x_dim=5, hidden=(7,), code_dim=3, corruption=corruption, level=0.4, likelihood=likelihood)
    rng = np.random.default_rng(0)
    params = {k: v + 0.3 * rng.normal(size=np.shape(v)) for k, v in model.init_params(0).items()}
    x = (rng.random((6, 5)) < 0.5).astype(float) if likelihood == "bernoulli" else rng.normal(size=(6, 5))
    draws = rng.random((6, 5)) if corruption == "mask" else rng.normal(size=(6, 5))
    corrupted = x * (draws >= 0.4) if corruption == "mask" else x + 0.4 * draws
    # the expected loss, written out in NumPy
    p = params
    h = np.maximum(corrupted @ p["encoder.0.weight"].T + p["encoder.0.bias"], 0)
    h = np.maximum(h @ p["encoder.1.weight"].T + p["encoder.1.bias"], 0)
    out = np.maximum(h @ p["decoder.0.weight"].T + p["decoder.0.bias"], 0) @ p["decoder.1.weight"].T \
        + p["decoder.1.bias"]
    if likelihood == "bernoulli":
        expected = (np.logaddexp(0, out) - x * out).sum(-1)
    else:
        expected = (0.5 * (x - out) ** 2 + 0.5 * np.log(2 * np.pi)).sum(-1)
    for backend in BACKENDS:
        ae, b = _autoencoder(backend, model, params, likelihood, corruption, 0.4)
        like = ae.like
        loss = b.to_numpy(ae.loss(b.asarray(x, like=like), b.asarray(draws, like=like)))
        np.testing.assert_allclose(loss, expected, rtol=1e-10, err_msg=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_denoises_and_gradients_reach_every_weight(digits, backend):
    model = zoo.dae(x_dim=64, hidden=(128,), code_dim=16, corruption="mask", level=0.25)
    eng = make_engine(model, backend, "float64")
    params, batch = eng.params_in(model.init_params(0)), eng.put_data({"x": digits[:32]})
    objective = gd.objectives.get("denoising")
    if backend == "pyro":
        u = {k: v.clone().requires_grad_(True) for k, v in eng.lowered.unconstrain(params).items()}
        objective.loss(eng.lowered, eng.lowered.constrain(u), batch, {}, 32, eng.backend.rng(None)).backward()
        grads = {k: v.grad.numpy() for k, v in u.items()}
    else:
        u = eng.lowered.unconstrain(params)
        grads = jax.grad(lambda u: objective.loss(eng.lowered, eng.lowered.constrain(u), batch, {}, 32,
                                                  eng.backend.rng(jax.random.PRNGKey(0))))(u)
    assert set(grads) == set(model.init_params(0))
    for k, g in grads.items():
        assert np.all(np.isfinite(g)) and np.any(np.asarray(g) != 0), f"no gradient reaches {k!r}"

    train, test = digits[:1400], digits[1400:]
    fit = model.fit(train, backend=backend, epochs=15, lr=3e-3, progress=False)
    losses = fit.history["epoch_loss"]
    assert losses[-1] < 0.5 * losses[0]
    # denoising: most pixels the mask switched off in test images come back, and the rest stay mostly right
    # (the per-pixel majority from the training images is wrong on 21% of test pixels)
    drop = (np.random.default_rng(1).random(test.shape) < 0.25) & (test == 1)
    restored = fit.reconstruct(np.where(drop, 0, test)) > 0.5
    assert restored[drop].mean() > 0.6
    assert (restored != test)[~drop].mean() < 0.12
    assert fit.encode(test[:4]).shape == (4, 16)
    assert fit.decode(fit.encode(test[:4])).shape == (4, 64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sampling_chain_and_save_load(digits, backend, tmp_path):
    model = zoo.dae(x_dim=64, hidden=(32,), code_dim=8, likelihood="bernoulli")
    fit = model.fit(digits[:256], backend=backend, epochs=3, lr=3e-3, progress=False)
    x = fit.sample(9, steps=5)["x"]
    assert x.shape == (9, 64) and np.all((x >= 0) & (x <= 1))  # the last step's mean
    np.testing.assert_array_equal(fit.sample(9, seed=2, steps=5)["x"], fit.sample(9, seed=2, steps=5)["x"])
    assert not np.array_equal(fit.sample(9, seed=2, steps=5)["x"], fit.sample(9, seed=3, steps=5)["x"])
    with pytest.raises(gd.GendslError, match="takes steps="):
        fit.sample(3, sampler="ddim")
    back = gd.load(fit.save(tmp_path / "dae.npz"))
    np.testing.assert_allclose(back.reconstruct(digits[:5]), fit.reconstruct(digits[:5]), rtol=1e-6)


def test_graph_draws_corruption_code_and_reconstruction():
    model = zoo.dae(x_dim=6, hidden=(4,), code_dim=2, corruption="gaussian", level=0.3)
    node = model.graph.nodes["x"]
    assert node["kind"] == "autoencoder" and node["dist"] == "DenoisingAutoencoder"
    assert "x~ ~ N(x, 0.3^2 I)\nh = encoder(x~)\nx ~ Bernoulli(decoder(h))" in node["label"]
    assert sorted(model.graph.predecessors("x")) == ["decoder", "encoder"]


@pytest.mark.parametrize("objective", ["mle", "elbo"])
def test_density_objectives_refuse_it(digits, objective):
    with pytest.raises(gd.ObjectiveError, match="no density.*'denoising'"):
        zoo.dae(x_dim=64).fit(digits, objective=objective, epochs=1)


@pytest.mark.parametrize("make, message", [
    (lambda: dist.DenoisingAutoencoder(nn.TimeMLP("e", 4), nn.MLP("d", (2, 4))), "must be an nn.MLP"),
    (lambda: dist.DenoisingAutoencoder(nn.MLP("e", (4, 2)), nn.MLP("d", (3, 4))), "do not fit"),
    (lambda: dist.DenoisingAutoencoder(nn.MLP("e", (4, 2)), nn.MLP("d", (2, 4)), corruption="blur"),
     "unknown corruption"),
    (lambda: dist.DenoisingAutoencoder(nn.MLP("e", (4, 2)), nn.MLP("d", (2, 4)), likelihood="poisson"),
     "unknown likelihood"),
    (lambda: dist.DenoisingAutoencoder(nn.MLP("e", (4, 2)), nn.MLP("d", (2, 4)), corruption="mask", level=1.0),
     "level must be"),
])
def test_bad_autoencoders_name_the_problem(make, message):
    with pytest.raises(gd.ModelError, match=message):
        make()
