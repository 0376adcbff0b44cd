"""Properties of the variational objectives (issue 3, done-when 1 and 5)."""

import numpy as np
from scipy.stats import norm
import pytest
from scipy.stats import multivariate_normal

import gendsl as gd
import gendsl.models as zoo
from gendsl import data
from gendsl.inference import ELBO, Fitted


def _fa_data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    w, mu, psi = rng.normal(size=(5, 2)), rng.normal(size=5), np.full(5, 0.3)
    z = rng.normal(size=(n, 2))
    return z @ w.T + mu + rng.normal(size=(n, 5)) * np.sqrt(psi)


def _exact_fa(params, x):
    cov = params["W"] @ params["W"].T + np.diag(params["psi"])
    return multivariate_normal(params["mu"], cov).logpdf(x)


@pytest.fixture(scope="module")
def untrained_fa():
    """Random weights and an untrained guide: bounds far from log p(x), so their order is clear."""
    model = zoo.factor_analysis(x_dim=5, z_dim=2)
    params = model.init_params(0)
    params["W"] = np.random.default_rng(1).normal(size=(5, 2))
    params["psi"] = np.full(5, 1.0)
    return model, params, np.random.default_rng(2).normal(size=(100, 5))


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_iwae_bound_is_above_the_elbo_and_grows_with_k(untrained_fa, backend):
    model, params, x = untrained_fa
    fit = Fitted(model, backend, params, dtype="float64")
    exact = _exact_fa(params, x).mean()
    elbo = fit.elbo(x, num_particles=4000).mean()
    k1 = iwae_bound(fit, x, 1, repeats=8)  # k=1 is the ELBO, estimated with one sample a row
    assert abs(k1 - elbo) < 4.0  # log-weights have a spread of about 13 nats here
    bounds = [iwae_bound(fit, x, k) for k in (10, 100, 1000)]
    assert elbo < bounds[0] < bounds[1] < bounds[2] <= exact + 0.02
    assert exact - elbo > 50 * (exact - bounds[2]) > 0


def iwae_bound(fit, x, k, repeats=6):
    """The IWAE bound at k, averaged over rows and seeds."""
    return np.mean([fit.log_likelihood(x, k=k, seed=s, particle_batch=k).mean() for s in range(repeats)])


@pytest.fixture(scope="module", params=["pyro", "numpyro"])
def trained_fa(request):
    x = _fa_data()
    model = zoo.factor_analysis(x_dim=5, z_dim=2)
    fit = model.fit(x, objective="elbo", backend=request.param, epochs=150, batch_size=200, lr=1e-2,
                    progress=False, dtype="float64")
    return fit, x[:300]


def test_factor_analysis_importance_sampling_matches_closed_form(trained_fa):
    fit, x = trained_fa
    exact = _exact_fa(fit.params, x)
    estimate = fit.log_likelihood(x, k=5000, seed=0)
    assert np.abs(estimate.mean() - exact.mean()) < 0.05
    assert np.abs(estimate - exact).max() < 0.05
    assert fit.elbo(x, num_particles=500).mean() <= exact.mean() + 0.01


def test_analytic_and_monte_carlo_kl_agree(untrained_fa):
    model, params, x = untrained_fa
    for backend in ("pyro", "numpyro"):
        fit = Fitted(model, backend, params, dtype="float64")
        eng = fit.engine
        batch, missing = fit._prepare(x)
        p = eng.params_in(params)
        analytic = fit._np(eng.elbo_rows(ELBO(num_particles=4000), p, batch, missing, 0))
        monte_carlo = fit._np(eng.elbo_rows(ELBO(num_particles=4000, analytic_kl=False), p, batch, missing, 1))
        np.testing.assert_allclose(analytic.mean(), monte_carlo.mean(), rtol=0.01)


def test_beta_scales_the_kl_term():
    model = zoo.vae(x_dim=6, z_dim=2, hidden=(8,))
    x = (np.random.default_rng(0).random((30, 6)) < 0.5).astype(float)
    fit = Fitted(model, "numpyro", model.init_params(0), dtype="float64")
    eng = fit.engine
    batch, missing = fit._prepare(x)
    p = eng.params_in(fit.params)
    rows = {b: fit._np(eng.elbo_rows(ELBO(beta=b), p, batch, missing, 7)) for b in (1.0, 2.0, 3.0)}
    kl = rows[1.0] - rows[2.0]  # same seed: same reconstruction term, closed-form KL
    assert np.all(kl >= 0)
    np.testing.assert_allclose(rows[2.0] - rows[3.0], kl, rtol=1e-6)


