"""One contract test over every flow transform, on both backends (Zuko's habit):
invertibility, the log-determinant against autograd's Jacobian, gradients
reaching every weight, save/load; plus the errors a user meets first."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gendsl as gd
from gendsl import dist
from gendsl import transforms as T
from gendsl.backends import get_backend
from gendsl.inference import Fitted

# name -> spec maker(dim, seed); learnable ones are named like their class
MAKERS = {
    "AdditiveCoupling": lambda d, s: T.AdditiveCoupling("t", d, hidden=(7,), parity=s % 2),
    "AdditiveCoupling-half": lambda d, s: T.AdditiveCoupling("t", d, hidden=(5, 6), mask="half", parity=s % 2),
    "AffineCoupling": lambda d, s: T.AffineCoupling("t", d, hidden=(7,), parity=s % 2, activation="tanh"),
    "MaskedAutoregressive": lambda d, s: T.MaskedAutoregressive("t", d, hidden=(9,), ordering="random", seed=s),
    "InverseAutoregressive": lambda d, s: T.InverseAutoregressive("t", d, hidden=(9, 9), seed=s),
    "ActNorm": lambda d, s: T.ActNorm("t", d),
    "BatchNorm": lambda d, s: T.BatchNorm("t", d),  # evaluation: the stored statistics
    "InvertibleLinear": lambda d, s: T.InvertibleLinear("t", d, seed=s),
    "Planar": lambda d, s: T.Planar("t", d),
    "Radial": lambda d, s: T.Radial("t", d),
    "Permute": lambda d, s: T.Permute(np.random.default_rng(s).permutation(d)),
    "Reverse": lambda d, s: T.Reverse(d),
    "Sigmoid": lambda d, s: T.Sigmoid(d, alpha=0.05 * (s % 2)),
}


def test_every_transform_kind_has_a_contract_case():
    """The registries, not this file, say which transforms exist: a learnable kind
    (``gendsl.families.flow.BIJECTIONS``) or a stateless one (each backend's
    ``STATELESS``) without a maker above fails here."""
    from gendsl.backends import numpyro as numpyro_backend, pyro as pyro_backend
    from gendsl.families.flow import BIJECTIONS

    kinds = {cls.__name__ for cls in BIJECTIONS} | {cls.__name__ for cls in pyro_backend.STATELESS}
    kinds |= {cls.__name__ for cls in numpyro_backend.STATELESS}
    covered = {type(make(4, 0)).__name__ for make in MAKERS.values()}
    assert kinds <= covered, f"transforms without a contract case: {sorted(kinds - covered)}"


def _weights(spec, seed):
    """The spec's initial weights, perturbed so no transform sits at its identity."""
    if isinstance(spec, T.StatelessTransform):
        return {}
    rng = np.random.default_rng(seed + 1)
    return {k: v + 0.3 * rng.normal(size=np.shape(v)) for k, v in spec.init(seed).items()}


def _transform(backend, spec, weights):
    """The backend's transform object for ``spec`` (float64 weights)."""
    b = get_backend(backend)
    if isinstance(spec, T.StatelessTransform):
        return b.stateless(spec)
    params = {f"w.{k}": b.asarray(v, like=_like(backend)) for k, v in weights.items()}
    return b.net(spec, params, "w.")


def _own(weights, spec):
    """``spec``'s weights without its name prefix."""
    name = getattr(spec, "name", None)
    return {k.split(".", 1)[1]: v for k, v in weights.items() if k.split(".", 1)[0] == name}


def _like(backend):
    return (torch.float64, None) if backend == "pyro" else jnp.float64


def _as_backend(backend, x):
    return torch.as_tensor(x) if backend == "pyro" else jnp.asarray(x)


def _np(x):
    return x.detach().numpy() if torch.is_tensor(x) else np.asarray(x)


