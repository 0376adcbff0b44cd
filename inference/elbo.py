"""Variational objectives: the evidence lower bound and its importance-weighted tightening.

Both draw ``k`` reparameterised particles from the guide for every row at
once (a particle axis left of the plates, so the encoder runs once per row),
score them under the model with discrete latents the guide does not cover
summed out exactly (GMVAE's mixture component), and subtract ``log q``.
"""

from __future__ import annotations

import math

from gendsl.backends.enum import row_plate
from gendsl.backends.handlers import Factor
from gendsl.dist import FAMILIES
from gendsl.errors import ObjectiveError

from .objectives import Objective, register

__all__ = ["ELBO", "IWAE"]


def _chain_bound(model, data_sites) -> bool:
    """Whether ``model`` is scored by its own variational bound (a diffusion
    chain, no guide, no latent site without data)."""
    given = set(data_sites)
    return (model.guide_ir is None and any(FAMILIES[s.dist.family].density == "bound" for s in model.ir.sites)
            and all(s.name in given or FAMILIES[s.dist.family].enumerable for s in model.ir.latent))


def _check_guide_sites(objective, model):
    if model.guide_ir is None:
        return
    row = row_plate(model.ir)
    for site in model.guide_ir.sites:
        family = FAMILIES.get(site.dist.family)
        if family is not None and family.enumerable and row not in site.plates:
            raise ObjectiveError(
                f"guide site {site.name!r} of model {model.name!r} is discrete ({site.dist.family}) and outside "
                f"the row plate {row!r}; a discrete guide site is summed over exactly per row, so it must lie "
                f"inside it (or leave it out of the guide: the model then sums it out)"
            )
    guided = {s.name for s in model.guide_ir.sites}
    for site in model.ir.latent:
        family = FAMILIES.get(site.dist.family)
        if site.name not in guided and not (family is not None and family.enumerable):
            raise ObjectiveError(
                f"latent site {site.name!r} of model {model.name!r} is continuous but its guide does not "
                f"sample it; add gd.sample({site.name!r}, ...) to the guide"
            )


