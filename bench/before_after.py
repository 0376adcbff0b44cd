"""One speed benchmark on two source trees, side by side in one run.

    .venv/bin/python bench/before_after.py --base ../base --bench vae_speed --runs 3 \
        -- --data ../shared/data/binarized_mnist.npz --no-compile

``--base`` is a checkout of the earlier commit with its own ``.venv`` (``git
worktree add ../base REV`` and ``make setup`` there). The benchmark script
(``bench/<name>.py`` of each tree, run by that tree's interpreter, so each
measures its own code) runs ``--runs`` times per tree, alternating
before/after so drift on a shared machine falls on both. Each run prints its
table of median step times and ratios to the hand-written step of the same
run; this script reports, per implementation, the median ratio over runs for
each tree and after / before.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| (?P<name>[\w-]+) \| (?P<ms>[\d.]+) \| (?P<ratio>[\d.]+) \|$")


def run_once(tree: Path, bench: str, args: list) -> dict:
    """``{implementation: (median ms, ratio)}`` of one run of ``tree``'s benchmark."""
    cmd = [str(tree / ".venv" / "bin" / "python"), str(tree / "bench" / f"{bench}.py"), *args]
    out = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, check=True).stdout
    rows = {m["name"]: (float(m["ms"]), float(m["ratio"])) for m in map(ROW.match, out.splitlines()) if m}
    if not rows:
        raise SystemExit(f"no table in the output of {' '.join(cmd)}:\n{out}")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, required=True, help="checkout of the earlier commit (with .venv)")
    p.add_argument("--bench", required=True, help="benchmark name in bench/, e.g. vae_speed")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="-- then the benchmark's own arguments")
    a = p.parse_args()
    rest = a.rest[1:] if a.rest[:1] == ["--"] else a.rest
    trees = {"before": a.base.resolve(), "after": HERE}
    # the benchmark's --data path is relative to the directory it was given from
    rest = [str(Path(x).resolve()) if x.endswith(".npz") else x for x in rest]
    ratios: dict = {"before": {}, "after": {}}
    for i in range(a.runs):
        for label in (("before", "after") if i % 2 == 0 else ("after", "before")):
            for name, (ms, ratio) in run_once(trees[label], a.bench, rest).items():
                ratios[label].setdefault(name, []).append(ratio)
            print(f"run {i + 1} {label} done", file=sys.stderr)
    print(f"{a.bench}: median ratio to the hand-written step over {a.runs} runs per tree")
    print("| implementation | before | after | after / before |")
    print("|---|---|---|---|")
    for name in ratios["after"]:
        before, after = (statistics.median(ratios[t].get(name, [float("nan")])) for t in ("before", "after"))
        print(f"| {name} | {before:.3f} | {after:.3f} | {after / before:.3f} |")


if __name__ == "__main__":
    main()
