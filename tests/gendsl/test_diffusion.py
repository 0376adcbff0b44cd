"""Diffusion chains: the closed forms against the one-step kernels they
summarise, the posterior against Bayes' rule, the variational bound against
a direct Monte Carlo estimate, the samplers, and the errors and refusals a
user meets first. Closed-form checks run on both backends in float64."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import gendsl as gd
import gendsl.models as zoo
from gendsl import data, dist, nn
from gendsl.backends import get_backend
from gendsl.families.diffusion import Chain, Schedule, betas_for, check_options, forward_for, schedule_arrays

BACKENDS = ["pyro", "numpyro"]


def _like(backend):
    return (torch.float64, None) if backend == "pyro" else jnp.float64


def _np(x):
    return x.detach().numpy() if torch.is_tensor(x) else np.asarray(x)


def _arr(backend, x, dtype=None):
    if backend == "pyro":
        return torch.as_tensor(np.asarray(x, dtype=dtype or np.float64))
    return jnp.asarray(np.asarray(x, dtype=dtype or np.float64))


def _net(backend):
    """A fixed, step-dependent noise predictor (any function of (x_t, t) will do)."""
    if backend == "pyro":
        return lambda x, t: torch.tanh(0.7 * x + 0.05 * t.unsqueeze(-1).to(x.dtype)) - 0.2
    return lambda x, t: jnp.tanh(0.7 * x + 0.05 * t[..., None].astype(x.dtype)) - 0.2


def _chain(backend, steps=4, kind="linear", levels=None, variance="beta", beta_end=0.2):
    betas = betas_for(kind, steps, 1e-2, beta_end)
    return Chain(get_backend(backend), _net(backend), Schedule(kind, tuple(betas.tolist())), levels, variance,
                 _like(backend))


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_closed_form_marginal_equals_composed_one_step_kernels(kind):
    # q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t): composing gives mean m_t x_0, variance v_t
    betas = betas_for(kind, 50)
    arrays, m, v = schedule_arrays(betas), 1.0, 0.0
    for t, beta in enumerate(betas):
        m, v = np.sqrt(1 - beta) * m, (1 - beta) * v + beta
        assert arrays["sqrt_abar"][t] == pytest.approx(m, rel=1e-12)
        assert arrays["sqrt_1m_abar"][t] ** 2 == pytest.approx(v, rel=1e-12)
    for backend in BACKENDS:  # the chain's q_sample uses exactly these coefficients
        chain = _chain(backend, steps=50, kind=kind, beta_end=0.02)
        t = _arr(backend, np.arange(50), np.int64)
        x0 = _arr(backend, np.full((50, 1), 1.0))
        mean = _np(chain.q_sample(x0, t, x0 * 0.0))[:, 0]
        std = _np(chain.q_sample(x0 * 0.0, t, x0))[:, 0]
        composed_m, composed_v = [], []
        m, v = 1.0, 0.0
        for beta in betas_for(kind, 50, 1e-2, 0.02):
            m, v = np.sqrt(1 - beta) * m, (1 - beta) * v + beta
            composed_m.append(m)
            composed_v.append(v)
        np.testing.assert_allclose(mean, composed_m, rtol=1e-12)
        np.testing.assert_allclose(std ** 2, composed_v, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_posterior_is_bayes_rule_on_a_1d_gaussian(backend):
    chain = _chain(backend, steps=6)
    a = schedule_arrays(chain.betas)
    rng = np.random.default_rng(0)
    x0, xt = rng.normal(size=6), rng.normal(size=6)
    t = np.arange(6)
    mean, var = chain.posterior(_arr(backend, x0[:, None]), _arr(backend, xt[:, None]), _arr(backend, t, np.int64))
    mean, var = _np(mean)[:, 0], _np(var)[:, 0]
    # prior q(x_{t-1} | x_0) = N(sqrt(abar_{t-1}) x_0, 1 - abar_{t-1}); likelihood q(x_t | x_{t-1})
    for i in t[1:]:  # t = 1 (index 0) has x_{t-1} = x_0 exactly: variance 0, mean x_0
        grid = np.linspace(-12, 12, 200_001)
        log_prior = -0.5 * (grid - np.sqrt(a["abar_prev"][i]) * x0[i]) ** 2 / (1 - a["abar_prev"][i])
        log_lik = -0.5 * (xt[i] - np.sqrt(a["alphas"][i]) * grid) ** 2 / a["betas"][i]
        w = np.exp(log_prior + log_lik - np.max(log_prior + log_lik))
        w /= w.sum()
        grid_mean = np.sum(w * grid)
        grid_var = np.sum(w * (grid - grid_mean) ** 2)
        assert mean[i] == pytest.approx(grid_mean, abs=1e-8)
        assert var[i] == pytest.approx(grid_var, rel=1e-6)
    assert mean[0] == pytest.approx(x0[0], abs=1e-12) and var[0] == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_mean_from_noise_equals_posterior_at_the_estimated_x0(backend):
    # Ho et al. eq. 11: mu(x_t, eps) = posterior mean at x0_hat(x_t, eps)
    chain = _chain(backend, steps=7)
    rng = np.random.default_rng(1)
    xt, eps = _arr(backend, rng.normal(size=(7, 3))), _arr(backend, rng.normal(size=(7, 3)))
    t = _arr(backend, np.arange(7), np.int64)
    via_x0 = chain.posterior(chain.x0_from_eps(xt, t, eps), xt, t)[0]
    np.testing.assert_allclose(_np(via_x0), _np(chain.p_mean(xt, t, eps)), rtol=1e-10, atol=1e-12)


def _log_normal(x, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_bound_terms_match_a_direct_monte_carlo_estimate(variance):
    """Sample the forward chain x_1..x_T and average log q(x_t-1 | x_t, x_0) - log p(x_t-1 | x_t)
    term by term; the chain's analytic KLs and decoder term must agree within Monte Carlo error."""
    backend, steps, n = "pyro", 4, 200_000
    chain = _chain(backend, steps=steps, variance=variance)
    a, net = schedule_arrays(chain.betas), _net("numpyro")
    sigma2 = a["betas"] if variance == "beta" else a["post_var_clipped"]
    rng = np.random.default_rng(2)
    x0 = np.full((n, 1), 0.6)
    xs = [x0]
    for t in range(steps):  # the forward process, one kernel at a time
        xs.append(np.sqrt(a["alphas"][t]) * xs[-1] + np.sqrt(a["betas"][t]) * rng.normal(size=(n, 1)))
    mc = []
    for i in range(steps):  # index i is step t = i + 1: x_{t-1} = xs[i] given x_t = xs[i + 1]
        eps_hat = np.asarray(net(jnp.asarray(xs[i + 1]), jnp.full((n,), i)))
        mean_p = (xs[i + 1] - a["eps_coef"][i] * eps_hat) / np.sqrt(a["alphas"][i])
        log_p = _log_normal(xs[i], mean_p, sigma2[i])[:, 0]
        if i == 0:
            mc.append(-log_p)
        else:
            mean_q = a["post_c0"][i] * x0 + a["post_ct"][i] * xs[i + 1]
            mc.append(_log_normal(xs[i], mean_q, a["post_var"][i])[:, 0] - log_p)
    prior_mc = _log_normal(xs[-1], np.sqrt(a["abar"][-1]) * x0, 1 - a["abar"][-1])[:, 0] - _log_normal(
        xs[-1], 0.0, 1.0)[:, 0]
    # the chain's terms, averaged over its own noise
    noise = torch.as_tensor(np.random.default_rng(3).normal(size=(steps, n, 1)))
    prior, terms = chain.bound_terms(torch.as_tensor(x0), lambda shape, i: noise[i])
    terms = _np(terms)
    assert _np(prior)[0] == pytest.approx(prior_mc.mean(), abs=5 * prior_mc.std() / np.sqrt(n) + 1e-9)
    for i in range(steps):
        se = np.hypot(mc[i].std(), terms[i].std()) / np.sqrt(n)
        assert terms[i].mean() == pytest.approx(mc[i].mean(), abs=5 * se), f"term L_{i}"
    total_mc = prior_mc + sum(mc)
    assert _np(prior)[0] + terms.sum(0).mean() == pytest.approx(total_mc.mean(), abs=5 * total_mc.std() / np.sqrt(n))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bound_loop_is_prior_plus_every_term(backend):
    chain = _chain(backend, steps=5, levels=9)
    rng = np.random.default_rng(4)
    x = _arr(backend, rng.integers(0, 9, (8, 3)), np.int64)
    noise = _arr(backend, rng.normal(size=(5, 8, 3)))
    normal = (lambda shape, i: noise[i])
    prior, terms = chain.bound_terms(x, normal)
    np.testing.assert_allclose(_np(chain.bound(x, normal)), _np(prior) + _np(terms).sum(0), rtol=1e-10)
    # the discretised decoder is a distribution over the levels: bins sum to one
    levels = _arr(backend, (np.arange(9) * 2.0 / 8 - 1.0)[:, None])
    mean, var = _arr(backend, [[0.13]]), _arr(backend, [[0.04]])
    assert np.exp(_np(chain.decoder_log_prob(levels, mean, var))).sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ddim_with_every_step_and_eta_one_is_ancestral_with_posterior_variance(backend):
    # Song et al.: DDIM's eta = 1 is DDPM's sampler with sigma_t^2 = beta~_t
    chain = _chain(backend, steps=6, variance="posterior")
    noise = _arr(backend, np.random.default_rng(5).normal(size=(7, 10, 2)))
    normal = (lambda shape, j: noise[6] if j is None else noise[j])
    ancestral = _np(chain.ancestral((10, 2), normal))
    ddim = _np(chain.ddim((10, 2), normal, steps=6, eta=1.0))
    np.testing.assert_allclose(ddim, ancestral, rtol=1e-9, atol=1e-10)
    assert not np.allclose(_np(chain.ddim((10, 2), normal, steps=6, eta=0.0)), ancestral)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clip_box_bounds_both_samplers_and_a_box_nothing_reaches_changes_nothing(backend):
    chain = _chain(backend, steps=6, beta_end=0.5)
    noise = _arr(backend, np.random.default_rng(6).normal(size=(7, 200, 2)) * 3.0)
    normal = (lambda shape, j: noise[6] if j is None else noise[j])
    for sample in (lambda **kw: chain.ancestral((200, 2), normal, **kw),
                   lambda **kw: chain.ddim((200, 2), normal, steps=4, eta=0.0, **kw)):
        free = _np(sample())
        assert np.abs(free).max() > 1.5  # the unclipped draws leave the box below
        # through the clipped x_0 and the posterior: the same arithmetic as the noise form, when nothing clips
        np.testing.assert_allclose(_np(sample(clip=(-1e9, 1e9))), free, rtol=1e-9, atol=1e-9)
        boxed = _np(sample(clip=(-1.5, 1.5)))
        assert boxed.min() >= -1.5 and boxed.max() <= 1.5  # the last step is noiseless: the clipped estimate
        per = _np(sample(clip=((-2.0, -0.25), (2.0, 0.25))))  # one interval per coordinate
        assert np.abs(per[:, 1]).max() <= 0.25 and np.abs(per[:, 0]).max() > 0.25


