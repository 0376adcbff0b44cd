"""Particle and enumeration axes through ops: the layout of run-time values.

Used by :mod:`gendsl.backends.interpret` when it lowers ``Op`` nodes: a
:class:`Layout` is read off a program's traced shapes once, and wraps the few
ops whose operands NumPy's broadcasting would misalign once the guide's
particles or enumerated latents add axes on the left.
"""

from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import GendslError, ShapeError
from ..shapes import format_shape

__all__ = ["Layout"]

# -- particle and enumeration axes through ops ---------------------------------------------
# At run time a value may carry axes its traced shape lacks: the guide's particles (k > 1)
# and enumerated discrete latents, left of every plate, where Pyro puts them. A value whose
# traced shape is plate axes, then e event axes, runs as
#
#     P + (1,) * pads + traced shape,     pads = max_plate_nesting + e - traced rank,
#
# so its particle/enumeration axes P end max_plate_nesting + e axes from the right. With one
# plate, a global latent w of traced shape (d,) runs as (k, 1, d) and NumPy's broadcasting
# takes it and data (N, d) to (k, N, d): elementwise ops on operands of one event rank need
# nothing more. `Layout` reads each value's plate and event axes off the traced shapes once
# per program; `Layout.wrap` adds a run-time step only to the ops that need more: those with
# axes of their own (concatenate, stack, matmul, indexing, transpose, reshape: P must stay
# clear of them), elementwise operands of lower event rank than the result (a global scalar
# times an (N, d) value), and ops that add or remove plate axes (a sum over the rows). With
# no particle or enumeration axes present the step is a rank comparison before the plain
# call; the ops of a plain VAE are not wrapped at all.

_P, _E = "plate", "event"  # axis tags; None: an axis of a parameter or constant, placed as NumPy places it
_REDUCTIONS = ("sum", "mean", "prod", "max", "min", "logsumexp", "var", "std")
# op -> (its axis arguments: keywords or positions, whether they count the output's axes)
_AXES = {
    **{op: (("axis",), False) for op in _REDUCTIONS + ("softmax", "log_softmax", "cumsum", "slice_axis",
                                                       "unflatten", "flatten", "concatenate", "squeeze")},
    "diagonal": (("axis1", "axis2"), False), "swapaxes": ((1, 2), False), "transpose": (("axes",), False),
    "stack": (("axis",), True), "expand_dims": (("axis",), True),
}
_LEADING = {"apply", "reshape", "flatten", "unflatten", "diagonal"}  # keep the leading plate axes, then events
_UNARY = {"transpose", "reshape", "swapaxes", "expand_dims", "squeeze", *_REDUCTIONS}  # may move plate axes


def _neg(axis, rank):
    """``axis`` (an int, a tuple of them, or None: all) counted from the right."""
    if axis is None:
        return tuple(range(-rank, 0))
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % rank - rank for a in axis)
    return int(axis) % rank - rank


def _merge(tags) -> tuple:
    """Right-aligned union of axis tags (NumPy broadcasting); a plate axis wins."""
    rank = max((len(t) for t in tags), default=0)
    out = []
    for i in range(-rank, 0):
        seen = {t[i] for t in tags if len(t) >= -i}
        out.append(_P if _P in seen else _E if _E in seen else None)
    return tuple(out)


def _leading(tags, rank) -> tuple:
    """The widest operand's leading plate axes, then event axes (networks, reshapes)."""
    src = max(tags, key=len, default=())
    lead = min(next((i for i, t in enumerate(src) if t != _P), len(src)), rank)
    return (_P,) * lead + ((None if all(t is None for t in src) else _E),) * (rank - lead)


def _matmul_tags(tags, node, kw, layout):
    a, b = tags[0], tags[1]
    a2, b2 = ((_E,) + a if len(a) == 1 else a), (b + (_E,) if len(b) == 1 else b)
    out = _merge([a2[:-2], b2[:-2]]) + (a2[-2], b2[-1])
    out = out[:-2] + out[-1:] if len(a) == 1 else out
    return out[:-1] if len(b) == 1 else out


def _dropped(tags, axes):
    drop = {a % len(tags) for a in (axes if isinstance(axes, tuple) else (axes,))}
    return tuple(t for i, t in enumerate(tags) if i not in drop)


def _inserted(tags, axis, rank):
    i = axis % rank
    return tags[:i] + (_E,) + tags[i:]


