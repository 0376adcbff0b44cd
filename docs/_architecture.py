"""The architecture diagram's data: gendsl's pipeline stages and their modules.

``docs/hooks.py`` draws ``architecture/pipeline.svg`` from :data:`STAGES` and
:data:`EDGES` when the docs are built, and checks that ``architecture.md``
names every file; ``tests/test_architecture_doc.py`` checks the same table as
data. Files are never written down here: each comes from its module's import
spec (the module's ``__file__``), so a moved file moves in the picture and a
module that no longer exists stops the build.

The picture is a graph spec in the layout of :func:`gendsl.graph.graph_spec`,
drawn by :func:`gendsl.render.render` like the zoo's graphs.
"""

from __future__ import annotations

import importlib.util
import os
import pkgutil
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = "architecture.md"
IMAGE = "architecture/pipeline.svg"


@dataclass(frozen=True)
class Stage:
    """One box of the diagram.

    Attributes:
        key: node id, used by :data:`EDGES`.
        title: the stage's name, first line of its box.
        modules: dotted names of the stage's modules, in the order drawn.
        package: the installed package the modules belong to (the box's plate).
        main: on the training pipeline; ``False`` for the side branch that draws graphs.
        lists: a package whose public submodules are listed by name under its
            path (one module per family), found on disk, so adding one needs no edit here.
    """

    key: str
    title: str
    modules: tuple
    package: str = "gendsl"
    main: bool = True
    lists: str | None = None


STAGES = (
    Stage("dsl", "DSL", ("gendsl.primitives", "gendsl.model", "gendsl.dist", "gendsl.ops", "gendsl.nn",
                         "gendsl.transforms")),
    Stage("trace", "trace", ("gendsl.trace",)),
    Stage("ir", "IR", ("gendsl.ir",)),
    Stage("families", "family registry", ("gendsl.dist._families", "gendsl.families"), lists="gendsl.families"),
    Stage("backend", "backend adapter", ("gendsl.backends.base", "gendsl.backends.pyro", "gendsl.backends.numpyro",
                                         "gendsl.backends.interpret", "gendsl.backends.particles",
                                         "gendsl.backends.program",
                                         "gendsl.backends.plain", "gendsl.backends.networks")),
    Stage("objective", "objective", ("gendsl.inference.objectives", "gendsl.inference.mle", "gendsl.inference.elbo",
                                     "gendsl.inference.adversarial", "gendsl.inference.denoising"),
          package="gendsl.inference"),
    Stage("engine", "engine", ("gendsl.inference.engines", "gendsl.inference.train", "gendsl.inference.diagnose"),
          package="gendsl.inference"),
    Stage("fitted", "Fitted", ("gendsl.inference.fitted",), package="gendsl.inference"),
    Stage("graph", "graph spec", ("gendsl.graph",), main=False),
    Stage("render", "render", ("gendsl.render",), main=False),
)

#: (from, to, what is handed on)
EDGES = (
    ("dsl", "trace", "model function, specs"),
    ("trace", "ir", "Program"),
    ("ir", "families", "DistSpec.family"),
    ("families", "backend", "Family"),
    ("ir", "backend", "Program"),
    ("backend", "objective", "Lowered"),
    ("objective", "engine", "loss per player"),
    ("engine", "fitted", "trained params"),
    ("ir", "graph", "Program"),
    ("graph", "render", "graph spec"),
)

PLATES = {"gendsl": "gendsl/", "gendsl.inference": "inference/ (gendsl.inference)"}

_FILL = {"gendsl": "#dbeafe", "gendsl.inference": "#fef3c7"}
_EDGE = {"fontsize": "11"}
_SIDE_EDGE = {"fontsize": "11", "style": "dashed", "color": "#888888"}


def _spec(name: str):
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:  # a parent package is gone
        spec = None
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"the architecture diagram lists module {name!r}, which does not exist; "
            f"update STAGES in docs/_architecture.py (and the table in docs/{PAGE})")
    return spec


