"""Bundled, offline data sets for examples, tests and benchmarks.

Nothing here touches the network. The small tabular and image sets come from
the files scikit-learn ships with itself; the 2-D toy sets are generated from a
seeded :func:`numpy.random.default_rng`; MNIST is read from files the caller
already has (:func:`binarized_mnist`, :func:`mnist_idx`). Every loader returns
NumPy arrays, and :func:`load` reaches any of them by name.

Example:
    >>> from gendsl import data
    >>> x = data.load("moons", n=500, seed=1)
    >>> x.shape, x.dtype
    ((500, 2), dtype('float32'))
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gendsl.errors import DataError

__all__ = [
    "DATASETS",
    "EIGHT_GAUSSIANS_CENTRES",
    "EIGHT_GAUSSIANS_RADIUS",
    "EIGHT_GAUSSIANS_STD",
    "BLOBS_RADIUS",
    "BLOBS_STD",
    "DIGITS_KINDS",
    "MNIST_SPLITS",
    "blob_centres",
    "blobs",
    "binarized_mnist",
    "breast_cancer",
    "checkerboard",
    "circles",
    "digits",
    "eight_gaussians",
    "iris",
    "load",
    "mnist_idx",
    "moons",
    "spirals",
    "wine",
]

#: A split request: fractions of the rows, e.g. ``(0.8, 0.2)``.
Split = Sequence[float]

#: Every loader, by the name :func:`load` knows it under.
DATASETS: dict[str, Callable[..., Any]] = {}

#: The pixel encodings :func:`digits` offers.
DIGITS_KINDS = ("binary", "levels", "unit")

#: The splits of the fixed binarisation of MNIST.
MNIST_SPLITS = ("train", "valid", "test")

# Eight Gaussians as in the Unrolled-GAN / VEEGAN / PacGAN mode-counting
# benchmark: eight modes evenly spaced on a circle of radius 2, each with
# standard deviation 0.02. A sample "hits" a mode when it lies within 3 std of
# the centre, which is why the std is exported alongside the centres.
EIGHT_GAUSSIANS_RADIUS = 2.0
EIGHT_GAUSSIANS_STD = 0.02
_ANGLES = 2.0 * np.pi * np.arange(8) / 8.0
EIGHT_GAUSSIANS_CENTRES = EIGHT_GAUSSIANS_RADIUS * np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1)
EIGHT_GAUSSIANS_CENTRES.setflags(write=False)  # a shared constant must not drift

# Blobs sit on a circle of radius 5 with std 0.5: for k=3 the centres are
# 5*sqrt(3) ~ 8.7 apart, i.e. over 17 std, so the clusters never overlap.
BLOBS_RADIUS = 5.0
BLOBS_STD = 0.5

_MNIST_PIXELS = 784
_PACKED_WIDTH = (_MNIST_PIXELS + 7) // 8  # 98 bytes per image after packbits
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
_GZIP_MAGIC = b"\x1f\x8b"


def _register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Adds a loader to :data:`DATASETS` under ``name``.

    Args:
        name: The name :func:`load` will accept.

    Returns:
        A decorator that registers and returns the function unchanged.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        DATASETS[name] = fn
        return fn

    return decorate


def load(name: str, **kwargs: Any) -> Any:
    """Loads a data set by name.

    Args:
        name: A key of :data:`DATASETS`, e.g. ``"moons"`` or ``"digits"``.
        **kwargs: Passed on to the loader.

    Returns:
        Whatever the named loader returns (arrays, or tuples of arrays).

    Raises:
        DataError: (a ``ValueError``) if ``name`` is not registered; the
            message lists the valid names.

    Example:
        >>> load("blobs", n=30, k=3, return_labels=True)[1].shape
        (30,)
    """
    if name not in DATASETS:
        valid = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown data set {name!r}; valid names are: {valid}")
    return DATASETS[name](**kwargs)


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


# --------------------------------------------------------------------------
# 2-D toy sets


def _check_n(n: int) -> None:
    """Rejects sample counts that would silently give empty or odd arrays."""
    if int(n) != n or n < 1:
        raise DataError(f"n must be a positive integer; got {n!r}")


def _points(x: np.ndarray, y: np.ndarray | None) -> Any:
    """Casts toy-set output to float32 points and int64 labels."""
    x = np.asarray(x, dtype=np.float32)
    return x if y is None else (x, np.asarray(y, dtype=np.int64))


@_register("moons")
def moons(n: int = 1000, noise: float = 0.05, seed: int = 0, return_labels: bool = False) -> Any:
    """Two interleaving half circles (``sklearn.datasets.make_moons``).

    Args:
        n: Number of points.
        noise: Std of the Gaussian noise added to each point.
        seed: Random seed.
        return_labels: Also return which moon (int64, 0 or 1).

    Returns:
        float32 ``(n, 2)`` points, or ``(points, labels)``.

    Example:
        >>> moons(n=10).shape
        (10, 2)
    """
    from sklearn.datasets import make_moons

    _check_n(n)
    # scikit-learn wants an int or RandomState; draw it from the Generator so
    # every toy set is seeded through default_rng(seed) the same way.
    state = int(np.random.default_rng(seed).integers(2**31 - 1))
    x, y = make_moons(n_samples=int(n), noise=noise, random_state=state)
    return _points(x, y if return_labels else None)


@_register("circles")
def circles(
    n: int = 1000, noise: float = 0.05, seed: int = 0, return_labels: bool = False, factor: float = 0.5
) -> Any:
    """A small circle inside a larger one (``sklearn.datasets.make_circles``).

    Args:
        n: Number of points.
        noise: Std of the Gaussian noise added to each point.
        seed: Random seed.
        return_labels: Also return which circle (int64, 0 = outer, 1 = inner).
        factor: Radius of the inner circle relative to the outer (radius 1).

    Returns:
        float32 ``(n, 2)`` points, or ``(points, labels)``.

    Example:
        >>> circles(n=10).dtype
        dtype('float32')
    """
    from sklearn.datasets import make_circles

    _check_n(n)
    state = int(np.random.default_rng(seed).integers(2**31 - 1))
    x, y = make_circles(n_samples=int(n), noise=noise, random_state=state, factor=factor)
    return _points(x, y if return_labels else None)


@_register("eight_gaussians")
def eight_gaussians(
    n: int = 1000, noise: float = EIGHT_GAUSSIANS_STD, seed: int = 0, return_labels: bool = False
) -> Any:
    """Equal mixture of 8 Gaussians on a circle of radius 2 (mode-counting set).

    Centres are :data:`EIGHT_GAUSSIANS_CENTRES` (mode ``i`` at angle
    ``2*pi*i/8``); the default std :data:`EIGHT_GAUSSIANS_STD` = 0.02 follows
    the Unrolled-GAN / VEEGAN benchmark.

    Args:
        n: Number of points.
        noise: Std of each isotropic component.
        seed: Random seed.
        return_labels: Also return the mode index (int64, 0..7).

    Returns:
        float32 ``(n, 2)`` points, or ``(points, labels)``.

    Example:
        >>> x, mode = eight_gaussians(n=100, return_labels=True)
        >>> bool(abs(x - EIGHT_GAUSSIANS_CENTRES[mode]).max() < 0.2)
        True
    """
    _check_n(n)
    rng = np.random.default_rng(seed)
    labels = rng.integers(8, size=int(n))
    x = EIGHT_GAUSSIANS_CENTRES[labels] + noise * rng.standard_normal((int(n), 2))
    return _points(x, labels if return_labels else None)


@_register("checkerboard")
def checkerboard(n: int = 1000, noise: float = 0.0, seed: int = 0) -> Any:
    """The FFJORD checkerboard: uniform on 8 of the 16 unit-2 squares of [-4, 4]^2.

    Same construction as FFJORD's ``toy_data.py``: a square is filled when the
    sum of its column and row indices is even.

    Args:
        n: Number of points.
        noise: Std of optional Gaussian jitter (0 keeps the sharp edges).
        seed: Random seed.

    Returns:
        float32 ``(n, 2)`` points in [-4, 4]^2 (when ``noise`` is 0).

    Example:
        >>> bool(abs(checkerboard(n=100)).max() <= 4)
        True
    """
    _check_n(n)
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(-2.0, 2.0, size=int(n))
    # Pick one of the two filled rows in x1's column, then a point inside it.
    x2 = rng.uniform(0.0, 1.0, size=int(n)) - 2.0 * rng.integers(0, 2, size=int(n)) + np.floor(x1) % 2
    x = 2.0 * np.stack([x1, x2], axis=1)
    if noise:
        x = x + noise * rng.standard_normal(x.shape)
    return _points(x, None)


@_register("spirals")
def spirals(n: int = 1000, noise: float = 0.1, seed: int = 0, return_labels: bool = False) -> Any:
    """Two interleaved spirals, as in FFJORD's ``2spirals``.

    Each arm turns 1.5 times (540 degrees); the second is the first rotated by
    180 degrees. Points are scaled by 1/3 so they lie roughly in [-4, 4]^2.

    Args:
        n: Number of points; the first arm gets the extra one when ``n`` is odd.
        noise: Std of the Gaussian noise added to each point.
        seed: Random seed.
        return_labels: Also return the arm (int64, 0 or 1).

    Returns:
        float32 ``(n, 2)`` points, or ``(points, labels)``.

    Example:
        >>> spirals(n=7, return_labels=True)[1].tolist()
        [0, 0, 0, 0, 1, 1, 1]
    """
    _check_n(n)
    rng = np.random.default_rng(seed)
    n = int(n)
    labels = np.repeat([0, 1], [n - n // 2, n // 2])
    # sqrt of a uniform spreads points evenly along the arm rather than
    # crowding them at the centre.
    t = np.sqrt(rng.uniform(size=n)) * 3.0 * np.pi
    arm = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1) + 0.5 * rng.uniform(size=(n, 2))
    sign = np.where(labels == 0, 1.0, -1.0)[:, None]
    x = sign * arm / 3.0 + noise * rng.standard_normal((n, 2))
    return _points(x, labels if return_labels else None)


def blob_centres(k: int = 3) -> np.ndarray:
    """Centres used by :func:`blobs`: ``k`` points on a circle of radius 5.

    Args:
        k: Number of clusters.

    Returns:
        float64 array of shape (k, 2); cluster ``j`` sits at angle ``2*pi*j/k``.

    Example:
        >>> tuple(blob_centres(4).round(6)[0].tolist())
        (5.0, 0.0)
    """
    if int(k) != k or k < 1:
        raise DataError(f"k must be a positive integer; got {k!r}")
    angles = 2.0 * np.pi * np.arange(int(k)) / int(k)
    return BLOBS_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)


@_register("blobs")
def blobs(
    n: int = 1000, k: int = 3, noise: float = BLOBS_STD, seed: int = 0, return_labels: bool = False
) -> Any:
    """``k`` isotropic Gaussian clusters at :func:`blob_centres`, for mixture tests.

    Clusters are as equal in size as ``n`` allows (sizes differ by at most
    one), and rows are shuffled so a prefix is not a single cluster.

    Args:
        n: Number of points.
        k: Number of clusters.
        noise: Std of each cluster.
        seed: Random seed.
        return_labels: Also return the cluster index (int64, 0..k-1).

    Returns:
        float32 ``(n, 2)`` points, or ``(points, labels)``.

    Example:
        >>> x, y = blobs(n=9, return_labels=True)
        >>> sorted(y.tolist())
        [0, 0, 0, 1, 1, 1, 2, 2, 2]
    """
    _check_n(n)
    centres = blob_centres(k)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(int(n)) % int(k))
    x = centres[labels] + noise * rng.standard_normal((int(n), 2))
    return _points(x, labels if return_labels else None)


# --------------------------------------------------------------------------
# MNIST from local files


def _check_mnist_split(split: str) -> None:
    """Rejects a split name outside :data:`MNIST_SPLITS`."""
    if split not in MNIST_SPLITS:
        raise DataError(f"unknown binarized MNIST split {split!r}; valid splits are: {', '.join(MNIST_SPLITS)}")


def _binary_rows(a: np.ndarray, source: str) -> np.ndarray:
    """Checks an unpacked (n, 784) array holds only 0/1 and returns float32."""
    if a.ndim != 2 or a.shape[1] != _MNIST_PIXELS:
        raise DataError(f"{source}: expected shape (n, {_MNIST_PIXELS}); got {a.shape}")
    if not np.isin(a, (0, 1)).all():
        raise DataError(f"{source}: pixels must be 0 or 1")
    return np.ascontiguousarray(a, dtype=np.float32)


def _from_npz(path: Path, split: str) -> np.ndarray:
    """Reads one split of a binarized-MNIST ``.npz``, packed or unpacked."""
    with np.load(path, allow_pickle=False) as archive:
        if split not in archive.files:
            raise DataError(
                f"{path} has no key {split!r}; expected keys {', '.join(MNIST_SPLITS)} (found: {', '.join(archive.files)})"
            )
        a = archive[split]
    source = f"{path}[{split!r}]"
    if a.ndim == 2 and a.shape[1] == _PACKED_WIDTH:
        # 784 is not a multiple of 8: packbits padded each row to 98 bytes.
        # C order: rows are gathered for minibatches (unpackbits gives Fortran order)
        return np.ascontiguousarray(np.unpackbits(a.astype(np.uint8, copy=False), axis=1)[:, :_MNIST_PIXELS],
                                    dtype=np.float32)
    if a.ndim == 2 and a.shape[1] == _MNIST_PIXELS:
        return _binary_rows(a, source)
    raise DataError(
        f"{source}: expected shape (n, {_PACKED_WIDTH}) packed with numpy.packbits "
        f"or (n, {_MNIST_PIXELS}) unpacked; got {a.shape}"
    )


def _from_amat(path: Path) -> np.ndarray:
    """Reads a ``.amat`` text file: whitespace-separated 0/1, one image a line."""
    text = path.read_text()
    # np.loadtxt warns (and tests treat warnings as errors) on empty input.
    if not text.strip():
        raise DataError(f"{path} is empty; expected one line of {_MNIST_PIXELS} 0/1 values per image")
    a = np.loadtxt(io.StringIO(text), dtype=np.float32, ndmin=2)
    return _binary_rows(a, str(path))


def _amat_name(split: str) -> str:
    """File name of one split in the standard ``.amat`` release."""
    return f"binarized_mnist_{split}.amat"


@_register("binarized_mnist")
def binarized_mnist(path: str | os.PathLike[str], split: str = "train") -> np.ndarray:
    """The fixed binarisation of MNIST (Larochelle & Murray, 2011) from local files.

    Never downloads. ``path`` may be:

    * an ``.npz`` with keys ``train``, ``valid``, ``test``, each either
      ``numpy.packbits(x, axis=1)`` of the 0/1 images (98 bytes a row) or the
      unpacked (n, 784) 0/1 array;
    * a directory holding ``binarized_mnist_{train,valid,test}.amat`` (or, if
      those are absent, ``binarized_mnist.npz``);
    * one ``.amat`` file (whitespace-separated 0/1, one image a line).

    Args:
        path: Where the data lie (see above).
        split: ``"train"`` (50,000 images), ``"valid"`` or ``"test"`` (10,000
            each).

    Returns:
        float32 array of shape (n, 784) holding 0.0 and 1.0.

    Raises:
        DataError: (a ``ValueError``) for a bad split, a missing key, or
            contents of the wrong shape.
        FileNotFoundError: if the path or the split's file does not exist; the
            message names the path and the files expected there.

    Example:
        >>> x = binarized_mnist("../shared/data/binarized_mnist.npz", "test")  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        (10000, 784)
    """
    _check_mnist_split(split)
    p = Path(path)
    expected = ", ".join(_amat_name(s) for s in MNIST_SPLITS)
    if p.is_dir():
        amat, npz = p / _amat_name(split), p / "binarized_mnist.npz"
        if amat.is_file():
            return _from_amat(amat)
        if npz.is_file():
            return _from_npz(npz, split)
        raise FileNotFoundError(f"{p} holds neither {amat.name} nor binarized_mnist.npz; expected {expected}")
    if not p.is_file():
        raise FileNotFoundError(
            f"{p} does not exist; expected an .npz with keys {', '.join(MNIST_SPLITS)}, "
            f"a directory holding {expected}, or one .amat file"
        )
    if p.suffix == ".npz":
        return _from_npz(p, split)
    # A file named for another split is almost surely a mistake, not a choice.
    others = [s for s in MNIST_SPLITS if s != split and p.name == _amat_name(s)]
    if others:
        raise DataError(f"{p} holds the {others[0]!r} split but split={split!r} was asked for")
    return _from_amat(p)


def _read_maybe_gzip(path: Path) -> bytes:
    """Returns a file's bytes, gunzipped when it starts with the gzip magic."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected an MNIST IDX file (optionally gzipped)")
    raw = path.read_bytes()
    # Trust the magic bytes over the name: files are often renamed after gunzip.
    if raw[:2] == _GZIP_MAGIC:
        return gzip.decompress(raw)
    if path.suffix == ".gz":
        raise DataError(f"{path} ends in .gz but is not gzip data")
    return raw


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Parses an unsigned-byte IDX file and checks its magic number and size.

    Args:
        path: The IDX file, plain or gzipped.
        magic: Expected big-endian magic number (2051 images, 2049 labels).
        ndim: Number of dimensions the magic number implies.

    Returns:
        uint8 array of the shape the header gives.
    """
    raw = _read_maybe_gzip(path)
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise DataError(f"{path} is too short ({len(raw)} bytes) to be an IDX file")
    found = struct.unpack(">i", raw[:4])[0]
    if found != magic:
        kind = "images" if magic == _IDX_IMAGES_MAGIC else "labels"
        raise DataError(f"{path}: bad IDX magic number {found}; expected {magic} for MNIST {kind}")
    shape = struct.unpack(f">{ndim}i", raw[4:header])
    body = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path}: header promises shape {shape} but holds {body.size} bytes of data")
    return body.reshape(shape)


@_register("mnist_idx")
def mnist_idx(
    images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str] | None = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Reads MNIST (or Fashion-MNIST) in LeCun's IDX format, plain or gzipped.

    Args:
        images_path: e.g. ``train-images-idx3-ubyte`` or its ``.gz``.
        labels_path: Optional matching ``*-labels-idx1-ubyte`` file.

    Returns:
        uint8 images of shape (n, rows*cols) (784 for MNIST), or
        ``(images, labels)`` with int64 labels when ``labels_path`` is given.

    Raises:
        DataError: (a ``ValueError``) for a wrong magic number (2051 images,
            2049 labels), a truncated file, or image/label counts that differ.
        FileNotFoundError: if a file does not exist.

    Example:
        >>> x, y = mnist_idx("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
        >>> x.shape, y.shape  # doctest: +SKIP
        ((10000, 784), (10000,))
    """
    images = _read_idx(Path(images_path), _IDX_IMAGES_MAGIC, 3)
    # Copy so the result is writable rather than a view of immutable bytes.
    n, rows, cols = images.shape
    images = images.reshape(n, rows * cols).copy()
    if labels_path is None:
        return images
    labels = _read_idx(Path(labels_path), _IDX_LABELS_MAGIC, 1).astype(np.int64)
    if len(labels) != len(images):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    return images, labels
