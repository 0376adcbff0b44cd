"""The import graph points one way: core -> backends -> inference / models.

Every module of the three packages is parsed with :mod:`ast`; every import in
it, at module level or inside a function (a lazy import is still an arrow),
and every ``importlib.import_module("...")`` with a literal name, becomes an
edge between modules (DESIGN §6, STYLE 1). Importing ``a.b.c`` is an edge to
``a.b.c`` only, not to its parent packages; ``from a.b import c`` is an edge
to the submodule ``a.b.c`` when there is one, else to ``a.b``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
# source folder -> the package it is installed as (pyproject's package-dir)
PACKAGES = {"gendsl": "gendsl", "inference": "gendsl.inference", "models": "gendsl.models"}

# Modules under gendsl/ allowed to import upward (DESIGN §6: "the CLI and the
# top-level convenience functions import them lazily").
ENTRY_POINTS = {
    "gendsl": "gd.load, the lazy gd.models / gd.inference / gd.objectives attributes, and what it puts "
              "in gendsl.model.UPPER_LAYERS for Model.to_pyro / to_numpyro / fit",
    "gendsl.cli": "the command line drives training, the zoo and the metrics",
    "gendsl.__main__": "`python -m gendsl` runs the CLI",
}

# (importer, imported) -> reason, for a core -> backends edge that has to stay.
# None does: Model.to_pyro/to_numpyro/fit reach the backend registry and
# gendsl.inference through gendsl.model.UPPER_LAYERS, which gendsl/__init__.py fills.
CORE_TO_BACKENDS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module
    where: str  # path:line
    line: str  # the import statement as written
    lazy: bool  # inside a function (runs on the first call, not at import)

    def __str__(self) -> str:
        return f"{self.where}: {self.source} -> {self.target}{' (lazy)' if self.lazy else ''}: {self.line}"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three packages."""
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module an import of ``name`` loads: itself, or its nearest known
    parent (``from pkg import attr``); ``None`` outside the three packages."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imported_names(node: ast.AST, module: str) -> list[str]:
    """The dotted names an import statement (or literal import_module call) loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module if _is_package(module) else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            stem = f"{base}.{node.module}" if node.module else base
        else:
            stem = node.module
        # `from pkg import sub` loads the submodule pkg.sub when there is one
        return [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if func in ("import_module", "__import__"):
            return [node.args[0].value]
    return []


def _edges() -> list[Edge]:
    edges = []
    for module, path in MODULES.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, filename=str(path))
        lazy_nodes = set()
        for scope in ast.walk(tree):
            if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                lazy_nodes.update(id(n) for n in ast.walk(scope) if n is not scope)
        for node in ast.walk(tree):
            targets = {_resolve(name) for name in _imported_names(node, module)} - {None, module}
            for target in sorted(targets):
                edges.append(Edge(module, target, f"{path.relative_to(ROOT)}:{node.lineno}",
                                  lines[node.lineno - 1].strip(), id(node) in lazy_nodes))
    return sorted(edges, key=lambda e: (e.source, int(e.where.rpartition(":")[2]), e.target))


EDGES = _edges()


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _in_gendsl_folder(module: str) -> bool:
    return MODULES[module].is_relative_to(ROOT / "gendsl")


def _report(edges) -> str:
    return "\n  " + "\n  ".join(str(e) for e in edges)


def test_the_graph_sees_every_kind_of_import():
    assert {"gendsl", "gendsl.model", "gendsl.backends.pyro", "gendsl.inference.train", "gendsl.models.latent"} \
        <= set(MODULES)
    pairs = {(e.source, e.target, e.lazy) for e in EDGES}
    assert ("gendsl", "gendsl.ops", False) in pairs  # `from . import ops` in a package __init__
    assert ("gendsl.inference.train", "gendsl.inference.fitted", False) in pairs  # relative, from a module
    assert ("gendsl.models.latent", "gendsl", False) in pairs  # `import gendsl as gd`
    assert ("gendsl", "gendsl.inference.objectives", True) in pairs  # importlib.import_module("...")


def test_core_imports_neither_inference_nor_models():
    bad = [e for e in EDGES
           if _in_gendsl_folder(e.source) and e.source not in ENTRY_POINTS
           and (_within(e.target, "gendsl.inference") or _within(e.target, "gendsl.models"))]
    assert not bad, (
        "gendsl's core reaches up into gendsl.inference / gendsl.models (DESIGN §6; only "
        f"{sorted(ENTRY_POINTS)} may):" + _report(bad))


def test_core_imports_no_backend():
    bad = [e for e in EDGES
           if _in_gendsl_folder(e.source) and e.source not in ENTRY_POINTS and not _within(e.source, "gendsl.backends")
           and _within(e.target, "gendsl.backends") and (e.source, e.target) not in CORE_TO_BACKENDS]
    assert not bad, "gendsl's core imports a backend module (the IR must stay backend-free):" + _report(bad)


def test_allowed_core_to_backend_edges_are_still_needed():
    used = {(e.source, e.target) for e in EDGES}
    stale = [pair for pair in CORE_TO_BACKENDS if pair not in used]
    assert not stale, f"CORE_TO_BACKENDS lists edges no module has any more; remove them: {stale}"


def test_no_import_cycle():
    graph = nx.DiGraph()
    for e in EDGES:
        graph.add_edge(e.source, e.target)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    first = {}  # one import statement per arrow
    for e in EDGES:
        first.setdefault((e.source, e.target), e)
    messages = []
    for members in sorted(cycles):
        loop = nx.find_cycle(graph.subgraph(members))
        inside = [e for e in EDGES if e.source in members and e.target in members]
        messages.append(f"cycle among {members}\n one loop:" + _report(first[pair] for pair in loop)
                        + "\n every import inside it:" + _report(inside))
    assert not cycles, "import cycles (a lazy import hides them from Python, not from the design):\n" + \
        "\n".join(messages)
