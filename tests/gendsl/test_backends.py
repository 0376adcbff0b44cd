"""Backends are proven equal: one suite parametrised over pyro and numpyro.

The same IR and the same parameters must give the same per-row log_prob on
both backends (relative 1e-5 in float64), and the same numbers as the plain
Pyro / NumPyro programs scored by those libraries' own tools.
"""

import numpy as np
import pytest
import torch

import gendsl as gd
import gendsl.models as zoo
from gendsl import dist, ops
from gendsl.backends import get_backend
from gendsl.backends.program import Lowered
from gendsl.inference import Fitted
from gendsl.inference.engines import make_engine

from .cases import CASES, case_data, case_named, chain_bound_with_noise, fit_data, is_chain, rows_of, scored_by

# The suites below compare densities, so they run over the cases that have one (a log_prob, or a
# diffusion chain's bound), as the objectives say; the others (a denoising autoencoder, a GAN)
# are not skipped: test_models_without_a_density_agree_across_backends takes them.
DENSITY = [case for case in CASES if scored_by(case) is not None]
NO_DENSITY = [case for case in CASES if scored_by(case) is None]


@pytest.mark.parametrize("name", ["pyro", "numpyro"])
def test_backend_implements_every_op_and_family(name):
    b = get_backend(name)
    assert set(ops.OPS) <= set(b.ops), sorted(set(ops.OPS) - set(b.ops))
    assert set(dist.FAMILIES) <= set(b.dists), sorted(set(dist.FAMILIES) - set(b.dists))


_UNARY = ["exp", "expm1", "sigmoid", "softplus", "tanh", "relu", "square", "abs", "negative",
          "sin", "cos", "erf", "floor"]
_BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "logaddexp", "less", "greater_equal"]
_REDUCE = ["sum", "mean", "prod", "max", "min", "logsumexp", "var", "std"]


def _to(b, x):
    return b.asarray(x, "real", like=(torch.float64, None) if b.name == "pyro" else b.float_dtype("float64"))


@pytest.mark.parametrize("name", ["pyro", "numpyro"])
def test_ops_match_numpy(name, rng):
    b = get_backend(name)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    for op in _UNARY:
        np.testing.assert_allclose(b.to_numpy(b.ops[op](_to(b, x))), ops.OPS[op].numpy(x), rtol=1e-10, err_msg=op)
    pos = np.abs(x) + 0.1
    for op in ["log", "sqrt", "logit"]:
        arg = pos / (pos.max() + 1) if op == "logit" else pos
        np.testing.assert_allclose(b.to_numpy(b.ops[op](_to(b, arg))), ops.OPS[op].numpy(arg), rtol=1e-10, err_msg=op)
    for op in _BINARY:
        np.testing.assert_allclose(b.to_numpy(b.ops[op](_to(b, x), _to(b, y))), ops.OPS[op].numpy(x, y),
                                   rtol=1e-10, err_msg=op)
    for op in _REDUCE:
        for kw in ({}, {"axis": 1}, {"axis": (0, 1), "keepdims": True}):
            np.testing.assert_allclose(b.to_numpy(b.ops[op](_to(b, x), **kw)), ops.OPS[op].numpy(x, **kw),
                                       rtol=1e-10, err_msg=f"{op} {kw}")
    for op, args, kw in [
        ("softmax", (x,), {"axis": 0}), ("log_softmax", (x,), {"axis": -1}), ("cumsum", (x,), {"axis": 1}),
        ("matmul", (x, y.T), {}), ("concatenate", (x, y), {"axis": 1}), ("stack", (x, y), {"axis": 0}),
        ("reshape", (x,), {"shape": (4, 3)}), ("transpose", (x,), {"axes": (1, 0)}),
        ("swapaxes", (x, 0, 1), {}), ("expand_dims", (x,), {"axis": 1}), ("slice_axis", (x,), {"start": 1, "stop": 3, "axis": 1}),
        ("where", (x > 0, x, y), {}), ("tril", (x,), {"k": 0}), ("diagonal", (x,), {}),
    ]:
        bargs = [b.asarray(a, "bool") if a.dtype == bool else _to(b, a) for a in args if isinstance(a, np.ndarray)]
        bargs += [a for a in args if not isinstance(a, np.ndarray)]
        np.testing.assert_allclose(b.to_numpy(b.ops[op](*bargs, **kw)), ops.OPS[op].numpy(*args, **kw),
                                   rtol=1e-10, err_msg=op)


