"""Training on a GPU: runs where CUDA is present (the device machine), skipped elsewhere."""

import numpy as np
import pytest
import torch

import gendsl.models as zoo

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@cuda
def test_pyro_backend_trains_on_cuda():
    x = np.random.default_rng(0).normal(size=(500, 2)) + np.array([4.0, 0.0])
    model = zoo.gmm(x_dim=2, k=2)
    cpu = model.fit(x, backend="pyro", epochs=5, batch_size=100, lr=0.05, progress=False, dtype="float64")
    gpu = model.fit(x, backend="pyro", epochs=5, batch_size=100, lr=0.05, progress=False, dtype="float64",
                    device="cuda")
    for k in cpu.params:
        np.testing.assert_allclose(gpu.params[k], cpu.params[k], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gpu.log_prob(x), cpu.log_prob(x), rtol=1e-6)


def test_asking_for_cuda_without_one_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    import gendsl as gd

    with pytest.raises(gd.GendslError, match="no CUDA device"):
        zoo.gmm().fit(np.zeros((4, 2)), backend="pyro", device="cuda", epochs=1, progress=False)


@pytest.mark.gpu
@cuda
def test_vae_trains_on_cuda_and_scores_as_on_cpu():
    """Issue 3: a VAE (elbo) and an IWAE (k=5) train on the GPU under Pyro; the
    fitted parameters score log p(x, z) on the GPU exactly as on the CPU."""
    from gendsl import data
    from gendsl.inference import Fitted

    x = data.digits(kind="binary")[:500]
    model = zoo.vae(x_dim=64, z_dim=4, hidden=(32,))
    fit = model.fit(x, backend="pyro", device="cuda", epochs=20, batch_size=100, lr=3e-3, progress=False,
                    dtype="float64")
    losses = fit.history["epoch_loss"]
    assert losses[-1] < losses[0] - 5
    z = np.random.default_rng(0).normal(size=(len(x), 4))
    cpu = Fitted(model, "pyro", fit.params, dtype="float64")
    np.testing.assert_allclose(fit.log_prob({"x": x, "z": z}), cpu.log_prob({"x": x, "z": z}), rtol=1e-9)
    iwae = model.fit(x, objective="iwae", k=5, backend="pyro", device="cuda", epochs=2, batch_size=100,
                     progress=False)
    assert np.all(np.isfinite(iwae.log_likelihood(x[:50], k=100)))


@pytest.mark.gpu
@cuda
def test_compiled_training_on_cuda_runs_compiled_and_learns(compiled_steps):
    """fit(compile=True) on the GPU: the loss runs through the compiled graph
    (torch.compile with Triton kernels) and the VAE learns as the eager one does."""
    from gendsl import data

    x = data.digits(kind="binary")[:500]
    model = zoo.vae(x_dim=64, z_dim=4, hidden=(32,))
    kw = dict(backend="pyro", device="cuda", epochs=20, batch_size=100, lr=3e-3, progress=False)
    eager, fast = model.fit(x, **kw), model.fit(x, compile=True, **kw)
    assert compiled_steps[0] == 100  # every step: 500 rows are five full batches
    assert fast.history["epoch_loss"][-1] < fast.history["epoch_loss"][0] - 5
    # the compiled graph draws its own noise on the GPU, so compare where training ends, not step by step
    assert abs(fast.history["epoch_loss"][-1] - eager.history["epoch_loss"][-1]) < 1.0


def _jax_gpu() -> bool:
    import jax

    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _jax_gpu(), reason="JAX sees no GPU")
def test_numpyro_backend_trains_on_jax_default_gpu():
    """NumPyro runs on JAX's default device: on the device machine, its GPU."""
    import jax

    from gendsl import data

    x = data.digits(kind="binary")[:500]
    fit = zoo.vae(x_dim=64, z_dim=4, hidden=(32,)).fit(x, backend="numpyro", epochs=20, batch_size=100, lr=3e-3,
                                                       progress=False)
    assert jax.default_backend() == "gpu"
    losses = fit.history["epoch_loss"]
    assert losses[-1] < losses[0] - 5
