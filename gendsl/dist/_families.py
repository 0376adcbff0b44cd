"""The distribution registry: what each family takes and produces.

Each :class:`Family` says which arguments a distribution takes, how many
trailing axes of each belong to one event (``probs`` of a Categorical: 1),
the event shape it produces and its support. Backends look families up by
name in their own tables; a conformance test checks they cover this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Family", "FAMILIES", "register_family"]


@dataclass(frozen=True)
class Family:
    """A distribution family.

    Attributes:
        name: registry name; the Pyro and NumPyro classes have the same name.
        params: argument name -> event rank of that argument.
        required: alternative groups of required arguments; exactly one group
            must be given (Bernoulli: ``probs`` or ``logits``).
        defaults: optional literal arguments and their defaults.
        event: ``(arg_shapes, literal_args) -> event_shape``.
        support: name of the support, used to validate data.
        dtype: dtype of samples (``"real"`` or ``"int"``).
        enumerable: finite support that inference can sum out.
        support_size: ``(arg_shapes, literal_args) -> int`` for enumerable families.
    """

    name: str
    params: dict
    required: tuple
    defaults: dict = field(default_factory=dict)
    event: Callable = lambda shapes, lits: ()
    support: str = "real"
    dtype: str = "real"
    enumerable: bool = False
    support_size: Callable | None = None


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


def _scalar(name, params, support="real", defaults=None, required=None):
    register_family(Family(
        name=name,
        params={p: 0 for p in params},
        required=required or (tuple(params),),
        defaults=defaults or {},
        support=support,
    ))


def _last(*names):
    def event(shapes, lits):
        for n in names:
            if n in shapes:
                return (shapes[n][-1],)
        return ()
    return event


_scalar("Normal", ["loc", "scale"])
_scalar("LogNormal", ["loc", "scale"], "positive")
_scalar("Laplace", ["loc", "scale"])
_scalar("Cauchy", ["loc", "scale"])
_scalar("Gumbel", ["loc", "scale"])
_scalar("Logistic", ["loc", "scale"])
_scalar("StudentT", ["df", "loc", "scale"], required=(("df",),))
_scalar("HalfNormal", ["scale"], "positive")
_scalar("HalfCauchy", ["scale"], "positive")
_scalar("Exponential", ["rate"], "positive")
_scalar("Gamma", ["concentration", "rate"], "positive")
_scalar("InverseGamma", ["concentration", "rate"], "positive")
_scalar("Beta", ["concentration1", "concentration0"], "unit_interval")
_scalar("Uniform", ["low", "high"], "interval")
_scalar("Poisson", ["rate"], "nonnegative_integer")

register_family(Family(
    "Bernoulli", {"probs": 0, "logits": 0}, (("probs",), ("logits",)),
    support="boolean", enumerable=True, support_size=lambda s, l: 2,
))
register_family(Family(
    "Binomial", {"total_count": 0, "probs": 0, "logits": 0},
    (("total_count", "probs"), ("total_count", "logits")),
    support="integer_interval", enumerable=True,
    support_size=lambda s, l: int(l["total_count"]) + 1 if isinstance(l.get("total_count"), int) else None,
))
register_family(Family(
    "Categorical", {"probs": 1, "logits": 1}, (("probs",), ("logits",)),
    support="categorical", dtype="int", enumerable=True,
    support_size=lambda s, l: (s.get("probs") or s.get("logits"))[-1],
))
register_family(Family(
    "OneHotCategorical", {"probs": 1, "logits": 1}, (("probs",), ("logits",)),
    event=_last("probs", "logits"), support="one_hot", enumerable=True,
    support_size=lambda s, l: (s.get("probs") or s.get("logits"))[-1],
))
register_family(Family(
    "Dirichlet", {"concentration": 1}, (("concentration",),),
    event=_last("concentration"), support="simplex",
))
register_family(Family(
    "Multinomial", {"total_count": 0, "probs": 1, "logits": 1},
    (("total_count", "probs"), ("total_count", "logits")),
    event=_last("probs", "logits"), support="multinomial",
))
register_family(Family(
    "MultivariateNormal",
    {"loc": 1, "covariance_matrix": 2, "scale_tril": 2, "precision_matrix": 2},
    (("loc", "covariance_matrix"), ("loc", "scale_tril"), ("loc", "precision_matrix")),
    event=_last("loc"), support="real_vector",
))
register_family(Family(
    "Delta", {"v": 0, "log_density": 0}, (("v",),), defaults={"event_dim": 0},
    event=lambda s, l: s["v"][len(s["v"]) - int(l.get("event_dim", 0)):] if l.get("event_dim", 0) else (),
))
# TransformedDistribution takes a distribution and transforms; gendsl.dist works out its shapes.
register_family(Family("TransformedDistribution", {}, (("base_dist", "transforms"),)))
# Dequantized takes a distribution; gendsl.dist works out its shapes.
register_family(Family("Dequantized", {}, (("base_dist", "levels"),), support="integer_interval", dtype="int"))
# Autoregressive takes a network; gendsl.dist.Autoregressive works out its shapes.
register_family(Family("Autoregressive", {}, (("net",),)))
# Diffusion takes a noise network and a schedule; gendsl.dist.Diffusion works out its shapes.
register_family(Family("Diffusion", {}, (("net", "schedule"),)))
# DenoisingAutoencoder takes two networks; gendsl.dist.DenoisingAutoencoder works out its shapes.
register_family(Family("DenoisingAutoencoder", {}, (("encoder", "decoder"),)))
# VectorQuantized and Codebook check their shapes in gendsl.dist (the codebook is (K, d)).
register_family(Family("VectorQuantized", {"z_e": 1, "codebook": 2}, (("z_e", "codebook"),),
                       defaults={"commitment": 0.25}, event=_last("z_e"), support="real_vector"))
register_family(Family("Codebook", {"codebook": 2, "logits": 1}, (("codebook",),), event=_last("codebook"),
                       support="real_vector"))
# MixtureSameFamily takes distributions, not arrays; its shapes are worked out
# in gendsl.dist (see _mixture_shapes).
register_family(Family(
    "MixtureSameFamily", {}, (("mixture_distribution", "component_distribution"),),
))
