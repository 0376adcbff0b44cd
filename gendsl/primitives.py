"""The DSL's primitives: ``sample``, ``observe``, ``param``, ``plate``, ``deterministic``, ``covariate``.

Each records a node in the active trace and returns a traced value. Shapes
are checked here, where the site's name is known, so errors can name it.
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import ir
from .constraints import DEFAULT_INIT, check_constraint, check_init, resolve_init
from .dist import Distribution, value_dtype
from .errors import ModelError, ShapeError
from .shapes import Dim, broadcast_shapes, format_shape
from .trace import Value, arg_shape, as_arg, current

__all__ = ["sample", "observe", "param", "plate", "deterministic", "covariate"]


def _site_shape(name: str, d: Distribution, tracer) -> tuple:
    """Batch shape of a site inside the active plates, checked the way Pyro
    checks log-prob shapes, so the mistake surfaces now and not mid-training."""
    batch = d.batch_shape
    required = tracer.plate_batch_shape()
    rank = max(len(batch), len(required))
    padded = (1,) * (rank - len(batch)) + tuple(batch)
    plate_at = {rank + p.dim: p for p in tracer.active}
    for i, size in enumerate(padded):
        plate = plate_at.get(i)
        if plate is None:
            if size != 1:
                raise ShapeError(
                    f"site {name!r}: batch shape {format_shape(batch)} has an axis of size {size!r} "
                    f"(axis {i - rank}) that no plate declares. If it is part of one observation, "
                    f"write `.to_event(1)` on the distribution; if the entries are independent "
                    f"replicates, wrap the site in gd.plate(..., size={size!r}, dim={i - rank})"
                )
        else:
            want = Dim(plate.name) if plate.size is None else plate.size
            if size not in (1, want):
                raise ShapeError(
                    f"site {name!r}: batch axis {i - rank} has size {size!r} but plate "
                    f"{plate.name!r} there has size {want!r}; make them agree, or move the "
                    f"axis into the event with .to_event()"
                )
    return broadcast_shapes(padded, required, what=f"site {name!r}")


def _check_name(name, what):
    if not isinstance(name, str) or not name or name.startswith("%") or "." in name:
        raise ModelError(f"{what} names must be non-empty strings without '.' or a leading '%', got {name!r}")


def sample(name: str, fn: Distribution, obs=None, infer: dict | None = None) -> Value:
    """A random variable ``name ~ fn``.

    Passing data for ``name`` when fitting or querying conditions on it
    (Naive Bayes' ``y`` is observed in training and latent when classifying).

    Args:
        name: site name, unique in the model.
        fn: a :mod:`gendsl.dist` distribution.
        obs: a traced value to condition on (rarely needed; use data instead).
        infer: inference options, e.g. ``{"enumerate": "parallel"}``.
    """
    return _add_site(name, fn, observed=False, obs=obs, infer=infer, what="gd.sample")


def observe(name: str, fn: Distribution, infer: dict | None = None) -> Value:
    """A site declared as data: ``name ~ fn`` with its value always given."""
    return _add_site(name, fn, observed=True, obs=None, infer=infer, what="gd.observe")


def _add_site(name, fn, observed, obs, infer, what) -> Value:
    tracer = current(what)
    _check_name(name, "site")
    if not isinstance(fn, Distribution):
        raise ModelError(
            f"{what}({name!r}, ...) needs a gendsl.dist distribution, got {type(fn).__name__}; "
            f"write e.g. dist.Normal(0.0, 1.0) (from gendsl import dist)"
        )
    batch = _site_shape(name, fn, tracer)
    shape = batch + tuple(fn.event_shape)
    dtype = value_dtype(fn.spec)
    obs_arg = None
    if obs is not None:
        obs_arg = as_arg(obs)
        obs_shape = arg_shape(obs_arg)
        try:
            broadcast_shapes(obs_shape, shape)
        except ShapeError:
            raise ShapeError(
                f"site {name!r}: obs of shape {format_shape(obs_shape)} does not match the site's "
                f"shape {format_shape(shape)}"
            ) from None
    node = ir.Sample(
        name=name, shape=shape, plates=tracer.plate_names, dtype=dtype,
        dist=fn.spec, observed=observed, obs=obs_arg, infer=dict(infer or {}),
        event_shape=tuple(fn.event_shape),
    )
    return tracer.add(node)


def param(name: str, shape=(), init=DEFAULT_INIT, constraint: str = "real") -> Value:
    """A learnable tensor.

    Args:
        name: unique in the model (and shared with its guide).
        shape: its shape (an int or a tuple). Parameters are global: they sit
            outside plates.
        init: an array or scalar (the constrained value), or the name of an
            initialiser (``"uniform"``, ``"normal"``, ``"small"``, ``"zeros"``,
            ``"ones"``; random ones draw in unconstrained space). ``None``
            means the default, ``"uniform"`` (a factory can forward its own
            ``init=None``).
        constraint: ``"real"``, ``"positive"``, ``"unit_interval"``,
            ``"simplex"``, ``"lower_cholesky"`` or ``"positive_definite"``.
    """
    tracer = current("gd.param")
    _check_name(name, "param")
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    check_constraint(constraint)
    if constraint == "simplex" and (not shape or shape[-1] < 2):
        raise ShapeError(f"param {name!r}: a simplex needs a last axis of size >= 2, got shape {shape}")
    if constraint in ("lower_cholesky", "positive_definite") and (len(shape) < 2 or shape[-1] != shape[-2]):
        raise ShapeError(f"param {name!r}: {constraint!r} needs square trailing axes (..., d, d), got {shape}")
    init = resolve_init(init, shape, name)
    check_init(init, shape, constraint, name)
    node = ir.Param(name=name, shape=shape, plates=(), init=init, constraint=constraint)
    return tracer.add(node)


def covariate(name: str, event_shape=(), dtype: str = "real") -> Value:
    """An exogenous input: data the model conditions on but does not model
    (a regression's ``x``, a conditioning vector ``c``), like PyMC's ``pm.Data``.

    Declared inside the plates it varies along (rows: ``gd.plate("data")``),
    with the shape of one row's value. Its data come in the data dict under
    ``name``, are checked for shape like an observed site's, and every query
    needs them: ``fit``, ``log_prob``, ``sample(n, given={name: ...})``. A
    guide may read it as a positional argument named ``name``. Graphs draw
    it as a shaded rounded box.

    Args:
        name: the key of its data.
        event_shape: one row's shape (an int or a tuple; ``()``: a scalar).
        dtype: ``"real"`` or ``"int"``.

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist
        >>> @gd.model
        ... def regression(x_dim=3):
        ...     w = gd.param("w", (x_dim,), init=0.0)
        ...     with gd.plate("data"):
        ...         x = gd.covariate("x", event_shape=x_dim)
        ...         gd.observe("y", dist.Normal((x * w).sum(-1), 1.0))
        >>> regression().ir.covariates[0].name
        'x'
    """
    tracer = current("gd.covariate")
    if tracer.role != "model":
        raise ModelError(f"gd.covariate({name!r}) is for models; a {tracer.role} takes its data as positional "
                         f"arguments named after them (def {tracer.role}({name}, ...))")
    _check_name(name, "covariate")
    if dtype not in ("real", "int"):
        raise ModelError(f"covariate {name!r}: dtype must be 'real' or 'int', got {dtype!r}")
    event = (int(event_shape),) if isinstance(event_shape, (int, np.integer)) else tuple(int(s) for s in event_shape)
    shape = tuple(tracer.plate_batch_shape()) + event
    return tracer.add(ir.Covariate(name=name, shape=shape, plates=tracer.plate_names, dtype=dtype, event_shape=event))


@contextlib.contextmanager
def plate(name: str, size: int | None = None, dim: int | None = None):
    """Conditional independence over ``size`` replicates.

    Args:
        name: plate name.
        size: number of replicates; ``None`` takes it from the data's rows.
        dim: batch axis to use (negative); by default the outermost plate
            takes -1, the next nested one -2, as in Pyro.
    """
    tracer = current("gd.plate")
    tracer.enter_plate(name, size, dim)
    try:
        yield
    finally:
        tracer.exit_plate()


def deterministic(name: str, value) -> Value:
    """Names a function of other nodes so it appears in the graph and in samples."""
    tracer = current("gd.deterministic")
    _check_name(name, "deterministic")
    arg = as_arg(value)
    shape = arg_shape(arg)
    dtype = value.dtype if isinstance(value, Value) else "real"
    node = ir.Deterministic(name=name, shape=shape, plates=tracer.plate_names, dtype=dtype, value=arg)
    return tracer.add(node)