def test_objective_choice_does_not_change_the_graph():
    model = zoo.vae(x_dim=64, z_dim=4, hidden=(32,))
    before = model.graph_spec()
    x = data.digits(kind="binary")[:200]
    model.fit(x, objective="iwae", k=3, epochs=1, progress=False)
    model.fit(x, objective="elbo", epochs=1, progress=False)
    assert model.graph_spec() == before
    assert [n["id"] for n in before["guide"]["nodes"]] == ["guide:x", "guide:encoder", "guide:z"]
    assert before["links"] == [{"source": "guide:z", "target": "z", "kind": "approximates",
                                "style": before["links"][0]["style"]}]
    svg = model.render(None).pipe(format="svg").decode()
    assert "encoder" in svg and "decoder" in svg


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_vae_on_digits_learns_and_answers_queries(backend):
    x = data.digits(kind="binary")
    train, test = x[:1500], x[1500:]
    model = zoo.vae(x_dim=64, z_dim=8, hidden=(128,))
    fit = model.fit(train, objective="elbo", backend=backend, epochs=30, batch_size=100, lr=3e-3, progress=False)
    elbo = fit.elbo(test).mean()
    assert elbo > -30  # a pixel-independent Bernoulli scores about -38 nats here
    assert fit.log_likelihood(test[:50], k=200).mean() > fit.elbo(test[:50], num_particles=20).mean()
    z = fit.encode(test[:10])
    assert z.shape == (10, 8)
    recon = fit.reconstruct(test[:10])
    assert recon.shape == (10, 64) and np.all((recon >= 0) & (recon <= 1))
    assert np.mean(np.abs(recon - test[:10])) < np.mean(np.abs(train.mean(0) - test[:10]))
    strip = fit.interpolate(test[0], test[1], steps=6)
    assert strip.shape == (6, 64)
    samples = fit.sample(16)
    assert samples["x"].shape == (16, 64) and samples["z"].shape == (16, 8)


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_gmvae_and_categorical_vae_train(backend):
    x = data.digits(kind="binary")
    g = zoo.gmvae(x_dim=64, z_dim=4, k=5, hidden=(64,)).fit(x, backend=backend, epochs=8, batch_size=100,
                                                             lr=3e-3, progress=False)
    assert g.history["epoch_loss"][-1] < g.history["epoch_loss"][0] - 5
    levels = data.digits(kind="levels")
    c = zoo.vae(x_dim=64, z_dim=4, hidden=(64,), likelihood="categorical").fit(
        levels, backend=backend, epochs=5, batch_size=100, lr=3e-3, progress=False)
    assert c.history["epoch_loss"][-1] < c.history["epoch_loss"][0] - 20
    recon = c.reconstruct(levels[:5])
    assert recon.shape == (5, 64) and recon.min() >= 0 and recon.max() <= 16


def test_variational_objectives_need_a_guide_and_sum_over_discrete_guide_sites():
    with pytest.raises(gd.ObjectiveError, match="needs a guide"):
        zoo.gmm().fit(np.zeros((4, 2)), objective="elbo", epochs=1, progress=False)

    @gd.model
    def discrete_guided(x_dim=1):
        with gd.plate("data"):
            y = gd.sample("y", gd.dist.Bernoulli(probs=0.5))
            gd.observe("x", gd.dist.Normal(y, 1.0))

    @discrete_guided.guide
    def q(x, x_dim=1):
        with gd.plate("data"):
            gd.sample("y", gd.dist.Bernoulli(probs=0.5))

    x = np.array([-0.5, 0.3, 2.0])
    exact = np.logaddexp(np.log(0.5) + norm.logpdf(x, 0.0), np.log(0.5) + norm.logpdf(x, 1.0))
    fitted = Fitted(discrete_guided(), "pyro", {}, dtype="float64")
    np.testing.assert_allclose(fitted.log_likelihood(x, k=2), exact, rtol=1e-12)  # both values, weighted exactly
    # q(y) = p(y) = 1/2: the bound is E_q[log p(x | y)], summed over y exactly
    np.testing.assert_allclose(fitted.elbo(x), 0.5 * (norm.logpdf(x, 0.0) + norm.logpdf(x, 1.0)), rtol=1e-12)
    with pytest.raises(gd.ObjectiveError, match="dreg=True.*discrete"):
        discrete_guided().fit(np.zeros(4), objective="iwae", dreg=True, epochs=1, progress=False)


def test_log_prob_on_a_latent_model_points_to_log_likelihood():
    model = zoo.vae(x_dim=4, z_dim=2, hidden=4)
    with pytest.raises(gd.ObjectiveError, match="log_likelihood"):
        Fitted(model, "pyro", model.init_params()).log_prob(np.zeros((3, 4)))


def test_seeded_queries_leave_the_global_torch_generator_alone(untrained_fa):
    """elbo, log_likelihood and sample take a seed; on the Pyro backend they must
    not reseed PyTorch's global generator, which a training run (or the user) draws from."""
    import torch

    model, params, x = untrained_fa
    fit = Fitted(model, "pyro", params, dtype="float64")
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    first = fit.log_likelihood(x[:10], k=20, seed=0)
    fit.elbo(x[:10], seed=1)
    fit.sample(3, seed=2)
    np.testing.assert_array_equal(torch.rand(5).numpy(), expected.numpy())
    np.testing.assert_array_equal(fit.log_likelihood(x[:10], k=20, seed=0), first)  # and stay seeded


_JITTED: dict = {}


