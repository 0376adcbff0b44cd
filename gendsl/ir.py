"""The graph IR: what tracing a model produces and every later stage reads.

A traced model is a :class:`Program`: a flat, topologically ordered tuple of
:class:`Node` records (SSA form, like a jaxpr or an FX graph). Named nodes are
the user's random variables, parameters, networks and deterministic values;
intermediate arithmetic becomes :class:`Op` nodes named ``%1``, ``%2``, ...
so each value is computed exactly once, however often it is used.

Arguments inside nodes are :class:`Ref` (the value of another node),
:class:`Const` (an array fixed at trace time) or plain Python literals (ints,
floats, bools, ``None``, slices, tuples of these). Every record is frozen:
backends and renderers read the IR and never change it.

Shapes may contain :class:`gendsl.shapes.Dim` entries for plates whose size
comes from the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

import numpy as np

from .shapes import Shape, format_shape

__all__ = [
    "Ref",
    "Const",
    "DistSpec",
    "Plate",
    "Node",
    "Input",
    "Param",
    "Net",
    "Op",
    "Sample",
    "Deterministic",
    "Program",
    "refs_in",
    "SCORE",
]


@dataclass(frozen=True)
class Ref:
    """The value of the node called ``name``."""

    name: str


@dataclass(frozen=True, eq=False)
class Const:
    """An array captured at trace time (compared by identity)."""

    value: np.ndarray

    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape)


@dataclass(frozen=True)
class DistSpec:
    """A backend-neutral distribution: a family, its arguments and wrappers.

    Attributes:
        family: name in the distribution registry (``"Normal"``, ...).
        args: keyword arguments as written by the user; each value is a
            :class:`Ref`, :class:`Const`, literal, or a nested ``DistSpec``
            (``MixtureSameFamily``'s mixing and component distributions).
        wrappers: ``(kind, arg)`` pairs applied in order by every backend:
            ``("expand", shape)``, ``("to_event", n)`` or ``("mask", Ref)``.
        batch_shape: batch shape after the wrappers.
        event_shape: event shape after the wrappers.
    """

    family: str
    args: Mapping[str, Any]
    wrappers: tuple = ()
    batch_shape: Shape = ()
    event_shape: Shape = ()

    @property
    def reinterpreted(self) -> int:
        """How many batch dims ``to_event`` moved into the event."""
        return sum(n for kind, n in self.wrappers if kind == "to_event")

    def label(self) -> str:
        """Short text for graphs: ``Normal`` or ``Bernoulli [event 64]``."""
        return self.family


@dataclass(frozen=True)
class Plate:
    """A conditional-independence context.

    Attributes:
        name: plate name, unique in the program.
        size: fixed size, or ``None`` to take it from the data.
        dim: the batch dimension it occupies (negative, from the right of a
            site's batch shape), allocated as Pyro does: the outermost plate
            gets -1, a nested one -2, unless the user chose ``dim``.
    """

    name: str
    size: int | None
    dim: int


@dataclass(frozen=True)
class Node:
    """Common fields of every IR node.

    Attributes:
        name: unique in the program; user-chosen for named nodes, ``%k`` for ops.
        shape: static shape of the node's value (``()`` for networks).
        plates: names of the enclosing plates, outermost first.
        dtype: ``"real"``, ``"int"`` or ``"bool"``.
    """

    name: str
    shape: Shape
    plates: tuple = ()
    dtype: str = "real"

    kind = "node"
    named = True  # shown in graphs

    def args_refs(self) -> tuple:
        """Names of the nodes this node reads directly."""
        return ()


@dataclass(frozen=True)
class Input(Node):
    """Data handed to a program as an argument (a guide's ``x``)."""

    kind = "input"


@dataclass(frozen=True)
class Covariate(Input):
    """An exogenous input of a model (``gd.covariate``): data every query
    takes, conditioned on and never modelled (a regression's ``x``).

    Attributes:
        event_shape: one row's shape (``shape`` is the plates' axes, then it).
    """

    event_shape: tuple = ()


@dataclass(frozen=True)
class Param(Node):
    """A learnable tensor (``gd.param``).

    Attributes:
        init: an initialiser: ``("value", Const)``, ``("fill", float)`` or
            ``("named", name)``; see :mod:`gendsl.initializers`.
        constraint: name in the constraint registry (``"real"``, ``"simplex"``, ...).
    """

    init: tuple = ("named", "uniform")
    constraint: str = "real"

    kind = "param"


@dataclass(frozen=True)
class Net(Node):
    """A neural network spec (``gendsl.nn``); its weights are parameters
    named ``"<net>.<weight>"``."""

    spec: Any = None

    kind = "net"


@dataclass(frozen=True)
class Op(Node):
    """An application of a registered op (see :mod:`gendsl.ops`).

    Attributes:
        op: name in the op registry; ``"apply"`` calls a network
            (``args[0]`` is a :class:`Ref` to a :class:`Net`).
        args: positional arguments.
        kwargs: keyword arguments as sorted ``(key, value)`` pairs.
    """

    op: str = ""
    args: tuple = ()
    kwargs: tuple = ()

    kind = "op"
    named = False

    def args_refs(self) -> tuple:
        return refs_in((self.args, tuple(v for _, v in self.kwargs)))


@dataclass(frozen=True)
class Sample(Node):
    """A random variable (``gd.sample``) or declared observation (``gd.observe``).

    Attributes:
        dist: its distribution.
        observed: declared as data with ``gd.observe``. A ``gd.sample`` site
            is latent unless data for it are passed (then it is conditioned).
        obs: a :class:`Ref` when the site is observed at a traced value.
        infer: options for inference (``{"enumerate": "parallel"}``, ...).
        event_shape: event shape of the value; ``shape`` is batch + event.
    """

    dist: DistSpec = None
    observed: bool = False
    obs: Any = None
    infer: Mapping = field(default_factory=dict)
    event_shape: Shape = ()

    kind = "sample"

    def args_refs(self) -> tuple:
        return refs_in((self.dist, self.obs))

    @property
    def batch_shape(self) -> Shape:
        n = len(self.event_shape)
        return self.shape[: len(self.shape) - n]


@dataclass(frozen=True)
class Deterministic(Node):
    """A named function of other nodes (``gd.deterministic``)."""

    value: Any = None

    kind = "deterministic"

    def args_refs(self) -> tuple:
        return refs_in(self.value)


def refs_in(obj) -> tuple:
    """All node names referenced anywhere inside ``obj`` (args, specs, tuples)."""
    out: list[str] = []

    def walk(x):
        if isinstance(x, Ref):
            out.append(x.name)
        elif isinstance(x, DistSpec):
            walk(tuple(x.args.values()))
            walk(tuple(a for _, a in x.wrappers))
        elif isinstance(x, (tuple, list)):
            for y in x:
                walk(y)
        elif isinstance(x, slice):
            walk((x.start, x.stop, x.step))

    walk(obj)
    return tuple(dict.fromkeys(out))


# the node a discriminator program records its returned score as (the backends
# read it back by this name)
SCORE = "score"


@dataclass(frozen=True)
class Program:
    """A traced model or guide.

    Attributes:
        name: the model's name (its function's name).
        role: ``"model"`` or ``"guide"``.
        nodes: every node, in program (topological) order.
        plates: plate name -> :class:`Plate`.
        inputs: names of :class:`Input` nodes, in argument order.
        hyper: the hyper-parameters it was traced with.
        doc: the function's docstring.
    """

    name: str
    role: str
    nodes: tuple
    plates: Mapping[str, Plate]
    inputs: tuple = ()
    hyper: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""

    @cached_property
    def by_name(self) -> dict:
        return {n.name: n for n in self.nodes}

    def __getitem__(self, name: str) -> Node:
        return self.by_name[name]

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    @property
    def sites(self) -> tuple:
        """Every :class:`Sample` node."""
        return tuple(n for n in self.nodes if isinstance(n, Sample))

    @property
    def observed(self) -> tuple:
        return tuple(n for n in self.sites if n.observed)

    @property
    def latent(self) -> tuple:
        return tuple(n for n in self.sites if not n.observed and n.obs is None)

    @property
    def covariates(self) -> tuple:
        """Every :class:`Covariate` node."""
        return tuple(n for n in self.nodes if isinstance(n, Covariate))

    @property
    def params(self) -> tuple:
        return tuple(n for n in self.nodes if isinstance(n, Param))

    @property
    def nets(self) -> tuple:
        return tuple(n for n in self.nodes if isinstance(n, Net))

    @property
    def max_plate_nesting(self) -> int:
        return max((-p.dim for p in self.plates.values()), default=0)

    @cached_property
    def dependencies(self) -> dict:
        """Named node -> the named nodes it depends on, looking through ops."""
        through: dict[str, tuple] = {}
        deps: dict[str, tuple] = {}
        for node in self.nodes:
            direct = []
            for ref in node.args_refs():
                direct.extend(through[ref] if ref in through and not self.by_name[ref].named else (ref,))
            direct = tuple(dict.fromkeys(direct))
            if node.named:
                deps[node.name] = direct
                through[node.name] = (node.name,)
            else:
                through[node.name] = direct
        return deps

    def describe(self) -> str:
        """One line per named node: ``z ~ Normal (N_data, 8) in [data]``."""
        lines = []
        for n in self.nodes:
            if n.named:
                where = f" in [{', '.join(n.plates)}]" if n.plates else ""
                what = n.dist.family if isinstance(n, Sample) else n.kind
                lines.append(f"{n.name}: {what} {format_shape(n.shape)}{where}")
        return "\n".join(lines)
