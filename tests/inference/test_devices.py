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
