"""User data as the ``{site: NumPy array}`` dict that training and every query take.

Below both :mod:`gendsl.inference.train` and :mod:`gendsl.inference.fitted`,
which each need it (``as_data`` is re-exported from ``train``).
"""

from __future__ import annotations

import numpy as np

from gendsl import ir
from gendsl.dist import FAMILIES
from gendsl.errors import DataError, non_numeric_data

__all__ = ["as_data", "sampled_ancestors"]


def as_data(model, data, allow_partial: bool = False) -> dict:
    """Normalises user data to ``{site: NumPy array}``.

    An array is taken as the model's single observed site; a dict is checked
    key by key. Missing entries are NaN, or masked in a ``numpy.ma`` array.
    Arrays are copied (missing entries are filled in place later).
    """
    program = model.ir
    if not isinstance(data, dict):
        observed = [s.name for s in program.observed]
        if len(observed) != 1:
            raise DataError(
                f"model {model.name!r} observes {observed}; pass a dict {{site: array}} instead of one array"
            )
        data = {observed[0]: data}
    out = {}
    for name, value in data.items():
        node = program.by_name.get(name)
        arr = _numeric(name, value, node)
        if node is not None and node.dtype == "int":
            values = arr[~np.isnan(arr)] if np.issubdtype(arr.dtype, np.floating) else arr
            if not np.all(values == np.round(values)):
                raise DataError(f"data for site {name!r} must be integers (class labels); got non-integer values")
            # NaN (missing) entries keep the array float until they are masked
            arr = arr.astype(np.int64) if values.size == arr.size else np.array(arr, dtype=np.float64)
        else:
            arr = np.array(arr, dtype=np.float64)
        out[name] = arr
    return out


def _numeric(name: str, value, node) -> np.ndarray:
    """``value`` as a NumPy array of numbers; text that reads as numbers is
    converted, anything else (category names, objects) raises an error naming
    the site. Data for no site are left as they are, for ``check_data`` to
    reject by name. A masked array's masked entries become NaN (missing)."""
    if isinstance(value, np.ma.MaskedArray):
        return np.ma.filled(value.astype(np.float64), np.nan)
    arr = np.asarray(value)
    if arr.dtype.kind in "biuf":
        return arr
    try:
        return np.array(arr, dtype=np.float64)
    except (TypeError, ValueError):
        if node is None:
            return arr
        family = node.dist.family if isinstance(node, ir.Sample) else None
        raise non_numeric_data(name, arr.dtype, _non_number(arr), family) from None


def _non_number(arr: np.ndarray):
    """The first entry of ``arr`` that is not a number (to show in the error)."""
    for x in arr.flat:
        try:
            float(x)
        except (TypeError, ValueError):
            return x.item() if isinstance(x, np.generic) else x
    return None


