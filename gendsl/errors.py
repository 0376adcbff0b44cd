"""Errors that gendsl raises, one class per kind of mistake.

Every message names the site, shape or option at fault and says what would
work. They derive from :class:`GendslError` (and from the builtin error a
Python user would expect: ``ValueError``, ``KeyError`` or ``TypeError``) so
code that catches builtins keeps working.
"""

from __future__ import annotations

__all__ = [
    "GendslError",
    "ModelError",
    "ShapeError",
    "SiteError",
    "DataError",
    "ObjectiveError",
    "UnknownNameError",
    "UnknownAttributeError",
    "TrainingError",
    "GraphvizNotFoundError",
    "non_numeric_data",
]


class GendslError(Exception):
    """Base class of every error gendsl raises on purpose."""


class ModelError(GendslError, ValueError):
    """The model as written cannot be traced or compiled."""


class ShapeError(ModelError):
    """Shapes of values, distributions or plates cannot match."""


class SiteError(ModelError):
    """A site is named twice, or refers to something that does not exist."""


class DataError(GendslError, ValueError):
    """Data given to a model does not fit its sites."""


class ObjectiveError(GendslError, ValueError):
    """The chosen objective cannot train this model."""


class UnknownNameError(GendslError, KeyError):
    """A name was looked up in a registry that does not hold it.

    ``KeyError`` quotes its message; ``__str__`` is overridden so the message
    reads as plain text.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownAttributeError(GendslError, AttributeError):
    """A module attribute (``dist.Foo``, ``ops.foo``) that gendsl does not define."""


class GraphvizNotFoundError(GendslError, RuntimeError):
    """Graphviz's ``dot`` program is needed (for an image) but not installed."""


class TrainingError(GendslError, RuntimeError):
    """Training had to stop (a non-finite loss, say); the last good state is kept."""


def unknown_name(kind: str, name: str, known, hint: str = "") -> UnknownNameError:
    """Builds the error for a failed registry lookup, listing the valid names."""
    listing = ", ".join(repr(k) for k in sorted(known))
    msg = f"unknown {kind} {name!r}; the registered {kind}s are: {listing}"
    if hint:
        msg += f". {hint}"
    return UnknownNameError(msg)


def unknown_attribute(kind: str, name: str, known, hint: str = "") -> UnknownAttributeError:
    """Like :func:`unknown_name`, for ``module.attribute`` lookups."""
    return UnknownAttributeError(str(unknown_name(kind, name, known, hint)))


def non_numeric_data(site: str, dtype, sample=None, family: str | None = None) -> DataError:
    """Builds the error for data that are not numbers (strings, objects) at ``site``.

    Args:
        site: the data's key (the site it is for).
        dtype: the NumPy dtype found.
        sample: one offending value, shown when given.
        family: the site's distribution family, when known.
    """
    what = {"U": "text", "S": "bytes", "O": "Python objects"}.get(getattr(dtype, "kind", ""), "not numbers")
    found = f"dtype {dtype} ({what}" + (f", e.g. {sample!r})" if sample is not None else ")")
    takes = f"its {family} takes numbers" if family else "gendsl models take numbers"
    return DataError(
        f"data for site {site!r} are not numbers: {found}; {takes}. Convert numeric text with "
        f"arr.astype(float), and encode categories as integers 0..K-1 "
        f"(np.unique(arr, return_inverse=True)[1]), modelled with dist.Categorical"
    )
