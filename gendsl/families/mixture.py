"""Mixtures whose components share one family (``dist.MixtureSameFamily``);
the array libraries implement it, so this module holds its constructor (which
works out the shapes) and its registration."""

from __future__ import annotations

from .. import ir
from ..dist._core import Distribution
from ..dist._families import FAMILIES, Family, register_family
from ..errors import ModelError, ShapeError
from ..shapes import broadcast_shapes, format_shape
from ..trace import arg_shape

__all__ = ["MixtureSameFamily"]


def MixtureSameFamily(mixture_distribution: Distribution, component_distribution: Distribution) -> Distribution:
    """A mixture whose K components share one family.

    Args:
        mixture_distribution: a ``Categorical`` with batch shape ``B``, K categories.
        component_distribution: batch shape ``B + (K,)``.
    """
    mix, comp = mixture_distribution, component_distribution
    if not isinstance(mix, Distribution) or mix.family != "Categorical":
        raise ModelError("dist.MixtureSameFamily: mixture_distribution must be a dist.Categorical")
    if not isinstance(comp, Distribution) or not comp.batch_shape:
        raise ShapeError(
            "dist.MixtureSameFamily: component_distribution needs a batch axis of size K "
            "(the components) as its rightmost batch axis"
        )
    k_mix = FAMILIES["Categorical"].support_size(
        {k: arg_shape(v) for k, v in mix.spec.args.items()}, {})
    if comp.batch_shape[-1] != k_mix:
        raise ShapeError(
            f"dist.MixtureSameFamily: the Categorical has {k_mix} categories but the components' "
            f"rightmost batch axis is {comp.batch_shape[-1]!r} (batch shape {format_shape(comp.batch_shape)})"
        )
    batch = broadcast_shapes(mix.batch_shape, comp.batch_shape[:-1], what="dist.MixtureSameFamily")
    spec = ir.DistSpec(
        "MixtureSameFamily",
        {"mixture_distribution": mix.spec, "component_distribution": comp.spec},
        (), batch, comp.event_shape,
    )
    return Distribution(spec)


def _builder(backend, library):
    """The library's class, called positionally (NumPyro names the first argument
    ``mixing_distribution``, Pyro ``mixture_distribution``)."""
    cls = library("MixtureSameFamily")
    return lambda mixture_distribution, component_distribution: cls(mixture_distribution, component_distribution)


# MixtureSameFamily takes distributions, not arrays; the constructor works out its shapes.
register_family(Family("MixtureSameFamily", {}, (("mixture_distribution", "component_distribution"),),
                       constructor=MixtureSameFamily, builder=_builder))
