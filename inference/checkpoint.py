"""Training checkpoints: written atomically, checked on reading.

A checkpoint is one ``.npz`` file: every array of the training state
(unconstrained parameters, optimiser moments, random-generator states) plus a
JSON header that names the model, objective and backend it belongs to and a
SHA-256 of the arrays. It is written to a temporary file in the same folder,
flushed to disk and renamed over the old one, so an interrupted write never
replaces the last good checkpoint; a file that is truncated or altered fails
its checksum and is reported, not loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np

from gendsl.errors import GendslError

__all__ = ["CheckpointError", "atomic_savez", "save_checkpoint", "load_checkpoint"]

FORMAT = "gendsl-checkpoint/1"


class CheckpointError(GendslError, RuntimeError):
    """A checkpoint cannot be read, is corrupt, or belongs to another run."""


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.asarray(arrays[key], order="C")
        h.update(key.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def atomic_savez(path, **arrays) -> str:
    """``numpy.savez`` to ``path`` atomically: a temporary file in the same
    folder, flushed to disk, then renamed over ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".gendsl-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def save_checkpoint(path, header: dict, arrays: dict) -> str:
    """Writes ``arrays`` and ``header`` to ``path`` atomically, with a checksum."""
    header = {**header, "format": FORMAT, "sha256": _digest(arrays)}
    return atomic_savez(path, __header__=np.array(json.dumps(header)), **arrays)


def load_checkpoint(path, expect: dict | None = None) -> tuple[dict, dict]:
    """Reads and verifies a checkpoint.

    Args:
        expect: header fields that must match (model, hyper-parameters,
            objective, backend), so a run never resumes from another run's file.

    Returns:
        ``(header, arrays)``.

    Raises:
        CheckpointError: unreadable, truncated, checksum mismatch, or another run's.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            header = json.loads(str(f["__header__"]))
            arrays = {k: f[k] for k in f.files if k != "__header__"}
    except Exception as e:  # zipfile, OSError, ValueError, KeyError: all mean "unreadable"
        raise CheckpointError(
            f"checkpoint {path} is unreadable or truncated ({type(e).__name__}: {e}); it was not loaded. "
            f"Delete it to start afresh, or restore a copy"
        ) from None
    if header.get("format") != FORMAT or header.get("sha256") != _digest(arrays):
        raise CheckpointError(
            f"checkpoint {path} is corrupt (its checksum does not match its contents); it was not loaded. "
            f"Delete it to start afresh, or restore a copy"
        )
    for key, value in (expect or {}).items():
        if header.get(key) != value:
            raise CheckpointError(
                f"checkpoint {path} belongs to another run: its {key} is {header.get(key)!r}, this run's is "
                f"{value!r}; use another checkpoint path or resume=False"
            )
    return header, arrays
