"""The README's Python examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # examples write files (gmm.svg)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "gmm.svg").exists()
    assert namespace["fit"].log_likelihood(namespace["x"][:5], k=10).shape == (5,)
    assert abs(namespace["chain"].log_prob(namespace["x"][:5]).mean()) < 64 * 0.7  # better than coin flips
