"""scikit-learn's bundled sets (digits, breast cancer, iris, wine) and row splits."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from gendsl.errors import DataError

from ._registry import _register

#: A split request: fractions of the rows, e.g. ``(0.8, 0.2)``.
Split = Sequence[float]

#: The pixel encodings :func:`digits` offers.
DIGITS_KINDS = ("binary", "levels", "unit")


# --------------------------------------------------------------------------
# splitting


def _split_bounds(n: int, split: Split) -> list[tuple[int, int]]:
    """Turns fractions into ``[start, stop)`` row ranges over ``n`` rows.

    Args:
        n: Number of rows.
        split: Positive fractions summing to at most 1.

    Returns:
        One ``(start, stop)`` pair per fraction, consecutive and disjoint.
    """
    fractions = np.asarray(split, dtype=np.float64)
    if fractions.ndim != 1 or fractions.size == 0:
        raise DataError(f"split must be a non-empty tuple of fractions such as (0.8, 0.2); got {split!r}")
    if np.any(fractions <= 0) or not np.all(np.isfinite(fractions)):
        raise DataError(f"split fractions must be positive; got {split!r}")
    total = float(fractions.sum())
    # Tolerate float round-off like 0.7 + 0.2 + 0.1 = 0.9999999999999999.
    if total > 1.0 + 1e-9:
        raise DataError(f"split fractions must sum to at most 1; {split!r} sums to {total:g}")
    ends = np.minimum(np.rint(np.cumsum(fractions) * n).astype(np.int64), n)
    starts = np.concatenate([[0], ends[:-1]])
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def _finish(x: np.ndarray, y: np.ndarray | None, split: Split | None, seed: int) -> Any:
    """Applies the optional seeded split and label choice shared by loaders.

    Args:
        x: Features, one row per example.
        y: Labels aligned with ``x``, or None when the caller wants none.
        split: None for all rows, else fractions (see :func:`_split_bounds`).
        seed: Seed of the permutation applied before splitting.

    Returns:
        ``x`` or ``(x, y)``; with a split, a tuple of those, one per fraction.
    """
    if split is None:
        return x if y is None else (x, y)
    order = np.random.default_rng(seed).permutation(len(x))
    parts = []
    for start, stop in _split_bounds(len(x), split):
        rows = order[start:stop]
        parts.append(x[rows] if y is None else (x[rows], y[rows]))
    return tuple(parts)


# --------------------------------------------------------------------------
# scikit-learn's bundled sets


@functools.cache
def _sklearn_bundle(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads one of scikit-learn's bundled data sets once per process.

    Args:
        name: ``"digits"``, ``"breast_cancer"``, ``"iris"`` or ``"wine"``.

    Returns:
        Read-only ``(data, target)`` arrays; callers copy before handing out.
    """
    # Imported here so ``import gendsl.data`` stays cheap for the toy sets.
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    x, y = np.asarray(bunch.data), np.asarray(bunch.target, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@_register("digits")
def digits(
    kind: str = "binary", return_labels: bool = False, split: Split | None = None, seed: int = 0
) -> Any:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 64 pixels).

    Args:
        kind: Pixel encoding. ``"binary"``: float32 0/1, a pixel is on when its
            grey level (0..16) is at least 8. ``"levels"``: the raw 17 grey
            levels 0..16 as int64, for categorical or dequantised models.
            ``"unit"``: grey level / 16 as float32 in [0, 1].
        return_labels: Also return the digit class (int64, 0..9).
        split: None for all rows, or fractions such as ``(0.8, 0.2)``.
        seed: Seed of the permutation used by ``split``.

    Returns:
        ``x`` of shape (1797, 64), or ``(x, y)``; with ``split``, a tuple of
        those, one per fraction.

    Raises:
        DataError: (a ``ValueError``) for an unknown ``kind`` or a bad split.

    Example:
        >>> train, test = digits(split=(0.8, 0.2))
        >>> train.shape, test.shape
        ((1438, 64), (359, 64))
    """
    if kind not in DIGITS_KINDS:
        raise DataError(f"unknown digits kind {kind!r}; valid kinds are: {', '.join(DIGITS_KINDS)}")
    raw, y = _sklearn_bundle("digits")
    if kind == "binary":
        x = (raw >= 8).astype(np.float32)
    elif kind == "levels":
        x = raw.astype(np.int64)
    else:
        x = (raw / 16.0).astype(np.float32)
    return _finish(x, y.copy() if return_labels else None, split, seed)


def _tabular(name: str, return_labels: bool, split: Split | None, seed: int) -> Any:
    """Shared body of the small tabular loaders: float64 x, int64 y."""
    x, y = _sklearn_bundle(name)
    return _finish(x.astype(np.float64), y.copy() if return_labels else None, split, seed)


@_register("breast_cancer")
def breast_cancer(return_labels: bool = True, split: Split | None = None, seed: int = 0) -> Any:
    """Wisconsin breast-cancer data (569 rows, 30 features, 2 classes).

    Args:
        return_labels: Also return the class (int64, 0 = malignant).
        split: None for all rows, or fractions such as ``(0.8, 0.2)``.
        seed: Seed of the permutation used by ``split``.

    Returns:
        float64 ``x`` of shape (569, 30), or ``(x, y)``; with ``split``, a
        tuple of those.

    Example:
        >>> x, y = breast_cancer()
        >>> x.shape, y.shape
        ((569, 30), (569,))
    """
    return _tabular("breast_cancer", return_labels, split, seed)


@_register("iris")
def iris(return_labels: bool = True, split: Split | None = None, seed: int = 0) -> Any:
    """Fisher's iris data (150 rows, 4 features, 3 classes).

    Args:
        return_labels: Also return the species (int64, 0..2).
        split: None for all rows, or fractions such as ``(0.8, 0.2)``.
        seed: Seed of the permutation used by ``split``.

    Returns:
        float64 ``x`` of shape (150, 4), or ``(x, y)``; with ``split``, a
        tuple of those.

    Example:
        >>> iris(return_labels=False).shape
        (150, 4)
    """
    return _tabular("iris", return_labels, split, seed)


@_register("wine")
def wine(return_labels: bool = True, split: Split | None = None, seed: int = 0) -> Any:
    """UCI wine recognition data (178 rows, 13 features, 3 classes).

    Args:
        return_labels: Also return the cultivar (int64, 0..2).
        split: None for all rows, or fractions such as ``(0.8, 0.2)``.
        seed: Seed of the permutation used by ``split``.

    Returns:
        float64 ``x`` of shape (178, 13), or ``(x, y)``; with ``split``, a
        tuple of those.

    Example:
        >>> wine()[0].shape
        (178, 13)
    """
    return _tabular("wine", return_labels, split, seed)
