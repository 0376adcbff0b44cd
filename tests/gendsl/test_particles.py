"""The particle axis broadcasts through ops (issue 26, item 1).

With ``k > 1`` guide particles (``iwae``, ``elbo(num_particles=)``,
``log_likelihood(k=)``) and with enumerated discrete latents, values carry
axes left of their plates that values computed from data lack. Every op must
broadcast them as NumPy broadcasts leading axes and Pyro lays out plates:
the vectorised particles give, particle by particle, what ``k`` separate
one-particle runs give.
"""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

import gendsl as gd
import gendsl.models as zoo
from gendsl import dist, nn, ops
from gendsl.backends.particles import Layout
from gendsl.backends.numpyro import BACKEND as NUMPYRO
from gendsl.backends.pyro import BACKEND as PYRO
from gendsl.errors import ShapeError
from gendsl.inference import Fitted

N, D, CLASSES, K = 7, 3, 4, 5  # rows, features, classes, particles


# -- models ------------------------------------------------------------------------------------
@gd.model
def cvae(x_dim=6, z_dim=2, classes=CLASSES):
    """A conditional VAE: the decoder reads z next to the one-hot label."""
    decoder = nn.MLP("decoder", [z_dim + classes, 8, x_dim])
    with gd.plate("data"):
        y = gd.observe("y", dist.Categorical(logits=ops.zeros(classes)))
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        gd.observe("x", dist.Bernoulli(logits=decoder(ops.concatenate([z, ops.one_hot(y, classes)], -1))).to_event(1))


@cvae.guide
def cvae_encoder(x, y, x_dim=6, z_dim=2, classes=CLASSES):
    net = nn.MLP("encoder", [x_dim + classes, 8, 2 * z_dim])
    loc, log_scale = ops.split(net(ops.concatenate([x, ops.one_hot(y, classes)], -1)), 2, axis=-1)
    with gd.plate("data"):
        gd.sample("z", dist.Normal(loc, ops.exp(log_scale)).to_event(1))


@gd.model
def m2(x_dim=6, z_dim=2, classes=CLASSES):
    """Kingma's M2 without labels: y enumerated, z particles, both in the decoder's input."""
    decoder = nn.MLP("decoder", [z_dim + classes, 8, x_dim])
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=ops.zeros(classes)))
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        h = ops.concatenate([ops.one_hot(y, classes), z], -1)
        gd.observe("x", dist.Bernoulli(logits=decoder(h) + ops.stack([z[..., 0]] * x_dim, -1)).to_event(1))


SIGMA = 0.5


