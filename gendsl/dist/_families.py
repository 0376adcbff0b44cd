"""The distribution registry: the one contract of a distribution family.

Each :class:`Family` says which arguments a distribution takes, how many
trailing axes of each belong to one event (``probs`` of a Categorical: 1),
the event shape it produces and its support; and what generic code needs to
know about it: whether it has a density (exact, a bound, none, or implicit),
whether it is a point mass, whether its backend distribution reads the run
(training flag, dtype) or the query (sampler options), how its sites encode
to a code space, how it is drawn in a graph. Generic code asks the registry
(``FAMILIES[name].density``), never compares family names.

Families the array libraries provide (Normal, Categorical, ...) are listed
here; families gendsl implements itself each live in one module of
:mod:`gendsl.families`, which registers its :class:`Family` with one
backend-neutral implementation (:attr:`Family.impl`) that every backend
adapter wraps in its library's distribution class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Family", "FAMILIES", "DENSITIES", "register_family", "family_of"]

#: what ``log_prob`` of a family gives: the likelihood, a variational bound on
#: it, nothing (trained by a surrogate loss), or nothing because the site is a
#: generator's output (an implicit model, trained adversarially)
DENSITIES = ("exact", "bound", "none", "implicit")


@dataclass(frozen=True)
class Family:
    """A distribution family.

    Attributes:
        name: registry name; library families have the Pyro and NumPyro classes' name.
        params: argument name -> event rank of that argument.
        required: alternative groups of required arguments; exactly one group
            must be given (Bernoulli: ``probs`` or ``logits``).
        defaults: optional literal arguments and their defaults.
        event: ``(arg_shapes, literal_args) -> event_shape``.
        support: name of the support, used to validate data.
        dtype: dtype of samples (``"real"`` or ``"int"``); see :attr:`value_dtype`.
        enumerable: finite support that inference can sum out.
        support_size: ``(arg_shapes, literal_args) -> int`` for enumerable families.
        density: one of :data:`DENSITIES`.
        point_mass: all the mass on one value (a guide of it gives one particle, whatever ``k``).
        run_aware: the backend distribution takes the run's ``training`` stream and dtype (``like``).
        query_aware: the backend distribution takes the query's ``options`` (samplers).
        denoisable: the backend distribution has ``denoising_loss(value)`` (objective ``denoising``).
        impl: the backend-neutral distribution class (:class:`gendsl.families.Implementation`)
            for families gendsl implements; ``None`` where the array library has the family.
        builder: ``(backend, library) -> constructor`` for a library family that gendsl
            composes or calls in its own way (a flow: the library's ``TransformedDistribution``
            over gendsl's transforms); ``library(name)`` is the backend's class of that name.
        constructor: the user constructor ``dist.<name>``; ``None`` generates one from :attr:`params`.
        value_dtype: ``spec -> "real" | "int"`` where the dtype depends on the arguments.
        batch: ``(arg_shapes, literal_args) -> batch_shape`` where it is not the arguments' broadcast.
        graph: ``(node, observed) -> attributes`` of its graph node; ``None`` for the plain look.
        encode, decode: ``(backend, spec, d, x) -> z`` and ``(backend, spec, d, z) -> x``
            between a site's values and its code space without a guide (``spec`` the IR
            spec, ``d`` the backend distribution) (a flow's base space, an autoencoder's
            code); ``None`` where the family has no code.
        check_query: ``(spec, options) -> options``: validates a query's options (a sampler's).
        missing: what its site is, said when data for it hold missing entries (NaN)
            that cannot be marginalised ("an autoregressive chain with missing values
            (NaN); ..."), or ``None`` where the generic rule (a product of scalars) decides.
        example: ``() -> (model, data)``: a small model using the family and data
            for it, run by the conformance suite on every backend.
        padded: its values are sequences whose missing (NaN) steps are padding beyond
            each row's length, which the family itself leaves out (``dist.HiddenMarkov``):
            data pass to it as they are, not marginalised entry by entry.
        hidden: ``spec -> name`` of the discrete hidden chain inside a site (an HMM's
            states), which ``Fitted.posterior`` / ``predict`` answer for through the
            implementation's ``state_posterior``; ``None`` where the family has none.
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
    density: str = "exact"
    point_mass: bool = False
    run_aware: bool = False
    query_aware: bool = False
    denoisable: bool = False
    impl: type | None = None
    builder: Callable | None = None
    constructor: Callable | None = None
    value_dtype: Callable | None = None
    batch: Callable | None = None
    graph: Callable | None = None
    encode: Callable | None = None
    decode: Callable | None = None
    check_query: Callable | None = None
    missing: str | None = None
    example: Callable | None = None
    padded: bool = False
    hidden: Callable | None = None

    def __post_init__(self):
        if self.density not in DENSITIES:
            raise ValueError(f"family {self.name!r}: density must be one of {DENSITIES}, got {self.density!r}")

    @property
    def coded(self) -> bool:
        """Its sites map to a code space without a guide (``Fitted.encode`` / ``decode``)."""
        return self.encode is not None

    def dtype_of(self, spec) -> str:
        """dtype of the values of ``spec`` (``"real"`` or ``"int"``)."""
        return self.value_dtype(spec) if self.value_dtype is not None else self.dtype


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Adds ``family`` to :data:`FAMILIES` (replacing one of the same name) and returns it."""
    FAMILIES[family.name] = family
    return family


def family_of(spec) -> Family:
    """The :class:`Family` of an IR distribution spec."""
    return FAMILIES[spec.family]


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