def _swapped(tags, a, b):
    out = list(tags)
    out[a], out[b] = out[b], out[a]
    return tuple(out)


# op -> (operand tags, node, normalised kwargs, layout) -> the output's axis tags
_TAG_RULES = {
    **{op: (lambda tags, node, kw, layout: tags[0] if kw.get("keepdims") else _dropped(tags[0], kw["axis"]))
       for op in _REDUCTIONS},
    "matmul": _matmul_tags,
    "one_hot": lambda tags, node, kw, layout: tags[0] + (_E,),
    "stack": lambda tags, node, kw, layout: _inserted(_merge(tags), kw["axis"], len(node.shape)),
    "expand_dims": lambda tags, node, kw, layout: _inserted(tags[0], kw["axis"], len(node.shape)),
    "transpose": lambda tags, node, kw, layout: tuple(tags[0][a] for a in kw["axes"]),
    "swapaxes": lambda tags, node, kw, layout: _swapped(tags[0], node.args[1], node.args[2]),
    "squeeze": lambda tags, node, kw, layout: _dropped(tags[0], kw["axis"]),
    "getitem": lambda tags, node, kw, layout: _Index(layout, node).tags,
}


class Layout:
    """Where the values of one program keep their plate and event axes (see above).

    Attributes:
        mpn: the program's ``max_plate_nesting``.
        shapes: node name -> traced shape.
        tags: node name -> ``"plate"``, ``"event"`` or ``None`` per traced axis.
        fixed: values that never carry particle axes: parameters, networks, and
            what is computed from them and constants alone.
        feeds: node name -> the first site that reads it (for error messages).
    """

    def __init__(self, program: ir.Program):
        self.mpn = program.max_plate_nesting
        self.shapes, self.dtypes, self.tags, self.fixed, self.feeds = {}, {}, {}, set(), {}
        for node in program.nodes:
            self.shapes[node.name], self.dtypes[node.name] = node.shape, node.dtype
            if node.kind in ("param", "net") or (node.kind in ("op", "deterministic")
                                                 and all(r in self.fixed for r in node.args_refs())):
                self.fixed.add(node.name)
            self.tags[node.name] = ((None,) * len(node.shape) if node.name in self.fixed
                                    else self._node_tags(node, program))
        for node in reversed(program.nodes):  # reversed: the first reader wins
            site = node.name if node.kind in ("sample", "deterministic") else self.feeds.get(node.name)
            for ref in node.args_refs() if site else ():
                self.feeds[ref] = site

    def _node_tags(self, node, program) -> tuple:
        rank = len(node.shape)
        if node.kind == "sample":
            return (_P,) * (rank - len(node.event_shape)) + (_E,) * len(node.event_shape)
        if node.kind == "input":  # a site's data: its plates' axes, then its event
            lead = min(rank, max((-program.plates[p].dim for p in node.plates if p in program.plates), default=0))
            return (_P,) * lead + (_E,) * (rank - lead)
        if node.kind == "deterministic":
            return self.of(node.value)
        if node.kind != "op":
            return (None,) * rank
        tags, rule = [self.of(a) for a in node.args], _TAG_RULES.get(node.op)
        try:
            out = rule(tags, node, self.normalise(node)[1], self) if rule else (
                None if node.op in _LEADING else _merge(tags))
        except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
            out = None
        return out if out is not None and len(out) == rank else _leading(tags, rank)

    # -- what lowering asks ------------------------------------------------------------------
    def of(self, arg) -> tuple:
        if isinstance(arg, ir.Ref):
            return self.tags.get(arg.name, ())
        return (None,) * arg.value.ndim if isinstance(arg, ir.Const) else ()

    def shape_of(self, arg) -> tuple:
        if isinstance(arg, ir.Ref):
            return self.shapes[arg.name]
        return arg.shape if isinstance(arg, ir.Const) else ()

    def carries(self, arg) -> bool:
        """Whether ``arg`` may carry particle or enumeration axes at run time."""
        return isinstance(arg, ir.Ref) and arg.name not in self.fixed

    def event_rank(self, tags) -> int:
        lead = next((i for i, t in enumerate(tags) if t == _E), len(tags))
        return len(tags) - min(lead, self.mpn)

    def pads(self, rank, tags) -> int:
        return max(self.mpn + self.event_rank(tags) - rank, 0)

    def normalise(self, node: ir.Op):
        """``(args, kwargs)`` with axis arguments counted from the right, so they
        name the same axes with particle axes on the left (``None`` made explicit)."""
        args, kw = list(node.args), dict(node.kwargs)
        names, of_output = _AXES.get(node.op, ((), False))
        rank = len(node.shape) if of_output else len(self.shape_of(node.args[0])) if node.args else 0
        for key in names:
            if isinstance(key, int):
                args[key] = _neg(args[key], rank)
            elif node.op == "squeeze" and kw.get(key) is None:
                shape = self.shape_of(node.args[0])
                kw[key] = tuple(i - len(shape) for i, s in enumerate(shape) if s == 1)
            elif node.op == "transpose" and kw.get(key) is None:
                kw[key] = tuple(range(-1, -rank - 1, -1))
            elif rank and key in kw:
                kw[key] = _neg(kw[key], rank)
        return tuple(args), kw

    def arguments(self, spec: ir.DistSpec, family, backend):
        """A run-time step for the arguments of a distribution, or ``None``.

        A distribution's batch shape is its arguments' broadcast, each argument
        less its own event rank (``family.params``). Arguments whose value event
        ranks differ (``Normal(loc, scale)`` with ``loc`` an ``(N, d)`` value and
        ``scale`` a global scalar) each carry their particle axes ``P`` at their
        own place; the step moves them to one place, left of every batch axis,
        as :class:`_Elementwise` does for an op's operands.
        """
        if family.batch is not None:  # a batch shape of its own rule: its arguments are not broadcast
            return None
        carried, target = {}, None
        for name, arg in spec.args.items():
            if name not in family.params or not isinstance(arg, (ir.Ref, ir.Const)):
                continue
            tags, rank = self.of(arg), len(self.shape_of(arg))
            own = self.mpn + self.event_rank(tags) if self.carries(arg) else rank  # its axes right of P
            batch = own - family.params[name]
            target = batch if target is None else max(target, batch)
            if self.carries(arg):
                carried[name] = (rank, tags, family.params[name], batch)
        if target is None:
            return None
        realign = {n: c[:3] for n, c in carried.items() if c[3] != target}
        if not realign:
            return None
        ops = backend.ops

        def step(kwargs: dict) -> dict:
            out = dict(kwargs)
            for name, (rank, tags, own_event) in realign.items():
                v = out[name]
                p, had = self.split(v, rank, tags)
                out[name] = _repad(ops, v, p, had, max(target + own_event - rank, 0))
            return out

        return step

    # -- the run-time step -------------------------------------------------------------------
    def wrap(self, node: ir.Op, fn, backend, args):
        """``fn`` with the run-time step ``node`` needs for particle and enumeration
        axes, or ``None`` where NumPy's broadcasting places them already."""
        carried = [i for i, a in enumerate(args) if self.carries(a)]
        kind = _STEPS.get(node.op, None if node.op in _TAG_RULES or node.op in _LEADING else _Elementwise)
        step = kind.make(self, node, fn, backend, args, carried) if carried and kind else None
        return None if step is None else _guarded(self, node, step)

    def split(self, v, rank, tags):
        """``(particle axes, pads)`` of run-time value ``v`` of traced rank ``rank``."""
        extra = getattr(v, "ndim", 0) - rank
        if extra <= 0:
            return 0, 0
        pads = min(self.pads(rank, tags), extra)
        return extra - pads, pads

    def error(self, node, values, reason, hint=None) -> ShapeError:
        """The error of op ``node`` run on ``values`` (its operands, in order)."""
        site = self.feeds.get(node.name)
        arrays = [(v, a) for v, a in zip(values, node.args) if isinstance(a, (ir.Ref, ir.Const))]
        extra = any(getattr(v, "ndim", 0) > len(self.shape_of(a)) for v, a in arrays)
        return ShapeError(
            f"ops.{node.op} (node {node.name!r}{f', feeding site {site!r}' if site else ''}) cannot combine "
            f"operands of run-time shapes {', '.join(str(tuple(getattr(v, 'shape', ()))) for v, _ in arrays)}, "
            f"traced as {', '.join(format_shape(self.shape_of(a)) for _, a in arrays)}: {reason}. "
            + ("Axes left of a traced shape are particles (k > 1) and enumerated values: they broadcast as "
               "NumPy's leading axes, and every traced axis must match. " if extra else "")
            + (hint or "Give each site data or latents of its traced shape (the same rows everywhere)"
               + ("; with k=1 no particle axes are added" if extra else "")))