def module_path(name: str) -> str:
    """The repository path of module ``name``: ``gendsl/ir.py``, or
    ``gendsl/dist/`` for a package. Imports its parent packages only, so the
    backends' PyTorch and JAX are not loaded.

    Raises:
        ModuleNotFoundError: the module does not exist.
        ValueError: it is not a file of this checkout (an installed copy).
    """
    spec = _spec(name)
    path = os.path.dirname(spec.origin) if spec.submodule_search_locations is not None else spec.origin
    rel = os.path.relpath(path, ROOT)
    if rel.startswith(os.pardir):
        raise ValueError(f"module {name!r} is {spec.origin}, outside the checkout {ROOT}; "
                         f"install gendsl in editable mode (pip install -e .) to build the docs")
    rel = rel.replace(os.sep, "/")
    return rel + "/" if spec.submodule_search_locations is not None else rel


def submodules(package: str) -> list:
    """The public submodules of ``package`` (``_base`` and the like left out), sorted."""
    spec = _spec(package)
    return sorted(m.name for m in pkgutil.iter_modules(spec.submodule_search_locations) if not m.name.startswith("_"))


def files() -> dict:
    """``{stage key: [repository path of each module]}``, in :data:`STAGES` order."""
    return {stage.key: [module_path(name) for name in stage.modules] for stage in STAGES}


def _wrap(words: list, width: int = 36) -> list:
    lines, line = [], ""
    for word in words:
        if line and len(line) + 2 + len(word) > width:
            lines.append(line)
            line = ""
        line = f"{line}  {word}" if line else word
    return lines + ([line] if line else [])


def _label(number: int | None, stage: Stage) -> str:
    lines = [stage.title if number is None else f"{number}. {stage.title}", ""]
    for name in stage.modules:
        lines.append(module_path(name))
        if name == stage.lists:
            lines[-1] += " (one module per family)"
            lines.extend(_wrap(submodules(name)))
    return "\n".join(lines)


def architecture_spec() -> dict:
    """The diagram as a graph spec (the layout :func:`gendsl.render.render` draws).

    Raises:
        ModuleNotFoundError: a module in :data:`STAGES` does not exist.
    """
    keys = {stage.key for stage in STAGES}
    for source, target, _ in EDGES:
        if source not in keys or target not in keys:
            raise ValueError(f"edge {source!r} -> {target!r} names a stage not in STAGES ({sorted(keys)})")
    main = [stage for stage in STAGES if stage.main]
    side = {stage.key for stage in STAGES if not stage.main}
    nodes = []
    for stage in STAGES:
        number = main.index(stage) + 1 if stage.main else None
        style = {"shape": "box", "style": "rounded,filled", "fillcolor": _FILL[stage.package], "margin": "0.2,0.1"}
        if not stage.main:
            style = {"shape": "box", "style": "rounded,dashed", "margin": "0.2,0.1"}
        nodes.append({"id": stage.key, "name": stage.key, "kind": "stage", "label": _label(number, stage),
                      "dist": None, "shape": None, "plates": [stage.package], "style": style})
    edges = [{"source": s, "target": t, "style": {**(_SIDE_EDGE if t in side else _EDGE), "label": f" {label} "}}
             for s, t, label in EDGES]
    plates = [{"name": name, "size": None, "label": label, "parent": None} for name, label in PLATES.items()]
    part = {"label": "gendsl pipeline", "nodes": nodes, "edges": edges, "plates": plates}
    return {"name": "architecture", "model": part, "guide": None, "links": []}


def render(path: str) -> str:
    """Draws the diagram to ``path`` (SVG, PNG, PDF or DOT by its suffix)."""
    from gendsl.render import render as draw

    return str(draw(architecture_spec(), path))


def unnamed_files(page_text: str) -> list:
    """The files of :data:`STAGES` that ``page_text`` does not name (in backticks, as code)."""
    return [path for paths in files().values() for path in paths if f"`{path}`" not in page_text]
