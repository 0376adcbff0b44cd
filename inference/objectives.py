"""The objective registry: one dict, filled by a decorator.

An objective is a small class with one required method, :meth:`Objective.loss`,
and capability flags that :meth:`Objective.check` reads before training, so a
model/objective pair that cannot work fails with a reason instead of a NaN.

Example:
    >>> import gendsl as gd
    >>> @gd.objectives.register("neg_mle")
    ... class NegatedMLE(gd.objectives.get("mle").__class__):
    ...     '''A toy: the same checks as mle.'''
    >>> "neg_mle" in gd.objectives.OBJECTIVES
    True
"""

from __future__ import annotations

from gendsl.dist import FAMILIES
from gendsl.errors import ObjectiveError, unknown_name

from .optim import Player

__all__ = ["Objective", "OBJECTIVES", "register", "get"]

OBJECTIVES: dict[str, type] = {}


def register(name: str):
    """Class decorator adding an objective to :data:`OBJECTIVES` under ``name``."""
    def deco(cls):
        cls.name = name
        OBJECTIVES[name] = cls
        return cls
    return deco


def get(objective, **options) -> "Objective":
    """An objective instance from a name (with ``options``) or an instance."""
    if isinstance(objective, Objective):
        if options:
            raise ObjectiveError(f"options {sorted(options)} given with an objective instance; set them on the instance")
        return objective
    if objective not in OBJECTIVES:
        raise unknown_name("objective", objective, OBJECTIVES)
    try:
        return OBJECTIVES[objective](**options)
    except TypeError as e:
        raise ObjectiveError(f"objective {objective!r}: {e}") from None


class Objective:
    """Base class of training objectives.

    Capability flags (checked by :meth:`check` before training):
        needs_guide: the objective scores latents drawn from a guide.
        needs_density: every observed site must have a density.
        exact_latents_only: every latent must be observed or enumerable.
    """

    name = ""
    needs_guide = False
    needs_density = True
    trains_denoisable = False  # trains families with no density but a denoising loss (Family.denoisable)
    exact_latents_only = False

    def loss(self, lowered, params: dict, batch: dict, missing: dict, n_total: int, rng):
        """The scalar to minimise on one minibatch.

        Args:
            lowered: the model on a backend (:class:`gendsl.backends.program.Lowered`).
            params: constrained parameters (backend arrays).
            batch: site -> backend array, one minibatch of rows.
            missing: site -> observed-entry mask for sites with NaNs.
            n_total: rows in the whole training set (to weight global terms).
            rng: the backend's random stream.
        """
        raise NotImplementedError

    def players(self, lowered, optim) -> list:
        """The optimisers that share a training step, as
        :class:`~gendsl.inference.optim.Player` records; both engines run
        them through one stepper.

        The default is one player that owns every parameter, minimises
        :meth:`loss` with fit's settings and steps on every minibatch.
        Override it for a game: :class:`~gendsl.inference.adversarial.Adversarial`
        returns a discriminator and a generator.

        Args:
            lowered: the model on a backend (its parameter names, e.g.
                ``lowered.discriminator_params``).
            optim: fit's :class:`~gendsl.inference.optim.Adam` settings.

        Returns:
            A list of players; the first one's losses are the history's
            ``step_loss`` and ``epoch_loss``.
        """

        return [Player(self.name or type(self).__name__, self.loss, optim)]

    def options(self) -> dict:
        """The options this instance was built with (saved with a fit)."""
        return {}

    def __repr__(self) -> str:
        return f"{self.name or type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options().items())})"

    def check(self, model, data_sites) -> None:
        """Raises :class:`gendsl.ObjectiveError` when this objective cannot train ``model``."""
        program, given = model.ir, set(data_sites)
        if self.needs_density:
            for site in program.sites:
                family = FAMILIES[site.dist.family]
                if family.density == "implicit" and (site.observed or site.name in given):
                    raise ObjectiveError(
                        f"model {model.name!r} observes {site.name!r} through a Delta: it has no density, "
                        f"so {self.name!r} cannot score it; use objective='adversarial'"
                    )
                if (family.density == "none" and not (family.denoisable and self.trains_denoisable)
                        and (site.observed or site.name in given)):
                    raise ObjectiveError(
                        f"model {model.name!r} observes {site.name!r} through a denoising autoencoder: it has "
                        f"no density, so {self.name!r} cannot score it; use objective='denoising'"
                    )
        if self.needs_guide and model.guide_ir is None:
            raise ObjectiveError(
                f"objective {self.name!r} needs a guide q(latents | data) for model {model.name!r}: "
                f"attach one with @{model.name}.guide, or pass guide='normal' (global latents only)"
            )
        if self.exact_latents_only:
            for site in program.latent:
                if site.name in given:
                    continue
                family = FAMILIES.get(site.dist.family)
                if family is None or not family.enumerable:
                    raise ObjectiveError(
                        f"model {model.name!r} has continuous latent site {site.name!r} "
                        f"({site.dist.family}); {self.name!r} needs every latent observed or discrete "
                        f"(summed out exactly). Use objective='elbo' or 'iwae' with a guide, or pass "
                        f"data for {site.name!r}"
                    )

