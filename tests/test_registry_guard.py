"""Generic code asks the registry, never compares family names.

The name of every family that :mod:`gendsl.families` implements may appear
as a string literal only in its own module (and the registry): anywhere else
under gendsl/, inference/ or models/ a literal ``"Diffusion"`` would be a
special case that the next family has to copy. (Library families such as
``"Categorical"`` are also the names of an autoregressive chain's
conditionals, so they are not part of the guard.)
"""

import ast
import sys
from pathlib import Path

import gendsl.families  # noqa: F401  (registers them)
from gendsl.dist import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gendsl", "inference", "models")
REGISTRY = ROOT / "gendsl" / "dist" / "_families.py"


def _own_modules() -> dict:
    """family name -> the file of the gendsl.families module that registers it."""
    out = {}
    for name, family in FAMILIES.items():
        module = getattr(family.constructor or family.impl, "__module__", "") or ""
        if module.startswith("gendsl.families."):
            out[name] = Path(sys.modules[module].__file__).resolve()
    return out


def _literals(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_the_guard_knows_every_family_module():
    own = _own_modules()
    modules = {p.stem for p in (ROOT / "gendsl" / "families").glob("*.py") if not p.stem.startswith("_")}
    assert {p.stem for p in own.values()} == modules, "a module of gendsl/families registers no family"
    assert {"Diffusion", "Autoregressive", "Delta", "TransformedDistribution"} <= set(own)


def test_no_family_name_is_a_literal_outside_its_module():
    own = _own_modules()
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            path = path.resolve()
            if path == REGISTRY:
                continue
            for line, value in _literals(path):
                if value in own and own[value] != path:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {value!r} (its module is "
                                 f"{own[value].relative_to(ROOT)}; read a Family field instead)")
    assert not found, "family names compared outside their module:\n" + "\n".join(found)
