"""Drawing a graph spec: DOT, SVG/PNG/PDF, Mermaid, JSON and Jupyter output.

The last stage of the rendering pipeline (see :mod:`gendsl.graph`): every
function here reads only the plain spec dict made by
:func:`gendsl.graph.graph_spec`. Text exports (DOT, Mermaid, JSON) need no
Graphviz program; images need Graphviz's ``dot`` on ``PATH``. The
``graphviz`` Python package is imported lazily, since most code paths
(training, evaluation) never draw anything.

Example:
    >>> import gendsl as gd
    >>> from gendsl import dist
    >>> from gendsl.graph import graph_spec
    >>> @gd.model
    ... def coin():
    ...     p = gd.param("p", (), init=0.5, constraint="unit_interval")
    ...     with gd.plate("data"):
    ...         gd.observe("x", dist.Bernoulli(probs=p))
    >>> print(to_mermaid(graph_spec(coin().ir)).splitlines()[0])
    flowchart TB
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

from .errors import GraphvizNotFoundError

__all__ = [
    "FORMATS",
    "GraphvizNotFoundError",
    "dot_available",
    "to_dot",
    "render",
    "to_mermaid",
    "to_json",
    "mimebundle",
]

# File suffix -> output format; "dot" is written as text, the rest by Graphviz.
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

_INSTALL_HINT = (
    "install Graphviz (`apt-get install graphviz`, `brew install graphviz` or "
    "`conda install -c conda-forge graphviz`), or export text that needs nothing "
    "installed: render(path='model.dot'), model.to_dot(), model.to_mermaid(), model.to_json()"
)


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program is on ``PATH``."""
    return shutil.which("dot") is not None


def _graphviz():
    try:
        import graphviz
    except ImportError as exc:  # a declared dependency, but an install may lack it
        raise ImportError("drawing graphs needs the graphviz package: pip install graphviz") from exc
    return graphviz


# -- DOT ----------------------------------------------------------------------------
def _dot_name(node_id: str) -> str:
    """A DOT node name for a spec id. The graphviz package reads ``a:b`` in an
    edge as node ``a``, port ``b``, so ``:`` (guide ids) is escaped, and ``%``
    too, which keeps the mapping one-to-one."""
    return node_id.replace("%", "%25").replace(":", "%3A")


def _dot_text(text: str, newline: str = "\\n"):
    """A multi-line label as DOT text: backslashes escaped, lines joined by
    ``\\n`` (centred) or ``\\r`` (right-justified)."""
    graphviz = _graphviz()
    return graphviz.nohtml(newline.join(graphviz.escape(line) for line in text.split("\n")))


def _draw_part(graph, part: dict, prefix: str = "") -> None:
    """Adds one part's plates (nested clusters), nodes and edges to ``graph``."""
    children: dict = {}
    for plate in part["plates"]:
        children.setdefault(plate["parent"], []).append(plate)
    members: dict = {}
    for node in part["nodes"]:
        # A node sits in its innermost plate; the clusters nest around it.
        members.setdefault(node["plates"][-1] if node["plates"] else None, []).append(node)

    def fill(g, plate_name):
        for node in members.get(plate_name, ()):
            g.node(_dot_name(node["id"]), label=_dot_text(node["label"]), _attributes=node["style"])
        for plate in children.get(plate_name, ()):
            with g.subgraph(name="cluster_" + _dot_name(prefix + plate["name"])) as cluster:
                # Plate notation puts the plate's name and size bottom-right.
                cluster.attr(label=_dot_text(plate["label"] + "\n", "\\r"), labeljust="r", labelloc="b")
                fill(cluster, plate["name"])

    fill(graph, None)
    # Edges go outside the plate clusters so they never pull a node into one.
    for edge in part["edges"]:
        graph.edge(_dot_name(edge["source"]), _dot_name(edge["target"]), _attributes=edge["style"])