def _guarded(layout, node, step):
    """``step`` whose backend errors name the op, its site and the shapes."""
    def call(*args, **kwargs):
        try:
            return step(*args, **kwargs)
        except GendslError:
            raise
        except (RuntimeError, TypeError, ValueError, IndexError) as e:
            raise layout.error(node, args, str(e).splitlines()[0] if str(e) else type(e).__name__) from e

    return call


def _repad(ops, v, p, had, pads):
    """``v`` with the ``had`` size-1 axes after its ``p`` particle axes made ``pads``."""
    if p <= 0 or had == pads:
        return v
    shape = tuple(v.shape)
    return ops["reshape"](v, shape[:p] + (1,) * pads + shape[p + had:])


class _Step:
    """The run-time step of one op whose operands may carry particle axes
    (``carried``); called as the backend op is, it returns what the op would
    return were those axes plates, laid out as above."""

    def __init__(self, layout, node, fn, backend, args, carried):
        self.layout, self.node, self.fn, self.backend, self.ops = layout, node, fn, backend, backend.ops
        self.carried = carried
        self.ranks = [len(layout.shape_of(a)) for a in args]
        self.tags = [layout.of(a) for a in args]
        self.out_rank, self.out_tags = len(node.shape), layout.tags[node.name]
        self.out_pads = layout.pads(self.out_rank, self.out_tags)

    @classmethod
    def make(cls, layout, node, fn, backend, args, carried):
        """The step, or ``None`` where the plain op is right."""
        return cls(layout, node, fn, backend, args, carried)

    def plain(self, args):
        """Whether no operand carries particle or enumeration axes now."""
        return all(getattr(v, "ndim", 0) == r for v, r in zip(args, self.ranks))

    def padded(self, v, p):
        """A result with ``p`` particle axes and no pads, laid out (pads put in)."""
        return _repad(self.ops, v, p, 0, self.out_pads)

    def stripped(self, v, i):
        """``(operand i without its pads, its number of particle axes)``."""
        p, pads = self.layout.split(v, self.ranks[i], self.tags[i])
        return _repad(self.ops, v, p, pads, 0), p


