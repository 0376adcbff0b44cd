"""Bundled, offline data sets for examples, tests and benchmarks.

Nothing here touches the network. The small tabular and image sets come from
the files scikit-learn ships with itself; the 2-D toy sets are generated from a
seeded :func:`numpy.random.default_rng`; the character-level corpus
(:func:`text`) is Python's documentation topics, frozen into the package;
MNIST is read from files the caller already has (:func:`binarized_mnist`,
:func:`mnist_idx`). Every loader returns NumPy arrays, and :func:`load`
reaches any of them by name.

Example:
    >>> from gendsl import data
    >>> x = data.load("moons", n=500, seed=1)
    >>> x.shape, x.dtype
    ((500, 2), dtype('float32'))
"""

from ._mnist import MNIST_SPLITS, binarized_mnist, mnist_idx
from ._registry import DATASETS, load
from ._tabular import DIGITS_KINDS, breast_cancer, digits, iris, wine
from ._text import TEXT_SHA256, TEXT_SPLIT, TEXT_UNKNOWN, TextCorpus, text, text_bytes
from ._toys import (
    BLOBS_RADIUS,
    BLOBS_STD,
    EIGHT_GAUSSIANS_CENTRES,
    EIGHT_GAUSSIANS_RADIUS,
    EIGHT_GAUSSIANS_STD,
    blob_centres,
    blobs,
    checkerboard,
    circles,
    eight_gaussians,
    moons,
    spirals,
)

__all__ = [
    "DATASETS",
    "EIGHT_GAUSSIANS_CENTRES",
    "EIGHT_GAUSSIANS_RADIUS",
    "EIGHT_GAUSSIANS_STD",
    "BLOBS_RADIUS",
    "BLOBS_STD",
    "DIGITS_KINDS",
    "MNIST_SPLITS",
    "TEXT_SHA256",
    "TEXT_SPLIT",
    "TEXT_UNKNOWN",
    "TextCorpus",
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
    "text",
    "text_bytes",
    "wine",
]