def _digraph(spec: dict):
    """The spec as a ``graphviz.Digraph`` (building it needs no ``dot``)."""
    graph = _graphviz().Digraph(name=spec["name"])
    _draw_part(graph, spec["model"])
    from .graph import EXTRA_PARTS

    for key, prefix in EXTRA_PARTS:  # the guide, a discriminator, an objective's losses
        part = spec.get(key)
        if part is None:
            continue
        with graph.subgraph(name="cluster_" + _dot_name(prefix)) as cluster:
            cluster.attr(label=_dot_text(part["label"]), labeljust="l", labelloc="t",
                         style="dashed", color="#888888")
            _draw_part(cluster, part, prefix)
    for link in spec.get("links", ()):
        graph.edge(_dot_name(link["source"]), _dot_name(link["target"]), _attributes=link["style"])
    return graph


def to_dot(spec: dict) -> str:
    """DOT source for the spec, in plate notation; needs no Graphviz program.

    Each plate is a ``subgraph cluster_<plate>`` (nested as the plates nest),
    labelled with its name and size at the bottom right; the guide, when
    present, is its own cluster labelled ``guide q(...)``, with dashed links
    to the model sites it approximates.
    """
    return _digraph(spec).source


# -- files ----------------------------------------------------------------------------
def _format(path: Path, format: str | None) -> str:
    """The output format: ``format=`` when given, else the path's suffix."""
    known = sorted(set(FORMATS.values()))
    if format is not None:
        if format.lower() not in known:
            raise ValueError(f"cannot render format {format!r}; choose one of {known}")
        return format.lower()
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the format of {str(path)!r} from its suffix {path.suffix!r}; "
            f"use one of {sorted(FORMATS)} or pass format= (one of {known})"
        )
    return fmt


def _pipe(graph, fmt: str) -> bytes:
    """Runs ``dot`` on ``graph``, with an install hint when it is missing."""
    if not dot_available():
        raise GraphvizNotFoundError(f"rendering {fmt} needs Graphviz's `dot` program, which is not on PATH; {_INSTALL_HINT}")
    try:
        return graph.pipe(format=fmt)
    except _graphviz().ExecutableNotFound as exc:
        raise GraphvizNotFoundError(f"rendering {fmt} could not run Graphviz's `dot`; {_INSTALL_HINT}") from exc


def render(spec: dict, path=None, format: str | None = None):
    """Draws the spec in plate notation.

    Args:
        spec: a graph spec from :func:`gendsl.graph.graph_spec`.
        path: output file, or ``None`` to return the ``graphviz.Digraph``
            (which notebooks display inline).
        format: ``"svg"``, ``"png"``, ``"pdf"`` or ``"dot"``; by default the
            suffix of ``path`` decides (``.svg``, ``.png``, ``.pdf``,
            ``.dot``/``.gv``).

    Returns:
        The ``graphviz.Digraph`` when ``path`` is ``None``, else the written
        path as a :class:`pathlib.Path`.

    Raises:
        ValueError: the format is not one of the supported ones.
        GraphvizNotFoundError: an image was asked for and ``dot`` is missing
            (``.dot`` files never need it).
    """
    graph = _digraph(spec)
    if path is None:
        if format is not None:
            graph.format = _format(Path(), format)
        return graph
    path = Path(path)
    fmt = _format(path, format)
    if fmt == "dot":
        path.write_text(graph.source, encoding="utf-8")
    else:
        path.write_bytes(_pipe(graph, fmt))
    return path


# -- Mermaid ----------------------------------------------------------------------------
# Graphviz shape -> Mermaid brackets; anything else is a plain rectangle.
_MERMAID_SHAPES = {
    "ellipse": ("([", "])"), "oval": ("([", "])"), "circle": ("((", "))"),
    "doublecircle": ("(((", ")))"), "diamond": ("{", "}"), "hexagon": ("{{", "}}"),
}


def _mermaid_text(text: str) -> str:
    # Mermaid reads quotes and angle brackets as markup; entity codes are literal.
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text.replace("\n", "<br/>")