@register("elbo")
class ELBO(Objective):
    """The evidence lower bound, ``E_q[log p(x, z) - log q(z | x)] <= log p(x)``.

    A discrete guide site (a classifier ``q(y | x)``) is summed over
    exactly, ``sum_y q(y | x) [log p(x, y, z) - log q(z | x, y)] + H[q(y |
    x)]`` with ``z`` drawn for every ``y``; rows whose data give ``y`` use
    their label instead (Kingma et al.'s M2: labels observed where present,
    enumerated where NaN), as Pyro's ``TraceEnum_ELBO`` does with an
    enumerated guide site.

    Args:
        beta: weight of the latent terms (``KL(q || p)``): 1 is the ELBO;
            ``beta > 1`` is the beta-VAE objective.
        num_particles: Monte Carlo samples per row.
        analytic_kl: use ``KL(q || p)`` in closed form where both
            distributions allow it (Normal guide, Normal prior), Monte Carlo
            ``log q - log p`` otherwise.
        alpha: weight of the classification term ``alpha * log q(y | x)``
            added to the bound of each row whose data label a discrete guide
            site (Kingma et al.'s ``J^alpha``): without it the classifier learns
            from unlabelled rows only. 0 trains on the bound alone.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
        Rezende, Mohamed & Wierstra, "Stochastic Backpropagation and
        Approximate Inference in Deep Generative Models", ICML 2014.
        Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a
        Constrained Variational Framework", ICLR 2017.
        Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with
        Deep Generative Models", NeurIPS 2014.
    """

    needs_guide = True

    def __init__(self, beta: float = 1.0, num_particles: int = 1, analytic_kl: bool = True, alpha: float = 0.0):
        if beta <= 0 or num_particles < 1 or alpha < 0:
            raise ObjectiveError(f"elbo: beta must be > 0, num_particles >= 1 and alpha >= 0, got {beta}, "
                                 f"{num_particles}, {alpha}")
        self.beta, self.num_particles, self.analytic_kl = float(beta), int(num_particles), bool(analytic_kl)
        self.alpha = float(alpha)

    def options(self) -> dict:
        out = {"beta": self.beta, "num_particles": self.num_particles, "analytic_kl": self.analytic_kl}
        return {**out, "alpha": self.alpha} if self.alpha else out

    def check(self, model, data_sites) -> None:
        if _chain_bound(model, data_sites):  # a diffusion chain: the forward process is its guide
            if self.beta != 1.0:
                raise ObjectiveError(f"elbo: beta weighs latent sites, and model {model.name!r} has none "
                                     f"(its diffusion chain's steps are inside one node); leave beta=1")
            return
        super().check(model, data_sites)
        _check_guide_sites(self, model)

    def rows(self, lowered, params, batch, missing, rng, training=False):
        """Per-row ELBO estimate ``(N,)`` and the global term.

        For a diffusion chain (no guide) this is the chain's bound: every
        step summed, or while ``training`` one unbiased random step per row.
        """
        return self._terms(lowered, params, batch, missing, rng, training)[:2]

    def _terms(self, lowered, params, batch, missing, rng, training):
        """``(rows, glob, supervised)``: :meth:`rows`, and the per-row ``log q(label | x)``
        of labelled discrete guide sites (``None`` where there are none)."""
        if lowered.guide_steps is None:
            return (*lowered.log_prob_rows(params, batch, missing=missing, training=rng if training else False), None)
        k = self.num_particles
        model, guide = lowered.particle_terms(params, batch, k, rng, missing)
        model_f, guide_f = list(model.factors), list(guide.factors)
        if self.analytic_kl:
            model_f, guide_f = _closed_form_kl(lowered, model, guide, model_f, guide_f)
        if self.beta != 1.0:
            latent = {s.name for s in lowered.program.latent} | {n for n, _, _ in guide_f}
            model_f = [_scaled(f, self.beta) if f.name in latent or f.name.startswith("kl:") else f
                       for f in model_f]
            guide_f = [_scaled(f, self.beta) for f in guide_f]
        logw, glob = lowered.reduce_particles(model_f, guide_f, model.enum_dims, model.sizes, k, guide)
        ops = lowered.backend.ops
        rows = ops["reshape"](logw, tuple(logw.shape[1:])) if k == 1 else ops["mean"](logw, axis=0)
        return rows, None if glob is None else ops["mean"](glob), lowered.supervised_rows(guide, model.sizes)

    def loss(self, lowered, params, batch, missing, n_total, rng):
        rows, glob, supervised = self._terms(lowered, params, batch, missing, rng, training=True)
        if self.alpha and supervised is not None:
            rows = rows + self.alpha * supervised
        return _negative_bound(lowered.backend.ops, rows, glob, n_total)


def _global_guide_sites(model) -> list[str]:
    """Guide sites outside the model's row plate: their particles are shared by every row."""
    row = row_plate(model.ir)
    if row is None or model.guide_ir is None:
        return []
    return [s.name for s in model.guide_ir.sites if row not in s.plates]


def _negative_bound(ops, rows, glob, n_total):
    """The minibatch loss ``-(mean(rows) + glob / n_total)``: global terms
    count once per pass over the data; ``glob`` is ``None`` where there are none."""
    return -ops["mean"](rows) if glob is None else -(ops["mean"](rows) + glob / n_total)


def _weight_shape(lowered, site, shape):
    """Where a ``(k, N)`` array of particle weights lies against draws of guide
    ``site``: the particle axis left of the plates (implicit when ``k == 1``),
    the rows on the row plate's axis, ones elsewhere (right-aligned)."""
    k, n = shape
    row = lowered.program.plates[lowered.row].dim  # negative, counted from the batch's right
    right = (n,) + (1,) * (-row - 1) + (1,) * len(lowered.model.guide_ir[site].event_shape)
    if k == 1:
        return right
    return (k,) + (1,) * (lowered.max_plate_nesting + row) + right