def _jacobian_log_dets(backend, t, x):
    """log|det| of the Jacobian of each row, by autograd / jax.jacobian (vmapped: one trace)."""
    if backend == "pyro":
        jacs = [torch.autograd.functional.jacobian(lambda v: t(v), torch.as_tensor(row)) for row in x]
        return [float(torch.linalg.slogdet(jac)[1]) for jac in jacs]
    return np.asarray(jnp.linalg.slogdet(jax.vmap(jax.jacobian(lambda v: t(v)))(jnp.asarray(x)))[1])


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
@pytest.mark.parametrize("kind", sorted(MAKERS))
@settings(max_examples=4, deadline=None, derandomize=True)
@given(dim=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_transform_contract(kind, backend, dim, seed):
    spec = MAKERS[kind](dim, seed)
    t = _transform(backend, spec, _own(_weights(spec, seed), spec))
    x = np.random.default_rng(seed).normal(size=(5, dim))
    y = t(_as_backend(backend, x))
    assert tuple(y.shape) == (5, dim)
    # a fresh object's inverse: nothing cached from the forward call
    t_again = _transform(backend, spec, _own(_weights(spec, seed), spec))
    x_back = t_again.inv(_as_backend(backend, _np(y).copy()))
    np.testing.assert_allclose(_np(x_back), x, atol=1e-5, err_msg=f"{kind}: inverse(forward(x)) != x")
    ld = _np(t.log_abs_det_jacobian(_as_backend(backend, x), y))
    assert ld.shape == (5,), f"{kind}: log|det J| has shape {ld.shape}, want the batch shape (5,)"
    expected = _jacobian_log_dets(backend, t_again, x)
    np.testing.assert_allclose(ld, expected, rtol=1e-6, atol=1e-8, err_msg=f"{kind}: log|det J| != autograd's")


@gd.model
def every_transform(x_dim=3):
    """A flow through one of each learnable transform (and a permutation)."""
    chain = [
        T.AdditiveCoupling("add", x_dim, hidden=(6,)), T.AffineCoupling("aff", x_dim, hidden=(6,), parity=1),
        T.Reverse(x_dim), T.MaskedAutoregressive("maf", x_dim, hidden=(6,)),
        T.InverseAutoregressive("iaf", x_dim, hidden=(6,)), T.ActNorm("act", x_dim), T.BatchNorm("bn", x_dim),
        T.InvertibleLinear("lin", x_dim), T.Planar("planar", x_dim), T.Radial("radial", x_dim),
        T.Permute([1, 2, 0]),
    ]
    base = dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1)
    with gd.plate("data"):
        gd.observe("x", dist.TransformedDistribution(base, chain))


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_gradients_reach_every_weight_of_every_transform(backend):
    from gendsl.inference.engines import make_engine

    model = every_transform()
    x = np.random.default_rng(0).normal(size=(16, 3))
    eng = make_engine(model, backend, "float64")
    params = eng.params_in({k: v + 0.1 for k, v in model.init_params(0).items()})
    batch = eng.put_data({"x": x})
    loss = gd.objectives.get("mle").loss
    if backend == "pyro":
        u = {k: v.clone().requires_grad_(True) for k, v in eng.lowered.unconstrain(params).items()}
        loss(eng.lowered, eng.lowered.constrain(u), batch, {}, 16, eng.backend.rng(None)).backward()
        grads = {k: np.zeros(tuple(v.shape)) if v.grad is None else v.grad.numpy() for k, v in u.items()}
    else:
        u = eng.lowered.unconstrain(params)
        grads = jax.jit(jax.grad(lambda u: loss(eng.lowered, eng.lowered.constrain(u), batch, {}, 16,
                                                eng.backend.rng(0))))(u)
    assert set(grads) == set(model.init_params(0))
    statistics = {"bn.mean", "bn.log_var"}  # set after training from the data, never by the gradient
    for k, g in grads.items():
        g = np.asarray(g)
        if k in statistics:
            assert np.all(g == 0), f"the gradient reaches the statistic {k!r}"
        else:
            assert np.all(np.isfinite(g)) and np.any(g != 0), f"no gradient reaches {k!r}"


