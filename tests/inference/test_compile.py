"""``fit(compile=True)``: the Pyro backend's training loss compiled by
``torch.compile`` trains to what the eager step trains to, resumes exactly,
and says clearly when it cannot be used.

Compiling costs seconds on the CPU, so the default suite compiles a few small
models (a VAE, a MAF, a GMVAE); every zoo model is compiled by the slow test.
"""

import numpy as np
import pytest
import torch

import gendsl.inference as inference
import gendsl.models as zoo
from gendsl.errors import GendslError
from gendsl import data
from gendsl.inference.engines import make_engine

ROWS = 250  # batches of 100, 100 and 50: the last, shorter one runs eagerly


@pytest.fixture(scope="module")
def vae_and_data():
    x = np.random.default_rng(0).integers(0, 2, (ROWS, 12)).astype(np.float32)
    return zoo.vae(x_dim=12, z_dim=3, hidden=(16,)), x


@pytest.fixture
def compile_calls(monkeypatch):
    """The functions handed to ``torch.compile`` (which still compiles them)."""
    calls, real = [], torch.compile

    def spy(fn, **kwargs):
        calls.append(fn)
        return real(fn, **kwargs)

    monkeypatch.setattr(torch, "compile", spy)
    return calls


def _graphs():
    """Graphs dynamo has compiled in this process (a fallback to eager adds none)."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def _steps(model, x, objective, compile, sizes):
    engine = make_engine(model, "pyro", "float32", "cpu")
    stepper = engine.stepper(objective, {"x": x}, {}, 1e-2, 0, model.init_params(0), compile=compile)
    start, losses = 0, []
    for size in sizes:
        losses.append(float(stepper.step(np.arange(start, start + size) % len(x))))
        start += size
    return stepper, np.array(losses), stepper.params(stepper.snapshot())


def test_compiled_fit_trains_as_the_eager_fit(vae_and_data, compile_calls, compiled_steps):
    model, x = vae_and_data
    kw = dict(objective="elbo", epochs=3, batch_size=100, lr=1e-2, progress=False)
    eager = model.fit(x, **kw)
    graphs = _graphs()
    compiled = model.fit(x, compile=True, **kw)
    assert len(compile_calls) == 1 and compiled_steps[0] == 6  # fit compiled its loss once, ran 2 of 3 steps on it ...
    assert _graphs() > graphs
    # ... and drew the same noise (the compiled graph uses PyTorch's generator), so only rounding differs
    np.testing.assert_allclose(compiled.history["step_loss"], eager.history["step_loss"], rtol=1e-4)
    for name, value in eager.params.items():
        np.testing.assert_allclose(compiled.params[name], value, rtol=1e-3, atol=1e-4, err_msg=name)


def test_steps_of_the_first_batch_size_run_compiled_others_eagerly(vae_and_data):
    model, x = vae_and_data
    sizes = (100, 100, 50, 100, 7)
    stepper, losses, params = _steps(model, x, inference.ELBO(), True, sizes)
    _, eager_losses, eager_params = _steps(model, x, inference.ELBO(), False, sizes)
    assert stepper.compiled_steps == 3  # the sizes 50 and 7 ran eagerly, without recompiling
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-4)
    for name, value in eager_params.items():
        np.testing.assert_allclose(params[name], value, rtol=1e-3, atol=1e-4, err_msg=name)


def test_a_compiled_flow_trains_as_the_eager_one():
    """MLE on a MAF: the chain of transforms (its MADE conditioners) compiles too."""
    x = np.random.default_rng(1).normal(size=(200, 4)).astype(np.float32)
    model = zoo.maf(x_dim=4, hidden=(8,), layers=2)
    stepper, losses, params = _steps(model, x, inference.MLE(), True, (100,) * 4)
    _, eager_losses, eager_params = _steps(model, x, inference.MLE(), False, (100,) * 4)
    assert stepper.compiled_steps == 4
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-4)
    for name, value in eager_params.items():
        np.testing.assert_allclose(params[name], value, rtol=1e-3, atol=1e-4, err_msg=name)


def test_enumerated_latents_compile(compiled_steps):
    """A GMVAE sums its component out (Pyro's enumerated support is built outside the graph)."""
    x = data.digits(kind="binary")[:200]
    model = zoo.gmvae(x_dim=64, z_dim=3, k=3, hidden=(16,))
    kw = dict(epochs=2, batch_size=100, lr=1e-2, progress=False)
    eager, compiled = model.fit(x, **kw), model.fit(x, compile=True, **kw)
    assert compiled_steps[0] == 4
    np.testing.assert_allclose(compiled.history["step_loss"], eager.history["step_loss"], rtol=1e-4)


def test_a_compiled_run_resumes_exactly(vae_and_data, tmp_path):
    model, x = vae_and_data
    kw = dict(objective="elbo", batch_size=100, lr=1e-2, progress=False, compile=True)
    whole = model.fit(x, epochs=4, **kw)
    ckpt = str(tmp_path / "run.ckpt")
    model.fit(x, epochs=2, checkpoint=ckpt, **kw)
    resumed = model.fit(x, epochs=4, checkpoint=ckpt, resume=True, **kw)
    assert resumed.history["epoch_loss"] == whole.history["epoch_loss"]
    for name, value in whole.params.items():
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)


