"""MNIST from local files: the fixed binarisation (.npz / .amat) and IDX files."""

from __future__ import annotations

import gzip
import io
import os
import struct
from pathlib import Path

import numpy as np

from gendsl.errors import DataError

from ._registry import _register

#: The splits of the fixed binarisation of MNIST.
MNIST_SPLITS = ("train", "valid", "test")

_MNIST_PIXELS = 784
_PACKED_WIDTH = (_MNIST_PIXELS + 7) // 8  # 98 bytes per image after packbits
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
_GZIP_MAGIC = b"\x1f\x8b"


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
