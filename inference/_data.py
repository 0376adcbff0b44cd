"""User data as the ``{site: NumPy array}`` dict that training and every query take.

Below both :mod:`gendsl.inference.train` and :mod:`gendsl.inference.fitted`,
which each need it (``as_data`` is re-exported from ``train``).
"""

from __future__ import annotations

import numpy as np

from gendsl import ir
from gendsl.errors import DataError, non_numeric_data

__all__ = ["as_data"]


def as_data(model, data, allow_partial: bool = False) -> dict:
    """Normalises user data to ``{site: NumPy array}``.

    An array is taken as the model's single observed site; a dict is checked
    key by key. Arrays are copied (missing entries are filled in place later).
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
    reject by name."""
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
