"""Functional forwards of gendsl's network specs, one per spec type, on any backend.

A forward is built from a spec and flat weights ``params[prefix + key]``
(gendsl's weight names, ``"0.weight"``, ``"time.bias"``, ...) and computes
with the backend's ops, so the fast path and both plain programs run the same
arithmetic. Raw library modules (``nn.Module``) and flow transforms are the
backends' own (:meth:`Backend.raw_module`, :meth:`Backend.transform`).
"""

from __future__ import annotations

from ..errors import ModelError
from ..families import autoregressive, diffusion
from ..nn import MLP

__all__ = ["FORWARDS", "forward", "mlp_forward"]


def mlp_forward(backend, spec: MLP, params: dict, prefix: str):
    """``forward(x)``: dense layers ``x W^T + b`` with the spec's activations."""
    linear, acts = backend.ops["linear"], backend.activations
    layers = [(params[f"{prefix}{i}.weight"], params[f"{prefix}{i}.bias"]) for i in range(len(spec.sizes) - 1)]
    act, out_act = acts[spec.activation], acts[spec.output_activation]
    last = len(layers) - 1

    def forward(x):
        for i, (w, b) in enumerate(layers):
            x = linear(x, w, b)
            x = act(x) if i < last else out_act(x)
        return x

    return forward


# network spec type -> forward builder ``(backend, spec, params, prefix) -> callable``
FORWARDS = {MLP: mlp_forward, **autoregressive.FORWARDS, **diffusion.FORWARDS}


def forward(backend, spec, params: dict, prefix: str):
    """The functional forward of ``spec`` (the nearest registered base class decides)."""
    for cls in type(spec).__mro__:
        if cls in FORWARDS:
            return FORWARDS[cls](backend, spec, params, prefix)
    raise ModelError(f"network {getattr(spec, 'name', spec)!r}: no forward for {type(spec).__name__}; "
                     f"the registered kinds are {sorted(c.__name__ for c in FORWARDS)}")
