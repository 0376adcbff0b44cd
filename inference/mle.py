"""Maximum likelihood with discrete latents summed out exactly."""

from __future__ import annotations

from gendsl.dist import FAMILIES
from gendsl.errors import ObjectiveError

from .objectives import Objective, register

__all__ = ["MLE"]


@register("mle")
class MLE(Objective):
    """Exact maximum likelihood: minimises the average negative log-likelihood
    per row, ``-(1/B) sum_n log p(x_n)``, with every enumerable latent summed
    out (parallel enumeration, then variable elimination over plates). Terms
    outside the row plate count once per data set, so they are divided by the
    number of rows.

    Works for fully observed models, mixtures (GMM, mixtures of Bernoullis,
    Naive Bayes with ``y`` unobserved), autoregressive chains and flows.

    References:
        Dempster, Laird & Rubin, "Maximum Likelihood from Incomplete Data via
        the EM Algorithm", JRSS B 1977 (the marginal likelihood it maximises).
        Obermeyer et al., "Tensor Variable Elimination for Plated Factor
        Graphs", ICML 2019 (the exact sum over discrete latents).
    """

    exact_latents_only = True

    def check(self, model, data_sites) -> None:
        super().check(model, data_sites)
        _refuse_bounds(self.name, model)

    def loss(self, lowered, params, batch, missing, n_total, rng):
        rows, glob = lowered.log_prob_rows(params, batch, missing=missing, training=rng)
        ops = lowered.backend.ops
        return -(ops["mean"](rows) + glob / n_total)


def _refuse_bounds(name, model):
    for site in model.ir.sites:
        if FAMILIES[site.dist.family].density == "bound":
            raise ObjectiveError(
                f"site {site.name!r} of model {model.name!r} is a diffusion chain: its likelihood has no "
                f"closed form, so {name!r} cannot score it; use objective='denoising' (Ho et al.'s loss) "
                f"or 'elbo' (the variational bound)"
            )