def test_schedules():
    linear = betas_for("linear", 1000)
    assert linear[0] == pytest.approx(1e-4) and linear[-1] == pytest.approx(0.02)
    cosine = schedule_arrays(betas_for("cosine", 1000))["abar"]
    assert np.all(np.diff(cosine) < 0) and cosine[-1] < 1e-4 and cosine[0] > 0.999
    given = zoo.ddpm(x_dim=2, hidden=(4,), steps=3, schedule=[0.1, 0.2, 0.3], time_dim=4)
    assert given.ir["x"].dist.args["schedule"].betas == (0.1, 0.2, 0.3)


def test_graph_draws_one_collapsed_chain():
    model = zoo.ddpm(x_dim=2, hidden=(4,), steps=6, time_dim=4, schedule="cosine")
    node = model.graph.nodes["x"]
    assert node["kind"] == "chain" and node["dist"] == "Diffusion"
    assert "x_T -> ... -> x_0, T = 6" in node["label"] and "cosine schedule, beta 0.0721 to 0.999" in node["label"]
    assert "eps" in model.graph  # the noise network is a parameter node feeding the chain
    assert list(model.graph.successors("eps")) == ["x"]


@pytest.mark.parametrize("make, message", [
    (lambda: dist.Diffusion(nn.MLP("f", (2, 4, 2))), "noise network"),
    (lambda: dist.Diffusion(nn.TimeMLP("f", 2), variance="sigma"), "unknown variance"),
    (lambda: dist.Diffusion(nn.TimeMLP("f", 2), levels=1), "levels must be"),
    (lambda: dist.Diffusion(nn.TimeMLP("f", 2), schedule="quadratic"), "unknown schedule"),
    (lambda: dist.Diffusion(nn.TimeMLP("f", 2), schedule=[0.1, 1.5]), "every beta"),
    (lambda: dist.Diffusion(nn.TimeMLP("f", 2), steps=0), "steps must be"),
    (lambda: zoo.ddpm(x_dim=10, image_shape=(4, 4)), "holds 16 pixels"),
])
def test_bad_chains_name_the_problem(make, message):
    with pytest.raises(gd.ModelError, match=message):
        make()


