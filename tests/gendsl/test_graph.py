"""Tests for gendsl.graph: the networkx view and the graph spec, checked as data."""

from __future__ import annotations

import json

import networkx as nx
import pytest

import gendsl as gd
from gendsl import dist
from gendsl.graph import DEFAULT_STYLE, GUIDE_PREFIX, NODE_STYLES, graph_spec, to_networkx
from gendsl.render import to_json


from .example_models import nested, vae  # noqa: E402  (shared test models)


@gd.model
def naive_bayes(n_classes=3, n_features=5):
    pi = gd.param("pi", (n_classes,), init=1.0 / n_classes, constraint="simplex")
    theta = gd.param("theta", (n_classes, n_features), init=0.5, constraint="unit_interval")
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(probs=pi))
        gd.observe("x", dist.Bernoulli(probs=theta[y]).to_event(1))




def _nodes(part):
    return {node["id"]: node for node in part["nodes"]}


def _edges(part):
    return {(edge["source"], edge["target"]) for edge in part["edges"]}


# ---------------------------------------------------------------- networkx


def test_vae_graph_nodes_edges_and_attributes():
    g = vae(z_dim=16).graph
    assert isinstance(g, nx.DiGraph)
    assert set(g.nodes) == {"decoder", "z", "x"}  # the apply op is looked through
    assert set(g.edges) == {("decoder", "x"), ("z", "x")}
    assert g.nodes["z"]["kind"] == "latent"
    assert g.nodes["z"]["dist"] == "Normal"
    assert g.nodes["z"]["shape"] == "(N_data, 16)"
    assert g.nodes["z"]["event_shape"] == "(16,)"
    assert g.nodes["z"]["plates"] == ("data",)
    assert g.nodes["z"]["label"] == "z\nNormal\n(N_data, 16)"
    assert g.nodes["z"]["observed"] is False
    assert g.nodes["x"]["kind"] == "observed" and g.nodes["x"]["observed"] is True
    assert g.nodes["decoder"]["kind"] == "net"
    assert g.nodes["decoder"]["net"] == "MLP 16-256-64"
    assert g.nodes["decoder"]["label"] == "decoder\nMLP 16-256-64"
    assert g.graph["name"] == "vae" and g.graph["role"] == "model"
    assert g.graph["plates"] == {"data": {"size": None, "dim": -1, "parent": None}}


def test_guide_graph_edges_come_from_dependencies():
    g = vae(z_dim=16).guide_graph
    assert g.graph["role"] == "guide"
    assert set(g.nodes) == {"x", "encoder", "z"}
    assert set(g.edges) == {("encoder", "z"), ("x", "z")}
    assert g.nodes["x"]["kind"] == "input"
    assert g.nodes["x"]["label"] == "x\ndata\n(N_data, 64)"


def test_naive_bayes_params_and_constraints():
    g = to_networkx(naive_bayes().ir)
    assert set(g.edges) == {("pi", "y"), ("theta", "x"), ("y", "x")}
    assert g.nodes["pi"]["kind"] == "param"
    assert g.nodes["pi"]["constraint"] == "simplex"
    assert g.nodes["theta"]["constraint"] == "unit_interval"
    assert g.nodes["pi"]["label"] == "pi\nparam: simplex\n(3,)"
    assert g.nodes["y"]["kind"] == "latent" and g.nodes["y"]["dist"] == "Categorical"
    assert g.nodes["x"]["kind"] == "observed"


def test_nested_plates_and_deterministic():
    g = to_networkx(nested().ir)
    assert set(g.nodes) == {"mu", "y", "mu2"}
    assert set(g.edges) == {("mu", "y"), ("mu", "mu2")}
    assert g.nodes["y"]["plates"] == ("data", "feat")
    assert g.nodes["mu2"]["kind"] == "deterministic"
    assert g.graph["plates"]["feat"] == {"size": 5, "dim": -2, "parent": "data"}


def test_node_attributes_are_plain_data():
    allowed = (str, bool, int, tuple, type(None))
    for _, data in vae().graph.nodes(data=True):
        assert all(isinstance(value, allowed) for value in data.values()), data


# ---------------------------------------------------------------- graph spec


