"""gendsl: generative models written the way a textbook draws them.

Example:
    >>> import gendsl as gd
    >>> from gendsl import dist
    >>> @gd.model
    ... def gaussian(x_dim=2):
    ...     loc = gd.param("loc", (x_dim,), init=0.0)
    ...     with gd.plate("data"):
    ...         gd.observe("x", dist.Normal(loc, 1.0).to_event(1))
    >>> gaussian().ir.describe()
    'loc: param (2,)\\nx: Normal (N_data, 2) in [data]'
"""

from . import dist, nn, ops, transforms
from .errors import (
    DataError,
    GendslError,
    ModelError,
    ObjectiveError,
    ShapeError,
    SiteError,
    TrainingError,
    UnknownNameError,
)
from .model import Model, ModelFactory, model
from .primitives import deterministic, observe, param, plate, sample

__version__ = "0.1.0"

__all__ = [
    "model", "Model", "ModelFactory",
    "sample", "observe", "param", "plate", "deterministic",
    "dist", "ops", "nn", "transforms",
    "load", "objectives", "data", "models", "inference",
    "GendslError", "ModelError", "ShapeError", "SiteError", "DataError", "ObjectiveError",
    "UnknownNameError", "TrainingError",
]


def load(path, model=None):
    """Loads a fitted model saved with ``fit.save(path)``.

    Args:
        path: the saved file.
        model: the model factory, when it cannot be imported by name (a model
            defined in a notebook or ``__main__``).
    """
    from gendsl.inference import load as _load

    return _load(path, model=model)


def __getattr__(name):
    # The zoo, objectives and data load lazily: gendsl's core imports neither
    # gendsl.models nor gendsl.inference (DESIGN §6).
    import importlib

    if name in ("models", "inference", "data"):
        return importlib.import_module(f"gendsl.{name}")
    if name == "objectives":
        return importlib.import_module("gendsl.inference.objectives")
    raise AttributeError(f"module 'gendsl' has no attribute {name!r}")
