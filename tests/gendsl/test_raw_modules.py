"""Raw framework modules as networks: nn.Module wraps a torch.nn.Module (Pyro
backend) or a Flax module (NumPyro backend); its weights are gendsl parameters."""

import flax.linen as fnn
import numpy as np
import pytest
import torch

import gendsl as gd
from gendsl import data, dist, nn
from gendsl.errors import ModelError, ShapeError
from gendsl.inference import Fitted


def _regression(net_of):
    """x ~ N(net(z), 1) with z given: the log-likelihood is a function of the net alone."""

    @gd.model
    def regression(x_dim=3):
        net = net_of()
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
            gd.observe("x", dist.Normal(net(z), 1.0).to_event(1))

    return regression()


def _rows(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return {"z": rng.normal(size=(n, 2)), "x": rng.normal(size=(n, 3))}


class _Flax(fnn.Module):
    @fnn.compact
    def __call__(self, x):
        hidden = fnn.tanh(fnn.Dense(8)(x))  # Dense_0
        return fnn.Dense(3)(hidden)  # Dense_1


def test_torch_module_scores_like_the_same_mlp():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    raw = _regression(lambda: nn.Module("net", module, in_dim=2))
    mlp = _regression(lambda: nn.MLP("net", (2, 8, 3), activation="tanh"))
    params = raw.init_params()
    assert sorted(params) == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight"]
    np.testing.assert_array_equal(params["net.0.weight"], module[0].weight.detach().double().numpy())
    as_mlp = {k.replace("net.2.", "net.1."): v for k, v in params.items()}
    got = Fitted(raw, "pyro", params, dtype="float64").log_prob(_rows())
    want = Fitted(mlp, "pyro", as_mlp, dtype="float64").log_prob(_rows())
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_flax_module_scores_like_the_same_mlp():
    raw = _regression(lambda: nn.Module("net", _Flax(), in_dim=2))
    mlp = _regression(lambda: nn.MLP("net", (2, 8, 3), activation="tanh"))
    params = raw.init_params(seed=3)
    assert sorted(params) == ["net.Dense_0.bias", "net.Dense_0.kernel", "net.Dense_1.bias", "net.Dense_1.kernel"]
    as_mlp = {"net.0.weight": params["net.Dense_0.kernel"].T, "net.0.bias": params["net.Dense_0.bias"],
              "net.1.weight": params["net.Dense_1.kernel"].T, "net.1.bias": params["net.Dense_1.bias"]}
    got = Fitted(raw, "numpyro", params, dtype="float64").log_prob(_rows())
    want = Fitted(mlp, "numpyro", as_mlp, dtype="float64").log_prob(_rows())
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_raw_module_trains_and_saves(backend, tmp_path):
    if backend == "pyro":
        model = _regression(lambda: nn.Module("net", torch.nn.Sequential(torch.nn.Linear(2, 3)), in_dim=2))
    else:
        model = _regression(lambda: nn.Module("net", fnn.Dense(3), in_dim=2))
    rows = _rows(200)
    rows["x"] = rows["z"] @ np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]]) + 0.1
    fit = model.fit(rows, backend=backend, epochs=60, lr=0.05, batch_size=50, progress=False)
    assert fit.history["epoch_loss"][-1] < fit.history["epoch_loss"][0] - 3.0  # the floor is 2.76 (unit noise)
    back = gd.load(fit.save(tmp_path / "fit.npz"), model=model.factory)
    np.testing.assert_allclose(back.log_prob(rows), fit.log_prob(rows), rtol=1e-6)


def test_gan_with_a_raw_torch_critic():
    @gd.model
    def gan_raw(x_dim=2):
        g = nn.MLP("generator", (2, 16, x_dim))
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
            gd.observe("x", dist.Delta(g(z), event_dim=1))

    critic_module = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.LeakyReLU(0.2), torch.nn.Linear(16, 1))

    @gan_raw.discriminator
    def critic(x, x_dim=2):
        return nn.Module("critic", critic_module, in_dim=x_dim)(x)

    model = gan_raw()
    start = model.init_params()
    fit = model.fit(data.load("eight_gaussians", n=256), objective="adversarial", loss="hinge", epochs=2,
                    batch_size=64, progress=False)
    assert not np.allclose(fit.params["critic.0.weight"], start["critic.0.weight"])
    assert "Sequential (torch) 2-1" in model.to_dot()
    with pytest.raises(ModelError, match="'critic' is a torch.nn.Module: it runs on the pyro backend only"):
        model.fit(data.load("eight_gaussians", n=64), objective="adversarial", backend="numpyro", epochs=1,
                  progress=False)


def test_raw_module_errors_name_the_network():
    with pytest.raises(ModelError, match="'net'.*torch.nn.Module or a flax.linen.Module.*nn.MLP"):
        nn.Module("net", object(), in_dim=2)
    with pytest.raises(ModelError, match="buffers"):
        nn.Module("net", torch.nn.BatchNorm1d(2), in_dim=2)
    with pytest.raises(ShapeError, match=r"\(1, 5\) input failed.*in_dim"):
        nn.Module("net", torch.nn.Linear(2, 3), in_dim=5)
    with pytest.raises(ShapeError, match="expects inputs with last axis 4"):
        _regression(lambda: nn.Module("net", torch.nn.Linear(4, 3), in_dim=4))
