"""Graph views of a traced program: a networkx graph and a plain graph spec.

Rendering is a pipeline of three stages, as in Pyro's ``render_model``:

1. :func:`to_networkx` reads a :class:`gendsl.ir.Program` and keeps its
   *named* nodes (random variables, parameters, networks, deterministic
   values, data inputs) with their dependencies as edges; ``Op`` nodes are
   looked through, so ``x ~ Bernoulli(decoder(z))`` gives ``decoder -> x``
   and ``z -> x``.
2. :func:`graph_spec` turns the model's (and guide's) graph into a plain,
   JSON-serialisable dict: nodes with labels and graphviz styles, edges,
   nested plates, and dashed links from each guide site to the model site it
   approximates. Tests check this dict as data.
3. :mod:`gendsl.render` draws the spec (DOT, SVG/PNG/PDF, Mermaid, JSON) and
   reads nothing else.

The spec has this layout::

    {"name": "vae",
     "model": PART, "guide": PART or None,
     "links": [{"source": "guide:z", "target": "z", "kind": "approximates",
                "style": {...}}]}

A GAN's spec adds ``"discriminator": PART`` (ids ``"discriminator:..."``)
and, given the objective's terms, ``"objective": PART`` with one ``"loss"``
node per player, linked to the score it reads and the networks it trains.

    PART = {"label": "guide q(z | x)",
            "nodes": [{"id", "name", "kind", "label", "dist", "shape",
                       "plates", "style"}],
            "edges": [{"source", "target", "style"}],
            "plates": [{"name", "size", "label", "parent"}]}   # parents first

Node kinds are ``"latent"``, ``"observed"``, ``"param"``, ``"net"``,
``"deterministic"``, ``"input"`` (a guide's data), ``"covariate"`` (a model's
exogenous input, ``gd.covariate``) and ``"chain"`` (an autoregressive chain
collapsed into one node, ``x_i | x_<i``, shaded when observed); any other
kind is drawn with :data:`DEFAULT_STYLE` until :data:`NODE_STYLES` names it.
"""

from __future__ import annotations

from typing import Callable

from . import ir
from .dist import FAMILIES
from .shapes import format_shape
from .transforms import Bijector

__all__ = [
    "NODE_STYLES",
    "DEFAULT_STYLE",
    "EDGE_STYLE",
    "LINK_STYLE",
    "GUIDE_PREFIX",
    "DISCRIMINATOR_PREFIX",
    "OBJECTIVE_PREFIX",
    "EXTRA_PARTS",
    "to_networkx",
    "graph_spec",
]

# The one place to change how graphs look. Values are graphviz attributes
# (strings); colours are hex so the Mermaid export can reuse them as CSS.
NODE_STYLES: dict[str, dict[str, str]] = {
    "observed": {"shape": "ellipse", "style": "filled", "fillcolor": "#d9d9d9"},
    "latent": {"shape": "ellipse"},
    "param": {"shape": "plaintext"},
    "net": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe"},
    "deterministic": {"shape": "ellipse", "style": "dashed"},
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#d9d9d9"},
    # An exogenous input of the model (gd.covariate): data, not modelled (PyMC's pm.Data).
    "covariate": {"shape": "box", "style": "rounded,filled", "fillcolor": "#d9d9d9"},
    # A collapsed autoregressive (or diffusion) chain (DESIGN §4).
    "chain": {"shape": "box", "style": "rounded", "peripheries": "2"},
    # A normalizing flow: base distribution and transform chain listed in one node.
    "flow": {"shape": "box", "style": "rounded"},
    # A player's loss in an adversarial objective.
    "loss": {"shape": "note", "style": "filled", "fillcolor": "#fef3c7"},
}
# kinds kept in the networkx graph but folded into another node when drawn
HIDDEN_KINDS = ("transform",)
DEFAULT_STYLE: dict[str, str] = {"shape": "box"}
EDGE_STYLE: dict[str, str] = {}
# constraint=false keeps guide->model links from reshaping the model's layout.
LINK_STYLE: dict[str, str] = {"style": "dashed", "color": "#888888", "constraint": "false"}

