"""Backend-neutral math with NumPy's names and arguments.

On traced values each function appends an :class:`gendsl.ir.Op` node and
returns a :class:`gendsl.trace.Value` with a statically inferred shape; on
plain numbers and arrays it simply computes with NumPy. Every op is listed in
:data:`OPS`, the one registry backends translate (a conformance test checks
that both backends implement every name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special

from . import ir
from .errors import ModelError, ShapeError, unknown_attribute, unknown_name
from .shapes import Dim, broadcast_shapes, format_shape
from .trace import Value, arg_dtype, arg_shape, as_arg, current

__all__ = [
    "OPS", "apply",
    "exp", "log", "log1p", "expm1", "sigmoid", "logit", "softplus", "tanh", "relu", "sqrt",
    "square", "abs", "negative", "sin", "cos", "erf", "floor",
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "logaddexp",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
    "where", "clip",
    "sum", "mean", "prod", "max", "min", "logsumexp", "var", "std",
    "softmax", "log_softmax", "cumsum",
    "matmul", "split", "concatenate", "stack", "reshape", "transpose", "swapaxes",
    "expand_dims", "squeeze", "one_hot", "getitem", "flatten", "unflatten", "astype", "zeros_like", "ones_like",
    "tril", "triu", "diagonal", "eye", "zeros", "ones", "full",
]


@dataclass(frozen=True)
class OpDef:
    """How an op behaves at trace time.

    Attributes:
        name: registry name (NumPy's).
        numpy: the NumPy implementation (eager evaluation and shape inference).
        shape: ``(arg_shapes, kwargs) -> shape`` rule; ``None`` infers the
            shape by running ``numpy`` on zero-stride dummy arrays.
        dtype: ``"real"``, ``"bool"``, ``"int"`` or ``"same"`` (first arg's).
    """

    name: str
    numpy: Callable
    shape: Callable | None = None
    dtype: str = "real"


OPS: dict[str, OpDef] = {}


def _register(name, numpy, shape=None, dtype="real"):
    OPS[name] = OpDef(name, numpy, shape, dtype)


# -- shape rules ------------------------------------------------------------------
def _same(shapes, kw):
    return shapes[0]


def _bcast(shapes, kw):
    return broadcast_shapes(*shapes, what="operands")


def _norm_axes(axis, rank):
    axes = range(rank) if axis is None else (axis if isinstance(axis, (tuple, list)) else (axis,))
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} is out of range for a value of rank {rank}")
        out.append(a % rank)
    return sorted(out)


def _reduce(shapes, kw):
    shape = shapes[0]
    axes = _norm_axes(kw.get("axis"), len(shape))
    if kw.get("keepdims", False):
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _matmul(shapes, kw):
    a, b = shapes
    if not a or not b:
        raise ShapeError("operands need rank >= 1; use multiply for scalars")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"inner sizes differ: {format_shape(a)} @ {format_shape(b)} "
            f"({a2[-1]!r} vs {b2[-2]!r}); the last axis of the left operand must equal "
            f"the second-to-last of the right"
        )
    batch = broadcast_shapes(a2[:-2], b2[:-2], what="matmul batch axes")
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _one_hot(shapes, kw):
    return shapes[0] + (int(kw["num_classes"]),)


# -- numpy implementations ------------------------------------------------------------
def _np_one_hot(x, num_classes):
    return np.eye(num_classes)[np.asarray(x, dtype=int)]


def _np_slice_axis(x, start, stop, axis):
    index = [slice(None)] * np.ndim(x)
    index[axis] = slice(start, stop)
    return np.asarray(x)[tuple(index)]


def _np_getitem(x, *index):
    return np.asarray(x)[_rebuild_index(index)]


def _rebuild_index(index):
    return tuple(index) if len(index) != 1 else index[0]


_UNARY = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1,
    "sigmoid": special.expit, "logit": special.logit, "softplus": lambda x: np.logaddexp(0.0, x),
    "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0), "sqrt": np.sqrt, "square": np.square,
    "abs": np.abs, "negative": np.negative, "sin": np.sin, "cos": np.cos, "erf": special.erf,
    "floor": np.floor,
}
_BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "power": np.power, "maximum": np.maximum, "minimum": np.minimum, "logaddexp": np.logaddexp,
}
_COMPARE = {
    "less": np.less, "less_equal": np.less_equal, "greater": np.greater,
    "greater_equal": np.greater_equal, "equal": np.equal, "not_equal": np.not_equal,
}
_REDUCE = {
    "sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min,
    "logsumexp": lambda x, axis=None, keepdims=False: special.logsumexp(x, axis=axis, keepdims=keepdims),
    "var": np.var, "std": np.std,
}

for _n, _f in _UNARY.items():
    _register(_n, _f, _same, "real" if _n not in ("abs", "negative", "square") else "same")
for _n, _f in _BINARY.items():
    _register(_n, _f, _bcast, "real" if _n in ("divide", "logaddexp") else "same")
for _n, _f in _COMPARE.items():
    _register(_n, _f, _bcast, "bool")
for _n, _f in _REDUCE.items():
    _register(_n, _f, _reduce, "same" if _n in ("sum", "prod", "max", "min") else "real")
_register("where", np.where, _bcast, "real")
_register("clip", np.clip, _bcast, "same")
_register("softmax", lambda x, axis=-1: special.softmax(x, axis=axis), _same)
_register("log_softmax", lambda x, axis=-1: special.log_softmax(x, axis=axis), _same)
_register("cumsum", lambda x, axis=-1: np.cumsum(x, axis=axis), _same, "same")
_register("matmul", np.matmul, _matmul)
_register("one_hot", _np_one_hot, _one_hot)
_register("slice_axis", _np_slice_axis, None, "same")
_register("concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis), None, "same")
_register("stack", lambda *xs, axis=0: np.stack(xs, axis=axis), None, "same")
_register("reshape", lambda x, shape: np.reshape(x, shape), None, "same")
_register("transpose", lambda x, axes=None: np.transpose(x, axes), None, "same")
_register("swapaxes", np.swapaxes, None, "same")
_register("expand_dims", lambda x, axis: np.expand_dims(x, axis), None, "same")
_register("squeeze", lambda x, axis=None: np.squeeze(x, axis), None, "same")
_register("getitem", _np_getitem, None, "same")
_register("unflatten", lambda x, axis, sizes: np.reshape(
    x, np.shape(x)[:axis % np.ndim(x)] + tuple(sizes) + np.shape(x)[axis % np.ndim(x) + 1:]), None, "same")
_register("flatten", lambda x, axis: np.reshape(x, np.shape(x)[:axis] + (-1,)), None, "same")
_register("astype", lambda x, dtype: np.asarray(x).astype({"real": float, "int": int, "bool": bool}[dtype]), _same)
_register("zeros_like", np.zeros_like, _same, "same")
_register("ones_like", np.ones_like, _same, "same")
_register("tril", lambda x, k=0: np.tril(x, k), _same, "same")
_register("triu", lambda x, k=0: np.triu(x, k), _same, "same")
_register("diagonal", lambda x, offset=0, axis1=-2, axis2=-1: np.diagonal(x, offset, axis1, axis2), None, "same")


# -- application ----------------------------------------------------------------------
_SENTINELS = (1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049)


def _dummy_shape(op: OpDef, args, kwargs):
    """Infers a shape by running NumPy on zero-stride arrays; plate sizes are
    replaced by sentinel primes and mapped back afterwards."""
    dims = []
    for a in args:
        for s in arg_shape(a):
            if isinstance(s, Dim) and s not in dims:
                dims.append(s)
    taken = {s for a in args for s in arg_shape(a) if isinstance(s, int)}
    sentinels = [p for p in _SENTINELS if p not in taken][: len(dims)]
    to_size = dict(zip(dims, sentinels))

    def dummy(a):
        if isinstance(a, (ir.Ref, ir.Const)):
            shape = tuple(to_size.get(s, s) for s in arg_shape(a))
            dtype = {"int": np.int64, "bool": np.bool_}.get(arg_dtype(a), np.float64)
            return np.broadcast_to(np.zeros((), dtype), shape)
        if isinstance(a, slice):
            return slice(dummy(a.start), dummy(a.stop), dummy(a.step))
        if isinstance(a, tuple):
            return tuple(dummy(b) for b in a)
        return a

    out = np.shape(op.numpy(*[dummy(a) for a in args], **kwargs))
    from_size = {v: k for k, v in to_size.items()}
    for s in out:
        if s not in from_size and any(s % p == 0 for p in sentinels):
            raise ShapeError(
                f"{op.name} would merge a data-sized (plate) axis with others; keep plate axes "
                f"separate (reshape only the event axes)"
            )
    return tuple(from_size.get(s, s) for s in out)


def apply(name: str, *args, **kwargs):
    """Applies the registered op ``name`` to traced or concrete arguments."""
    if name not in OPS:
        raise unknown_name("op", name, OPS)
    op = OPS[name]
    if not any(isinstance(a, Value) for a in _flat(args)):
        return op.numpy(*args, **kwargs)
    tracer = current(f"ops.{name}")
    iargs = tuple(as_arg(a) for a in args)
    try:
        shape = op.shape([arg_shape(a) for a in iargs], kwargs) if op.shape else _dummy_shape(op, iargs, kwargs)
    except ShapeError as e:
        raise ShapeError(f"ops.{name}: {e}") from None
    except (ValueError, IndexError, TypeError) as e:
        shapes = ", ".join(format_shape(arg_shape(a)) for a in iargs if isinstance(a, (ir.Ref, ir.Const)))
        raise ShapeError(f"ops.{name} cannot apply to shapes {shapes}: {e}") from None
    dtype = kwargs["dtype"] if name == "astype" else arg_dtype(iargs[0]) if op.dtype == "same" else op.dtype
    node = ir.Op(
        name=tracer.fresh(), shape=shape, plates=tracer.plate_names, dtype=dtype,
        op=name, args=iargs, kwargs=tuple(sorted(kwargs.items())),
    )
    return tracer.add(node)


def _flat(args):
    for a in args:
        if isinstance(a, (tuple, list)):
            yield from _flat(a)
        elif isinstance(a, slice):
            yield from _flat((a.start, a.stop, a.step))
        else:
            yield a


def _unary(name):
    def f(x):
        return apply(name, x)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` (NumPy semantics)."
    return f


def _binary(name):
    def f(x, y):
        return apply(name, x, y)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` with broadcasting (NumPy semantics)."
    return f


def _reduction(name):
    def f(x, axis=None, keepdims=False):
        return apply(name, x, axis=axis, keepdims=keepdims)

    f.__name__ = name
    f.__doc__ = f"``{name}`` over ``axis`` (NumPy semantics)."
    return f


# The elementwise and reduction ops are generated from the tables above (one
# public function each, named as in NumPy and listed in __all__).
for _n in _UNARY:
    globals()[_n] = _unary(_n)
for _n in list(_BINARY) + list(_COMPARE):
    globals()[_n] = _binary(_n)
for _n in _REDUCE:
    globals()[_n] = _reduction(_n)


def where(condition, x, y):
    """``x`` where ``condition`` holds, else ``y``."""
    return apply("where", condition, x, y)


def clip(x, a_min, a_max):
    return apply("clip", x, a_min, a_max)


def softmax(x, axis=-1):
    return apply("softmax", x, axis=axis)


def log_softmax(x, axis=-1):
    return apply("log_softmax", x, axis=axis)


def cumsum(x, axis=-1):
    return apply("cumsum", x, axis=axis)


def matmul(x, y):
    return apply("matmul", x, y)


def split(x, indices_or_sections, axis=-1):
    """Splits ``x`` along ``axis`` into equal sections (an int) or at indices.

    Returns:
        A list of values, as ``numpy.split``.
    """
    if not isinstance(x, Value):
        return np.split(x, indices_or_sections, axis=axis)
    size = x.shape[axis]
    if not isinstance(size, int):
        raise ShapeError(f"ops.split: axis {axis} of {format_shape(x.shape)} is a plate axis; split event axes only")
    if isinstance(indices_or_sections, int):
        if size % indices_or_sections:
            raise ShapeError(
                f"ops.split: axis {axis} of size {size} does not divide into {indices_or_sections} "
                f"equal parts; pass split indices instead"
            )
        step = size // indices_or_sections
        bounds = [i * step for i in range(indices_or_sections + 1)]
    else:
        bounds = [0, *indices_or_sections, size]
    return [apply("slice_axis", x, start=a, stop=b, axis=axis) for a, b in zip(bounds[:-1], bounds[1:])]


def concatenate(xs, axis=0):
    return apply("concatenate", *xs, axis=axis)


def stack(xs, axis=0):
    return apply("stack", *xs, axis=axis)


def reshape(x, shape):
    return apply("reshape", x, shape=tuple(shape))


def transpose(x, axes=None):
    return apply("transpose", x, axes=None if axes is None else tuple(axes))


def swapaxes(x, axis1, axis2):
    return apply("swapaxes", x, axis1, axis2)


def expand_dims(x, axis):
    return apply("expand_dims", x, axis=axis)


def squeeze(x, axis=None):
    return apply("squeeze", x, axis=axis)


def flatten(x, axis=-2):
    """Merges the axes from ``axis`` to the last into one (the inverse of
    ``unflatten`` on the last axis); like ``unflatten`` it leaves the axes on
    its left, plate axes included, alone: ``(N, n, d) -> (N, n * d)``."""
    rank = len(arg_shape(as_arg(x)))
    if not -rank <= int(axis) < rank:
        raise ShapeError(f"ops.flatten: axis {axis} is out of range for a value of rank {rank}")
    return apply("flatten", x, axis=int(axis) - rank if int(axis) >= 0 else int(axis))


def unflatten(x, axis, sizes):
    """Splits one axis into ``sizes`` (PyTorch's ``unflatten``); unlike
    ``reshape`` it leaves every other axis, plate axes included, alone."""
    return apply("unflatten", x, axis=int(axis), sizes=tuple(int(s) for s in sizes))


def one_hot(x, num_classes):
    """One-hot encodes integer ``x`` into a trailing axis of ``num_classes``."""
    return apply("one_hot", x, num_classes=int(num_classes))


def getitem(x, index):
    """``x[index]`` with NumPy's basic and advanced indexing."""
    index = index if isinstance(index, tuple) else (index,)
    for part in index:
        if isinstance(part, Value) and part.dtype == "real":
            raise ModelError(
                f"indexing with real-valued {part.name!r}; indices must be integer "
                f"(sample them from Categorical, or use ops.astype(v, 'int'))"
            )
    return apply("getitem", x, *index)


def astype(x, dtype: str):
    """Casts to ``"real"``, ``"int"`` or ``"bool"``."""
    if dtype not in ("real", "int", "bool"):
        raise ModelError(f"ops.astype: dtype must be 'real', 'int' or 'bool', got {dtype!r}")
    return apply("astype", x, dtype=dtype)


def zeros_like(x):
    return apply("zeros_like", x)


def ones_like(x):
    return apply("ones_like", x)


def tril(x, k=0):
    return apply("tril", x, k=k)


def triu(x, k=0):
    return apply("triu", x, k=k)


def diagonal(x, offset=0, axis1=-2, axis2=-1):
    return apply("diagonal", x, offset=offset, axis1=axis1, axis2=axis2)


def eye(n, dtype=float):
    """A constant identity matrix (NumPy)."""
    return np.eye(n, dtype=dtype)


def zeros(shape, dtype=float):
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype=float):
    return np.ones(shape, dtype=dtype)


def full(shape, fill_value, dtype=float):
    return np.full(shape, fill_value, dtype=dtype)


# -- Python operators on traced values --------------------------------------------------
# Value lives in gendsl.trace, below this module; its operators and NumPy-style
# methods are the ops above, attached here (as JAX's array_methods gives its
# Tracer the jax.numpy functions), so trace never imports ops.
_OPERATORS = {  # op -> (method, reflected method)
    "add": ("__add__", "__radd__"), "subtract": ("__sub__", "__rsub__"),
    "multiply": ("__mul__", "__rmul__"), "divide": ("__truediv__", "__rtruediv__"),
    "power": ("__pow__", "__rpow__"), "matmul": ("__matmul__", "__rmatmul__"),
    "less": ("__lt__", None), "less_equal": ("__le__", None), "greater": ("__gt__", None),
    "greater_equal": ("__ge__", None), "equal": ("__eq__", None), "not_equal": ("__ne__", None),
}


def _operator(name, reflected):
    def method(self, other):
        return apply(name, other, self) if reflected else apply(name, self, other)

    return method


def _value_reshape(self, *shape):
    return reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)


for _n, _methods in _OPERATORS.items():
    for _reflected, _method in enumerate(_methods):
        if _method is not None:
            setattr(Value, _method, _operator(_n, bool(_reflected)))
Value.__neg__ = lambda self: apply("negative", self)
Value.__abs__ = lambda self: apply("abs", self)
Value.__getitem__ = getitem
Value.T = property(lambda self: swapaxes(self, -1, -2), doc="The last two axes swapped.")
Value.sum = lambda self, axis=None, keepdims=False: sum(self, axis=axis, keepdims=keepdims)
Value.mean = lambda self, axis=None, keepdims=False: mean(self, axis=axis, keepdims=keepdims)
Value.reshape = _value_reshape


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise unknown_attribute("op", name, [n for n in __all__ if n not in ("OPS", "apply")],
                            hint="ops follow NumPy's names")
