"""Backends: where the IR becomes a Pyro (PyTorch) or NumPyro (JAX) program.

Backends are registered by name and imported lazily, so ``import gendsl``
loads neither PyTorch nor JAX. A backend implements :class:`Backend`: a table
of ops, a table of distributions, networks, constraints and sampling; the
lowering in :mod:`gendsl.backends.interpret` and the handlers in
:mod:`gendsl.backends.handlers` are shared, which is what makes the two
backends agree.
"""

from __future__ import annotations

import importlib

from ..errors import unknown_name
from .base import Backend

__all__ = ["Backend", "BACKENDS", "register_backend", "get_backend"]

# name -> module that defines it (imported on first use)
BACKENDS: dict[str, str] = {
    "pyro": "gendsl.backends.pyro",
    "numpyro": "gendsl.backends.numpyro",
}
_INSTANCES: dict[str, Backend] = {}


def register_backend(name: str, module: str) -> None:
    """Registers a backend implemented in ``module`` (which defines ``BACKEND``)."""
    BACKENDS[name] = module


def get_backend(name) -> Backend:
    """The backend called ``name`` (``"pyro"`` or ``"numpyro"``), or an instance as is."""
    if isinstance(name, Backend):
        return name
    if name not in BACKENDS:
        raise unknown_name("backend", name, BACKENDS)
    if name not in _INSTANCES:
        _INSTANCES[name] = importlib.import_module(BACKENDS[name]).BACKEND
    return _INSTANCES[name]