class _Elementwise(_Step):
    """Operands of another event rank than the result (a global scalar times an
    ``(N, d)`` value): their particle axes moved to the result's place."""

    def __init__(self, *args):
        super().__init__(*args)
        frame = _merge(self.tags) if self.node.op == "stack" else self.out_tags  # the operands' layout
        self.target = self.layout.event_rank(frame)
        self.realign = [i for i in self.carried if self.layout.event_rank(self.tags[i]) != self.target]

    @classmethod
    def make(cls, *args):
        step = cls(*args)
        return step if step.realign else None

    def aligned(self, args):
        layout, args = self.layout, list(args)
        for i in self.realign:
            p, had = layout.split(args[i], self.ranks[i], self.tags[i])
            args[i] = _repad(self.ops, args[i], p, had, max(layout.mpn + self.target - self.ranks[i], 0))
        return args

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs) if self.plain(args) else self.fn(*self.aligned(args), **kwargs)


class _Joined(_Elementwise):
    """``concatenate`` and ``stack``: operands aligned, then broadcast on every
    axis but the joined one (NumPy's leading axes, Pyro's plates)."""

    @classmethod
    def make(cls, *args):
        step = cls(*args)
        step.realign = step.carried  # all of them: they are broadcast to one shape
        return step

    def __call__(self, *args, **kwargs):
        if self.plain(args):
            return self.fn(*args, **kwargs)
        args, stacked = self.aligned(args), self.node.op == "stack"
        axis = None if stacked else kwargs["axis"]
        rank = max(v.ndim for v in args)
        shapes = [(1,) * (rank - v.ndim) + tuple(v.shape) for v in args]
        common = []
        for i in range(-rank, 0):
            sizes = {s[i] for s in shapes} - {1}
            if i != axis and len(sizes) > 1:
                raise self.layout.error(self.node, args, f"axis {i} has sizes {sorted(sizes)}")
            common.append(max(sizes, default=1))
        args = [self.backend.broadcast_to(self.ops["reshape"](v, s) if v.ndim < rank else v,
                                          tuple(s[i] if i - rank == axis else common[i] for i in range(rank)))
                for v, s in zip(args, shapes)]
        out = self.fn(*args, **kwargs)
        if not stacked:
            return out
        pads = self.layout.pads(self.out_rank - 1, _merge(self.tags))  # the operands' pads, now the result's
        return _repad(self.ops, out, out.ndim - self.out_rank - pads, pads, self.out_pads)