@pytest.fixture(scope="module")
def moons():
    return data.load("moons", n=512, seed=0)


@pytest.fixture(scope="module")
def fitted(moons):
    return zoo.ddpm(x_dim=2, hidden=(16, 16), steps=20, time_dim=8).fit(moons, epochs=2, progress=False)


@pytest.mark.parametrize("objective, message", [("mle", "denoising"), ("iwae", "diffusion")])
def test_likelihood_objectives_refuse_a_chain(moons, objective, message):
    with pytest.raises(gd.ObjectiveError, match=message):
        zoo.ddpm(x_dim=2, hidden=(4,), steps=3, time_dim=4).fit(moons, objective=objective, epochs=1)


def test_sampling_options(fitted):
    assert fitted.sample(7)["x"].shape == (7, 2)
    ddim = fitted.sample(7, sampler="ddim", steps=5)["x"]
    assert ddim.shape == (7, 2) and np.all(np.isfinite(ddim))
    np.testing.assert_array_equal(fitted.sample(7, seed=3)["x"], fitted.sample(7, seed=3)["x"])
    for options, message in [(dict(sampler="euler"), "sampler must be"), (dict(steps=5), "apply to sampler='ddim'"),
                             (dict(sampler="ddim", steps=21), "1..20"), (dict(temperature=2), "unknown sampling"),
                             (dict(sampler="ddim", eta=-1), "eta must be"), (dict(clip=(1.0, -1.0)), "low < high"),
                             (dict(clip=3.0), r"pair \(low, high\)"), (dict(clip=("a", "b")), "of numbers"),
                             (dict(clip=((0, 0, 0), 1)), "2 numbers")]:
        with pytest.raises(gd.ModelError, match=message):
            fitted.sample(3, **options)
    with pytest.raises(gd.ModelError, match="levels=17.*already clip"):  # image chains clip to [-1, 1]
        check_options(dict(clip=(0.0, 1.0)), 20, levels=17, x_dim=4)
    for chain in (fitted, fitted.to("numpyro")):  # the option reaches the chain, under jit too
        for sampler in ("ancestral", "ddim"):
            x = chain.sample(50, sampler=sampler, clip=([-0.5, -0.1], [0.5, 0.1]))["x"]
            assert np.all(np.abs(x) <= [0.5 + 1e-6, 0.1 + 1e-6])
            assert np.abs(chain.sample(50, sampler=sampler)["x"][:, 0]).max() > 0.5
    with pytest.raises(gd.ObjectiveError, match="diffusion chain.*elbo"):
        fitted.log_prob(np.zeros((2, 2)))


