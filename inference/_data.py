"""User data as the ``{site: NumPy array}`` dict that training and every query take.

Below both :mod:`gendsl.inference.train` and :mod:`gendsl.inference.fitted`,
which each need it (``as_data`` is re-exported from ``train``).
"""

from __future__ import annotations

import numpy as np

from gendsl.errors import DataError

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
        arr = np.asarray(value)
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
