"""MkDocs hooks: graphs and the benchmark page are generated from the code at build time.

Every zoo model's graph is rendered (plate notation, SVG) with its default
hyper-parameters into ``graphs/<name>.svg``; ``benchmarks.md`` is
``bench/RESULTS.md`` as recorded.
"""

from __future__ import annotations

import os
import tempfile

from mkdocs.structure.files import File

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TMP = tempfile.mkdtemp(prefix="gendsl-docs-")


def _generated(path: str, config) -> File:
    return File(path, _TMP, config["site_dir"], config["use_directory_urls"])


def on_files(files, config):
    import gendsl.models as zoo

    os.makedirs(os.path.join(_TMP, "graphs"), exist_ok=True)
    for name, factory in zoo.ZOO.items():
        factory().render(os.path.join(_TMP, "graphs", f"{name}.svg"))
        files.append(_generated(f"graphs/{name}.svg", config))
    with open(os.path.join(ROOT, "bench", "RESULTS.md")) as src, open(os.path.join(_TMP, "benchmarks.md"), "w") as dst:
        dst.write(src.read())
    files.append(_generated("benchmarks.md", config))
    return files