def test_a_diverged_sample_is_said_not_passed_on_silently(fitted):
    blown = type(fitted)(fitted.model, fitted.backend, {k: v * 1e6 for k, v in fitted.params.items()})
    with pytest.warns(RuntimeWarning, match=r"of 5 rows of 'x' are not finite.*isfinite"):
        x = blown.sample(5)["x"]
    assert not np.all(np.isfinite(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy chain says nothing
        assert np.all(np.isfinite(fitted.sample(5)["x"]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("objective", ["denoising", "elbo"])
def test_training_lowers_the_loss_and_the_bound(moons, backend, objective):
    # the plain network and batches of 128: this checks training itself, not the zoo's defaults
    model = zoo.ddpm(x_dim=2, hidden=(32, 32), steps=50, time_dim=8, fourier=0)
    settings = dict(backend=backend, objective=objective, lr=3e-3, batch_size=128, progress=False)
    first = model.fit(moons, epochs=1, **settings)
    fit = model.fit(moons, epochs=12, **settings)
    losses = fit.history["epoch_loss"]
    assert np.all(np.isfinite(losses)) and np.mean(losses[-3:]) < 0.8 * losses[0]
    # the bound on held-out points improves with training (it is deterministic in eval mode)
    held_out = data.load("moons", n=256, seed=1)
    assert fit.elbo(held_out).mean() > first.elbo(held_out).mean()
    np.testing.assert_array_equal(fit.elbo(held_out[:5]), fit.elbo(held_out[:5]))
    assert fit.bits_per_dim(held_out) == pytest.approx(-fit.elbo(held_out).mean() / (2 * np.log(2)), rel=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fourier_time_mlp_is_the_encoding_then_the_mlp(backend):
    # the first layer sees (x, sin(2^k pi x), cos(2^k pi x)): check one forward pass by hand in NumPy
    spec = nn.TimeMLP("eps", 2, hidden=(5, 3), time_dim=4, fourier=3)
    assert spec.param_shapes()["0.weight"] == (5, 2 * (1 + 2 * 3)) and spec.in_width == 14
    params = {k[len("eps."):]: np.asarray(v, np.float64) for k, v in spec.init(seed=1).items()}
    x, t = np.array([[0.3, -1.2], [0.05, 2.0]]), np.array([0, 7])
    args = (x[..., None] * np.pi * 2.0 ** np.arange(3)).reshape(2, -1)
    h = np.concatenate([x, np.sin(args), np.cos(args)], axis=-1)
    freqs = np.exp(-np.log(10000.0) * np.arange(2) / 2)
    emb = np.concatenate([np.sin(t[:, None] * freqs), np.cos(t[:, None] * freqs)], axis=-1)

    def silu(v):
        return v / (1.0 + np.exp(-v))

    emb = silu(emb @ params["time.weight"].T + params["time.bias"])
    for i in range(2):
        h = silu(h @ params[f"{i}.weight"].T + params[f"{i}.bias"] + emb @ params[f"{i}.time.weight"].T)
    expected = h @ params["out.weight"].T + params["out.bias"]
    be = get_backend(backend)
    forward = forward_for(spec)(be, spec, {k: _arr(backend, v) for k, v in params.items()}, "")
    got = _np(forward(_arr(backend, x), _arr(backend, t, np.int64)))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # no encoding: the first layer sees x alone
    assert nn.TimeMLP("eps", 2, hidden=(5,)).param_shapes()["0.weight"] == (5, 2)
    assert spec.label() == "TimeMLP 2-5-3-2, fourier 3"


@pytest.mark.parametrize("fourier", [-1, 17, 2.5, True, "4"])
def test_fourier_must_be_a_small_count(fourier):
    with pytest.raises(gd.ModelError, match="fourier is the number of input frequencies"):
        nn.TimeMLP("eps", 2, fourier=fourier)