def test_flow_log_prob_is_the_change_of_variables_and_agrees_across_backends():
    model = every_transform()
    params = {k: v + 0.1 for k, v in model.init_params(0).items()}
    x = np.random.default_rng(1).normal(size=(8, 3))
    rows = {b: Fitted(model, b, params, dtype="float64").log_prob(x) for b in ("pyro", "numpyro")}
    np.testing.assert_allclose(rows["pyro"], rows["numpyro"], rtol=1e-8)
    # by hand: z = t_1^-1(... t_n^-1(x)), log p = log N(z) - sum log|det J|
    chain = model.ir["x"].dist.args["specs"]
    ts = [_transform("numpyro", s, _own(params, s)) for s in chain]
    y, total = jnp.asarray(x), 0.0
    for t in reversed(ts):
        z = t.inv(y)
        total = total - t.log_abs_det_jacobian(z, y)
        y = z
    expected = total + jax.scipy.stats.norm.logpdf(y).sum(-1)
    np.testing.assert_allclose(rows["numpyro"], np.asarray(expected), rtol=1e-8)


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_flow_fit_save_load_and_encode_round_trip(backend, tmp_path):
    model = every_transform()
    x = np.random.default_rng(2).normal(size=(64, 3)) * np.array([1.0, 0.5, 2.0])
    fit = model.fit(x, backend=backend, epochs=2, batch_size=16, lr=1e-2, dtype="float64", progress=False)
    back = gd.load(fit.save(tmp_path / "flow.npz"))
    np.testing.assert_allclose(back.log_prob(x), fit.log_prob(x), rtol=1e-10)
    z = fit.encode(x)
    assert z.shape == x.shape
    np.testing.assert_allclose(fit.decode(z), x, atol=1e-6)


def test_transforms_validate_their_arguments():
    with pytest.raises(gd.ModelError, match="dim >= 2"):
        T.AffineCoupling("c", 1)
    with pytest.raises(gd.ModelError, match="mask must be"):
        T.AdditiveCoupling("c", 4, mask="checkerboard")
    with pytest.raises(gd.ModelError, match="permutation of range"):
        T.Permute([0, 0, 1])
    with pytest.raises(gd.ModelError, match="alpha must be"):
        T.Sigmoid(3, alpha=0.5)
    with pytest.raises(gd.ModelError, match="permutation of range"):
        T.MaskedAutoregressive("m", 3, ordering=[0, 1, 1])


def test_transformed_distribution_checks_shapes_and_kinds():
    base = dist.Normal(0.0, 1.0).expand([3]).to_event(1)
    with pytest.raises(gd.ShapeError, match=r"'c'\) has dim 4.*dim=3"):
        dist.TransformedDistribution(base, [T.AffineCoupling("c", 4)])
    with pytest.raises(gd.ShapeError, match="event shape"):
        dist.TransformedDistribution(dist.Normal(0.0, 1.0), [T.ActNorm("a", 1)])
    with pytest.raises(gd.ModelError, match="gendsl.transforms"):
        dist.TransformedDistribution(base, [lambda x: x])


def test_flow_renders_as_base_plus_its_transform_chain():
    import gendsl.models as zoo
    from gendsl.graph import graph_spec

    model = zoo.glow(x_dim=4, hidden=(8,), layers=3, levels=17)
    node = model.graph.nodes["x"]
    assert node["kind"] == "flow" and node["observed"]
    lines = node["label"].split("\n")
    assert lines[:4] == ["x", "flow of 10 transforms", "dequantised, 17 levels", "base Normal (4,)"]
    assert lines[4] == ("3 x [ActNorm(4) -> InvertibleLinear(4, LU) -> AffineCoupling(4, hidden 8, alternate)]")
    assert lines[5] == "Sigmoid(alpha=0.05)"
    # the transforms' weights are graph nodes (kind "transform") but are drawn inside the flow's node
    assert {model.graph.nodes[n]["kind"] for n in model.graph if n != "x"} == {"transform"}
    drawn = graph_spec(model.ir)["model"]
    assert [n["id"] for n in drawn["nodes"]] == ["x"] and drawn["edges"] == []
    assert drawn["label"] == "model p(x)"


