"""Finite mixtures: Gaussian (diagonal or full covariance) and Bernoulli."""

from __future__ import annotations

import numpy as np

import gendsl as gd
from gendsl import dist

__all__ = ["gmm", "bernoulli_mixture", "MIXTURE_FIT_DEFAULTS"]

#: The mixtures' ``fit`` defaults (``factory.fit_defaults``): Adam at 0.05 (few
#: parameters, an exact likelihood): from its random start a 3-blob ``gmm``
#: reaches EM's optimum in 300 epochs, where ``fit``'s own 1e-3 is 1.7 nats
#: short (``bench/defaults.py``).
MIXTURE_FIT_DEFAULTS = {"lr": 0.05}


@gd.model
def gmm(x_dim=2, k=3, covariance="diag"):
    """Gaussian mixture: ``z ~ Categorical(w)``, ``x | z ~ N(mu_z, Sigma_z)``.

    Args:
        x_dim: data dimension.
        k: number of components.
        covariance: ``"diag"`` (``Sigma_z`` diagonal, parameter ``scales``)
            or ``"full"`` (``Sigma_z = L_z L_z^T``, parameter ``scale_tril``).

    Default objective: ``mle`` (``z`` summed out exactly: the true
    log-likelihood, the quantity EM maximises); fit defaults
    :data:`MIXTURE_FIT_DEFAULTS` (``lr=0.05``). Like EM, gradient training
    benefits from a k-means start: ``fit(..., init={**m.init_params(), "locs": centres})``.

    References:
        Pearson, "Contributions to the Mathematical Theory of Evolution", 1894.
        Dempster, Laird & Rubin, "Maximum Likelihood from Incomplete Data via
        the EM Algorithm", JRSS B 1977.
    """
    if covariance not in ("diag", "full"):
        raise gd.ModelError(f"gmm: covariance must be 'diag' or 'full', got {covariance!r}")
    weights = gd.param("weights", (k,), init=np.full(k, 1.0 / k), constraint="simplex")
    locs = gd.param("locs", (k, x_dim), init="normal")
    if covariance == "diag":
        scales = gd.param("scales", (k, x_dim), init=1.0, constraint="positive")
    else:
        scale_tril = gd.param("scale_tril", (k, x_dim, x_dim), init=np.eye(x_dim), constraint="lower_cholesky")
    with gd.plate("data"):
        z = gd.sample("z", dist.Categorical(probs=weights))
        if covariance == "diag":
            gd.observe("x", dist.Normal(locs[z], scales[z]).to_event(1))
        else:
            gd.observe("x", dist.MultivariateNormal(locs[z], scale_tril=scale_tril[z]))


gmm.default_objective = "mle"
gmm.fit_defaults = MIXTURE_FIT_DEFAULTS


@gd.model
def bernoulli_mixture(x_dim=64, k=10):
    """Mixture of Bernoullis (latent class model): ``z ~ Categorical(w)``,
    ``x_j | z ~ Bernoulli(theta_{z, j})``.

    Default objective: ``mle`` (``z`` summed out exactly); fit defaults
    :data:`MIXTURE_FIT_DEFAULTS` (``lr=0.05``).

    References:
        Lazarsfeld & Henry, "Latent Structure Analysis", 1968.
        Bishop, "Pattern Recognition and Machine Learning", 2006, §9.3.3.
    """
    weights = gd.param("weights", (k,), init=np.full(k, 1.0 / k), constraint="simplex")
    theta = gd.param("theta", (k, x_dim), init="uniform", constraint="unit_interval")
    with gd.plate("data"):
        z = gd.sample("z", dist.Categorical(probs=weights))
        gd.observe("x", dist.Bernoulli(probs=theta[z]).to_event(1))


bernoulli_mixture.default_objective = "mle"
bernoulli_mixture.fit_defaults = MIXTURE_FIT_DEFAULTS
