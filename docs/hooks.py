"""MkDocs hooks: graphs and the benchmark page are generated from the code at build time.

Every zoo model's graph is rendered (plate notation, SVG) with its default
hyper-parameters into ``graphs/<name>.svg``; the architecture page's diagram
is drawn from the stage table in ``docs/_architecture.py`` into
``architecture/pipeline.svg`` (a listed module that does not exist stops the
build, and a file ``architecture.md`` does not name is a warning, an error
under ``--strict``); ``benchmarks.md`` is ``bench/RESULTS.md`` as recorded.
"""

from __future__ import annotations

import logging
import os
import tempfile

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

import _architecture as architecture  # docs/ is on sys.path while MkDocs loads this hook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TMP = tempfile.mkdtemp(prefix="gendsl-docs-")
log = logging.getLogger("mkdocs.hooks.gendsl")


def _generated(path: str, config) -> File:
    return File(path, _TMP, config["site_dir"], config["use_directory_urls"])


def _architecture_diagram(config) -> File:
    os.makedirs(os.path.join(_TMP, os.path.dirname(architecture.IMAGE)), exist_ok=True)
    try:
        architecture.render(os.path.join(_TMP, architecture.IMAGE))
    except (ModuleNotFoundError, ValueError) as exc:
        raise PluginError(str(exc)) from exc
    return _generated(architecture.IMAGE, config)


def on_files(files, config):
    import gendsl.models as zoo

    os.makedirs(os.path.join(_TMP, "graphs"), exist_ok=True)
    for name, factory in zoo.ZOO.items():
        factory().render(os.path.join(_TMP, "graphs", f"{name}.svg"))
        files.append(_generated(f"graphs/{name}.svg", config))
    files.append(_architecture_diagram(config))
    with open(os.path.join(ROOT, "bench", "RESULTS.md")) as src, open(os.path.join(_TMP, "benchmarks.md"), "w") as dst:
        dst.write(src.read())
    files.append(_generated("benchmarks.md", config))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == architecture.PAGE:
        for path in architecture.unnamed_files(markdown):
            log.warning(f"{architecture.PAGE} does not name `{path}`, a file of the diagram's stages "
                        f"(docs/_architecture.py); add it to the page's table")
    return markdown