def test_maf_label_writes_the_repeated_block_once():
    import gendsl.models as zoo

    lines = zoo.maf(x_dim=3, hidden=(5,), layers=4).graph.nodes["x"]["label"].split("\n")
    assert lines[3:5] == ["3 x [MaskedAutoregressive(3, MADE hidden 5, natural order) -> Reverse]",
                          "MaskedAutoregressive(3, MADE hidden 5, natural order)"]


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_dequantized_scores_the_fixed_noise_bound_and_samples_levels(backend):
    import gendsl.models as zoo
    from gendsl.families.dequantized import fixed_noise

    levels = 5
    model = zoo.realnvp(x_dim=4, hidden=(8,), layers=2, levels=levels, alpha=0.05)
    params = {k: v + 0.05 for k, v in model.init_params(0).items()}
    x = np.random.default_rng(0).integers(0, levels, (6, 4))
    fit = Fitted(model, backend, params, dtype="float64")
    # the same numbers as the continuous flow on (x + u) / levels, minus d log(levels)
    @gd.model
    def continuous(x_dim=4):
        base = dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1)
        chain = [T.AffineCoupling(f"coupling{i}", x_dim, (8,), parity=i) for i in range(2)]
        with gd.plate("data"):
            gd.observe("x", dist.TransformedDistribution(base, chain + [T.Sigmoid(x_dim, 0.05)]))

    y = (x + fixed_noise(x.shape)) / levels
    expected = Fitted(continuous(), backend, params, dtype="float64").log_prob(y) - 4 * np.log(levels)
    np.testing.assert_allclose(fit.log_prob(x), expected, rtol=1e-10)
    assert fit.bits_per_dim(x) == pytest.approx(-expected.mean() / (4 * np.log(2)))
    samples = fit.sample(200, seed=1)["x"]
    assert samples.shape == (200, 4) and np.issubdtype(samples.dtype, np.integer)
    assert samples.min() >= 0 and samples.max() <= levels - 1 and len(np.unique(samples)) == levels


@gd.model
def normalised(x_dim=2):
    """Coupling, batch norm, coupling, batch norm: the last one sees the data."""
    chain = [T.AffineCoupling("c1", x_dim, hidden=(16,)), T.BatchNorm("bn1", x_dim), T.Reverse(x_dim),
             T.AffineCoupling("c2", x_dim, hidden=(16,)), T.BatchNorm("bn2", x_dim)]
    base = dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1)
    with gd.plate("data"):
        gd.observe("x", dist.TransformedDistribution(base, chain))


def test_batch_norm_uses_batch_statistics_while_training(backend):
    """In a training run the layer standardises its minibatch exactly (to beta, exp(log_gamma))."""
    from gendsl.families import flow as flows

    b = get_backend(backend)
    spec = T.BatchNorm("bn", 3)
    y = np.random.default_rng(0).normal([5.0, -2.0, 0.5], [3.0, 0.1, 1.0], size=(400, 3))
    weights = {"bn.log_gamma": np.log([2.0, 1.0, 0.5]), "bn.beta": np.array([1.0, 0.0, -1.0]),
               "bn.mean": np.zeros(3), "bn.log_var": np.zeros(3)}
    params = {k: b.asarray(v, like=_like(backend)) for k, v in weights.items()}
    store = {}
    z, log_det = flows.batch_norm(b, spec, {**params, "bn." + flows.BATCH_MODE: store}, "bn.").inverse(
        _as_backend(backend, y))
    z = _np(z)
    np.testing.assert_allclose(z.mean(0), [1.0, 0.0, -1.0], atol=1e-9)
    np.testing.assert_allclose(z.std(0), [2.0, 1.0, 0.5] * np.sqrt(y.var(0) / (y.var(0) + 1e-5)), rtol=1e-9)
    np.testing.assert_allclose(_np(store["bn"][0]), y.mean(0), rtol=1e-12)
    expected = np.sum(0.5 * np.log(y.var(0) + 1e-5) - weights["bn.log_gamma"])
    np.testing.assert_allclose(_np(log_det), expected, rtol=1e-9)
    # evaluation: the stored statistics (here the identity's), whatever the batch
    z_eval, _ = flows.batch_norm(b, spec, params, "bn.").inverse(_as_backend(backend, y))
    np.testing.assert_allclose(_np(z_eval), (y / np.sqrt(1 + 1e-5)) * [2.0, 1.0, 0.5] + [1.0, 0.0, -1.0])