@pytest.mark.parametrize("case", DENSITY, ids=[c[0] for c in DENSITY])
def test_log_prob_agrees_across_backends(case):
    model, data = case_data(case)
    params = model.init_params(seed=3)
    rows = {}
    if is_chain(model):  # a bound: the same noise on both backends
        steps = model.ir["x"].dist.args["schedule"].steps
        noise = np.random.default_rng(1).normal(size=(steps,) + data["x"].shape)
    for name in ("pyro", "numpyro"):
        fitted = Fitted(model, name, params, dtype="float64")
        rows[name] = chain_bound_with_noise(model, name, params, data, noise) if is_chain(model) \
            else fitted.log_prob(data)
        assert rows[name].shape == (len(next(iter(data.values()))),)
        assert np.all(np.isfinite(rows[name]))
    np.testing.assert_allclose(rows["pyro"], rows["numpyro"], rtol=1e-5)


@pytest.mark.parametrize("case", NO_DENSITY, ids=[c[0] for c in NO_DENSITY])
def test_models_without_a_density_agree_across_backends(case):
    """No log_prob to compare: both backends refuse it, and agree, for the same parameters, on
    what the model computes deterministically from data: a discriminator's scores, an
    autoencoder's codes."""
    model, data = case_data(case)
    params = model.init_params(seed=3)
    answers = {}
    for name in ("pyro", "numpyro"):
        fitted = Fitted(model, name, params, dtype="float64")
        with pytest.raises(gd.ObjectiveError, match=repr(model.name)):
            fitted.log_prob(data)
        answers[name] = {}
        if model.discriminator_ir is not None:
            answers[name]["discriminate"] = fitted.discriminate(data)
        if fitted.engine.lowered.coded_sites:  # a code space without a guide
            answers[name]["encode"] = fitted.encode(data)
    assert answers["pyro"], f"model {model.name!r} has no deterministic query to compare"
    assert answers["pyro"].keys() == answers["numpyro"].keys()
    for query, rows in answers["pyro"].items():
        assert rows.shape[0] == 40 and np.all(np.isfinite(rows))
        np.testing.assert_allclose(rows, answers["numpyro"][query], rtol=1e-6, err_msg=query)


@pytest.mark.parametrize("case", DENSITY, ids=[c[0] for c in DENSITY])
def test_fast_path_agrees_with_plain_pyro_program(case):
    import pyro

    model, data = case_data(case)
    params = model.init_params(seed=3)
    expected = rows_of(Fitted(model, "pyro", params, dtype="float64"), data).sum()
    model_fn, _ = get_backend("pyro").compile(model, seed=3, dtype="float64")
    guide_fn = lambda data=None, size=None: None  # noqa: E731  (every continuous latent is given)
    pyro.clear_param_store()
    enumerated = Lowered(model, get_backend("pyro")).enumerable - set(data)
    elbo = (pyro.infer.TraceEnum_ELBO if enumerated else pyro.infer.Trace_ELBO)(
        max_plate_nesting=model.ir.max_plate_nesting)
    tdata = {k: torch.as_tensor(v) for k, v in data.items()}
    np.testing.assert_allclose(-elbo.loss(model_fn, guide_fn, tdata), expected, rtol=1e-6)


@pytest.mark.parametrize("case", DENSITY, ids=[c[0] for c in DENSITY])
def test_fast_path_agrees_with_plain_numpyro_program(case):
    import jax
    from numpyro.infer import TraceEnum_ELBO

    model, data = case_data(case)
    params = model.init_params(seed=3)
    expected = rows_of(Fitted(model, "numpyro", params, dtype="float64"), data).sum()
    model_fn, _ = get_backend("numpyro").compile(model, seed=3, dtype="float64")
    guide_fn = lambda data=None, size=None: None  # noqa: E731  (every continuous latent is given)
    loss = TraceEnum_ELBO(max_plate_nesting=model.ir.max_plate_nesting).loss(
        jax.random.PRNGKey(0), {}, model_fn, guide_fn, data)
    np.testing.assert_allclose(-float(loss), expected, rtol=1e-6)


def test_plain_pyro_program_trains_with_pyro_svi():
    import pyro

    model = zoo.gmm(x_dim=2, k=2)
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(200, 2)) + np.array([3.0, 0.0]), dtype=torch.float32)
    model_fn, guide_fn = model.to_pyro()
    pyro.clear_param_store()
    svi = pyro.infer.SVI(model_fn, guide_fn, pyro.optim.Adam({"lr": 0.05}),
                         pyro.infer.TraceEnum_ELBO(max_plate_nesting=1))
    losses = [svi.step({"x": x}) for _ in range(60)]
    assert losses[-1] < losses[0] - 50
    assert set(pyro.get_param_store().keys()) == {"weights", "locs", "scales"}


def test_plain_numpyro_program_trains_with_numpyro_svi():
    import jax
    import numpyro
    from numpyro.infer import SVI, TraceEnum_ELBO

    model = zoo.gmm(x_dim=2, k=2)
    x = np.random.default_rng(0).normal(size=(200, 2)) + np.array([3.0, 0.0])
    model_fn, guide_fn = model.to_numpyro()
    svi = SVI(model_fn, guide_fn, numpyro.optim.Adam(0.05), TraceEnum_ELBO(max_plate_nesting=1))
    result = svi.run(jax.random.PRNGKey(0), 60, {"x": x}, progress_bar=False)
    assert result.losses[-1] < result.losses[0] - 50
    assert set(result.params) == {"weights", "locs", "scales"}


