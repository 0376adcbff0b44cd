"""Static shapes with symbolic plate sizes.

A shape is a tuple whose entries are ``int`` or :class:`Dim`. A ``Dim`` stands
for the size of a plate declared with ``size=None``: it is only known when
data arrive, so tracing carries it symbolically. Broadcasting follows NumPy's
rules, with one extra: a ``Dim`` broadcasts against 1 and against itself, and
nothing else (a data-sized axis meeting a fixed size is a modelling mistake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = ["Dim", "Shape", "broadcast_shapes", "format_shape", "is_static", "concrete"]


@dataclass(frozen=True)
class Dim:
    """The unknown size of plate ``plate`` (taken from the data at run time)."""

    plate: str

    def __repr__(self) -> str:
        return f"N_{self.plate}"


Size = Union[int, Dim]
Shape = tuple  # tuple[Size, ...]


def format_shape(shape: Shape) -> str:
    """``(N_data, 64)`` style text for error messages and graph labels."""
    inner = ", ".join(repr(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def is_static(shape: Shape) -> bool:
    return all(isinstance(s, int) for s in shape)


def _broadcast_pair(a: Size, b: Size):
    if a == b:
        return a
    if a == 1:
        return b
    if b == 1:
        return a
    return None


def broadcast_shapes(*shapes: Shape, what: str = "values") -> Shape:
    """NumPy broadcasting over shapes that may hold :class:`Dim` entries.

    Raises:
        ShapeError: naming every shape when two sizes cannot broadcast.
    """
    from .errors import ShapeError

    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-rank, 0):
        size: Size = 1
        for s in shapes:
            if len(s) >= -i:
                merged = _broadcast_pair(size, s[i])
                if merged is None:
                    listed = " and ".join(format_shape(t) for t in shapes)
                    raise ShapeError(
                        f"{what}: shapes {listed} cannot broadcast (axis {i}: "
                        f"{size!r} vs {s[i]!r}); make the sizes equal, or 1 where a value "
                        f"should be shared"
                    )
                size = merged
        out.append(size)
    return tuple(out)


def concrete(shape: Shape, sizes: dict) -> tuple:
    """Replaces each :class:`Dim` by its plate's size from ``sizes``."""
    return tuple(sizes[s.plate] if isinstance(s, Dim) else s for s in shape)
