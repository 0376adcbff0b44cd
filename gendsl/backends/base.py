"""The interface every backend implements."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class Backend:
    """One array library plus one PPL.

    Subclasses fill :attr:`ops` (every name in :data:`gendsl.ops.OPS`) and
    :attr:`dists` (every family in :data:`gendsl.dist.FAMILIES`, or most),
    and implement the methods below. Arrays never leave the backend inside a
    training step; :meth:`to_numpy` is for results only.
    """

    name: str = ""
    ops: dict[str, Callable] = {}
    dists: dict[str, Callable] = {}
    #: runs op by op (PyTorch), so work done per run is paid per step; a
    #: compiling backend (JAX under ``jit``) pays it once per compilation
    eager: bool = False

    # -- arrays -------------------------------------------------------------------
    def asarray(self, x, dtype: str = "real", like=None) -> Any:
        """A backend array from NumPy data (``dtype``: real, int or bool)."""
        raise NotImplementedError

    def const(self, x: np.ndarray, dtype: str, like=None):
        """A constant captured at trace time, converted once per run dtype."""
        return self.asarray(x, dtype, like=like)

    def to_float(self, x, like):
        """``x`` cast to the run's float dtype (``like`` is the run's dtype spec)."""
        raise NotImplementedError

    def to_numpy(self, x) -> np.ndarray:
        raise NotImplementedError

    def float_dtype(self, name: str):
        raise NotImplementedError

    def broadcast_to(self, x, shape: tuple):
        raise NotImplementedError

    # -- distributions --------------------------------------------------------------
    def wrap(self, d, kind: str, arg):
        """Applies ``expand`` / ``to_event`` / ``mask`` as the library does."""
        if kind == "expand":
            return d.expand(tuple(arg))
        if kind == "to_event":
            return d.to_event(arg)
        return d.mask(arg)

    def log_prob(self, d, value):
        return d.log_prob(value)

    def enumerate_support(self, d):
        """``(K,) + (1,) * len(batch_shape)`` values of a discrete distribution."""
        return d.enumerate_support(expand=False)

    def sample(self, d, rng, shape: tuple):
        raise NotImplementedError

    def rng(self, seed=None):
        """A random stream: ``rng.next(site)`` gives that site's key (or None).
        ``seed=None`` means no explicit seed."""
        raise NotImplementedError

    def fori_loop(self, n: int, body, init):
        """``init`` after ``n`` applications of ``body`` (a chain's slow direction)."""
        raise NotImplementedError

    def loop(self, n: int, body, init):
        """``body(i, carry)`` for ``i = 0..n-1`` (a diffusion chain's steps); ``i``
        is a Python int under PyTorch and a traced one under JAX."""
        raise NotImplementedError

    def batch_shape(self, d) -> tuple:
        return tuple(d.batch_shape)

    def kl(self, q, p):
        """``KL(q || p)`` in closed form, or ``None`` when the library has no rule."""
        raise NotImplementedError

    def mean(self, d, family: str):
        """The distribution's mean; for a ``Categorical`` (no numeric mean in
        either library), the expected level ``sum_l l * p_l``."""
        if family != "Categorical":
            return d.mean
        base = d
        while hasattr(base, "base_dist"):  # Independent / Expanded / Masked wrappers
            base = base.base_dist
        probs = base.probs
        levels = self.ops["cumsum"](self.ops["ones_like"](probs), axis=-1) - 1.0  # 0, 1, ..., L-1
        return self.broadcast_to(self.ops["sum"](probs * levels, axis=-1),
                                 tuple(d.batch_shape) + tuple(d.event_shape))

    def to_base(self, d, x):
        """A flow site's data ``x`` mapped to its base distribution's space
        (dequantised values at the centre of their bins); a denoising
        autoencoder's code of ``x``."""
        while not hasattr(d, "transforms"):
            if hasattr(d, "dae"):
                return d.encode(x)  # Independent / Expanded / Masked / Dequantized wrappers
            if hasattr(d, "levels"):
                x = (self.to_float(x, d.like) + 0.5) / d.levels
            d = d.base_dist
        for t in reversed(d.transforms):
            x = t.inv(x)
        return x

    def from_base(self, d, z):
        """Base-space values ``z`` of a flow site pushed through its transforms
        (then floored to integer levels where the site is dequantised); a
        denoising autoencoder's reconstruction mean from codes ``z``."""
        levels = None
        while not hasattr(d, "transforms"):
            if hasattr(d, "dae"):
                return d.decode(z)
            levels = getattr(d, "levels", levels)
            d = d.base_dist
        for t in d.transforms:
            z = t(z)
        if levels is not None:
            z = self.ops["clip"](self.ops["floor"](z * levels), 0, levels - 1)
        return z

    # -- parameters --------------------------------------------------------------
    def constrain(self, constraint: str, u):
        raise NotImplementedError

    def unconstrain(self, constraint: str, x):
        raise NotImplementedError

    def net(self, spec, params: dict, prefix: str) -> Callable:
        """A function ``x -> y`` computing network ``spec`` with weights
        ``params[prefix + key]`` (functional; used by the fast paths)."""
        raise NotImplementedError

    # -- programs -------------------------------------------------------------------
    def compile(self, model, seed: int = 0):
        """A plain ``(model_fn, guide_fn)`` pair in this backend's PPL."""
        raise NotImplementedError