@gd.model
def _normal_mean(prior_scale=10.0):
    mu = gd.sample("mu", dist.Normal(0.0, prior_scale))
    with gd.plate("data"):
        gd.observe("x", dist.Normal(mu, 1.0))


def test_plain_numpyro_program_runs_under_nuts_to_the_conjugate_posterior():
    import jax
    from numpyro.infer import MCMC, NUTS

    x = np.random.default_rng(3).normal(1.5, 1.0, size=50)
    model_fn, _ = _normal_mean().to_numpyro()
    mcmc = MCMC(NUTS(model_fn), num_warmup=300, num_samples=600, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), {"x": x})
    mu = np.asarray(mcmc.get_samples()["mu"])
    precision = 1 / 10.0**2 + len(x)  # Normal prior, Normal likelihood of unit variance
    assert abs(mu.mean() - x.sum() / precision) < 0.04
    assert abs(mu.std() - precision**-0.5) < 0.2 * precision**-0.5


def test_plain_programs_render_with_each_librarys_render_model():
    import numpyro
    import pyro

    x = np.random.default_rng(3).normal(size=20)
    graphs = [numpyro.render_model(_normal_mean().to_numpyro()[0], model_args=({"x": x},)),
              pyro.render_model(_normal_mean().to_pyro()[0], model_args=({"x": torch.as_tensor(x)},))]
    for graph in graphs:
        source = graph.source
        assert "mu" in source and "x" in source and "data" in source  # the plate's cluster
        assert "mu -> x" in source


def test_init_params_are_deterministic_and_backend_independent():
    model = zoo.bernoulli_mixture(x_dim=5, k=3)
    a, b = model.init_params(seed=1), model.init_params(seed=1)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    c = model.init_params(seed=2)
    assert not np.array_equal(a["theta"], c["theta"])
    # both backends hold exactly these values after conversion
    for name in ("pyro", "numpyro"):
        eng = make_engine(model, name, "float64")
        back = eng.params_out(eng.lowered.constrain(eng.lowered.unconstrain(eng.params_in(a))))
        for k in a:
            np.testing.assert_allclose(back[k], a[k], rtol=1e-10)


ROUND_TRIP = [case_named(name) for name in ("naive_bayes-bernoulli", "naive_bayes-gaussian", "nade")]


@pytest.mark.parametrize("case", ROUND_TRIP, ids=[c[0] for c in ROUND_TRIP])
def test_fit_to_round_trips(case):
    model, data = case_data(case)
    fit = model.fit(fit_data(model, data), backend="pyro", epochs=2, batch_size=32, lr=0.05, progress=False,
                    dtype="float64")
    other = fit.to("numpyro")
    assert other.backend == "numpyro"
    np.testing.assert_allclose(other.log_prob(data), fit.log_prob(data), rtol=1e-5)
    back = other.to("pyro")
    assert all(np.array_equal(back.params[k], fit.params[k]) for k in fit.params)


@pytest.mark.parametrize("name", ["pyro", "numpyro"])
def test_lowered_sample_shapes_and_determinism(name):
    model = zoo.gmm(x_dim=3, k=4, covariance="full")
    b = get_backend(name)
    fitted = Fitted(model, name, model.init_params(0))
    s1, s2 = fitted.sample(50, seed=5), fitted.sample(50, seed=5)
    assert s1["z"].shape == (50,) and s1["x"].shape == (50, 3)
    assert set(np.unique(s1["z"])) <= set(range(4))
    np.testing.assert_array_equal(s1["x"], s2["x"])
    assert isinstance(Lowered(model, b).enumerable, frozenset)


@pytest.mark.parametrize("name", ["pyro", "numpyro"])
def test_backend_kl_of_normals_equals_the_library_kl(name):
    """The Pyro backend computes KL(Normal || Normal) itself (a VAE's hot path); it
    must equal torch's kl_divergence, plain and reinterpreted, prior broadcast."""
    b = get_backend(name)
    rng = np.random.default_rng(0)
    loc, scale = rng.normal(size=(5, 3)), rng.uniform(0.2, 2.0, size=(5, 3))
    ploc, pscale = rng.normal(size=3), rng.uniform(0.2, 2.0, size=3)
    normal = b.dists["Normal"]
    asarray = lambda x: b.asarray(x, like=b.float_dtype("float64"))
    q, p = normal(loc=asarray(loc), scale=asarray(scale)), normal(loc=asarray(ploc), scale=asarray(pscale))
    expected = np.log(pscale / scale) + (scale**2 + (loc - ploc) ** 2) / (2 * pscale**2) - 0.5
    np.testing.assert_allclose(b.to_numpy(b.kl(q, p)), expected, rtol=1e-10)
    wide = b.wrap(p, "expand", (5, 3))
    q1, p1 = b.wrap(q, "to_event", 1), b.wrap(wide, "to_event", 1)
    np.testing.assert_allclose(b.to_numpy(b.kl(q1, p1)), expected.sum(-1), rtol=1e-10)
    if name == "pyro":  # and the library's own answer
        np.testing.assert_allclose(b.to_numpy(b.kl(q1, p1)),
                                   torch.distributions.kl_divergence(q1, p1).numpy(), rtol=1e-12)


