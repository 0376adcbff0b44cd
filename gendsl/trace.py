"""Tracing: running a model function once with symbolic values.

While a :class:`Tracer` is active, gendsl's primitives (``gd.sample``,
``gd.param``, ``ops.*``, ``nn.*`` calls, Python operators on traced values)
append nodes to it instead of computing anything. The result is a
:class:`gendsl.ir.Program`. No backend is imported or run.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from . import ir
from .errors import ModelError, SiteError
from .shapes import Dim, Shape, format_shape

__all__ = ["Value", "Tracer", "current", "tracing", "as_arg", "is_traced"]

_STACK: list["Tracer"] = []


def current(what: str = "this call") -> "Tracer":
    """The active tracer; ``what`` names the primitive for the error message."""
    if not _STACK:
        raise ModelError(
            f"{what} only works inside a model or guide: decorate the function with "
            f"@gd.model (or @model.guide) and call the factory, e.g. `m = my_model()`"
        )
    return _STACK[-1]


def is_traced(x) -> bool:
    return isinstance(x, Value)


@contextlib.contextmanager
def tracing(tracer: "Tracer"):
    _STACK.append(tracer)
    try:
        yield tracer
    finally:
        _STACK.pop()


class Value:
    """A symbolic value: the output of one IR node.

    Supports Python arithmetic, comparisons, ``@``, NumPy-style indexing,
    ``.T``, ``.sum``, ``.mean`` and ``.reshape``; each builds an op node in
    the active trace. Those methods are the ops themselves, so
    :mod:`gendsl.ops` (which builds values, one layer up) attaches them; this
    module never imports it. ``shape``, ``ndim`` and ``dtype`` are static.
    """

    __slots__ = ("name", "shape", "dtype")
    __array_ufunc__ = None  # make NumPy defer to our reflected operators

    def __init__(self, name: str, shape: Shape, dtype: str = "real"):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = dtype

    # -- introspection --------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"Value({self.name!r}, shape={format_shape(self.shape)}, dtype={self.dtype})"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self):
        raise ModelError(
            f"traced value {self.name!r} has no truth value while tracing: Python "
            f"`if`/`and`/`or` on random values cannot be traced; use ops.where(cond, a, b)"
        )

    def __len__(self) -> int:
        if not self.shape or not isinstance(self.shape[0], int):
            raise ModelError(f"len() of traced value {self.name!r} with shape {format_shape(self.shape)} is not static")
        return self.shape[0]

    def __iter__(self):
        raise ModelError(
            f"cannot iterate over traced value {self.name!r}; index it (v[i]) or use ops.split"
        )

    def __array__(self, *args, **kwargs):
        raise ModelError(
            f"traced value {self.name!r} cannot become a NumPy array while tracing; "
            f"use gendsl.ops (NumPy's names) instead of numpy functions on random values"
        )


def as_arg(x) -> Any:
    """Turns a user value into an IR argument: Ref, Const or literal."""
    if isinstance(x, Value):
        return ir.Ref(x.name)
    if isinstance(x, (bool, int, float, type(None), str)):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, slice):
        return slice(as_arg(x.start), as_arg(x.stop), as_arg(x.step))
    if isinstance(x, (tuple, list)) and any(isinstance(y, Value) for y in x):
        return tuple(as_arg(y) for y in x)
    if x is Ellipsis:
        return x
    arr = np.asarray(x)
    if arr.dtype == object:
        raise ModelError(f"cannot use {type(x).__name__} {x!r} as a value in a model")
    return ir.Const(arr)


def arg_shape(arg) -> Shape:
    """Static shape of an IR argument (literals are scalars)."""
    tracer = _STACK[-1] if _STACK else None
    if isinstance(arg, ir.Ref):
        return tracer.nodes[arg.name].shape
    if isinstance(arg, ir.Const):
        return arg.shape
    return ()


def arg_dtype(arg) -> str:
    if isinstance(arg, ir.Ref):
        return _STACK[-1].nodes[arg.name].dtype
    if isinstance(arg, ir.Const):
        kind = arg.value.dtype.kind
        return "int" if kind in "iu" else "bool" if kind == "b" else "real"
    if isinstance(arg, bool):
        return "bool"
    if isinstance(arg, int):
        return "int"
    return "real"


# node kind -> how a duplicate-name error describes that use of the name
_USES = {"sample": "a sample (gd.sample)", "param": "a param (gd.param)", "net": "a network",
         "deterministic": "a deterministic node (gd.deterministic)", "input": "an input"}


def _use(node: ir.Node) -> str:
    """``node`` as the call that declared it, for an error message; an
    observed site says ``gd.observe``, not ``gd.sample``."""
    if isinstance(node, ir.Sample) and node.observed:
        return "an observed sample (gd.observe)"
    return _USES.get(node.kind, f"a {node.kind}")


class Tracer:
    """Collects nodes while a model or guide function runs.

    Attributes:
        name: the program's name.
        role: ``"model"`` or ``"guide"``.
        nodes: name -> node, in insertion (program) order.
        plates: name -> :class:`gendsl.ir.Plate`, every plate entered.
        active: the stack of plates currently entered (outermost first).
    """

    def __init__(self, name: str, role: str = "model", shared_plates=None):
        self.name = name
        self.role = role
        self.nodes: dict[str, ir.Node] = {}
        self.plates: dict[str, ir.Plate] = dict(shared_plates or {})
        self.active: list[ir.Plate] = []
        self._counter = 0

    # -- nodes ------------------------------------------------------------------
    def fresh(self) -> str:
        self._counter += 1
        return f"%{self._counter}"

    def add(self, node: ir.Node) -> Value:
        if node.name in self.nodes:
            prev = self.nodes[node.name]
            raise SiteError(
                f"{self.role} {self.name!r}: the name {node.name!r} is used twice: first as "
                f"{_use(prev)}, now as {_use(node)}. Every site, param and network needs its own "
                f"name — in a loop, use f-strings such as f'{node.name}_{{i}}'"
            )
        self.nodes[node.name] = node
        return Value(node.name, node.shape, node.dtype)

    # -- plates -----------------------------------------------------------------
    @property
    def plate_names(self) -> tuple:
        return tuple(p.name for p in self.active)

    def enter_plate(self, name: str, size: int | None, dim: int | None) -> ir.Plate:
        if name in self.plate_names:
            raise SiteError(f"{self.role} {self.name!r}: plate {name!r} is already active; nest different plates")
        if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
            raise ModelError(f"plate {name!r}: size must be a positive int or None (from the data), got {size!r}")
        used = {p.dim for p in self.active}
        if dim is None:
            dim = -1
            while dim in used:
                dim -= 1
        elif dim >= 0:
            raise ModelError(f"plate {name!r}: dim must be negative (counted from the right of the batch shape), got {dim}")
        elif dim in used:
            raise ModelError(f"plate {name!r}: dim {dim} is already taken by an enclosing plate")
        plate = ir.Plate(name, None if size is None else int(size), dim)
        old = self.plates.get(name)
        if old is not None and old != plate:
            raise SiteError(
                f"plate {name!r} is declared twice with different size/dim "
                f"({old.size}, dim {old.dim}) vs ({plate.size}, dim {plate.dim})"
            )
        self.plates[name] = plate
        self.active.append(plate)
        return plate

    def exit_plate(self) -> None:
        self.active.pop()

    def plate_batch_shape(self) -> Shape:
        """The batch shape the active plates require, e.g. ``(N_data,)``."""
        if not self.active:
            return ()
        rank = max(-p.dim for p in self.active)
        shape: list = [1] * rank
        for p in self.active:
            shape[rank + p.dim] = Dim(p.name) if p.size is None else p.size
        return tuple(shape)

    def program(self, inputs=(), hyper=None, doc="") -> ir.Program:
        return ir.Program(
            name=self.name,
            role=self.role,
            nodes=tuple(self.nodes.values()),
            plates=dict(self.plates),
            inputs=tuple(inputs),
            hyper=dict(hyper or {}),
            doc=doc or "",
        )
