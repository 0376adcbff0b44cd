"""Automatic guides: a conjugate model whose posterior is known."""

import numpy as np
import pytest

import gendsl as gd
from gendsl import dist


@gd.model
def normal_mean(x_dim=1, prior_scale=10.0):
    """mu ~ N(0, prior_scale^2); x_i ~ N(mu, 1)."""
    mu = gd.sample("mu", dist.Normal(0.0, prior_scale))
    with gd.plate("data"):
        gd.observe("x", dist.Normal(mu, 1.0))


X = np.random.default_rng(0).normal(1.5, 1.0, size=200)
POST_VAR = 1.0 / (len(X) + 1 / 100.0)
POST_MEAN = POST_VAR * X.sum()


def test_normal_guide_recovers_the_conjugate_posterior(backend):
    fit = normal_mean().fit(X, objective="elbo", guide="normal", num_particles=16, backend=backend, epochs=500,
                            batch_size=len(X), lr=0.02, progress=False)
    sd = np.sqrt(POST_VAR)  # 0.07: the stochastic optimum wanders by a fraction of it
    assert abs(fit.params["mu_loc"] - POST_MEAN) < 0.25 * sd
    assert abs(fit.params["mu_scale"] - sd) < 0.15 * sd


def test_delta_guide_is_map(backend, tmp_path):
    fit = normal_mean().fit(X, objective="elbo", guide="delta", backend=backend, epochs=300,
                            batch_size=len(X), lr=0.05, progress=False)
    assert abs(fit.params["mu_loc"] - POST_MEAN) < 0.01  # the MAP equals the posterior mean here
    back = gd.load(fit.save(tmp_path / "map.npz"), model=normal_mean)
    assert back.model.auto_guide == "delta" and set(back.params) == {"mu_loc"}


def test_auto_guides_refuse_local_latents():
    import gendsl.models as zoo

    with pytest.raises(gd.ModelError, match="amortised guide"):
        zoo.factor_analysis().with_guide("normal")
    with pytest.raises(gd.UnknownNameError, match="'delta', 'normal'"):
        normal_mean().with_guide("laplace")


def test_auto_guide_graph_is_drawn():
    spec = normal_mean().with_guide("normal").graph_spec()
    assert [n["id"] for n in spec["guide"]["nodes"]] == ["guide:mu_loc", "guide:mu_scale", "guide:mu"]
    assert spec["links"][0]["source"] == "guide:mu" and spec["links"][0]["target"] == "mu"
