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
from .model import UPPER_LAYERS as _UPPER_LAYERS
from .model import Model, ModelFactory, model
from .primitives import covariate, deterministic, observe, param, plate, sample

__version__ = "0.1.0"

__all__ = [
    "model", "Model", "ModelFactory",
    "sample", "observe", "param", "plate", "deterministic", "covariate",
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


# A Model's conveniences that reach above the core (to_pyro, fit, a GAN's drawn
# losses) call these; this module is the one place of the core allowed to import
# gendsl.backends and gendsl.inference, and does so on first use (DESIGN §6).
def _backend(name):
    from .backends import get_backend

    return get_backend(name)


def _fit(model, data, **options):
    from gendsl.inference import fit

    return fit(model, data, **options)


def _objective(objective):
    from gendsl.inference import objectives

    return objectives.get(objective)


_UPPER_LAYERS.update(backend=_backend, fit=_fit, objective=_objective)


def __getattr__(name):
    # The zoo, objectives and data load lazily: gendsl's core imports neither
    # gendsl.models nor gendsl.inference (DESIGN §6).
    import importlib

    if name in ("models", "inference", "data"):
        return importlib.import_module(f"gendsl.{name}")
    if name == "objectives":
        return importlib.import_module("gendsl.inference.objectives")
    raise AttributeError(f"module 'gendsl' has no attribute {name!r}")