def _mermaid_node(mid: str, node: dict) -> list:
    style = node["style"]
    parts = set(style.get("style", "").split(","))
    opening, closing = _MERMAID_SHAPES.get(style.get("shape", "box"), ("[", "]"))
    if "rounded" in parts and (opening, closing) == ("[", "]"):
        opening, closing = "(", ")"
    css = [f"fill:{style.get('fillcolor', '#ffffff') if 'filled' in parts else '#ffffff'}"]
    css.append("stroke:none" if style.get("shape") in ("plaintext", "plain", "none") else "stroke:#333333")
    if "dashed" in parts:
        css.append("stroke-dasharray:5 5")
    return [f'{mid}{opening}"{_mermaid_text(node["label"])}"{closing}', f"style {mid} {','.join(css)}"]


def _mermaid_part(part: dict, ids: dict, lines: list, indent: str, counter) -> None:
    children: dict = {}
    for plate in part["plates"]:
        children.setdefault(plate["parent"], []).append(plate)
    members: dict = {}
    for node in part["nodes"]:
        members.setdefault(node["plates"][-1] if node["plates"] else None, []).append(node)

    def fill(plate_name, pad):
        for node in members.get(plate_name, ()):
            lines.extend(pad + line for line in _mermaid_node(ids[node["id"]], node))
        for plate in children.get(plate_name, ()):
            sid = f"plate{next(counter)}"  # plate names repeat across model and guide
            lines.append(f'{pad}subgraph {sid}["{_mermaid_text(plate["label"])}"]')
            fill(plate["name"], pad + "    ")
            lines.append(f"{pad}end")

    fill(None, indent)


def to_mermaid(spec: dict) -> str:
    """A Mermaid ``flowchart TB``: a ``subgraph`` per plate, node shapes and
    colours from the spec's styles; needs nothing installed."""
    from .graph import EXTRA_PARTS

    extra = [(key, spec[key]) for key, _ in EXTRA_PARTS if spec.get(key) is not None]
    parts = [spec["model"]] + [part for _, part in extra]
    # Spec ids ("guide:z") are not valid Mermaid ids; number them instead.
    ids = {node["id"]: f"n{i}" for i, node in enumerate(n for p in parts for n in p["nodes"])}
    lines, counter = ["flowchart TB"], itertools.count()
    _mermaid_part(spec["model"], ids, lines, "    ", counter)
    for key, part in extra:
        lines.append(f'    subgraph {key}_part["{_mermaid_text(part["label"])}"]')
        _mermaid_part(part, ids, lines, "        ", counter)
        lines.append("    end")
    for part in parts:
        lines.extend(f"    {ids[e['source']]} --> {ids[e['target']]}" for e in part["edges"])
    for link in spec.get("links", ()):
        arrow = "-->" if link["style"].get("style") != "dashed" else "-.->"
        lines.append(f"    {ids[link['source']]} {arrow} {ids[link['target']]}")
    return "\n".join(lines)


# -- JSON and notebooks ------------------------------------------------------------------
def to_json(spec: dict) -> str:
    """The spec as JSON (sorted keys, indent 2); ``json.loads`` gives it back."""
    return json.dumps(spec, sort_keys=True, indent=2)


def mimebundle(spec: dict, text: str) -> dict:
    """Jupyter output: an SVG when ``dot`` is installed, else a Mermaid block
    (which JupyterLab and GitHub render), with ``text`` as plain text."""
    if dot_available():
        try:
            svg = _pipe(_digraph(spec), "svg").decode("utf-8")
            return {"image/svg+xml": svg, "text/plain": text}
        except (GraphvizNotFoundError, ImportError, subprocess.CalledProcessError):
            pass  # a display must not fail; the Mermaid text below says as much
    return {"text/markdown": f"```mermaid\n{to_mermaid(spec)}\n```", "text/plain": text}