def test_a_failed_compilation_says_so_and_leaves_the_parameters(vae_and_data, monkeypatch):
    model, x = vae_and_data

    def broken(fn, **kwargs):
        def compiled(*args):
            raise RuntimeError("no C++ compiler found")
        return compiled

    monkeypatch.setattr(torch, "compile", broken)
    engine = make_engine(model, "pyro", "float32", "cpu")
    stepper = engine.stepper(inference.ELBO(), {"x": x}, {}, 1e-2, 0, model.init_params(0), compile=True)
    before = stepper.params(stepper.snapshot())
    with pytest.raises(GendslError, match=r"could not compile the 'elbo' loss of model 'vae'.*no C\+\+ compiler"
                                          r".*compile=False"):
        stepper.step(np.arange(100))
    after = stepper.params(stepper.snapshot())
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_compile_must_be_a_bool(vae_and_data):
    model, x = vae_and_data
    with pytest.raises(ValueError, match="compile is True .* or False; got 'yes'"):
        model.fit(x, objective="elbo", epochs=1, compile="yes", progress=False)


def test_adversarial_objectives_are_refused_by_name():
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    model = zoo.gan(x_dim=2, z_dim=2, hidden=(8,), critic_hidden=(8,))
    with pytest.raises(GendslError, match="'adversarial' objective alternates two players.*compile=False"):
        model.fit(x, objective="adversarial", epochs=1, compile=True, progress=False)


def test_numpyro_steps_are_compiled_anyway(vae_and_data):
    model, x = vae_and_data
    kw = dict(objective="elbo", epochs=2, batch_size=100, backend="numpyro", progress=False)
    plain, flagged = model.fit(x, **kw), model.fit(x, compile=True, **kw)
    assert flagged.history["step_loss"] == plain.history["step_loss"]


# every zoo model with its default objective (the GAN's adversarial one is refused above)
ZOO = {
    "naive_bayes": (lambda: zoo.naive_bayes(x_dim=4, n_classes=3, features="gaussian"), "real", {}),
    "gmm": (lambda: zoo.gmm(x_dim=4, k=3), "real", {}),
    "bernoulli_mixture": (lambda: zoo.bernoulli_mixture(x_dim=64, k=3), "binary", {}),
    "fvsbn": (lambda: zoo.fvsbn(x_dim=64), "binary", {}),
    "nade": (lambda: zoo.nade(x_dim=64, hidden=16), "binary", {}),
    "made": (lambda: zoo.made(x_dim=64, hidden=(16,)), "binary", {}),
    "rnade": (lambda: zoo.rnade(x_dim=4), "real", {}),
    "vae": (lambda: zoo.vae(x_dim=64, z_dim=3, hidden=(16,)), "binary", {}),
    "iwae-dreg": (lambda: zoo.vae(x_dim=64, z_dim=3, hidden=(16,)), "binary", {"objective": "iwae", "k": 5, "dreg": True}),
    "gmvae": (lambda: zoo.gmvae(x_dim=64, z_dim=3, k=3, hidden=(16,)), "binary", {}),
    "vqvae": (lambda: zoo.vqvae(x_dim=64), "binary", {}),
    "factor_analysis": (lambda: zoo.factor_analysis(x_dim=4, z_dim=2), "real", {}),
    "nice": (lambda: zoo.nice(x_dim=4), "real", {}),
    "realnvp": (lambda: zoo.realnvp(x_dim=4), "real", {}),
    "maf": (lambda: zoo.maf(x_dim=4), "real", {}),
    "iaf": (lambda: zoo.iaf(x_dim=4), "real", {}),
    "glow": (lambda: zoo.glow(x_dim=4), "real", {}),
    "ddpm": (lambda: zoo.ddpm(x_dim=4), "real", {}),
    "dae": (lambda: zoo.dae(x_dim=64), "binary", {}),
}
#: draws that are not Gaussian (random diffusion steps, a DAE's corruption) come
#: from the compiled graph's own generator: other numbers than the eager step's
OTHER_DRAWS = {"ddpm", "dae"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_model_compiles(name, compiled_steps):
    make, kind, kw = ZOO[name]
    rng = np.random.default_rng(0)
    x = data.digits(kind="binary")[:ROWS] if kind == "binary" else rng.normal(size=(ROWS, 4)).astype(np.float32)
    if name == "naive_bayes":
        x = {"x": x, "y": rng.integers(0, 3, ROWS)}
    model, fit = make(), dict(epochs=2, batch_size=100, progress=False, **kw)
    eager = model.fit(x, **fit)
    graphs = _graphs()
    compiled = model.fit(x, compile=True, **fit)
    assert compiled_steps[0] == 4  # two full batches of three in each of two epochs ...
    assert _graphs() > graphs  # ... through a graph of their own (dynamo's cache limit never makes them eager)
    if name in OTHER_DRAWS:
        assert model.fit(x, compile=True, **fit).history["step_loss"] == compiled.history["step_loss"]  # seeded
        assert np.all(np.isfinite(compiled.history["step_loss"]))
    else:
        np.testing.assert_allclose(compiled.history["step_loss"], eager.history["step_loss"], rtol=1e-4)
