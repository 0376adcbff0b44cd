"""Tracing builds the IR once, statically: checked here as data."""

import numpy as np
import pytest

import gendsl as gd
from gendsl import dist, ir, nn, ops
from gendsl.shapes import Dim, broadcast_shapes


from .example_models import vae  # noqa: E402  (DESIGN §1's VAE)


def test_model_ir_nodes_shapes_and_plates():
    m = vae(z_dim=16)
    N = Dim("data")
    named = [n for n in m.ir.nodes if n.named]
    assert [(n.name, n.kind) for n in named] == [("decoder", "net"), ("z", "sample"), ("x", "sample")]
    z, x = m.ir["z"], m.ir["x"]
    assert z.shape == (N, 16) and z.event_shape == (16,) and z.batch_shape == (N,)
    assert x.shape == (N, 64) and x.observed and not z.observed
    assert z.plates == x.plates == ("data",)
    assert m.ir.plates == {"data": ir.Plate("data", None, -1)}
    assert m.ir["decoder"].spec == nn.MLP("decoder", [16, 256, 64])
    assert x.dist.family == "Bernoulli" and x.dist.wrappers == (("to_event", 1),)
    assert m.ir.dependencies == {"decoder": (), "z": (), "x": ("decoder", "z")}
    assert m.hyper == {"x_dim": 64, "z_dim": 16, "hidden": 256}


def test_guide_ir_reads_data_inputs_and_shares_plates():
    m = vae(z_dim=4)
    g = m.guide_ir
    assert g.role == "guide" and g.inputs == ("x",)
    assert g["x"].kind == "input" and g["x"].shape == (Dim("data"), 64)
    ops_used = [n.op for n in g.nodes if n.kind == "op"]
    assert ops_used == ["apply", "slice_axis", "slice_axis", "exp"]
    assert g.dependencies["z"] == ("encoder", "x")
    assert g.plates["data"] == m.ir.plates["data"]


def test_shared_subexpressions_are_computed_once():
    m = vae()
    applies = [n for n in m.guide_ir.nodes if n.kind == "op" and n.op == "apply"]
    assert len(applies) == 1  # split reads one network output twice


def test_ir_is_frozen():
    m = vae()
    with pytest.raises(Exception):
        m.ir["z"].name = "w"


def test_nested_plates_allocate_dims_like_pyro():
    @gd.model
    def grid(x_dim=3):
        with gd.plate("rows"):
            with gd.plate("cols", 5):
                gd.observe("x", dist.Normal(0.0, 1.0))
        with gd.plate("other", 2, dim=-3):
            gd.sample("w", dist.Normal(0.0, 1.0))

    p = grid().ir
    assert p.plates["rows"].dim == -1 and p.plates["cols"].dim == -2 and p.plates["other"].dim == -3
    assert p["x"].shape == (5, Dim("rows"))
    assert p["w"].shape == (2, 1, 1)
    assert p.max_plate_nesting == 3


def test_operators_and_indexing_trace_to_ops():
    @gd.model
    def arith(k=3, d=2):
        theta = gd.param("theta", (k, d))
        with gd.plate("data"):
            y = gd.sample("y", dist.Categorical(logits=ops.zeros(k)))
            mu = gd.deterministic("mu", 2.0 * theta[y] + 1.0)
            gd.observe("x", dist.Normal(mu @ np.ones((d, d)), ops.softplus(-mu) + 0.1).to_event(1))

    p = arith().ir
    assert p["mu"].shape == (Dim("data"), 2) and p["mu"].kind == "deterministic"
    assert [n.op for n in p.nodes if n.kind == "op"] == [
        "getitem", "multiply", "add", "matmul", "negative", "softplus", "add"]
    assert p.dependencies["x"] == ("mu",)
    assert p.dependencies["mu"] == ("theta", "y")
    assert p["y"].dtype == "int"


def test_ops_on_plain_arrays_compute_with_numpy():
    np.testing.assert_allclose(ops.logsumexp(np.zeros(4)), np.log(4))
    np.testing.assert_allclose(ops.sigmoid(0.0), 0.5)
    assert ops.one_hot(np.array([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]


def test_shape_inference_keeps_plate_dims_symbolic():
    @gd.model
    def shapes(d=4):
        w = gd.param("w", (d, 3))
        with gd.plate("data"):
            x = gd.sample("x", dist.Normal(0.0, 1.0).expand([d]).to_event(1))
            h = ops.concatenate([x @ w, x], axis=-1)
            s = ops.sum(h, axis=-1, keepdims=True)
            gd.deterministic("h", h)
            gd.deterministic("s", s)
            gd.deterministic("t", ops.stack([x, x], axis=0))

    p = shapes().ir
    N = Dim("data")
    assert p["h"].shape == (N, 7)
    assert p["s"].shape == (N, 1)
    assert p["t"].shape == (2, N, 4)


def test_broadcast_rules_for_plate_sizes():
    N = Dim("data")
    assert broadcast_shapes((N, 1), (1, 4)) == (N, 4)
    assert broadcast_shapes((N,), (N,)) == (N,)
    with pytest.raises(gd.ShapeError):
        broadcast_shapes((N,), (5,))


def test_distribution_specs_have_static_shapes():
    d = dist.Normal(np.zeros((3, 1)), np.ones(4))
    assert d.batch_shape == (3, 4) and d.event_shape == ()
    d = d.to_event(1)
    assert d.batch_shape == (3,) and d.event_shape == (4,)
    c = dist.Categorical(probs=np.full((2, 5), 0.2))
    assert c.batch_shape == (2,) and c.event_shape == () and c.is_enumerable
    mvn = dist.MultivariateNormal(np.zeros(3), scale_tril=np.eye(3))
    assert mvn.batch_shape == () and mvn.event_shape == (3,)
    mix = dist.MixtureSameFamily(dist.Categorical(logits=np.zeros(4)), dist.Normal(np.zeros(4), 1.0))
    assert mix.batch_shape == () and mix.event_shape == ()
    assert dist.Dirichlet(np.ones(3)).event_shape == (3,)


def test_param_initialisers():
    @gd.model
    def inits(k=3):
        gd.param("a", (k,), init=0.5, constraint="unit_interval")
        gd.param("b", (k,), init="uniform", constraint="simplex")
        gd.param("c", (2, 2), init=np.eye(2), constraint="lower_cholesky")
        gd.param("d", 4, init="small")

    p = inits().init_params(seed=0)
    np.testing.assert_array_equal(p["a"], [0.5, 0.5, 0.5])
    assert np.isclose(p["b"].sum(), 1.0) and np.all(p["b"] > 0)
    np.testing.assert_array_equal(p["c"], np.eye(2))
    assert p["d"].shape == (4,) and np.abs(p["d"]).max() < 0.1
    q = inits().init_params(seed=1)
    assert not np.allclose(p["b"], q["b"])


def test_model_factory_binds_hyperparameters():
    assert vae.defaults == {"x_dim": 64, "z_dim": 8, "hidden": 256}
    assert vae.__doc__.startswith("Variational autoencoder")
    m1, m2 = vae(z_dim=2), vae(z_dim=3)
    assert m1.ir["z"].shape[-1] == 2 and m2.ir["z"].shape[-1] == 3
    assert "vae(x_dim=64, z_dim=2, hidden=256)" in repr(m1)
