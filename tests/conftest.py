"""Shared test settings: explicit seeds, float64 available in JAX, small data."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # one core per worker: XLA's thread pool would contend
    os.environ["XLA_FLAGS"] += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# float64 must be switchable per test (conformance checks run in float64);
# JAX fixes this flag at start-up, so turn it on once for the whole run.
jax.config.update("jax_enable_x64", True)
torch.set_num_threads(1)

BACKENDS = ["pyro", "numpyro"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)
