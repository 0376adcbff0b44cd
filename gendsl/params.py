"""Parameter sets: initial values for every ``gd.param`` and network weight."""

from __future__ import annotations

import numpy as np

from .constraints import initial_value

__all__ = ["init_params", "param_constraints"]


def _programs(model):
    return [p for p in (model.ir, model.guide_ir, getattr(model, "discriminator_ir", None)) if p is not None]


def init_params(model, seed: int = 0) -> dict:
    """``{name: float64 array}`` of constrained initial values, keyed by
    parameter name (network weights as ``"<net>.<weight>"``)."""
    out: dict[str, np.ndarray] = {}
    for program in _programs(model):
        for p in program.params:
            if p.name not in out:
                out[p.name] = initial_value(p.init, p.shape, p.constraint, seed, p.name)
        for n in program.nets:
            for k, v in n.spec.init(seed).items():
                out.setdefault(k, v)
    return out


def param_constraints(model) -> dict:
    """``{name: constraint}`` for every parameter (network weights are real)."""
    out = {}
    for program in _programs(model):
        for p in program.params:
            out[p.name] = p.constraint
        for n in program.nets:
            for k in n.spec.param_shapes():
                out[f"{n.name}.{k}"] = "real"
    return out