class _MatMul(_Step):
    """``a @ b``: particle axes broadcast as batch axes; a one-dimensional
    operand stays a vector (NumPy's rules on the traced shapes)."""

    def __call__(self, a, b):
        if self.plain((a, b)):
            return self.fn(a, b)
        (ta, tb), reshape = self.ranks, self.ops["reshape"]
        (a, pa), (b, pb) = self.stripped(a, 0), self.stripped(b, 1)
        if ta == 1:
            a = reshape(a, tuple(a.shape[:-1]) + (1, a.shape[-1]))
        if tb == 1:
            b = reshape(b, tuple(b.shape) + (1,))
        batch = max(ta, tb, 2) - 2  # traced batch axes: each operand's filled up to as many
        a = reshape(a, tuple(a.shape[:pa]) + (1,) * (batch - max(ta - 2, 0)) + tuple(a.shape[pa:]))
        b = reshape(b, tuple(b.shape[:pb]) + (1,) * (batch - max(tb - 2, 0)) + tuple(b.shape[pb:]))
        out = self.fn(a, b)  # (particles, batch, n, m), n or m 1 for a vector
        keep = out.shape[:-2] + (() if ta == 1 else out.shape[-2:-1]) + (() if tb == 1 else out.shape[-1:])
        return self.padded(reshape(out, tuple(keep)), max(pa, pb))


class _Unary(_Step):
    """Ops on one value that move, add or remove axes (a transpose, a sum over
    the rows): its particle axes pass through in front."""

    @classmethod
    def make(cls, *args):
        step = cls(*args)
        moved = step.node.op in ("transpose", "reshape")  # their arguments name every axis
        return step if step.carried == [0] and (moved or step.layout.pads(step.ranks[0], step.tags[0])
                                                != step.out_pads) else None

    def __call__(self, x, *args, **kwargs):
        if self.plain((x,)):
            return self.fn(x, *args, **kwargs)
        x, p = self.stripped(x, 0)
        if self.node.op == "transpose":
            kwargs["axes"] = tuple(range(p)) + tuple(x.ndim + a for a in kwargs["axes"])
        elif self.node.op == "reshape":
            kwargs["shape"] = tuple(x.shape[:p]) + tuple(kwargs["shape"])
        return self.padded(self.fn(x, *args, **kwargs), p)


class _Index:
    """How ``x[index]`` moves the axes of ``x`` (NumPy's rules), from the traced shapes.

    Attributes:
        parts: ``(kind, position in the index or None)`` per index entry, the
            ellipsis and the implicit trailing slices written out; kinds are
            ``"int"``, ``"slice"``, ``"new"`` and ``"array"``.
        axes: the axis of ``x`` each entry takes (``None`` for ``"new"``).
        advanced: entries that are arrays, and ints beside arrays.
        adjacent: whether the advanced entries are next to each other (NumPy
            then keeps their axes in place, after ``before`` other output axes).
        tags: the output's axis tags (``None`` with a boolean mask).
    """

    def __init__(self, layout, node):
        x, index = node.args[0], node.args[1:]
        rank, kinds = len(layout.shape_of(x)), [self._kind(layout, p) for p in index]
        self.masked = "mask" in kinds
        if self.masked:
            self.tags = None
            return
        written = [(k, i) for i, k in enumerate(kinds) if k != "..."]
        fill = [("slice", None)] * (rank - sum(k != "new" for k, _ in written))
        at = kinds.index("...") if "..." in kinds else len(kinds)
        self.parts = [(k, i) for k, i in written if i < at] + fill + [(k, i) for k, i in written if i > at]
        self.axes, axis = [], 0
        for k, _ in self.parts:
            self.axes.append(None if k == "new" else axis)
            axis += k != "new"
        arrays = any(k == "array" for k, _ in self.parts)
        self.advanced = [j for j, (k, _) in enumerate(self.parts) if k == "array" or (arrays and k == "int")]
        self.adjacent = bool(self.advanced) and self.advanced[-1] - self.advanced[0] == len(self.advanced) - 1
        basic = [j for j, (k, _) in enumerate(self.parts) if j not in self.advanced and k != "int"]
        self.before = sum(j < self.advanced[0] for j in basic) if self.advanced else 0
        x_tags = layout.of(x)
        basic_tags = tuple(_E if self.parts[j][0] == "new" else x_tags[self.axes[j]] for j in basic)
        idx = _merge([layout.of(index[self.parts[j][1]]) for j in self.advanced])
        cut = self.before if self.adjacent else 0
        self.tags = basic_tags[:cut] + idx + basic_tags[cut:]

    @staticmethod
    def _kind(layout, part):
        if part is None:
            return "new"
        if part is Ellipsis:
            return "..."
        if isinstance(part, slice):
            return "slice"
        if isinstance(part, (bool, ir.Ref, ir.Const)):
            dtype = (layout.dtypes[part.name] if isinstance(part, ir.Ref) else "bool" if isinstance(part, bool)
                     else {"b": "bool"}.get(part.value.dtype.kind))
            return "mask" if dtype == "bool" else "array"
        return "int"


