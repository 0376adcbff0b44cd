"""The architecture page's diagram table, checked as data, not as a picture.

``docs/_architecture.py`` lists the pipeline's stages and their modules; the
docs hook draws ``architecture/pipeline.svg`` from it. These tests check that
every listed module imports and is a file of this checkout, that
``docs/architecture.md`` names each file, and that a module that no longer
exists stops the build.
"""

import dataclasses
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture
def arch(monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS))  # as MkDocs does while it loads docs/hooks.py
    return importlib.import_module("_architecture")


@pytest.fixture
def hooks(arch):
    spec = importlib.util.spec_from_file_location("gendsl_docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _modules(arch):
    return [name for stage in arch.STAGES for name in stage.modules]


def test_every_listed_module_imports_and_is_a_file_of_the_checkout(arch):
    for name in _modules(arch):
        module = importlib.import_module(name)
        path = arch.module_path(name)
        assert (ROOT / path).exists(), (name, path)
        here = Path(module.__file__)
        expected = here.parent if here.name == "__init__.py" else here
        assert expected == (ROOT / path).resolve(), (name, path, module.__file__)


def test_the_page_names_every_file(arch):
    page = (DOCS / arch.PAGE).read_text()
    assert arch.unnamed_files(page) == []
    assert f"]({arch.IMAGE})" in page  # the generated diagram is on the page


def test_the_spec_is_the_pipeline(arch):
    spec = arch.architecture_spec()
    nodes = {node["id"]: node for node in spec["model"]["nodes"]}
    assert list(nodes) == [stage.key for stage in arch.STAGES]
    for key, paths in arch.files().items():
        for path in paths:
            assert path in nodes[key]["label"], (key, path)
    edges = {(e["source"], e["target"]) for e in spec["model"]["edges"]}
    main = [stage.key for stage in arch.STAGES if stage.main]
    assert main == ["dsl", "trace", "ir", "families", "backend", "objective", "engine", "fitted"]
    assert all(pair in edges for pair in zip(main, main[1:]))
    # the drawing branch reads only the IR
    side = {stage.key for stage in arch.STAGES if not stage.main}
    assert {s for s, t in edges if t in side} <= side | {"ir"}
    assert not any(s in side and t not in side for s, t in edges)
    assert all(e["style"]["label"].strip() for e in spec["model"]["edges"])  # each edge says what it hands on


def test_the_family_box_lists_the_family_modules_found_on_disk(arch):
    names = arch.submodules("gendsl.families")
    assert {"autoregressive", "flow", "diffusion"} <= set(names) and "_base" not in names
    label = next(n["label"] for n in arch.architecture_spec()["model"]["nodes"] if n["id"] == "families")
    assert all(name in label for name in names)


def test_the_diagram_renders_as_dot(arch, tmp_path):
    dot = Path(arch.render(str(tmp_path / "pipeline.dot"))).read_text()
    assert "cluster_gendsl" in dot
    for paths in arch.files().values():
        for path in paths:
            assert path in dot


def test_a_missing_module_stops_the_build(arch, hooks, monkeypatch):
    from mkdocs.exceptions import PluginError

    moved = dataclasses.replace(arch.STAGES[1], modules=("gendsl.tracing",))
    monkeypatch.setattr(arch, "STAGES", (arch.STAGES[0], moved) + arch.STAGES[2:])
    with pytest.raises(ModuleNotFoundError, match="'gendsl.tracing'"):
        arch.architecture_spec()
    with pytest.raises(PluginError, match="'gendsl.tracing'.*docs/_architecture.py"):
        hooks._architecture_diagram({"site_dir": "site", "use_directory_urls": True})
