"""The data-set registry: every loader by the name :func:`load` knows it under."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gendsl.errors import DataError

#: Every loader, by the name :func:`load` knows it under.
DATASETS: dict[str, Callable[..., Any]] = {}


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