class _Indexing(_Step):
    """``x[index]`` with particle axes on ``x`` or on index arrays: the particle
    axes of both broadcast (each particle indexes its own ``x``), in front."""

    def __init__(self, *args):
        super().__init__(*args)
        self.plan, self.consts = _Index(self.layout, self.node), {}

    def __call__(self, x, *index):
        if self.plain((x,) + index):
            return self.fn(x, *index)
        plan, ops = self.plan, self.ops
        if plan.masked:
            raise self.layout.error(self.node, (x,) + index, "a boolean mask picks a different number of "
                                    "entries in each particle", "Mask with ops.where(mask, x, 0.0) instead")
        x, px = self.stripped(x, 0)
        if not plan.advanced:  # basic indexing: the particle axes pass through in front
            return self.padded(self.fn(x, *((slice(None),) * px + index)), px)
        entries = {}
        for j in plan.advanced:
            kind, i = plan.parts[j]
            entries[j] = (self.stripped(index[i], i + 1) if kind == "array"
                          else (self._const(np.asarray(index[i]), x), 0))
        widths = {j: v.ndim - q for j, (v, q) in entries.items()}
        p, width = max([px] + [q for _, q in entries.values()]), max(widths.values())
        # x with its indexed axes first (after its particle axes), every advanced entry laid out as
        # (particles, index axes): the result is (particles, index axes, the other axes in order)
        order = list(range(px)) + [px + plan.axes[j] for j in plan.advanced] + [
            px + a for j, a in enumerate(plan.axes) if a is not None and j not in plan.advanced]
        if order != sorted(order):
            x = ops["transpose"](x, tuple(order))
        keys = [self._const(np.arange(x.shape[q]).reshape(
            (1,) * (p - px + q) + (x.shape[q],) + (1,) * (px - q - 1 + width)), x) for q in range(px)]
        for j in plan.advanced:
            (v, q), shape = entries[j], tuple(entries[j][0].shape)
            keys.append(ops["reshape"](v, (1,) * (p - q) + shape[:q] + (1,) * (width - widths[j]) + shape[q:]))
        keys += [None if kind == "new" else slice(None) if i is None else index[i]
                 for j, (kind, i) in enumerate(plan.parts) if j not in plan.advanced]
        out = self.fn(x, *keys)
        if plan.adjacent and plan.before:  # NumPy keeps adjacent index axes in place
            rest = out.ndim - p - width
            out = ops["transpose"](out, tuple(
                list(range(p)) + [p + width + b for b in range(plan.before)] + [p + w for w in range(width)]
                + [p + width + b for b in range(plan.before, rest)]))
        return self.padded(out, p)

    def _const(self, value, like):
        """An integer index array on ``like``'s device, made once."""
        key = (value.shape, value.tobytes(), str(self.backend.like(like)))
        if key not in self.consts:
            self.consts[key] = self.backend.const(value, "int", like=self.backend.like(like))
        return self.consts[key]


# op -> its run-time step; ops not named here (nor in _TAG_RULES or _LEADING) are elementwise
_STEPS = {"concatenate": _Joined, "stack": _Joined, "matmul": _MatMul, "getitem": _Indexing,
          **{op: _Unary for op in _UNARY}}