def test_fit_sets_population_statistics_and_the_density_normalises():
    x = np.random.default_rng(1).normal([3.0, -1.0], [2.0, 0.5], size=(1500, 2))
    fits = {b: normalised().fit(x, backend=b, epochs=5, lr=3e-3, batch_size=100, dtype="float64", progress=False)
            for b in ("pyro", "numpyro")}
    fit = fits["pyro"]
    # the last layer's input is the data itself: its statistics are the data's (all rows, one pass)
    np.testing.assert_allclose(fit.params["bn2.mean"], x.mean(0), rtol=1e-9)
    np.testing.assert_allclose(np.exp(fit.params["bn2.log_var"]), x.var(0), rtol=1e-9)
    assert not np.allclose(fit.params["bn1.log_var"], 0.0)  # the inner layer got its own statistics
    for k in fit.params:  # the two backends train and measure alike
        np.testing.assert_allclose(fits["numpyro"].params[k], fit.params[k], rtol=1e-6, atol=1e-8)
    # evaluation uses the stored statistics: a proper density, integrating to 1 on a wide grid
    g0, g1 = np.meshgrid(np.linspace(-7, 13, 401), np.linspace(-4, 2, 301), indexing="ij")
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1)
    mass = np.exp(fit.log_prob(grid)).sum() * (20 / 400) * (6 / 300)
    assert abs(mass - 1.0) < 0.01
    # ... so one row's density does not depend on the rows it is scored with
    np.testing.assert_allclose(fit.log_prob(x[:1]), fit.log_prob(x[:50])[:1], rtol=1e-12)


def test_zoo_flows_take_batch_norm_after_every_layer():
    import gendsl.models as zoo

    model = zoo.maf(x_dim=3, hidden=(8,), layers=2, batch_norm=True)
    assert sorted(n.name for n in model.ir.nets) == ["layer0", "layer0_bn", "layer1", "layer1_bn"]
    assert "BatchNorm(3)" in model.to_dot()
    x = np.random.default_rng(0).normal(size=(200, 3)) * [1.0, 5.0, 0.2]
    fit = model.fit(x, epochs=2, progress=False)
    np.testing.assert_allclose(np.exp(fit.params["layer1_bn.log_var"]), x.var(0), rtol=1e-5)
    assert [n.name for n in zoo.realnvp(x_dim=2, layers=2).ir.nets] == ["coupling0", "coupling1"]


def test_population_statistics_in_a_training_callback_leave_the_run_alone():
    """A callback that reads the parameters (population statistics measured with a
    seeded pass) must not reseed the generator the training steps draw from."""
    import torch

    x = np.random.default_rng(1).normal(size=(300, 2))
    moved = []

    def callback(epoch, params, history):
        torch.rand(1)  # the stream moves on (as a training step's draws would move it)
        before = torch.get_rng_state()
        assert np.all(np.isfinite(params()["bn2.mean"]))
        moved.append(not torch.equal(before, torch.get_rng_state()))

    normalised().fit(x, backend="pyro", epochs=2, batch_size=100, progress=False, callback=callback)
    assert moved == [False, False]
