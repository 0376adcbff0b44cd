"""The denoising objective: Ho et al.'s simple loss for diffusion chains, and
the reconstruction loss of denoising autoencoders.

A diffusion chain (``dist.Diffusion``) trained with ``denoising`` minimises
``E_{t, eps} |eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t)|^2``
with ``t`` uniform over the chain's steps: the variational bound with its
per-step weights dropped, which Ho et al. found gives better samples. Other
observed sites of the model (a class label, say) add their negative
log-likelihood. A denoising autoencoder (``dist.DenoisingAutoencoder``)
minimises ``-log p(x | g(f(x~)))`` with ``x~`` a fresh corruption of ``x``
(Vincent et al. 2008).
"""

from __future__ import annotations

from gendsl.dist import FAMILIES
from gendsl.errors import ObjectiveError

from ._data import sampled_ancestors
from .objectives import Objective, register

__all__ = ["Denoising"]


@register("denoising")
class Denoising(Objective):
    """Ho et al.'s epsilon-prediction loss, or a denoising autoencoder's
    reconstruction loss, averaged over rows (summed over each row's dimensions).

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models",
        NeurIPS 2020 (algorithm 1).
        Vincent, "A Connection Between Score Matching and Denoising
        Autoencoders", Neural Computation 2011.
        Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing
        Robust Features with Denoising Autoencoders", ICML 2008.
    """

    trains_denoisable = True

    def check(self, model, data_sites) -> None:
        super().check(model, data_sites)
        program, given = model.ir, set(data_sites)
        chains = [s.name for s in program.sites
                  if FAMILIES[s.dist.family].denoisable and (s.observed or s.name in given)]
        if not chains:
            raise ObjectiveError(
                f"objective 'denoising' trains diffusion chains (dist.Diffusion) and denoising autoencoders "
                f"(dist.DenoisingAutoencoder), but model {model.name!r} observes neither; use 'mle' for exact likelihoods or 'elbo'/'iwae' with a guide"
            )
        for site in program.latent:
            family = FAMILIES.get(site.dist.family)
            if site.name not in given and not (family is not None and family.enumerable):
                raise ObjectiveError(
                    f"model {model.name!r} has continuous latent site {site.name!r}; 'denoising' scores "
                    f"diffusion chains and other observed sites only: pass data for {site.name!r}"
                )
        for name in chains:
            unseen = [a for a in sampled_ancestors(program, name) if a not in given]
            if unseen:
                raise ObjectiveError(
                    f"the diffusion chain {name!r} of model {model.name!r} is conditioned on {unseen} (a "
                    f"class-conditional chain's label); 'denoising' regresses the noise given them, so pass data "
                    f"for {unseen} (or train with objective='elbo', which sums a discrete label out)"
                )

    def rows(self, lowered, params, batch, missing, rng):
        """Per-row loss ``(N,)``: the chains' denoising losses plus the other
        sites' negative log-likelihood (discrete latents summed out); and the
        global sites' negative log-likelihood."""
        handler = lowered.score(params, batch, missing=missing, training=rng)
        chains = sorted(name for name in handler.dists
                        if FAMILIES[lowered.program[name].dist.family].denoisable and name in batch)
        missing_labels = sorted(a for name in chains for a in sampled_ancestors(lowered.program, name)
                                if a in (missing or {}))
        if missing_labels:
            raise ObjectiveError(
                f"'denoising' regresses a chain's noise given its label, but {missing_labels} have missing "
                f"entries (NaN); drop those rows, or train with objective='elbo', which sums a missing label out"
            )
        implementation = lowered.backend.implementation
        total = implementation(handler.dists[chains[0]]).denoising_loss(batch[chains[0]])
        for name in chains[1:]:
            total = total + implementation(handler.dists[name]).denoising_loss(batch[name])
        others = [f for f in handler.factors if f.name not in chains]
        if not others:
            return total, 0.0
        rows, glob = lowered.reduce_rows(handler, others)
        return (total if rows is None else total - rows), -glob

    def loss(self, lowered, params, batch, missing, n_total, rng):
        rows, glob = self.rows(lowered, params, batch, missing, rng)
        return lowered.backend.ops["mean"](rows) + glob / n_total
