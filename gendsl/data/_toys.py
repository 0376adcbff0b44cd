"""2-D toy sets, generated from a seeded ``numpy.random.default_rng``."""

from __future__ import annotations

from typing import Any

import numpy as np

from gendsl.errors import DataError

from ._registry import _register

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
