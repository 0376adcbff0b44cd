"""Parameter constraints and initialisers.

A parameter is stored unconstrained and mapped into its support by a
bijection, as Pyro and NumPyro do; both backends use their own library's
``biject_to`` for the named constraint. Initial values are drawn here, in
NumPy, from a seed and the parameter's name, so both backends start from the
same numbers.
"""

from __future__ import annotations

import zlib
from typing import Callable

import numpy as np
from scipy import special

from .errors import ModelError, unknown_name

__all__ = ["CONSTRAINTS", "DEFAULT_INIT", "INITIALIZERS", "check_constraint", "initial_value", "param_rng"]


def _stick_breaking(u: np.ndarray) -> np.ndarray:
    """R^{K-1} -> simplex, the same map as Pyro's StickBreakingTransform."""
    k = u.shape[-1] + 1
    offset = np.log(np.arange(k - 1, 0, -1, dtype=float))
    z = special.expit(u - offset)
    cum = np.cumprod(1 - z, axis=-1)
    pad = np.ones(u.shape[:-1] + (1,))
    return np.concatenate([z, pad], -1) * np.concatenate([pad, cum], -1)


def _lower_cholesky(u: np.ndarray) -> np.ndarray:
    tril = np.tril(u, -1)
    diag = np.exp(np.diagonal(u, axis1=-2, axis2=-1))
    return tril + diag[..., None] * np.eye(u.shape[-1])


# constraint name -> (maps an unconstrained draw into the support, membership test)
CONSTRAINTS: dict[str, tuple[Callable, Callable]] = {
    "real": (lambda u: u, lambda x: np.all(np.isfinite(x))),
    "positive": (np.exp, lambda x: np.all(x > 0)),
    "unit_interval": (special.expit, lambda x: np.all((x >= 0) & (x <= 1))),
    "simplex": (
        lambda u: _stick_breaking(u[..., :-1]),
        lambda x: np.all(x >= 0) and np.allclose(x.sum(-1), 1.0, atol=1e-5),
    ),
    "lower_cholesky": (
        _lower_cholesky,
        lambda x: np.allclose(x, np.tril(x)) and np.all(np.diagonal(x, axis1=-2, axis2=-1) > 0),
    ),
    "positive_definite": (
        lambda u: (lambda l: l @ np.swapaxes(l, -1, -2))(_lower_cholesky(u)),
        lambda x: np.all(np.linalg.eigvalsh(x) > 0),
    ),
}


def check_constraint(name: str) -> str:
    if name not in CONSTRAINTS:
        raise unknown_name("constraint", name, CONSTRAINTS)
    return name


def param_rng(seed: int, name: str) -> np.random.Generator:
    """A generator keyed by the run's seed and the parameter's name, so adding
    a parameter never changes the initial values of the others."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


# named initialiser -> (rng, shape, constraint) -> constrained value.
# Random ones draw in unconstrained space, like Pyro's init_to_uniform.
INITIALIZERS: dict[str, Callable] = {
    "uniform": lambda rng, shape, c: CONSTRAINTS[c][0](rng.uniform(-2.0, 2.0, shape)),
    "normal": lambda rng, shape, c: CONSTRAINTS[c][0](rng.normal(0.0, 1.0, shape)),
    "small": lambda rng, shape, c: CONSTRAINTS[c][0](rng.normal(0.0, 0.01, shape)),
    "zeros": lambda rng, shape, c: CONSTRAINTS[c][0](np.zeros(shape)) if c != "real" else np.zeros(shape),
    "ones": lambda rng, shape, c: np.ones(shape),
}


def initial_value(init: tuple, shape: tuple, constraint: str, seed: int, name: str) -> np.ndarray:
    """Computes a parameter's initial (constrained) value as float64.

    Args:
        init: the IR's initialiser: ``("value", Const)``, ``("fill", x)`` or
            ``("named", name)``.
    """
    kind, arg = init
    if kind == "value":
        value = np.broadcast_to(np.asarray(arg.value, dtype=float), shape).copy()
    elif kind == "fill":
        value = np.full(shape, float(arg))
    else:
        value = np.asarray(INITIALIZERS[arg](param_rng(seed, name), shape, constraint), dtype=float)
    check_init_value(value, constraint, name)
    return value


def check_init_value(value: np.ndarray, constraint: str, name: str) -> None:
    """Raises if an initial value lies outside its constraint's support."""
    if not CONSTRAINTS[constraint][1](value):
        value = np.asarray(value, dtype=float)
        shown = repr(float(value)) if value.ndim == 0 else np.array2string(value, threshold=6, precision=4)
        raise ModelError(
            f"param {name!r}: initial value {shown} is outside its constraint {constraint!r}; "
            f"give an init inside the support, or a named initialiser such as 'uniform'"
        )


#: the initialiser ``gd.param`` uses when ``init`` is not given (or is ``None``)
DEFAULT_INIT = "uniform"


def resolve_init(init, shape: tuple, name: str) -> tuple:
    """Turns ``gd.param``'s ``init=`` into the IR's initialiser tuple.

    ``None`` means the default initialiser (:data:`DEFAULT_INIT`), so a model
    factory can forward its own ``init=None`` unchanged.
    """
    from .ir import Const

    if init is None:
        init = DEFAULT_INIT
    if isinstance(init, str):
        if init not in INITIALIZERS:
            raise unknown_name("initializer", init, INITIALIZERS, hint=f"(param {name!r})")
        return ("named", init)
    if isinstance(init, (int, float)) and not isinstance(init, bool):
        return ("fill", float(init))
    try:
        arr = np.asarray(init, dtype=float)
    except (TypeError, ValueError):
        raise ModelError(
            f"param {name!r}: init {init!r} is not a number or an array of numbers; give an array or "
            f"scalar (the constrained value), the name of an initialiser ({', '.join(map(repr, INITIALIZERS))}), "
            f"or None for the default ({DEFAULT_INIT!r})"
        ) from None
    try:
        np.broadcast_to(arr, shape)
    except ValueError:
        raise ModelError(
            f"param {name!r}: init of shape {arr.shape} cannot broadcast to the declared shape {shape}"
        ) from None
    return ("value", Const(arr))


def check_init(init: tuple, shape: tuple, constraint: str, name: str) -> None:
    """Checks a constant init against its constraint when the model is declared
    (random initialisers are valid by construction)."""
    kind, arg = init
    if kind == "value":
        check_init_value(np.broadcast_to(arg.value, shape), constraint, name)
    elif kind == "fill":
        check_init_value(np.full(shape, arg), constraint, name)