def test_vae_spec_parts_and_guide_ids():
    m = vae(z_dim=16)
    spec = m.graph_spec()
    assert set(spec) == {"name", "model", "guide", "links"}
    assert spec["name"] == "vae"
    assert set(_nodes(spec["model"])) == {"decoder", "z", "x"}
    assert _edges(spec["model"]) == {("decoder", "x"), ("z", "x")}
    guide = _nodes(spec["guide"])
    assert set(guide) == {"guide:x", "guide:encoder", "guide:z"}
    assert {node["name"] for node in guide.values()} == {"x", "encoder", "z"}
    assert _edges(spec["guide"]) == {("guide:encoder", "guide:z"), ("guide:x", "guide:z")}
    assert spec["guide"]["label"] == "guide q(z | x)"
    assert [(link["source"], link["target"]) for link in spec["links"]] == [("guide:z", "z")]
    assert spec["links"][0]["style"]["style"] == "dashed"
    assert GUIDE_PREFIX == "guide:"


def test_spec_without_guide():
    m = vae()
    spec = m.graph_spec(guide=False)
    assert spec["guide"] is None and spec["links"] == []
    assert graph_spec(m.ir) == spec
    assert graph_spec(m.ir, m.guide_ir) == m.graph_spec()


def test_spec_node_fields_and_labels():
    z = _nodes(vae(z_dim=16).graph_spec()["model"])["z"]
    assert set(z) == {"id", "name", "kind", "label", "dist", "shape", "plates", "style"}
    assert z["label"].split("\n") == ["z", "Normal", "(N_data, 16)"]
    assert z["plates"] == ["data"]
    for node in vae().graph_spec()["model"]["nodes"]:
        assert node["name"] in node["label"]


def test_spec_styles_by_kind():
    nodes = _nodes(vae().graph_spec()["model"])
    observed, latent, net = nodes["x"]["style"], nodes["z"]["style"], nodes["decoder"]["style"]
    assert "filled" in observed["style"] and observed["fillcolor"]
    assert observed["shape"] == latent["shape"] == "ellipse"
    assert "fillcolor" not in latent  # latent variables are left white
    assert net["shape"] == "box" and "rounded" in net["style"] and net["fillcolor"]
    assert net["fillcolor"] != observed["fillcolor"]
    params = _nodes(naive_bayes().graph_spec()["model"])
    assert params["pi"]["style"] == NODE_STYLES["param"]
    assert params["pi"]["style"]["shape"] in ("plaintext", "plain", "box")
    det = _nodes(nested().graph_spec()["model"])["mu2"]["style"]
    assert "dashed" in det.get("style", "") or det["shape"] == "diamond"
    guide_x = _nodes(vae().graph_spec()["guide"])["guide:x"]
    assert guide_x["kind"] == "input" and guide_x["style"]["fillcolor"]


def test_style_table_leaves_room_for_new_kinds():
    assert "chain" in NODE_STYLES
    assert DEFAULT_STYLE and "shape" in DEFAULT_STYLE


def test_spec_nested_plate_parents():
    plates = nested().graph_spec()["model"]["plates"]
    assert plates == [
        {"name": "data", "size": None, "label": "data\nN", "parent": None},
        {"name": "feat", "size": 5, "label": "feat\n5", "parent": "data"},
    ]


def test_spec_json_round_trip():
    for m in (vae(z_dim=16), naive_bayes(), nested()):
        spec = m.graph_spec()
        assert json.loads(to_json(spec)) == spec
        assert json.loads(m.to_json()) == spec


@pytest.mark.parametrize("factory", [vae, naive_bayes, nested])
def test_spec_edges_reference_known_nodes(factory):
    spec = factory().graph_spec()
    parts = [p for p in (spec["model"], spec["guide"]) if p is not None]
    ids = {node["id"] for part in parts for node in part["nodes"]}
    for part in parts:
        assert all(e["source"] in ids and e["target"] in ids for e in part["edges"])
        names = {plate["name"] for plate in part["plates"]}
        assert all(plate["parent"] is None or plate["parent"] in names for plate in part["plates"])
    assert all(link["source"] in ids and link["target"] in ids for link in spec["links"])
