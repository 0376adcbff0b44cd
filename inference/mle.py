"""Maximum likelihood with discrete latents summed out exactly."""

from __future__ import annotations

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

    def loss(self, lowered, params, batch, missing, n_total, rng):
        rows, glob = lowered.log_prob_rows(params, batch, missing=missing, training=rng)
        ops = lowered.backend.ops
        return -(ops["mean"](rows) + glob / n_total)
