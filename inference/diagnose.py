"""Which site's distribution arguments left their support.

Training builds distributions without the libraries' argument validation
(Pyro's and NumPyro's ``validate_args``): checking every step would read
values back to the host, and a step must never wait on it. So a model whose
Normal scale goes negative shows up only as a NaN loss. This module does the
validation where it costs nothing, once and on the host: before the first
step (:func:`check_start`, so a model that starts outside the support fails
before training) and after a non-finite loss (:func:`non_finite`). It runs the
model (and its guide) once on a few rows, builds each site's backend
distribution, and checks every argument against that library's own
``arg_constraints``, naming the site, family and argument, and saying what
would keep it inside. PyTorch runs that pass eagerly; JAX runs it under one
``jax.jit`` (one compilation, not one per op).

Example:
    >>> import numpy as np, gendsl as gd
    >>> from gendsl import dist
    >>> from gendsl.inference.engines import make_engine
    >>> @gd.model
    ... def m():
    ...     s = gd.param("s", (), init=-1.0)
    ...     with gd.plate("data"):
    ...         gd.observe("x", dist.Normal(0.0, s))
    >>> engine = make_engine(m(), "pyro")
    >>> print(invalid_arguments(engine, {"s": np.array(-1.0)}, {"x": np.zeros(3)}))  # doctest: +NORMALIZE_WHITESPACE
    site 'x': Normal's scale has a value <= 0 (-1); it is param 's' (constraint='real'):
    declare it with constraint='positive', or pass it through ops.softplus (or ops.exp)
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import numpy as np

from gendsl import ir
from gendsl.backends.handlers import GuideHandler, SampleHandler
from gendsl.backends.interpret import run
from gendsl.errors import ModelError

__all__ = ["invalid_arguments", "check_start", "non_finite"]

_SCALED_SIGMOID = "{lower_bound:g} + ({upper_bound:g} - {lower_bound:g}) * ops.sigmoid(...)"

# constraint kind (a class name in the constraint's MRO, leading underscores dropped; the first that
# matches wins) -> (what the bad values are, the gd.param constraint and the op that keep it inside)
_KINDS = {
    "Simplex": ("off the simplex (each must be >= 0 and sum to 1 along the last axis)", "simplex",
                "ops.softmax(..., axis=-1)"),
    "UnitInterval": ("outside [0, 1]", "unit_interval", "ops.sigmoid"),
    "GreaterThanEq": ("< {lower_bound:g}", "positive", "ops.softplus (or ops.exp)"),
    "GreaterThan": ("<= {lower_bound:g}", "positive", "ops.softplus (or ops.exp)"),
    "LessThan": (">= {upper_bound:g}", None, "{upper_bound:g} - ops.softplus(...)"),
    "HalfOpenInterval": ("outside [{lower_bound:g}, {upper_bound:g})", None, _SCALED_SIGMOID),
    "OpenInterval": ("outside ({lower_bound:g}, {upper_bound:g})", None, _SCALED_SIGMOID),
    "Interval": ("outside [{lower_bound:g}, {upper_bound:g}]", None, _SCALED_SIGMOID),
    "PositiveDefinite": ("not positive definite", "positive_definite", None),
    "LowerCholesky": ("not lower-triangular with a positive diagonal", "lower_cholesky", None),
    "Real": ("NaN", None, None),
}
_NAN_FIX = "find the op that makes it NaN (a log or sqrt of a negative number, 0/0, inf - inf)"


def invalid_arguments(engine, params: dict, data: dict, seed: int = 0, rows: int = 256) -> str | None:
    """Runs the model once with argument validation on; names the first site
    whose distribution has an argument outside its support.

    Args:
        engine: the :class:`~gendsl.inference.engines.Engine` (its lowered model and device).
        params: constrained parameters, ``{name: NumPy array}``.
        data: ``{site: NumPy array}``, rows first (missing entries already filled).
        seed: seeds the draws of latent sites (the guide's, else the prior's).
        rows: at most this many rows of ``data`` are run.

    Returns:
        A message such as ``"site 'x': Normal's scale has 3 of 3 values <= 0
        (smallest -1); it is param 's' (constraint='real'): declare it with
        constraint='positive', ..."``, or ``None`` when every argument is
        inside its support (or the model could not be run this way: a
        diagnosis never replaces the error it explains).
    """
    try:
        with engine._no_grad(), engine._private_rng(), _construction_checks_off(_library_root(engine.backend)):
            return _first_invalid(engine, params, data, seed, rows)
    except _Invalid as found:
        return found.message
    except Exception:  # noqa: BLE001 -- a diagnosis that cannot run must not hide the real failure
        return None


def check_start(engine, params: dict, data: dict, seed: int = 0) -> None:
    """First-step validation: raises :class:`~gendsl.errors.ModelError` if a
    site's arguments are outside their support at the initial parameters,
    so the fit fails before training instead of with a NaN loss."""
    found = invalid_arguments(engine, params, data, seed)
    if found is not None:
        raise ModelError(
            f"model {engine.model.name!r} cannot start training: at the initial parameters, {found}. "
            f"(Its loss would be NaN or infinite from the first step.)"
        )


def non_finite(engine, current: dict, last_good: dict, data: dict, seed: int = 0) -> str | None:
    """Why a loss became NaN or infinite, when a site's arguments left their
    support: checked at the parameters ``current`` (the end of the failed
    epoch), then at ``last_good``. ``None`` when neither explains it. The
    engine hands this to ``fit`` on its ``_Stop``, for the error's message.

    Parameters that are themselves NaN or infinite (a NaN gradient's update)
    are skipped: arguments computed from them are NaN as a consequence, not a cause.
    """
    for params in (current, last_good):
        if all(np.all(np.isfinite(v)) for v in params.values()):
            found = invalid_arguments(engine, params, data, seed)
            if found is not None:
                return f"a distribution's argument left its support: {found}"
    return None


# -- the checked run ---------------------------------------------------------------------------------------
# The run records each argument and the library's check of it, and they are judged on the host in
# program order. PyTorch runs eagerly and is judged site by site (a draw from a Normal with a negative
# scale would raise); JAX runs under one jax.jit and is judged after.

class _Invalid(Exception):
    def __init__(self, message):
        self.message = message


@dataclass(frozen=True)
class _Argument:
    """One checked argument of one site's distribution."""

    program: object  # the IR it runs in (model or guide), to say where the argument comes from
    node: object  # its ir.Sample
    family: str  # the gendsl family, or the library class of a distribution inside it (a component)
    arg: str
    constraint: object  # the library's constraint
    kind: str | None  # a key of _KINDS
    outer: bool  # the site's own distribution, whose IR arguments are the library's


def _first_invalid(engine, params, data, seed, rows) -> str | None:
    """Runs the guide (if any) and then the model on the first ``rows`` rows;
    the message for the first argument outside its support, or ``None``."""
    lowered, backend = engine.lowered, engine.backend
    part = data if lowered.row is None else {k: v[:rows] for k, v in data.items()}
    arguments: list[_Argument] = []  # filled as the run is traced (once, under jax.jit)

    def checked_run(uparams, batch):
        rng, given, recorded = backend.rng(seed), dict(batch), []
        record = functools.partial(_record, backend, arguments, recorded)
        if lowered.guide_steps is not None:  # latents drawn as training draws them, one particle
            inputs = {name: batch[name] for name in lowered.model.guide_ir.inputs}
            guide = _CheckedGuide(backend, rng, inputs, 1, lowered.max_plate_nesting)
            guide.program, guide.record = lowered.model.guide_ir, record
            run(lowered.guide_steps, lowered.context(uparams, batch, guide))
            given.update({k: v for k, v in guide.values.items() if k not in given})
        model = _CheckedSample(backend, rng, given)  # the rest drawn from the prior
        model.program, model.record = lowered.program, record
        run(lowered.steps, lowered.context(uparams, given, model))
        return recorded

    params, batch = engine.params_in(params), engine.put_data(part)
    if backend.eager:
        checked_run(params, batch)  # raises _Invalid at the first bad argument
        return None
    import jax  # the compiling backend's library

    recorded = jax.jit(checked_run)(params, batch)
    for argument, (value, check) in zip(arguments, recorded):
        message = _judge(backend, argument, value, check)
        if message is not None:
            return message
    return None


class _Checking:
    """Mixed into a handler: records each site's distribution arguments before the site draws."""

    program = None  # the IR being run
    record = None  # _record, bound to the run

    def sample(self, node, fn, ctx, obs=None):
        self.record(self.program, node, fn)
        return super().sample(node, fn, ctx, obs)


class _CheckedSample(_Checking, SampleHandler):
    pass


class _CheckedGuide(_Checking, GuideHandler):
    pass


def _record(backend, arguments, recorded, program, node, fn) -> None:
    """Appends each argument of ``fn`` (and of the distributions inside it)
    with the library's check of it; judges it at once on an eager backend."""
    for depth, d in enumerate(_library_dists(backend, fn, _library_root(backend))):
        family = node.dist.family if depth == 0 else type(d).__name__
        for arg, constraint in dict(d.arg_constraints).items():
            if arg not in vars(d) and "lazy_property" in type(getattr(type(d), arg, None)).__name__:
                continue  # not given but derived (probs from logits): the libraries skip it too
            value = getattr(d, arg, None)
            if value is None:
                continue
            kind, base = _kind(constraint)
            check = None
            if kind != "Real" and not (kind == "Simplex" and base is constraint):  # those two: _judge's own
                try:
                    check = constraint.check(value)
                except (NotImplementedError, ValueError, TypeError, AttributeError, RuntimeError):
                    continue  # a dependent constraint (Uniform's bounds): nothing to check alone
            argument = _Argument(program, node, family, arg, constraint, kind, depth == 0)
            if not backend.eager:
                arguments.append(argument)
                recorded.append((value, check))
                continue
            message = _judge(backend, argument, value, check)
            if message is not None:
                raise _Invalid(message)


def _judge(backend, argument, value, check) -> str | None:
    """The message when ``value`` breaks the argument's constraint, else ``None``."""
    value = _host(backend, value)
    if argument.kind == "Real":  # NaN only, as PyTorch: -inf logits mask categories on purpose
        bad = np.isnan(value)
    elif check is None:  # a simplex, with a float32 tolerance rather than the libraries' 1e-6
        bad = ~(np.all(value >= 0, axis=-1) & (np.abs(value.sum(-1) - 1.0) < 1e-4))
    else:
        bad = ~np.asarray(_host(backend, check), dtype=bool)
    if not bad.any():
        return None
    source = _source(argument.program, argument.node, argument.arg) if argument.outer else None
    return _message(argument.node, argument.family, argument.arg, argument.constraint, argument.kind, bad, value,
                    source)


@contextlib.contextmanager
def _construction_checks_off(root):
    """The library's own validation at construction off (NumPyro's is on by
    default and raises a ValueError that names no site), so this module's
    check sees every distribution and says more; restored after. Both
    libraries keep the default on the base class."""
    before = root._validate_args
    root.set_default_validate_args(False)
    try:
        yield
    finally:
        root.set_default_validate_args(before)


def _library_root(backend) -> type:
    """The library's distribution base class (torch's or NumPyro's ``Distribution``)."""
    return next(c for c in reversed(backend.wrappers[0].__mro__) if c.__name__ == "Distribution")


def _library_dists(backend, d, root, depth=0):
    """``d`` without its wrappers, then the distributions inside it (a
    mixture's components, a transformed distribution's base)."""
    d = backend.unwrap(d)
    yield d
    if depth < 4:
        for inner in vars(d).values():
            if isinstance(inner, root):
                yield from _library_dists(backend, inner, root, depth + 1)


def _kind(constraint):
    """The constraint's kind (a key of ``_KINDS``, or ``None``) and its base
    (through ``independent(...)``)."""
    base = constraint
    while hasattr(base, "base_constraint"):
        base = base.base_constraint
    names = [c.__name__.lstrip("_") for c in type(base).__mro__]
    return next((n for n in names if n in _KINDS), None), base


def _message(node, family, arg, constraint, kind, bad, value, source) -> str:
    """``"site 'x': Normal's scale has 3 of 4 values <= 0 (smallest -0.2); it is param 's'
    (constraint='real'): declare it with constraint='positive', or pass it through ops.softplus"``."""
    _, base = _kind(constraint)
    bounds = {k: _scalar(getattr(base, k, 0.0)) for k in ("lower_bound", "upper_bound")}
    if kind == "Interval" and (bounds["lower_bound"], bounds["upper_bound"]) == (0.0, 1.0):
        kind = "UnitInterval"  # PyTorch's unit_interval is a plain Interval(0, 1)
    what, named, op = _KINDS.get(kind, (f"outside its support {constraint}", None, None))
    if named == "positive" and bounds["lower_bound"] != 0.0:  # above another bound: shift a positive value
        named, op = None, "{lower_bound:g} + ops.softplus(...)"
    values = value[bad] if value.shape == bad.shape else np.zeros(0)
    nan = int(np.isnan(values).sum())
    n_bad, total = int(bad.sum()), int(bad.size)
    if kind == "Real" or (n_bad and nan == n_bad):
        what, fix = "NaN", _NAN_FIX
    else:
        fix = _fix(source, named, op and op.format(**bounds))
    what = what.format(**bounds)
    extreme = {"GreaterThan": ("smallest", np.nanmin), "GreaterThanEq": ("smallest", np.nanmin),
               "LessThan": ("largest", np.nanmax)}.get(kind)
    if extreme is not None and values.size > nan:
        what += f" ({extreme[0]} {extreme[1](values):.4g})" if total > 1 else f" ({np.nanmin(values):.4g})"
    count = f"{n_bad} of {total} values" if total > 1 else "a value"
    said = "" if source is None else f"; {source[0]}"
    return f"site {node.name!r}: {family}'s {arg} has {count} {what}{said}: {fix}"


def _fix(source, named, op) -> str:
    """What keeps the argument inside its support, said for where it comes from."""
    is_param = source is not None and source[1] is not None
    if is_param and named and source[1] == named:  # constrained already: rounded onto the boundary
        return (f"it is constrained {named!r} already, so it reached the boundary in floating point "
                f"(an exp or sigmoid that saturated): lower the lr, or train with dtype='float64'")
    if is_param and named:
        return f"declare it with constraint={named!r}" + (f", or pass it through {op}" if op else "")
    if op and source is not None:
        return f"pass it through {op}"
    if named and op:
        return f"constrain the parameter with constraint={named!r} or pass it through {op}"
    if named:
        return f"constrain the parameter with constraint={named!r}"
    return f"pass it through {op}" if op else "keep it inside that support"


def _scalar(x) -> float:
    arr = np.asarray(x, dtype=float).reshape(-1)
    return float(arr[0]) if arr.size else 0.0


def _source(program, node, arg):
    """Where the argument comes from, when the IR says: ``(description, the param's constraint or
    None when it is not a param)``, or ``None``."""
    ref = node.dist.args.get(arg)
    producer = program.by_name.get(ref.name) if isinstance(ref, ir.Ref) and program is not None else None
    if isinstance(producer, ir.Op) and producer.op == "getitem" and isinstance(producer.args[0], ir.Ref):
        indexed = program.by_name.get(producer.args[0].name)  # theta[y]: the param indexed
        producer = indexed if isinstance(indexed, ir.Param) else producer
    if isinstance(producer, ir.Param):
        return f"it is param {producer.name!r} (constraint={producer.constraint!r})", producer.constraint
    if isinstance(producer, ir.Op) and producer.op == "apply":
        return f"it is the output of network {producer.args[0].name!r}", None
    if isinstance(producer, ir.Op):
        return f"it is computed by ops.{producer.op}", None
    return None


def _host(backend, x) -> np.ndarray:
    """A backend value (or a Python number) as a float64 or bool NumPy array."""
    arr = np.asarray(backend.to_numpy(x))
    return arr if arr.dtype == bool else arr.astype(np.float64)
