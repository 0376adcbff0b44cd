"""The distribution spec every family builds (:class:`Distribution`), and the
generic constructor of families that take plain arguments."""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import ir
from ..errors import ModelError, ShapeError
from ..shapes import broadcast_shapes, format_shape
from ..trace import arg_shape, as_arg
from ._families import FAMILIES, Family

__all__ = ["Distribution", "build", "constructor", "value_dtype"]


class Distribution:
    """A distribution spec; wraps the IR's :class:`gendsl.ir.DistSpec`."""

    __slots__ = ("spec",)

    def __init__(self, spec: ir.DistSpec):
        self.spec = spec

    @property
    def batch_shape(self) -> tuple:
        return self.spec.batch_shape

    @property
    def event_shape(self) -> tuple:
        return self.spec.event_shape

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def is_enumerable(self) -> bool:
        return self.spec.family in FAMILIES and FAMILIES[self.spec.family].enumerable

    def __repr__(self) -> str:
        return (f"dist.{self.family}(batch_shape={format_shape(self.batch_shape)}, "
                f"event_shape={format_shape(self.event_shape)})")

    def _wrap(self, kind, arg, batch, event) -> "Distribution":
        return Distribution(dataclasses.replace(
            self.spec, wrappers=self.spec.wrappers + ((kind, arg),), batch_shape=batch, event_shape=event,
        ))

    def expand(self, batch_shape) -> "Distribution":
        """Broadcasts the batch shape to ``batch_shape`` (sizes of 1 grow)."""
        shape = tuple(int(s) if isinstance(s, (int, np.integer)) else s for s in batch_shape)
        try:
            merged = broadcast_shapes(self.batch_shape, shape)
        except ShapeError:
            merged = None
        if merged != shape:
            raise ShapeError(
                f"dist.{self.family}.expand: batch shape {format_shape(self.batch_shape)} cannot "
                f"expand to {format_shape(shape)}; only axes of size 1 (or missing on the left) can grow"
            )
        return self._wrap("expand", shape, shape, self.event_shape)

    def to_event(self, reinterpreted_batch_ndims: int | None = None) -> "Distribution":
        """Declares the rightmost batch axes part of one event (Pyro's ``to_event``)."""
        n = len(self.batch_shape) if reinterpreted_batch_ndims is None else int(reinterpreted_batch_ndims)
        if n < 0 or n > len(self.batch_shape):
            raise ShapeError(
                f"dist.{self.family} with batch shape {format_shape(self.batch_shape)} has "
                f"{len(self.batch_shape)} batch axi{'s' if len(self.batch_shape) == 1 else 'es'}, "
                f"so to_event({n}) is impossible; "
                f"expand it first (e.g. .expand([d]).to_event(1)) or use to_event({len(self.batch_shape)})"
            )
        if n == 0:
            return self
        cut = len(self.batch_shape) - n
        return self._wrap("to_event", n, self.batch_shape[:cut], self.batch_shape[cut:] + self.event_shape)

    def mask(self, mask) -> "Distribution":
        """Zeros the log-density where ``mask`` is False (a bool value or array)."""
        arg = as_arg(mask)
        if isinstance(mask, bool):
            return self._wrap("mask", mask, self.batch_shape, self.event_shape)
        batch = broadcast_shapes(self.batch_shape, arg_shape(arg), what=f"dist.{self.family}.mask")
        return self._wrap("mask", arg, batch, self.event_shape)


def build(family: Family, kwargs: dict) -> Distribution:
    known = set(family.params) | set(family.defaults)
    unknown = set(kwargs) - known
    if unknown:
        raise ModelError(
            f"dist.{family.name} got unexpected argument(s) {sorted(unknown)}; it takes {sorted(known)}"
        )
    given = {k for k, v in kwargs.items() if v is not None and k in family.params}
    if not any(set(group) <= given and not (given - set(group) - _optional(family, group)) for group in family.required):
        options = " or ".join("(" + ", ".join(g) + ")" for g in family.required)
        raise ModelError(f"dist.{family.name} needs exactly one of {options}; got {sorted(given)}")
    args, shapes, lits = {}, {}, {}
    for k, v in kwargs.items():
        if v is None:
            continue
        a = as_arg(v)
        args[k] = a
        if isinstance(a, (ir.Ref, ir.Const)):
            shapes[k] = arg_shape(a)
        else:
            shapes[k] = ()
            lits[k] = a
    lits = {**family.defaults, **lits}
    batch_parts = []
    for k, shape in shapes.items():
        rank = family.params.get(k, 0)
        if len(shape) < rank:
            raise ShapeError(
                f"dist.{family.name}: argument {k!r} needs at least {rank} axes (its event part), "
                f"got shape {format_shape(shape)}"
            )
        batch_parts.append(shape[: len(shape) - rank])
    if family.batch is not None:
        batch = family.batch(shapes, lits)
    else:
        batch = broadcast_shapes(*batch_parts, what=f"dist.{family.name} arguments")
    event = family.event(shapes, lits)
    return Distribution(ir.DistSpec(family.name, args, (), batch, event))


def _optional(family: Family, group) -> set:
    # Arguments outside every required group are optional (StudentT's loc/scale).
    in_groups = {a for g in family.required for a in g}
    return set(family.params) - in_groups


def value_dtype(spec: ir.DistSpec) -> str:
    """dtype of the values of ``spec`` (``"real"`` or ``"int"``)."""
    return FAMILIES[spec.family].dtype_of(spec) if spec.family in FAMILIES else "real"


def constructor(family: Family):
    def make(*args, **kwargs):
        names = list(family.params) + list(family.defaults)
        if len(args) > len(names):
            raise ModelError(f"dist.{family.name} takes at most {len(names)} positional arguments ({names})")
        for name, value in zip(names, args):
            if name in kwargs:
                raise ModelError(f"dist.{family.name}: argument {name!r} given twice")
            kwargs[name] = value
        return build(family, kwargs)

    make.__name__ = make.__qualname__ = family.name
    params = ", ".join(family.params)
    make.__doc__ = f"``{family.name}({params})`` as in Pyro and NumPyro; support: {family.support}."
    return make