# -- values to sample given (Fitted.sample(given=)) ---------------------------------------------------
def given_values(program: ir.Program, given, n: int) -> dict:
    """``given`` (site -> a value for every row, or one value broadcast to all
    ``n``) as ``{site: NumPy array of the site's shape}``, checked: each site
    exists and is a sample site, each value has the site's shape (or one row
    of it) and lies in its support, and no given site has an undrawn sampled
    ancestor (ancestral sampling clamps a site; it does not infer what led to it).
    """
    if not isinstance(given, dict):
        raise DataError(f"sample(given=...) takes {{site: value}}, e.g. given={{'y': 3}}; got {type(given).__name__}")
    sites = {s.name: s for s in program.sites}
    covariates = {c.name: c for c in program.covariates}
    needed = [c for c in covariates if c not in given]
    if needed:
        raise DataError(f"model {program.name!r} takes covariate(s) {needed} (gd.covariate): sample(n, given=...) "
                        f"needs their values, one row per draw (or one value broadcast to all n), e.g. "
                        f"given={{{needed[0]!r}: X[:n]}}")
    out = {}
    for name, value in given.items():
        node = sites.get(name, covariates.get(name))
        if node is None:
            kind = "a deterministic node" if name in program else "not a site"
            raise DataError(f"sample(given=): {name!r} is {kind} of model {program.name!r}; its sample sites are "
                            f"{sorted(sites)}" + (f" and its covariates {sorted(covariates)}" if covariates else ""))
        arr = _numeric(name, value, node)
        shape = tuple(n if hasattr(s, "plate") else s for s in node.shape)
        try:
            arr = np.broadcast_to(arr, shape)
        except ValueError:
            raise DataError(f"sample(given=): the value for site {name!r} has shape {arr.shape}; the site's draws "
                            f"have shape {shape} for n={n} (one value broadcasts to every row: shape "
                            f"{shape[1:] if shape else ()} or a scalar)") from None
        if name in covariates:
            out[name] = np.array(arr, dtype=np.int64 if node.dtype == "int" else np.float64)
            continue
        family = FAMILIES[node.dist.family]
        bad = _outside_support(program, node, family, arr)
        if bad is not None:
            raise DataError(f"sample(given=): the value for site {name!r} is outside the support of its "
                            f"{node.dist.family}: {bad}")
        out[name] = np.array(arr, dtype=np.int64 if node.dtype == "int" else np.float64)
    for name in out:
        undrawn = [a for a in sampled_ancestors(program, name) if a not in out]
        if undrawn:
            raise DataError(
                f"sample(given=): site {name!r} depends on sampled site(s) {undrawn}, which ancestral sampling "
                f"would draw from their prior, not given {name!r}; give them too, or use fit.posterior / "
                f"fit.encode for what {name!r} says about them")
    return out


def sampled_ancestors(program: ir.Program, name: str) -> list[str]:
    """The sample sites upstream of ``name``, in program order."""
    seen, stack = set(), list(program[name].args_refs())
    while stack:
        ref = stack.pop()
        if ref in seen or ref not in program:
            continue
        seen.add(ref)
        node = program[ref]
        if not isinstance(node, ir.Sample):
            stack.extend(node.args_refs())
    return [s.name for s in program.sites if s.name in seen]


def _outside_support(program, node, family, value) -> str | None:
    """What about ``value`` is outside the family's support, or ``None``."""
    support = family.support
    integer = bool(np.all(value == np.round(value))) if np.issubdtype(value.dtype, np.number) else False
    if not np.all(np.isfinite(value)):
        return "it has NaN or infinite entries"
    if support in ("boolean", "one_hot") and not np.all((value == 0) | (value == 1)):
        return "entries must be 0 or 1"
    if support == "one_hot" and not np.all(value.sum(-1) == 1):
        return "each row must have exactly one 1"
    if support in ("categorical", "integer_interval", "nonnegative_integer"):
        if not integer or np.any(value < 0):
            return "entries must be integers >= 0"
        size = support_size(program, node)
        if size is not None and np.any(value >= size):
            return f"entries must be integers in [0, {size}) (largest given: {value.max():g})"
    if support == "positive" and np.any(value <= 0):
        return "entries must be > 0"
    if support == "unit_interval" and np.any((value < 0) | (value > 1)):
        return "entries must lie in [0, 1]"
    if support == "simplex" and (np.any(value < 0) or not np.allclose(value.sum(-1), 1.0)):
        return "each row must be >= 0 and sum to 1"
    return None


def support_size(program: ir.Program, node: ir.Sample) -> int | None:
    """How many values site ``node``'s enumerable family takes (a Categorical's
    ``K``), read off its arguments' traced shapes; ``None`` where the family
    is not enumerable or the shapes do not fix it."""
    family = FAMILIES[node.dist.family]
    if family.support_size is None:
        return None
    shapes, literals = {}, dict(family.defaults)
    for k, v in node.dist.args.items():
        if isinstance(v, ir.Ref):
            shapes[k] = tuple(program[v.name].shape)
        elif isinstance(v, ir.Const):
            shapes[k] = tuple(v.value.shape)
        else:
            literals[k] = v
    try:
        size = family.support_size(shapes, literals)
    except (KeyError, TypeError, IndexError):
        return None
    return int(size) if isinstance(size, (int, np.integer)) else None