GUIDE_PREFIX = "guide:"
DISCRIMINATOR_PREFIX = "discriminator:"
OBJECTIVE_PREFIX = "objective:"
# the parts drawn beside the model, each as its own cluster: (spec key, id prefix)
EXTRA_PARTS = (("guide", GUIDE_PREFIX), ("discriminator", DISCRIMINATOR_PREFIX), ("objective", OBJECTIVE_PREFIX))


# -- stage 1: IR -> networkx ----------------------------------------------------
def _sample_attrs(node: ir.Sample) -> dict:
    # A site conditioned on a traced value (obs=...) is data too, as in Program.latent.
    observed = bool(node.observed or node.obs is not None)
    family = FAMILIES.get(node.dist.family)
    if family is not None and family.graph is not None:  # a chain, a flow, an autoencoder: its own look
        return family.graph(node, observed)
    return {
        "kind": "observed" if observed else "latent",
        "dist": node.dist.family,
        "event_shape": format_shape(node.event_shape),
        "observed": observed,
        "caption": node.dist.label(),
    }


def _param_attrs(node: ir.Param) -> dict:
    caption = "param" if node.constraint == "real" else f"param: {node.constraint}"
    return {"kind": "param", "constraint": node.constraint, "caption": caption}


def _net_attrs(node: ir.Net) -> dict:
    text = node.spec.label()
    # a flow's transform: listed inside its flow's node, not drawn on its own
    kind = "transform" if isinstance(node.spec, Bijector) else "net"
    return {"kind": kind, "net": text, "caption": text}


def _input_attrs(node: ir.Input) -> dict:
    if isinstance(node, ir.Covariate):
        return {"kind": "covariate", "observed": True, "caption": "covariate"}
    return {"kind": "input", "observed": True, "caption": "data"}


def _deterministic_attrs(node: ir.Deterministic) -> dict:
    return {"kind": "deterministic", "caption": "deterministic"}


# IR node kind -> graph attributes; kinds not listed keep their IR kind.
_ATTRS: dict[str, Callable[[ir.Node], dict]] = {
    "sample": _sample_attrs,
    "param": _param_attrs,
    "net": _net_attrs,
    "input": _input_attrs,
    "deterministic": _deterministic_attrs,
}


def _node_attrs(node: ir.Node) -> dict:
    """Plain-data attributes of one named node (every key always present)."""
    attrs = {
        "kind": node.kind, "dist": None, "shape": format_shape(node.shape), "event_shape": None,
        "plates": tuple(node.plates), "constraint": None, "net": None, "observed": False,
        "caption": node.kind,
    }
    describe = _ATTRS.get(node.kind)
    if describe is not None:
        attrs.update(describe(node))
    caption = attrs.pop("caption")
    # A network's value has no shape of its own; its caption carries its sizes.
    lines = [node.name, caption] + ([] if attrs["kind"] == "net" else [attrs["shape"]])
    attrs["label"] = "\n".join(lines)
    return attrs


def _plate_parents(plates_per_node) -> dict:
    """Plate name -> enclosing plate name (or ``None``), in first-seen order.

    Each node lists its plates outermost first, so a plate's parent is the one
    before it. Graph drawings need a tree; if two nodes nest plates
    differently, the first node (in program order) decides.
    """
    parents: dict[str, str | None] = {}
    for plates in plates_per_node:
        for i, name in enumerate(plates):
            parents.setdefault(name, plates[i - 1] if i else None)
    return parents