def _scaled(factor, beta):
    return Factor(factor.name, lambda: factor.log_prob * beta, factor.plates)


def _closed_form_kl(lowered, model, guide, model_f, guide_f):
    """Replaces ``log p(z) - log q(z)`` by ``-KL(q || p)`` for guide sites whose
    prior depends on no sampled or enumerated value (its batch shape lies
    within the plates) and whose pair of families has a closed form. Not for
    enumerated guide sites: their values are summed over already, and a
    labelled row's term is its label's, not an expectation under ``q``."""
    backend, mpn = lowered.backend, lowered.max_plate_nesting
    for factor in list(guide_f):
        name = factor.name
        p, q = model.dists.get(name), guide.dists[name]
        if p is None or name in guide.enum_dims or len(backend.batch_shape(p)) > mpn:
            continue
        kl = backend.kl(q, p)
        if kl is None:
            continue
        model_f = [f for f in model_f if f.name != name] + [Factor("kl:" + name, lambda kl=kl: -kl, factor.plates)]
        guide_f = [f for f in guide_f if f.name != name]
    return model_f, guide_f


@register("iwae")
class IWAE(Objective):
    """The importance-weighted bound
    ``E[log (1/k) sum_i p(x, z_i) / q(z_i | x)]``, which tightens with ``k``
    (``k=1`` is the ELBO) and tends to ``log p(x)``.

    Args:
        k: importance samples per row.
        dreg: train the guide with the doubly reparameterised gradient
            estimator: ``log q`` with the guide's parameters held fixed, each
            particle's path through ``z`` weighted by its squared normalised
            weight. Unbiased for the same gradient, with a signal-to-noise
            ratio that does not decay as ``k`` grows; the model's gradient is
            unchanged. Costs a second pass of the model per step.

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
        Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient
        Estimators for Monte Carlo Objectives", ICLR 2019.
    """

    needs_guide = True

    def __init__(self, k: int = 5, dreg: bool = False):
        if int(k) < 1:
            raise ObjectiveError(f"iwae: k must be >= 1, got {k}")
        self.k, self.dreg = int(k), bool(dreg)

    def options(self) -> dict:
        return {"k": self.k, "dreg": self.dreg} if self.dreg else {"k": self.k}

    def check(self, model, data_sites) -> None:
        if _chain_bound(model, data_sites):
            raise ObjectiveError(f"iwae weighs particles from a guide, and model {model.name!r} is a diffusion "
                                 f"chain without one; use objective='elbo' (its variational bound) or 'denoising'")
        super().check(model, data_sites)
        _check_guide_sites(self, model)
        row = row_plate(model.ir)
        for site in model.guide_ir.sites:
            if self.dreg and FAMILIES[site.dist.family].enumerable:
                raise ObjectiveError(
                    f"iwae with dreg=True reweighs each particle's path through the guide, but guide site "
                    f"{site.name!r} of model {model.name!r} is discrete ({site.dist.family}) and has no path; "
                    f"use dreg=False (its values are then summed over exactly in each particle's weight)"
                )
            if self.dreg and FAMILIES[site.dist.family].point_mass:
                raise ObjectiveError(
                    f"iwae with dreg=True reweighs each particle's path through the guide, but guide site "
                    f"{site.name!r} of model {model.name!r} is a point mass ({site.dist.family}): all its particles "
                    f"coincide and the bound is the ELBO; use dreg=False or objective='elbo'"
                )
            if self.dreg and row not in site.plates:
                raise ObjectiveError(
                    f"iwae with dreg=True weighs each row's particles, but guide site {site.name!r} of model "
                    f"{model.name!r} is outside the row plate {row!r}; use dreg=False"
                )

    def rows(self, lowered, params, batch, missing, rng):
        """Per-row bound ``(N,)`` and the mean global term. With guide sites
        outside the row plate the rows are each row's predictive bound given
        the shared global particles (the joint bound does not split by row;
        :meth:`loss` trains on it)."""
        ops = lowered.backend.ops
        logw, glob = lowered.log_weights(params, batch, self.k, rng, missing)
        return ops["logsumexp"](logw, axis=0) - math.log(self.k), None if glob is None else ops["mean"](glob)

    def loss(self, lowered, params, batch, missing, n_total, rng):
        if self.dreg:
            return self._dreg_loss(lowered, params, batch, missing, n_total, rng)
        if _global_guide_sites(lowered.model):
            return self._joint_loss(lowered, params, batch, missing, n_total, rng)
        rows, glob = self.rows(lowered, params, batch, missing, rng)
        return _negative_bound(lowered.backend.ops, rows, glob, n_total)

    def _joint_loss(self, lowered, params, batch, missing, n_total, rng):
        """The negative bound per row when guide sites lie outside the row plate.

        A global particle ``w_i`` is shared by every row, so a particle's
        weight is the whole data set's: ``log w_i = log p(w_i) - log q(w_i) +
        sum_n log p(x_n, z_n | w_i) / q(z_n | x_n, w_i)``, the sum estimated
        from the minibatch scaled up to ``n_total`` rows (as Pyro's
        ``RenyiELBO`` scales a subsampled plate). The loss is
        ``-(logsumexp_i log w_i - log k) / n_total``: on the full batch the
        importance-weighted bound on ``log p(X)`` per row, exact when ``q`` is
        the posterior; on minibatches a consistent but biased estimate of it
        (the log of a scaled sum is not the scaled sum of logs).
        """
        ops = lowered.backend.ops
        logw, glob = lowered.log_weights(params, batch, self.k, rng, missing)
        joint = ops["mean"](logw, axis=1) * n_total + (0.0 if glob is None else glob)  # (k,): each particle's log w_i
        return -(ops["logsumexp"](joint, axis=0) - math.log(self.k)) / n_total

    def _dreg_loss(self, lowered, params, batch, missing, n_total, rng):
        """The negative bound as a value, with the DReG gradient.

        Pass 1 weighs the particles: ``log w = log p(x, z) - log q_stop(z)``,
        ``w~ = softmax(log w)`` (held fixed). Pass 2 scores ``z~``, equal to
        ``z`` but with its gradient scaled by ``w~``; the surrogate
        ``sum_i w~_i log w_i(z~_i)`` then gives the model ``sum_i w~_i grad log p``
        and the guide ``sum_i w~_i^2 dlog w_i/dz dz/dphi`` (Tucker et al.).
        """
        backend, ops, k = lowered.backend, lowered.backend.ops, self.k
        stop = backend.stop_gradient
        guide = lowered.run_guide(params, batch, k, rng)
        fixed = {name: stop(v) for name, v in params.items()}

        def log_weights(values):
            model = lowered.score(params, batch, latents=values, missing=missing, particles=True)
            q = lowered.score_guide(fixed, batch, values, k)
            # (k, N) in the rows, and the terms outside them (k,) or None
            return lowered.reduce_particles(model.factors, q.factors, model.enum_dims, model.sizes, k)

        with backend.no_gradient():  # pass 1 only weighs: nothing in it is differentiated
            logw, glob = log_weights(guide.values)
            weights = stop(ops["softmax"](logw, axis=0))
            bound = _negative_bound(ops, ops["logsumexp"](logw, axis=0) - math.log(k),
                                    None if glob is None else ops["mean"](glob), n_total)
        scaled = {}
        for name, z in guide.values.items():
            w = ops["reshape"](weights, _weight_shape(lowered, name, weights.shape))
            scaled[name] = stop(z) + w * (z - stop(z))
        logw, glob = log_weights(scaled)
        surrogate = _negative_bound(ops, ops["sum"](weights * logw, axis=0),
                                    None if glob is None else ops["mean"](glob), n_total)
        return stop(bound) + surrogate - stop(surrogate)
