"""The Pyro backend computes with subnormal floats flushed to zero (as XLA
does on the CPU) while it trains and answers queries, and leaves the caller's
setting as it found it."""

import numpy as np
import pytest
import torch

import gendsl.models as zoo
from gendsl.inference.engines import _flushing, flush_subnormals

SUBNORMAL = 1e-40  # below float32's smallest normal, 1.18e-38
needs_ftz = pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU has no flush-to-zero mode")


def _product():
    return float(torch.tensor([SUBNORMAL], dtype=torch.float32).mul(1.0))


@pytest.fixture
def flushing_off():
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(False)


@needs_ftz
def test_flush_subnormals_restores_the_callers_setting(flushing_off):
    assert _product() == pytest.approx(SUBNORMAL, rel=1e-3)  # subnormals kept by default
    with flush_subnormals():
        assert _flushing(torch) and _product() == 0.0
    assert not _flushing(torch)
    torch.set_flush_denormal(True)
    with flush_subnormals():
        assert _flushing(torch)
    assert _flushing(torch)  # a caller who had it on keeps it on


@needs_ftz
def test_pyro_fit_and_queries_flush_subnormals_then_restore(flushing_off):
    seen = []
    model = zoo.vae(x_dim=6, z_dim=2, hidden=(8,))
    x = (np.random.default_rng(0).random((40, 6)) < 0.5).astype(float)
    fit = model.fit(x, objective="elbo", backend="pyro", epochs=2, batch_size=20, progress=False,
                    callback=lambda epoch, params, history: seen.append(_flushing(torch)))
    assert seen == [True, True]
    assert not _flushing(torch)
    with fit.engine._no_grad():  # the context every query of the fit runs in
        assert _flushing(torch)
    rows = fit.log_likelihood(x, k=8)
    assert not _flushing(torch) and rows.shape == (40,) and np.all(np.isfinite(rows))


def test_numpyro_engine_leaves_pytorch_alone(flushing_off):
    seen = []
    fit = zoo.vae(x_dim=6, z_dim=2, hidden=(8,)).fit(
        np.ones((20, 6)), objective="elbo", backend="numpyro", epochs=1, batch_size=20, progress=False,
        callback=lambda epoch, params, history: seen.append(_flushing(torch)))
    assert seen == [False]
    with fit.engine._no_grad():
        assert not _flushing(torch)