@gd.model
def regression(x_dim=D):
    """Bayesian linear regression: a global weight vector, y = x @ w + noise."""
    w = gd.sample("w", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
    with gd.plate("data"):
        x = gd.observe("x", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
        gd.observe("y", dist.Normal(ops.matmul(x, w), SIGMA))


@regression.guide
def regression_posterior(x_dim=D):
    loc = gd.param("w_loc", (x_dim,), init=np.zeros(x_dim))
    tril = gd.param("w_tril", (x_dim, x_dim), init=np.eye(x_dim), constraint="lower_cholesky")
    gd.sample("w", dist.MultivariateNormal(loc, scale_tril=tril))


@gd.model
def multi_output(x_dim=D, m=2):
    """Regression onto m outputs: a global weight matrix, Y = x @ W.T + noise."""
    W = gd.sample("W", dist.Normal(0.0, 1.0).expand([m, x_dim]).to_event(2))
    with gd.plate("data"):
        x = gd.observe("x", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
        gd.observe("y", dist.Normal(x @ W.T, SIGMA).to_event(1))


@multi_output.guide
def multi_output_posterior(x_dim=D, m=2):
    loc = gd.param("W_loc", (m, x_dim), init=np.zeros((m, x_dim)))
    tril = gd.param("W_tril", (x_dim, x_dim), init=np.eye(x_dim), constraint="lower_cholesky")
    gd.sample("W", dist.MultivariateNormal(loc, scale_tril=tril).to_event(1))


@gd.model
def scaled(x_dim=D):
    """A global scalar times an (N, d) value: operands of different event ranks."""
    s = gd.sample("s", dist.Normal(0.0, 1.0))
    with gd.plate("data"):
        x = gd.observe("x", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
        gd.observe("y", dist.Normal(s * x + ops.exp(s), 1.0).to_event(1))


@gd.model
def indexed(x_dim=D, classes=CLASSES):
    """Class means theta, a global latent, indexed by observed labels."""
    theta = gd.sample("theta", dist.Normal(0.0, 1.0).expand([classes, x_dim]).to_event(2))
    with gd.plate("data"):
        y = gd.observe("y", dist.Categorical(logits=ops.zeros(classes)))
        gd.observe("x", dist.Normal(theta[y], 1.0).to_event(1))
        gd.observe("x2", dist.Normal(theta[y, :][:, ::2] + theta[:, 0][y][:, None], 1.0).to_event(1))
        gd.observe("x3", dist.Normal(ops.swapaxes(theta, 0, 1)[:, y][1], 1.0))


@gd.model
def shuffled(x_dim=D):
    """stack, where, transpose, reshape, fancy indexing, expand_dims and a sum over the rows."""
    w = gd.sample("w", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
    with gd.plate("data"):
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
        x = gd.observe("x", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
        st = ops.stack([z, x * w, w + 0 * x], axis=-1)  # (N, d, 3)
        tr = ops.transpose(st, (0, 2, 1))  # (N, 3, d)
        gd.observe("a", dist.Normal(ops.sum(st, axis=-1) + ops.where(x > 0, z, w) + ops.sum(tr, -2), 1.0).to_event(1))
        gd.observe("b", dist.Normal(ops.reshape(ops.flatten(tr, -2), (-1, 3, x_dim))[:, 1], 1.0).to_event(1))
        gd.observe("c", dist.Normal(z[:, np.array([0, 2])] * ops.expand_dims(w, 0)[:, :2], 1.0).to_event(1))
    gd.observe("t", dist.Normal(ops.sum(z, axis=0) + ops.mean(w), 1.0).to_event(1))


@gd.model
def left_vector(m=2, x_dim=D):
    """A global vector on the left of matmul: w @ A, and w @ w."""
    A = gd.param("A", (x_dim, m), init="normal")
    w = gd.sample("w", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
    with gd.plate("data"):
        u = gd.observe("u", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
        gd.observe("x", dist.Normal(ops.matmul(u, A) + ops.matmul(w, A) + ops.matmul(w, w), 1.0).to_event(1))


@gd.model
def bayesian_gmm(x_dim=2, k=3):
    """Gaussian mixture with latent means: particles of mu, enumerated assignments, mu[z]."""
    mu = gd.sample("mu", dist.Normal(0.0, 3.0).expand([k, x_dim]).to_event(2))
    with gd.plate("data"):
        z = gd.sample("z", dist.Categorical(logits=ops.zeros(k)))
        gd.observe("x", dist.Normal(mu[z], 1.0).to_event(1))


@gd.model
def global_scale(x_dim=D):
    """Distribution arguments of different event ranks: an (N, d) loc and a global scale
    (and a global loc vector beside a per-row scale)."""
    s = gd.sample("s", dist.Normal(0.0, 1.0))
    mu = gd.sample("mu", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
    with gd.plate("data"):
        u = gd.observe("u", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
        gd.observe("x", dist.Normal(u + mu, ops.exp(s)).to_event(1))
        gd.observe("v", dist.Normal(mu, ops.exp(u)).to_event(1))
        gd.observe("y", dist.Normal(ops.sum(u, -1), ops.exp(s)))


def _binary(rng, shape):
    return (rng.random(shape) < 0.5).astype(float)


def _case(name, rng):
    """``(model, data, guide particles laid out (k,) + plate pads + site shape)``."""
    normal = rng.normal
    return {
        "cvae": lambda: (cvae(), {"x": _binary(rng, (N, 6)), "y": rng.integers(0, CLASSES, N)},
                         {"z": normal(size=(K, N, 2))}),
        "m2": lambda: (m2(), {"x": _binary(rng, (N, 6))}, {"z": normal(size=(K, N, 2))}),
        "regression": lambda: (regression(), {"x": normal(size=(N, D)), "y": normal(size=N)},
                               {"w": normal(size=(K, 1, D))}),
        "multi_output": lambda: (multi_output(), {"x": normal(size=(N, D)), "y": normal(size=(N, 2))},
                                 {"W": normal(size=(K, 1, 2, D))}),
        "scaled": lambda: (scaled(), {"x": normal(size=(N, D)), "y": normal(size=(N, D))}, {"s": normal(size=(K, 1))}),
        "indexed": lambda: (indexed(), {"y": rng.integers(0, CLASSES, N), "x": normal(size=(N, D)),
                                        "x2": normal(size=(N, 2)), "x3": normal(size=N)},
                            {"theta": normal(size=(K, 1, CLASSES, D))}),
        "shuffled": lambda: (shuffled(), {"x": normal(size=(N, D)), "a": normal(size=(N, D)), "b": normal(size=(N, D)),
                                          "c": normal(size=(N, 2)), "t": normal(size=D)},
                             {"w": normal(size=(K, 1, D)), "z": normal(size=(K, N, D))}),
        "left_vector": lambda: (left_vector(), {"x": normal(size=(N, 2)), "u": normal(size=(N, D))},
                                {"w": normal(size=(K, 1, D))}),
        "bayesian_gmm": lambda: (bayesian_gmm(), {"x": normal(size=(N, 2))}, {"mu": normal(size=(K, 1, 3, 2))}),
        "global_scale": lambda: (global_scale(), {"u": normal(size=(N, D)), "x": normal(size=(N, D)),
                                                  "v": normal(size=(N, D)), "y": normal(size=N)},
                                 {"s": normal(size=(K, 1)), "mu": normal(size=(K, 1, D))}),
    }[name]()


def _terms(fit, batch, latents, k):
    """``(rows (k, N), global terms (k,) or None)`` of the model scored at ``latents``."""
    eng = fit.engine
    low = eng.lowered
    scored = low.score(eng.params_in(fit.params), batch, latents={n: eng.put(v) for n, v in latents.items()},
                       particles=k > 1)
    rows, glob = low.reduce_particles(scored.factors, [], scored.enum_dims, scored.sizes, k)
    return fit._np(rows), None if glob is None else fit._np(glob)


# -- every op: k vectorised particles are k one-particle runs -------------------------------------
@pytest.mark.parametrize("name", ["cvae", "m2", "regression", "multi_output", "scaled", "indexed", "shuffled",
                                  "left_vector", "bayesian_gmm", "global_scale"])
def test_vectorised_particles_score_as_one_particle_runs(name, backend):
    model, data, latents = _case(name, np.random.default_rng(0))
    fit = Fitted(model, backend, model.init_params(0), dtype="float64")
    batch, _ = fit._prepare(data)
    rows, glob = _terms(fit, batch, latents, K)
    mpn = model.ir.max_plate_nesting
    for i in range(K):
        one = {n: v[i].reshape(v.shape[1 + mpn - len(model.ir[n].batch_shape):]) for n, v in latents.items()}
        rows_i, glob_i = _terms(fit, batch, one, 1)
        np.testing.assert_allclose(rows[i], rows_i[0], rtol=1e-12, atol=1e-12)
        if glob is not None:
            np.testing.assert_allclose(glob[i], glob_i[0], rtol=1e-12, atol=1e-12)


# -- training with particles --------------------------------------------------------------------
def _labelled_digits(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    probs = np.linspace(0.1, 0.9, CLASSES)[y][:, None] * np.ones(6)
    return {"x": (rng.random((n, 6)) < probs).astype(float), "y": y}


@pytest.mark.parametrize("objective", [{"objective": "iwae", "k": 5}, {"objective": "elbo", "num_particles": 4}],
                         ids=["iwae-k5", "elbo-4-particles"])
def test_cvae_trains_with_particles(objective, backend):
    fit = cvae().fit(_labelled_digits(), backend=backend, epochs=3, batch_size=20, lr=1e-2, progress=False,
                     dtype="float64", seed=0, **objective)
    assert np.all(np.isfinite(fit.history["step_loss"])) and len(fit.history["epoch_loss"]) == 3


def _regression_data(n=40, seed=0, m=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D))
    w = rng.normal(size=(D,) if m is None else (m, D))
    y = x @ w.T + SIGMA * rng.normal(size=(n,) if m is None else (n, m))
    return {"x": x, "y": y}


@pytest.mark.parametrize("guide", ["normal", "posterior"])
def test_linear_regression_trains_with_particles(guide, backend):
    model = regression().with_guide("normal") if guide == "normal" else regression()
    fit = model.fit(_regression_data(), objective="elbo", num_particles=4, backend=backend, epochs=5, batch_size=20,
                    lr=1e-2, progress=False, dtype="float64", seed=0)
    assert np.all(np.isfinite(fit.history["step_loss"])) and len(fit.history["epoch_loss"]) == 5


@pytest.mark.parametrize("guide", ["normal", "posterior"])
def test_linear_regression_trains_with_iwae(guide, backend):
    """A global latent under ``iwae``: each particle's weight is the whole data
    set's; the fit reaches the exact posterior mean (the bound is tight there)."""
    model = regression().with_guide("normal") if guide == "normal" else regression()
    data = _regression_data(n=200)
    fit = model.fit(data, objective="iwae", k=5, backend=backend, epochs=300, batch_size=200, lr=3e-2,
                    progress=False, dtype="float64", seed=0)
    assert np.all(np.isfinite(fit.history["step_loss"]))
    mean, cov, _ = _exact_posterior(data["x"], data["y"])
    # the last step of noisy gradients sits within a couple of posterior standard deviations of the mean
    assert np.all(np.abs(fit.params["w_loc"] - mean) < 2.5 * np.sqrt(np.diag(cov))), (fit.params["w_loc"], mean)


@pytest.mark.parametrize("objective", [{"objective": "iwae", "k": 5}, {"objective": "elbo", "num_particles": 4}],
                         ids=["iwae-k5", "elbo-4-particles"])
def test_global_scale_trains_with_particles(objective, backend):
    """A global scale beside per-row locations in one distribution: its particles line up."""
    model, data, _ = _case("global_scale", np.random.default_rng(0))
    fit = model.with_guide("normal").fit(data, backend=backend, epochs=3, batch_size=4, lr=1e-2, progress=False,
                                         dtype="float64", seed=0, **objective)
    assert np.all(np.isfinite(fit.history["step_loss"])) and len(fit.history["epoch_loss"]) == 3


def test_iwae_with_a_global_latent_weighs_the_whole_data_set(backend):
    """At the exact posterior every particle's joint weight is ``p(X)``: the
    full-batch loss is ``-log p(X) / N`` to rounding for any k. Per-row
    weights (the bound a local latent gets) would not be."""
    from gendsl.inference.elbo import IWAE

    data = _regression_data()
    x, y = data["x"], data["y"]
    mean, cov, exact = _exact_posterior(x, y)
    params = {**regression().init_params(0), "w_loc": mean, "w_tril": np.linalg.cholesky(cov)}
    fit = Fitted(regression(), backend, params, dtype="float64")
    eng = fit.engine
    batch, missing = fit._prepare(data)
    for k in (1, 5):
        loss = IWAE(k=k).loss(eng.lowered, eng.params_in(fit.params), batch, missing, len(x), eng.backend.rng(k))
        np.testing.assert_allclose(float(fit._np(loss)), -exact / len(x), rtol=1e-10)


def test_regression_log_likelihood_is_the_posterior_predictive(backend):
    """``log_likelihood(k=)`` of a model with global latents: each held-out row's
    ``log p(x_n, y_n | training data)``, here in closed form (q is the posterior)."""
    data, held_out = _regression_data(), _regression_data(n=30, seed=1)
    mean, cov, _ = _exact_posterior(data["x"], data["y"])
    params = {**regression().init_params(0), "w_loc": mean, "w_tril": np.linalg.cholesky(cov)}
    fit = Fitted(regression(), backend, params, dtype="float64")
    x, y = held_out["x"], held_out["y"]
    exact = norm.logpdf(y, x @ mean, np.sqrt(np.einsum("nd,de,ne->n", x, cov, x) + SIGMA ** 2))
    exact += norm.logpdf(x).sum(1)
    estimate = fit.log_likelihood(held_out, k=4000, seed=0)
    np.testing.assert_allclose(estimate, exact, atol=0.1)  # the worst-fitted rows' weights vary most
    assert abs(np.mean(estimate - exact)) < 0.02


# -- the estimates with particles: their expectations --------------------------------------------
def test_cvae_log_likelihood_is_the_mean_of_one_particle_estimates(backend):
    """``log_likelihood(k=200)`` and the log-mean of 200 one-particle importance
    weights are the same estimator: their row differences centre on zero."""
    model, data = cvae(), _labelled_digits(n=80)
    fit = Fitted(model, backend, model.init_params(1), dtype="float64")
    vectorised = fit.log_likelihood(data, k=200, seed=0)
    one_at_a_time = logsumexp([fit.log_likelihood(data, k=1, seed=s) for s in range(1, 201)], axis=0) - np.log(200)
    diff = vectorised - one_at_a_time
    assert np.all(np.isfinite(vectorised))
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert diff.std() < 0.2  # both within a few hundredths of log p(x) a row


def _exact_posterior(x, y):
    """The posterior ``N(mean, cov)`` of the weights of one output, and ``log p(x, y)``."""
    cov = np.linalg.inv(np.eye(D) + x.T @ x / SIGMA ** 2)
    mean = cov @ x.T @ y / SIGMA ** 2
    evidence = multivariate_normal(np.zeros(len(y)), x @ x.T + SIGMA ** 2 * np.eye(len(y))).logpdf(y)
    return mean, cov, evidence + norm.logpdf(x).sum()


@pytest.mark.parametrize("outputs", [None, 2], ids=["matmul-vector", "matmul-matrix"])
def test_regression_importance_weights_are_exact_at_the_posterior(outputs, backend):
    """With the guide at the exact posterior every importance weight is p(x, y):
    200 vectorised particles through ``x @ w`` (or ``x @ W.T``) give it to rounding."""
    data = _regression_data(m=outputs)
    x, y = data["x"], data["y"]
    model = regression() if outputs is None else multi_output()
    params = model.init_params(0)
    if outputs is None:
        mean, cov, exact = _exact_posterior(x, y)
        params.update(w_loc=mean, w_tril=np.linalg.cholesky(cov))
    else:
        fits = [_exact_posterior(x, y[:, j]) for j in range(outputs)]
        exact = sum(f[2] for f in fits) - (outputs - 1) * norm.logpdf(x).sum()
        params.update(W_loc=np.stack([f[0] for f in fits]), W_tril=np.linalg.cholesky(fits[0][1]))
    fit = Fitted(model, backend, params, dtype="float64")
    eng = fit.engine
    batch, missing = fit._prepare(data)
    rows, glob = eng.lowered.log_weights(eng.params_in(fit.params), batch, 200, eng.backend.rng(0), missing)
    per_particle = fit._np(rows).sum(axis=1) + fit._np(glob)
    assert per_particle.shape == (200,)
    np.testing.assert_allclose(per_particle, exact, rtol=1e-10)


# -- errors that name the op, the site and the shapes --------------------------------------------
def test_mismatched_axes_name_the_op_the_site_and_the_shapes(backend):
    model, data, _ = _case("cvae", np.random.default_rng(0))
    fit = Fitted(model, backend, model.init_params(0), dtype="float64")
    batch, _ = fit._prepare(data)
    wrong_rows = {"z": np.zeros((K, N + 3, 2))}  # particles of 10 rows, data of 7
    with pytest.raises(ShapeError) as info:
        _terms(fit, batch, wrong_rows, K)
    message = str(info.value)
    for part in ("ops.concatenate", "feeding site 'x'", f"({K}, {N + 3}, 2)", f"({N}, {CLASSES})",
                 "traced as (N_data, 2), (N_data, 4)", f"axis -2 has sizes [{N}, {N + 3}]", "same rows"):
        assert part in message, (part, message)


def test_backend_errors_inside_an_op_name_the_op_the_site_and_the_shapes(backend):
    model, data, _ = _case("multi_output", np.random.default_rng(0))
    fit = Fitted(model, backend, model.init_params(0), dtype="float64")
    batch, _ = fit._prepare(data)
    with pytest.raises(ShapeError) as info:
        _terms(fit, batch, {"W": np.zeros((K, 1, 2, D + 1))}, K)  # one weight too many
    message = str(info.value)
    for part in ("ops.matmul", "feeding site 'y'", f"({N}, {D})", f"({K}, 1, {D + 1}, 2)",
                 "traced as (N_data, 3), (3, 2)"):
        assert part in message, (part, message)


# -- the fast path stays plain -----------------------------------------------------------------
@pytest.mark.parametrize("be", [PYRO, NUMPYRO], ids=["pyro", "numpyro"])
def test_a_plain_vae_runs_its_ops_unwrapped(be):
    """No op of the zoo's VAE needs the layout step: its training step is the plain ops."""
    model = zoo.vae(x_dim=16, z_dim=4, hidden=(8,))
    for program in (model.ir, model.guide_ir):
        layout = Layout(program)
        for node in program.nodes:
            if node.kind == "op":
                args, kwargs = layout.normalise(node)
                assert kwargs == dict(node.kwargs) and args == node.args
                assert layout.wrap(node, be.ops.get(node.op), be, args) is None, node
