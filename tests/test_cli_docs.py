"""The command lines that README.md and docs/cli.md print run as printed and write what they name.

Every line of a ```bash block that starts with ``gendsl `` (a trailing ``\\``
joins the next line) runs in-process, in the pages' order, in a temporary
folder shared by the lines of the same run folder (a ``sample``, ``eval`` or
``--resume`` finds what its ``fit`` wrote). It must exit 0 and write the
files named next to it:

- the value of ``-o``/``--output``;
- for ``fit --out RUN``: RUN/ and each file of the page's sentence "A run
  folder holds ...";
- each file name (``name.ext``) in the line's trailing comment: inside the
  folder the command writes to (``--out``, or the RUN of ``sample``/``eval``),
  or from the temporary folder when the name holds a ``/``.

The README's only commands are ``make demo`` and ``make test``; they are not
run here: both first run ``make setup`` (create ``.venv``, pip-install, maybe
apt-install graphviz: minutes and a network), and ``make test`` runs this
suite, this test included. ``make demo`` is ``gendsl demo --out runs/demo``,
which docs/cli.md's block runs, shorter.
"""

import re
import shlex
from pathlib import Path

import pytest

from gendsl import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "cli.md"]
NOT_RUN = {"make demo", "make test"}  # see the module docstring
SUFFIXES = ("svg", "png", "pdf", "dot", "json", "npz", "npy", "ckpt")
FILE = re.compile(r"[\w./-]+\.(?:%s)\b" % "|".join(SUFFIXES))


def bash_lines(text: str) -> list:
    """Each command of the page's ```bash blocks, continuation lines joined."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def split_comment(line: str) -> tuple:
    """``(argv, comment)``: shlex strips the comment, so find it on the words' side."""
    return shlex.split(line, comments=True), line.partition(" #")[2]


def run_folder_files(text: str) -> list:
    sentence = re.search(r"A run folder holds (.*?)\.\s", text, flags=re.S)
    assert sentence, "docs/cli.md names a run folder's files in a sentence 'A run folder holds ...'"
    return re.findall(r"`([^`]+)`", sentence.group(1))


def expected_files(argv: list, comment: str, run_files: list) -> list:
    def value(*flags):
        for flag in flags:
            if flag in argv:
                return argv[argv.index(flag) + 1]
        return None

    files = [f for f in [value("-o", "--output")] if f]
    out = value("--out")
    if argv[1] == "fit":
        files += [f"{out}/{name}" for name in run_files]
    folder = out or (argv[2] if argv[1] in ("sample", "eval") else ".")
    files += [name if "/" in name else f"{folder}/{name}" for name in FILE.findall(comment)]
    return files


def commands() -> list:
    found = []
    run_files = run_folder_files((ROOT / "docs" / "cli.md").read_text())
    for page in PAGES:
        for line in bash_lines(page.read_text()):
            argv, comment = split_comment(line)
            if " ".join(argv) in NOT_RUN:
                continue
            assert argv[0] == "gendsl", f"{page.name}: a bash line this test does not know how to run: {line!r}"
            found.append((page.name, line, argv, expected_files(argv, comment, run_files), comment))
    return found


def folder(argv: list) -> str:
    """The run folder a command writes (``--out``) or reads (``sample``/``eval`` RUN); "" for none."""
    if "--out" in argv:
        return argv[argv.index("--out") + 1]
    return argv[2] if argv[1] in ("sample", "eval") else ""


def chains() -> dict:
    """The commands grouped by their run folder, in the pages' order: a group depends on nothing
    outside itself, so each runs alone (and pytest-xdist spreads them over the workers)."""
    out: dict = {}
    for command in commands():
        out.setdefault(folder(command[2]) or "no run folder", []).append(command)
    return out


CHAINS = chains()


def test_the_pages_commands_cover_every_subcommand():
    readme = [" ".join(shlex.split(line, comments=True)) for line in bash_lines(PAGES[0].read_text())]
    assert readme == ["make demo", "make test"]  # README's two commands; anything else must run below
    used = {argv[1] for _, _, argv, _, _ in commands()}
    assert used == {"zoo", "render", "demo", "fit", "sample", "eval"}


@pytest.mark.parametrize("chain", list(CHAINS))
def test_documented_commands_run_as_printed(chain, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI", "1")  # no progress bars
    for page, line, argv, files, comment in CHAINS[chain]:
        try:
            status = cli.main(argv[1:])
        except SystemExit as e:  # argparse refusing the line
            status = e.code
        out = capsys.readouterr()
        assert status == 0, f"{page}: `{line}` exited {status}:\n{out.out}\n{out.err}"
        for name in files:
            path = tmp_path / name
            assert path.is_file() and path.stat().st_size > 0, f"{page}: `{line}` did not write {name}"
            if name.endswith(".png"):
                assert path.read_bytes()[:4] == b"\x89PNG", name
        if "from the data" in comment:  # a comment that quotes what the command prints
            assert comment.strip() in out.out, f"{page}: `{line}` did not print {comment.strip()!r}"
