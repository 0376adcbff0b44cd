"""Tests for gendsl.render: DOT, Mermaid, files and notebook output.

The ``dot`` program is installed wherever these tests run, so image output is
tested for real; a missing binary is simulated by emptying ``PATH``.
"""

from __future__ import annotations

import pytest

import gendsl as gd
from gendsl import render
from gendsl.render import GraphvizNotFoundError, mimebundle, to_dot, to_mermaid


from .example_models import nested, vae  # noqa: E402  (shared test models)




@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH on which no Graphviz program can be found."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not render.dot_available()


# ---------------------------------------------------------------- DOT


def test_dot_has_plate_clusters_and_nodes():
    text = vae(z_dim=16).to_dot()
    assert text.startswith("digraph vae {")
    assert "subgraph cluster_data {" in text
    assert "labeljust=r" in text and "labelloc=b" in text
    for name in ("decoder", "encoder", "z", "x"):
        assert name in text
    assert "z\\nNormal\\n(N_data, 16)" in text
    assert "guide q(z | x)" in text
    assert "style=dashed" in text


def test_dot_nests_plates():
    lines = nested().to_dot().splitlines()
    # The graphviz package indents one tab per level: feat sits inside data.
    assert "\tsubgraph cluster_data {" in lines
    assert "\t\tsubgraph cluster_feat {" in lines
    assert lines.index("\t\tsubgraph cluster_feat {") > lines.index("\tsubgraph cluster_data {")
    assert "\t\t\ty [" in "\n".join(lines)  # y is drawn in the inner plate
    assert any("feat\\r5\\r" in line for line in lines)


def test_dot_text_needs_no_binary(no_dot):
    assert "cluster_data" in to_dot(vae().graph_spec())


# ---------------------------------------------------------------- Mermaid and JSON


def test_mermaid_flowchart_with_subgraphs():
    text = vae(z_dim=16).to_mermaid()
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    assert sum(line.strip().startswith("subgraph") for line in lines) == 3  # 2 plates + guide
    assert sum(line.strip() == "end" for line in lines) == 3
    assert 'data<br/>N' in text and "guide q(z | x)" in text
    assert "-.->" in text  # the guide link
    assert "fill:#d9d9d9" in text  # observed x is shaded


def test_mermaid_nested_subgraphs():
    lines = [line.strip() for line in nested().to_mermaid().splitlines()]
    opened = [line for line in lines if line.startswith("subgraph")]
    assert '"data<br/>N"' in opened[0] and '"feat<br/>5"' in opened[1]


# ---------------------------------------------------------------- files


def test_render_svg(tmp_path):
    out = vae(z_dim=16).render(tmp_path / "vae.svg")
    assert out == tmp_path / "vae.svg"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<?xml") or "<svg" in text
    for name in ("decoder", "encoder", "Bernoulli", "guide q(z | x)"):
        assert name in text


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_render_binary_formats(tmp_path, suffix, magic):
    out = nested().render(tmp_path / f"nested{suffix}")
    assert out.read_bytes().startswith(magic)


def test_render_format_argument_overrides_suffix(tmp_path):
    out = nested().render(tmp_path / "graph.txt", format="dot")
    assert "cluster_feat" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("suffix", [".dot", ".gv"])
def test_render_dot_without_binary(tmp_path, no_dot, suffix):
    out = vae().render(str(tmp_path / f"vae{suffix}"))
    assert out.read_text(encoding="utf-8") == vae().to_dot()


def test_render_none_returns_digraph():
    graphviz = pytest.importorskip("graphviz")
    graph = vae().render()
    assert isinstance(graph, graphviz.Digraph)
    assert "cluster_data" in graph.source


def test_render_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.jpg.*'\.dot'.*'\.svg'"):
        vae().render(tmp_path / "vae.jpg")
    with pytest.raises(ValueError, match="choose one of"):
        vae().render(tmp_path / "vae.svg", format="bmp")


def test_render_missing_binary_says_how_to_install(tmp_path, no_dot):
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz") as info:
        vae().render(tmp_path / "vae.svg")
    assert "brew install graphviz" in str(info.value)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, gd.GendslError)
    assert not (tmp_path / "vae.svg").exists()


# ---------------------------------------------------------------- notebooks


def test_repr_mimebundle_has_svg():
    m = vae(z_dim=16)
    bundle = m._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    assert "<svg" in bundle["image/svg+xml"] and "decoder" in bundle["image/svg+xml"]
    assert bundle["text/plain"] == repr(m)


def test_mimebundle_falls_back_to_mermaid(no_dot):
    spec = vae().graph_spec()
    bundle = mimebundle(spec, "vae")
    assert set(bundle) == {"text/markdown", "text/plain"}
    assert bundle["text/markdown"] == f"```mermaid\n{to_mermaid(spec)}\n```"
    assert bundle["text/plain"] == "vae"