def to_networkx(program: ir.Program):
    """The named nodes of ``program`` as a ``networkx.DiGraph``.

    Args:
        program: a traced model or guide.

    Returns:
        A ``DiGraph`` with one node per named IR node (``Op`` nodes are looked
        through) and an edge ``u -> v`` when ``v`` depends on ``u``. Node
        attributes: ``kind`` (``"latent"``, ``"observed"``, ``"param"``,
        ``"net"``, ``"deterministic"``, ``"input"``), ``dist``, ``shape``,
        ``event_shape``, ``plates`` (outermost first), ``constraint``,
        ``net``, ``observed`` and a multi-line ``label``. Graph attributes:
        ``name``, ``role`` and ``plates`` ``{name: {"size", "dim", "parent"}}``.

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist
        >>> @gd.model
        ... def coin():
        ...     p = gd.param("p", (), init=0.5, constraint="unit_interval")
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.Bernoulli(probs=p))
        >>> g = to_networkx(coin().ir)
        >>> list(g.edges), g.nodes["x"]["kind"], g.nodes["x"]["label"]
        ([('p', 'x')], 'observed', 'x\\nBernoulli\\n(N_data,)')
    """
    import networkx as nx

    named = [node for node in program.nodes if node.named]
    parents = _plate_parents(node.plates for node in named)
    plates = {
        name: {"size": p.size, "dim": p.dim, "parent": parents.get(name)}
        for name, p in program.plates.items()
    }
    graph = nx.DiGraph(name=program.name, role=program.role, plates=plates)
    for node in named:
        graph.add_node(node.name, **_node_attrs(node))
    for target, sources in program.dependencies.items():
        graph.add_edges_from((source, target) for source in sources)
    return graph


# -- stage 2: networkx -> graph spec --------------------------------------------
def _spec_nodes(graph, prefix: str) -> list:
    out = []
    for name, data in graph.nodes(data=True):
        out.append({
            "id": prefix + name, "name": name, "kind": data["kind"], "label": data["label"],
            "dist": data["dist"], "shape": data["shape"], "plates": list(data["plates"]),
            "style": _style(data),
        })
    return out


def _style(data) -> dict:
    style = dict(NODE_STYLES.get(data["kind"], DEFAULT_STYLE))
    if data["kind"] in ("chain", "flow") and data["observed"]:  # observed chains and flows are shaded like data
        style.update(style=style.get("style", "") + ",filled", fillcolor=NODE_STYLES["observed"]["fillcolor"])
    return style


def _spec_plates(graph) -> list:
    """Plates that hold a node, parents before children (plates with no
    node would draw as empty boxes)."""
    parents = _plate_parents(data["plates"] for _, data in graph.nodes(data=True))
    sizes = graph.graph["plates"]
    out = []
    for name, parent in parents.items():
        size = sizes[name]["size"] if name in sizes else None
        out.append({"name": name, "size": size, "parent": parent,
                    "label": f"{name}\n{'N' if size is None else size}"})
    return out


def _part_label(graph) -> str:
    """``model p(x, z)`` / ``guide q(z | x)``: what the part is a density of."""
    kinds = dict(graph.nodes(data="kind"))
    if graph.graph["role"] == "discriminator":
        given = [n for n, k in kinds.items() if k == "input"]
        return f"discriminator D({', '.join(given)})"
    if graph.graph["role"] == "guide":
        latent = [n for n, k in kinds.items() if k == "latent"]
        given = [n for n, k in kinds.items() if k == "input"]
        inner = ", ".join(latent) + (f" | {', '.join(given)}" if given else "")
        return f"guide q({inner})"
    sites = [n for n, k in kinds.items() if k in ("latent", "observed", "chain", "flow")]
    given = [n for n, k in kinds.items() if k == "covariate"]
    return f"{graph.graph['role']} p({', '.join(sites)}{' | ' + ', '.join(given) if given else ''})"


def _part(graph, prefix: str = "") -> dict:
    hidden = [n for n, kind in graph.nodes(data="kind") if kind in HIDDEN_KINDS]
    graph = graph.subgraph([n for n in graph if n not in hidden])
    return {
        "label": _part_label(graph),
        "nodes": _spec_nodes(graph, prefix),
        "edges": [{"source": prefix + u, "target": prefix + v, "style": dict(EDGE_STYLE)}
                  for u, v in graph.edges],
        "plates": _spec_plates(graph),
    }