def _iwae_loss_and_grads(backend, model, params, x, objective, seed):
    """One minibatch loss of ``objective`` and its gradient in every parameter (float64)."""
    from gendsl.backends import get_backend
    from gendsl.backends.program import Lowered

    b = get_backend(backend)
    lowered = Lowered(model, b, b.float_dtype("float64"))
    if backend == "pyro":
        import torch

        p = {k: torch.as_tensor(v, dtype=torch.float64).requires_grad_(True) for k, v in params.items()}
        torch.manual_seed(seed)
        loss = objective.loss(lowered, p, {"x": torch.as_tensor(x)}, {}, len(x), b.rng(None))
        loss.backward()
        return float(loss.detach()), {k: v.grad.numpy() for k, v in p.items()}
    import jax

    key = (id(model), type(objective), tuple(sorted(objective.options().items())), x.shape)
    if key not in _JITTED:  # compiled once per objective: the seed is an argument
        xj = jax.numpy.asarray(x)
        _JITTED[key] = jax.jit(jax.value_and_grad(lambda p, rng: objective.loss(
            lowered, p, {"x": xj}, {}, len(x), b.rng(rng))))
    loss, grads = _JITTED[key]({k: jax.numpy.asarray(v) for k, v in params.items()},  # x64: conftest
                               jax.random.PRNGKey(seed))
    return float(loss), {k: np.asarray(v) for k, v in grads.items()}


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
@pytest.mark.parametrize("k", [1, 10])
def test_dreg_keeps_the_bound_and_the_model_gradient(untrained_fa, backend, k):
    """DReG changes only the guide's gradient: same particles, same loss value,
    the same gradient for the model's parameters, another for the encoder's."""
    from gendsl.inference import IWAE

    model, params, x = untrained_fa
    loss, grads = _iwae_loss_and_grads(backend, model, params, x[:50], IWAE(k), seed=3)
    loss_d, grads_d = _iwae_loss_and_grads(backend, model, params, x[:50], IWAE(k, dreg=True), seed=3)
    assert loss_d == pytest.approx(loss, rel=1e-12)
    for name in ("W", "mu", "psi"):
        np.testing.assert_allclose(grads_d[name], grads[name], rtol=1e-9, atol=1e-12)
    assert not np.allclose(grads_d["encoder.0.weight"], grads["encoder.0.weight"])


def test_dreg_guide_gradient_is_unbiased_with_a_signal_that_grows_with_k(trained_fa):
    """Tucker et al.'s point, on a trained factor-analysis guide: the encoder's IWAE
    gradient drowns in its noise as k grows (signal-to-noise ratio near 0); DReG
    estimates the same expectation with a ratio far above it, and rising with k."""
    from gendsl.inference import IWAE

    fit, x = trained_fa
    snr = {}
    for k in (10, 100):
        draws = {dreg: np.array([_iwae_loss_and_grads(fit.backend, fit.model, fit.params, x[:50], IWAE(k, dreg=dreg),
                                                       seed=s)[1]["encoder.0.bias"] for s in range(100)])
                 for dreg in (False, True)}
        iwae, dreg = draws[False], draws[True]
        standard_error = np.hypot(iwae.std(0), dreg.std(0)) / np.sqrt(len(iwae))
        assert np.all(np.abs(iwae.mean(0) - dreg.mean(0)) < 4 * standard_error)  # one expectation
        snr[k] = (np.abs(iwae.mean(0)) / iwae.std(0), np.abs(dreg.mean(0)) / dreg.std(0))
        assert np.all(snr[k][1] > 10 * snr[k][0])
    assert np.median(snr[100][1]) > np.median(snr[10][1])


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_iwae_with_dreg_trains(backend):
    x = _fa_data(n=1000)
    model = zoo.factor_analysis(x_dim=5, z_dim=2)
    fit = model.fit(x, objective="iwae", k=10, dreg=True, backend=backend, epochs=40, batch_size=100, lr=1e-2,
                    progress=False, dtype="float64")
    history = fit.history["epoch_loss"]
    assert history[-1] < history[0] - 1.0
    assert abs(fit.log_likelihood(x[:200], k=2000).mean() - _exact_fa(fit.params, x[:200]).mean()) < 0.05


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_dreg_with_an_enumerated_latent(backend):
    """GMVAE: the component is summed out in both passes; bound and decoder gradient unchanged."""
    from gendsl.inference import IWAE

    model = zoo.gmvae(x_dim=6, z_dim=2, k=3, hidden=(8,))
    params = model.init_params(0)
    x = (np.random.default_rng(0).random((20, 6)) < 0.4).astype(float)
    loss, grads = _iwae_loss_and_grads(backend, model, params, x, IWAE(4), seed=3)
    loss_d, grads_d = _iwae_loss_and_grads(backend, model, params, x, IWAE(4, dreg=True), seed=3)
    assert loss_d == pytest.approx(loss, rel=1e-12)
    for name in grads:
        if not name.startswith("encoder"):
            np.testing.assert_allclose(grads_d[name], grads[name], rtol=1e-9, atol=1e-12)
