"""Dequantised integer data: ``x = floor(levels * y)``, ``y`` from a density on
the unit cube (``dist.Dequantized``).

References:
    Theis, van den Oord & Bethge, "A note on the evaluation of generative
    models", ICLR 2016 (uniform dequantisation as a bound).
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ir
from ..dist._core import Distribution
from ..dist._families import FAMILIES, Family, register_family
from ..errors import ModelError, ShapeError
from ._base import Implementation, Support
from .flow import flow_attrs

__all__ = ["Dequantized", "DequantizedImpl", "fixed_noise"]


def fixed_noise(shape) -> np.ndarray:
    """The dequantisation noise of evaluation (``dist.Dequantized`` outside
    training): one fixed U(0, 1) draw per shape, the same on both backends."""
    return np.random.default_rng(0).random(tuple(shape))


def Dequantized(base_dist: Distribution, levels: int) -> Distribution:
    """Integer values ``0..levels-1`` as the floor of ``levels * y``, ``y`` from
    a density on the unit cube (a flow ending in ``transforms.Sigmoid``).

    Uniform dequantisation: ``log P(x) >= E_u[log p((x + u) / levels)] - d
    log(levels)``, ``u ~ U(0, 1)^d``. Training draws fresh noise at every
    step; evaluation uses one fixed draw (the same on both backends), so
    ``log_prob`` is a one-sample estimate of that bound and ``bits_per_dim``
    is comparable with published flow figures.

    Args:
        base_dist: a distribution over ``(0, 1)^d`` with event shape ``(d,)``.
        levels: the number of integer levels (256 for 8-bit images, 17 for
            the 8x8 digits).

    References:
        Theis, van den Oord & Bethge, "A note on the evaluation of generative
        models", ICLR 2016 (uniform dequantisation as a bound).
        Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
    """
    if not isinstance(base_dist, Distribution) or len(base_dist.event_shape) != 1:
        raise ShapeError("dist.Dequantized: base_dist must be a distribution with event shape (d,), e.g. a flow "
                         "dist.TransformedDistribution(base, [..., transforms.Sigmoid(d)])")
    if int(levels) != levels or int(levels) < 2:
        raise ModelError(f"dist.Dequantized: levels must be an integer >= 2, got {levels!r}")
    args = {"base_dist": base_dist.spec, "levels": int(levels)}
    return Distribution(ir.DistSpec("Dequantized", args, (), base_dist.batch_shape, base_dist.event_shape))


class DequantizedImpl(Implementation):
    """Integer levels scored as ``base.log_prob((x + u) / levels) - d log(levels)``,
    ``u ~ U(0, 1)``: fresh draws while training (the step's stream), the fixed
    draw of :func:`fixed_noise` otherwise (so both backends score alike)."""

    def __init__(self, backend, base_dist, levels, training=False, like=None):
        super().__init__(backend, backend.batch_shape(base_dist), tuple(base_dist.event_shape))
        self.base_dist, self.levels, self.training = base_dist, int(levels), training
        self.like = backend.default_like(like)
        self.support = Support("integer_interval", self.levels - 1, len(self.event_shape))

    def expand(self, batch_shape):
        return DequantizedImpl(self.backend, self.base_dist.expand(tuple(batch_shape)), self.levels, self.training,
                               self.like)

    def log_prob(self, value):
        b = self.backend
        x = b.to_float(value, self.like)
        if self.training is not False:
            u = b.random_uniform(self.training.next("$dequantize"), tuple(x.shape), self.like)
        else:
            u = b.const(fixed_noise(tuple(x.shape)), "real", like=self.like)  # a constant under jit
        d = float(np.prod(self.event_shape))
        return self.base_dist.log_prob((x + u) / self.levels) - d * math.log(self.levels)

    def sample(self, key, sample_shape):
        ops = self.backend.ops
        y = self.backend.sample(self.base_dist, key, tuple(sample_shape))
        return ops["astype"](ops["clip"](ops["floor"](y * self.levels), 0, self.levels - 1), "int")


def _encode(backend, spec, d, x):
    """Integer levels -> the centre of their bins, then the base's code (a flow's base space)."""
    impl, base = backend.implementation(d), spec.args["base_dist"]
    y = (backend.to_float(x, impl.like) + 0.5) / impl.levels
    return FAMILIES[base.family].encode(backend, base, impl.base_dist, y)


def _decode(backend, spec, d, z):
    """Codes -> the base's values, floored to integer levels."""
    impl, base = backend.implementation(d), spec.args["base_dist"]
    y = FAMILIES[base.family].decode(backend, base, impl.base_dist, z)
    return backend.ops["clip"](backend.ops["floor"](y * impl.levels), 0, impl.levels - 1)


def _graph(node, observed: bool) -> dict:
    """Drawn as its flow, with the levels in the header."""
    spec = node.dist
    return flow_attrs(node, observed, spec.args["base_dist"], [f"dequantised, {spec.args['levels']} levels"])


register_family(Family(
    "Dequantized", {}, (("base_dist", "levels"),), support="integer_interval", dtype="int", run_aware=True,
    impl=DequantizedImpl, constructor=Dequantized, encode=_encode, decode=_decode,
    graph=_graph,
))
