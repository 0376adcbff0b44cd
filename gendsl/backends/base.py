"""The interface every backend implements."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..dist import FAMILIES
from ..nn import Module
from ..transforms import Bijector
from . import networks


class FamilyAdapter:
    """What every library adapter of a neutral family shares (mixed in before
    the library's distribution class): the implementation's ``has_rsample``,
    mean and batch expansion, and its :class:`gendsl.families.Support` in the
    library's constraints (:attr:`constraints`: kind -> constraint, plus the
    library's ``integer_interval`` and ``independent``)."""

    constraints: dict = {}

    @property
    def has_rsample(self):
        return self.impl.has_rsample

    @property
    def support(self):
        s, c = self.impl.support, self.constraints
        base = c["integer_interval"](0, s.high) if s.kind == "integer_interval" else c[s.kind]
        return c["independent"](base, s.event_dim) if s.event_dim else base

    @property
    def mean(self):
        return self.impl.mean

    def expand(self, batch_shape, _instance=None):
        return type(self)(self.impl.expand(tuple(batch_shape)), validate_args=self._validate_args)


class DistTable(dict):
    """A backend's distribution table, filled from :data:`gendsl.dist.FAMILIES`:
    the library's class where the library has the family (``library(name)``,
    ``None`` where it has not), else the family's neutral implementation in
    the backend's adapter (``adapt(impl)``), or what the family's
    :attr:`Family.builder` makes of the backend. A family registered after the
    backend was made is added when first looked up."""

    def __init__(self, backend, library: Callable, adapt: Callable):
        super().__init__()
        self.backend, self.library, self.adapt = backend, library, adapt
        for name in FAMILIES:
            self._add(name)

    def _add(self, name):
        family = FAMILIES[name]
        if family.impl is not None:
            built = self.adapt(family.impl)
        else:
            built = family.builder(self.backend, self.library) if family.builder is not None else self.library(name)
        if built is not None:
            self[name] = built
        return built

    def __missing__(self, name):
        if name not in FAMILIES or self._add(name) is None:
            raise KeyError(name)
        return self[name]

    def __contains__(self, name):
        return dict.__contains__(self, name) or (name in FAMILIES and self._add(name) is not None)


class Backend:
    """One array library plus one PPL.

    Subclasses fill :attr:`ops` (every name in :data:`gendsl.ops.OPS`) and
    :attr:`dists` (every family in :data:`gendsl.dist.FAMILIES`: the
    library's classes, and for families gendsl implements their neutral
    :attr:`Family.impl` wrapped in one adapter class), and implement the
    methods below, among them the small runtime (draws from keys, loops,
    gradients, dtypes) the neutral families run on. Arrays never leave the backend inside a
    training step; :meth:`to_numpy` is for results only.
    """

    name: str = ""
    #: the array library (``"torch"``, ``"jax"``): which training engine runs the backend
    arrays: str = ""
    ops: dict[str, Callable] = {}
    dists: dict[str, Callable] = {}
    #: runs op by op (PyTorch), so work done per run is paid per step; a
    #: compiling backend (JAX under ``jit``) pays it once per compilation
    eager: bool = False
    #: the library's wrapper distributions (``Independent``, ``Expanded``, ``Masked``), see :meth:`unwrap`
    wrappers: tuple = ()
    #: the library distribution class that wraps a neutral implementation
    adapter: type = type(None)

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
        return self.loop(n, lambda i, carry: body(carry), init)

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
        probs = self.unwrap(d).probs
        levels = self.ops["cumsum"](self.ops["ones_like"](probs), axis=-1) - 1.0  # 0, 1, ..., L-1
        return self.broadcast_to(self.ops["sum"](probs * levels, axis=-1),
                                 tuple(d.batch_shape) + tuple(d.event_shape))

    def unwrap(self, d):
        """``d`` without the library's ``Independent`` / ``Expanded`` / ``Masked`` wrappers."""
        while isinstance(d, self.wrappers):
            d = d.base_dist
        return d

    def implementation(self, d):
        """The neutral :class:`gendsl.families.Implementation` inside backend
        distribution ``d`` (through its wrappers), or ``None`` for a library family."""
        d = self.unwrap(d)
        return d.impl if isinstance(d, self.adapter) else None

    # -- the runtime the neutral families run on (gendsl.families) ---------------------------------
    # A key is JAX's explicit key, or under PyTorch ``None`` (its global generator) or a seeded
    # ``torch.Generator``; ``split`` and ``fold_in`` keep both libraries' draws in the same order.
    def default_like(self, like):
        """``like`` (a run's float dtype spec), or the library's default when ``None``."""
        raise NotImplementedError

    def as_float(self, x, like):
        """``x`` as it is when floating, else cast to the float dtype of ``like``."""
        raise NotImplementedError

    def as_array(self, x):
        """A backend array from a constant (NumPy under JAX's jit) or an array as is."""
        return x

    def split(self, key, n: int) -> list:
        raise NotImplementedError

    def fold_in(self, key, i):
        raise NotImplementedError

    def fixed_key(self, seed: int, like):
        """A key that gives the same draws every call (evaluation's fixed noise)."""
        raise NotImplementedError

    def random_uniform(self, key, shape: tuple, like, minval: float = 0.0):
        raise NotImplementedError

    def uniform(self, rng, name: str, shape: tuple, like):
        """U(0, 1) draws of ``shape`` from random stream ``rng``'s key for ``name``."""
        return self.random_uniform(rng.next(name), shape, like)

    def random_normal(self, key, shape: tuple, like):
        raise NotImplementedError

    def random_int(self, key, shape: tuple, high: int, like):
        """Integers uniform in ``0..high-1`` on the run's device."""
        raise NotImplementedError

    def random_index(self, key, high: int):
        """One integer uniform in ``0..high-1`` for a whole batch (a Python int
        where the backend runs eagerly, drawn on the host: no device sync)."""
        raise NotImplementedError

    def random_categorical(self, key, logits, shape: tuple):
        raise NotImplementedError

    def scan(self, n: int, body, init):
        """``body(carry, i) -> (carry, y)`` for ``i = 0..n-1``: the last carry and
        the ``y`` stacked on a new leading axis."""
        raise NotImplementedError

    def associative_scan(self, fn, elems, axis: int = 0, reverse: bool = False):
        """Inclusive scan of an associative ``fn(a, b)`` (``a`` the earlier
        elements, batched along ``axis``) in ``O(log n)`` rounds: element ``i``
        is ``x_0 . x_1 . ... . x_i``, or with ``reverse`` ``x_i . ... . x_{n-1}``.

        This is the Hillis-Steele doubling scan written with ``ops`` (each
        round combines every element with the one ``2^r`` away); JAX's backend
        uses ``jax.lax.associative_scan``.
        """
        ops, n, k = self.ops, elems.shape[axis], 1
        x = elems
        while k < n:
            if reverse:  # x_i <- x_i . x_{i+k}
                combined = fn(ops["slice_axis"](x, 0, n - k, axis), ops["slice_axis"](x, k, n, axis))
                x = ops["concatenate"](combined, ops["slice_axis"](x, n - k, n, axis), axis=axis)
            else:  # x_i <- x_{i-k} . x_i
                combined = fn(ops["slice_axis"](x, 0, n - k, axis), ops["slice_axis"](x, k, n, axis))
                x = ops["concatenate"](ops["slice_axis"](x, 0, k, axis), combined, axis=axis)
            k *= 2
        return x

    def by_row(self, which, n: int, fn, x):
        """``fn(x_rows, m)`` for the rows whose ``which`` is ``m``, for every ``m < n``,
        reassembled in the rows' order (rows of ``x``: ``which``'s shape)."""
        raise NotImplementedError

    def network(self, net):
        """The functional forward of ``net`` (a backend module of a gendsl spec, or a forward)."""
        return net

    # -- parameters --------------------------------------------------------------
    def constrain(self, constraint: str, u):
        raise NotImplementedError

    def unconstrain(self, constraint: str, x):
        raise NotImplementedError

    def net(self, spec, params: dict, prefix: str) -> Callable:
        """A function ``x -> y`` computing network ``spec`` with weights
        ``params[prefix + key]`` (functional; the fast paths and plain programs):
        gendsl's forward of the spec (:mod:`gendsl.backends.networks`), the
        library's transform for a flow transform, the user's own module for a raw one."""
        if isinstance(spec, Module):
            return self.raw_module(spec, params, prefix)
        if isinstance(spec, Bijector):
            return self.transform(spec, params, prefix)
        return networks.forward(self, spec, params, prefix)

    def raw_module(self, spec, params: dict, prefix: str) -> Callable:
        """A user's library module (``nn.Module``) called with gendsl's parameters."""
        raise NotImplementedError

    def transform(self, spec, params: dict, prefix: str):
        """A flow transform spec as the library's ``Transform`` over gendsl's bijection."""
        raise NotImplementedError

    def stateless(self, spec):
        """A stateless transform spec (``Permute``, ``Sigmoid``, ...) as the library's own transform."""
        raise NotImplementedError

    def transformed_distribution(self, base_dist, transforms: list):
        """The library's ``TransformedDistribution`` of ``base_dist`` through library ``transforms``."""
        raise NotImplementedError

    # -- programs -------------------------------------------------------------------
    def compile(self, model, seed: int = 0):
        """A plain ``(model_fn, guide_fn)`` pair in this backend's PPL."""
        raise NotImplementedError