def test_pyro_bernoulli_log_prob_equals_the_librarys():
    """The Pyro backend scores a Bernoulli itself (summing before negating, an
    IWAE's largest tensor): the library's numbers, plain or reinterpreted,
    parametrised by logits or probabilities, values broadcast against particles."""
    from gendsl.backends.pyro import _bernoulli_log_prob

    b = get_backend("pyro")
    rng = np.random.default_rng(0)
    logits = torch.as_tensor(rng.normal(size=(4, 3, 7)))
    value = torch.as_tensor(rng.integers(0, 2, size=(3, 7)), dtype=torch.float64)
    bern = b.dists["Bernoulli"]
    for d in (bern(logits=logits), b.wrap(bern(logits=logits), "to_event", 1),
              b.wrap(bern(probs=torch.sigmoid(logits)), "to_event", 2)):
        assert _bernoulli_log_prob(d, value) is not None  # the backend's own path, not the library's
        ours, theirs = b.log_prob(d, value), d.log_prob(value)
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    support = torch.tensor([0.0, 1.0], dtype=torch.float64).reshape(2, 1, 1, 1)  # enumerated values
    d = bern(logits=logits)
    torch.testing.assert_close(b.log_prob(d, support), d.log_prob(support), rtol=1e-12, atol=1e-12)


def test_constant_distributions_are_built_once_on_an_eager_backend():
    """A prior of constants is built once per dtype and plate sizes under Pyro
    (not once per training step); anything reading a parameter is rebuilt."""
    import gendsl as gd
    from gendsl.backends.interpret import lower_dist

    @gd.model
    def prior_and_likelihood(x_dim=3):
        mu = gd.param("mu", (x_dim,))
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1))
            gd.observe("x", dist.Normal(z + mu, 1.0).to_event(1))

    model = prior_and_likelihood()
    b = get_backend("pyro")
    lowered = Lowered(model, b, (torch.float64, torch.device("cpu")))
    prior = lower_dist(model.ir["z"].dist, b)
    data = {"x": torch.zeros(4, 3)}
    params = {"mu": torch.ones(3, dtype=torch.float64)}
    ctx = lambda: lowered.context(params, data, None)
    assert prior(ctx()) is prior(ctx())
    assert prior(ctx()).event_shape == (3,)
    other = lowered.context(params, data, None, dtype=(torch.float32, torch.device("cpu")))
    assert prior(other) is not prior(ctx()) and prior(other).mean.dtype == torch.float32
    # through a run: the likelihood reads mu, so a new mu gives a new distribution
    h1 = lowered.score(params, data, latents={"z": torch.zeros(4, 3, dtype=torch.float64)})
    h2 = lowered.score({"mu": 2 * params["mu"]}, data, latents={"z": torch.zeros(4, 3, dtype=torch.float64)})
    assert h1.dists["z"] is h2.dists["z"]
    assert torch.equal(h2.dists["x"].mean, 2 * h1.dists["x"].mean)
    assert not get_backend("numpyro").eager  # under jit the work is paid once per compilation anyway


def test_a_registered_backend_compiles_trains_and_answers_queries():
    """One registry (gendsl.backends.BACKENDS) serves compiling, training and querying:
    a backend registered under a new name trains through the engine of its array library."""
    from gendsl import backends

    backends.register_backend("pyro-again", "gendsl.backends.pyro")
    try:
        model, data = case_data(case_named("gmm-diag"))
        fit = model.fit(data["x"], objective="mle", backend="pyro-again", epochs=2, seed=0, progress=False)
        same = model.fit(data["x"], objective="mle", backend="pyro", epochs=2, seed=0, progress=False)
        np.testing.assert_allclose(fit.log_prob(data["x"]), same.log_prob(data["x"]), rtol=1e-6)
        assert callable(get_backend("pyro-again").compile(model)[0])
        with pytest.raises(gd.GendslError, match="pyro-again"):
            model.fit(data["x"], backend="no-such-backend", epochs=1)
    finally:
        backends.BACKENDS.pop("pyro-again", None)
        backends._INSTANCES.pop("pyro-again", None)