def _links(model_graph, guide_graph) -> list:
    """Dashed links from each guide latent site to the model site it stands in for."""
    return [
        {"source": GUIDE_PREFIX + name, "target": name, "kind": "approximates",
         "style": dict(LINK_STYLE)}
        for name, kind in guide_graph.nodes(data="kind")
        if kind == "latent" and name in model_graph
    ]


def _game(model_graph, disc_graph, terms: dict) -> tuple:
    """The objective part of a GAN's spec (one node per player's loss) and its
    links: the discriminator judges the model's implicit sites, its score
    feeds both losses, and each loss trains its own player's networks."""
    score = next(n for n, k in disc_graph.nodes(data="kind") if k == "deterministic")
    nets = {"discriminator": [DISCRIMINATOR_PREFIX + n for n, k in disc_graph.nodes(data="kind") if k == "net"],
            "generator": [n for n, k in model_graph.nodes(data="kind") if k == "net"]}
    part = {"label": terms.get("label", "objective"), "nodes": [], "edges": [], "plates": []}
    links = [{"source": name, "target": DISCRIMINATOR_PREFIX + name, "kind": "judged by",
              "style": {**LINK_STYLE, "label": "real and generated"}}
             for name in disc_graph if disc_graph.nodes[name]["kind"] == "input" and name in model_graph]
    for player in ("discriminator", "generator"):
        node_id = OBJECTIVE_PREFIX + player
        part["nodes"].append({"id": node_id, "name": player, "kind": "loss",
                              "label": f"{player} minimises\n{terms[player]}", "dist": None, "shape": None,
                              "plates": [], "style": dict(NODE_STYLES["loss"])})
        links.append({"source": DISCRIMINATOR_PREFIX + score, "target": node_id, "kind": "scores",
                      "style": dict(EDGE_STYLE)})
        links.extend({"source": node_id, "target": net, "kind": "trains", "style": {**LINK_STYLE, "label": "trains"}}
                     for net in nets[player])
    return part, links


def graph_spec(model_program: ir.Program, guide_program: ir.Program | None = None,
               discriminator_program: ir.Program | None = None, terms: dict | None = None) -> dict:
    """A plain, JSON-serialisable description of the model (and guide) graph.

    Args:
        model_program: the model's program.
        guide_program: the guide's program, or ``None``. Its node ids get the
            prefix ``"guide:"`` so they never collide with the model's.
        discriminator_program: a GAN's discriminator, or ``None``; ids
            prefixed ``"discriminator:"``.
        terms: with a discriminator, the adversarial objective's losses,
            ``{"label", "discriminator", "generator"}`` (text); they become the
            ``"objective"`` part, linked to the networks each loss trains.

    Returns:
        ``{"name", "model", "guide", "links"}``; see the module docstring for
        the layout of each part.

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist
        >>> @gd.model
        ... def coin():
        ...     p = gd.param("p", (), init=0.5, constraint="unit_interval")
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.Bernoulli(probs=p))
        >>> spec = graph_spec(coin().ir)
        >>> [n["id"] for n in spec["model"]["nodes"]], spec["model"]["plates"][0]["label"]
        (['p', 'x'], 'data\\nN')
    """
    model_graph = to_networkx(model_program)
    guide_graph = None if guide_program is None else to_networkx(guide_program)
    spec = {
        "name": model_program.name,
        "model": _part(model_graph),
        "guide": None if guide_graph is None else _part(guide_graph, GUIDE_PREFIX),
        "links": [] if guide_graph is None else _links(model_graph, guide_graph),
    }
    if discriminator_program is not None:
        disc_graph = to_networkx(discriminator_program)
        spec["discriminator"] = _part(disc_graph, DISCRIMINATOR_PREFIX)
        if terms is not None:
            spec["objective"], links = _game(model_graph, disc_graph, terms)
            spec["links"] = spec["links"] + links
    return spec
