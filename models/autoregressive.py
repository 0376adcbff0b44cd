"""Autoregressive models: FVSBN, NADE, MADE and RNADE as exact-likelihood chains.

Each is one ``dist.Autoregressive`` site: ``p(x) = prod_i p(x_{o_i} | x_{o_<i})``
scored in one masked pass and sampled position by position. Values are
binary (``family="bernoulli"``), integer levels ``0..n_levels-1``
(``"categorical"``, e.g. 17-level 8x8 digits), or real (RNADE's Gaussian
mixtures).
"""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn

__all__ = ["fvsbn", "nade", "made", "rnade", "PIXEL_FAMILIES", "CHAIN_FIT_DEFAULTS"]

#: The chains' ``fit`` defaults (``factory.fit_defaults``): Adam at 3e-3, the
#: rate of ``bench/autoregressive_digits.py`` (at ``fit``'s own 1e-3 RNADE
#: fell short of an 8-component GMM on the moons).
CHAIN_FIT_DEFAULTS = {"lr": 3e-3}

# family hyper-parameter -> (conditional family, numbers per dimension)
PIXEL_FAMILIES = {"bernoulli": "Bernoulli", "categorical": "Categorical"}


def _conditional(family: str, n_levels: int):
    if family not in PIXEL_FAMILIES:
        raise gd.ModelError(f"family must be one of {sorted(PIXEL_FAMILIES)}, got {family!r}")
    return PIXEL_FAMILIES[family], (1 if family == "bernoulli" else int(n_levels))


def _chain(net, conditional):
    with gd.plate("data"):
        gd.observe("x", dist.Autoregressive(net, conditional))


@gd.model
def fvsbn(x_dim=784, family="bernoulli", n_levels=17, ordering="natural", seed=0):
    """Fully visible sigmoid belief network: ``x_i | x_<i ~ Bernoulli(sigmoid(b_i + w_i . x_<i))``,
    one logistic regression per dimension, ``d (d + 1) / 2`` parameters.

    Args:
        x_dim: dimensions (pixels).
        family: ``"bernoulli"`` (binary) or ``"categorical"`` (``n_levels`` levels,
            a softmax regression per dimension).
        n_levels: levels of a categorical chain.
        ordering: ``"natural"``, ``"random"`` or a permutation.
        seed: draws a random ordering.

    Default objective: ``mle``; fit defaults :data:`CHAIN_FIT_DEFAULTS` (``lr=3e-3``).

    References:
        Frey, "Graphical Models for Machine Learning and Digital Communication", MIT Press 1998.
        Larochelle & Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011
        (FVSBN's 97.45 nats on binarised MNIST).
    """
    conditional, p = _conditional(family, n_levels)
    _chain(nn.FVSBN("fvsbn", x_dim, params_per_dim=p, ordering=ordering, seed=seed), conditional)


@gd.model
def nade(x_dim=784, hidden=500, family="bernoulli", n_levels=17, ordering="natural", seed=0):
    """Neural autoregressive distribution estimator: ``h_i = sigmoid(c + W x_<i)``
    with weights shared across conditionals, ``x_i | x_<i ~ Bernoulli(sigmoid(b_i + V_i h_i))``;
    all ``h_i`` come from one running sum, ``O(x_dim * hidden)``.

    Args:
        x_dim: dimensions.
        hidden: hidden units (500 in the paper).
        family: ``"bernoulli"`` or ``"categorical"``.
        n_levels: levels of a categorical chain.
        ordering: ``"natural"``, ``"random"`` or a permutation.
        seed: draws a random ordering.

    Default objective: ``mle``; fit defaults :data:`CHAIN_FIT_DEFAULTS` (``lr=3e-3``).

    References:
        Larochelle & Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011.
        Uria et al., "Neural Autoregressive Distribution Estimation", JMLR 2016.
    """
    conditional, p = _conditional(family, n_levels)
    _chain(nn.NADE("nade", x_dim, hidden=hidden, params_per_dim=p, ordering=ordering, seed=seed), conditional)


@gd.model
def made(x_dim=784, hidden=(500,), family="bernoulli", n_levels=17, num_masks=1, ordering="natural",
         activation="relu", seed=0, direct=False, one_hot_inputs=False):
    """Masked autoencoder for distribution estimation: an MLP whose masks make
    output ``i`` see only ``x_<i``. With ``num_masks > 1`` it is an ensemble
    of masks (and orderings, with ``ordering="random"``): trained on one random
    mask per step and scored as the average of the masks' probabilities.

    Args:
        x_dim: dimensions.
        hidden: hidden widths (``(500,)``: one layer of 500, as in the paper).
        family: ``"bernoulli"`` or ``"categorical"``.
        n_levels: levels of a categorical chain.
        num_masks: masks in the ensemble (32 in the paper's best results).
        ordering: ``"natural"``, ``"random"`` or a permutation.
        activation: hidden nonlinearity.
        seed: draws the orderings and connectivity.
        direct: add masked direct input-output connections (see ``nn.MADE``).
        one_hot_inputs: a categorical chain reads each level as a one-hot
            vector (nominal categories, e.g. VQ-VAE code indices) instead of
            the number ``k / (n_levels - 1)`` (ordered levels, e.g. pixels).

    Default objective: ``mle``; fit defaults :data:`CHAIN_FIT_DEFAULTS` (``lr=3e-3``).

    References:
        Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for
        Distribution Estimation", ICML 2015.
    """
    conditional, p = _conditional(family, n_levels)
    hidden = (int(hidden),) if isinstance(hidden, int) else tuple(hidden)
    if one_hot_inputs and family != "categorical":
        raise gd.ModelError(f"made: one_hot_inputs needs family='categorical', got family={family!r}")
    net = nn.MADE("made", x_dim, hidden=hidden, params_per_dim=p, num_masks=num_masks, ordering=ordering,
                  activation=activation, seed=seed, direct=direct,
                  input_levels=n_levels if one_hot_inputs else None)
    _chain(net, conditional)


@gd.model
def rnade(x_dim=2, hidden=50, components=10, ordering="natural", seed=0):
    """Real-valued NADE: NADE's shared hidden states give each conditional a
    mixture of ``components`` Gaussians, ``x_i | x_<i ~ sum_c pi_c N(mu_c, sigma_c^2)``.

    Args:
        x_dim: dimensions.
        hidden: hidden units.
        components: Gaussians per conditional (with 5, the moons' held-out
            log-likelihood only tied an 8-component GMM's).
        ordering: ``"natural"``, ``"random"`` or a permutation.
        seed: draws a random ordering.

    Default objective: ``mle``; fit defaults :data:`CHAIN_FIT_DEFAULTS` (``lr=3e-3``).

    References:
        Uria, Murray & Larochelle, "RNADE: The real-valued neural autoregressive
        density-estimator", NeurIPS 2013.
    """
    net = nn.NADE("rnade", x_dim, hidden=hidden, params_per_dim=3 * int(components), ordering=ordering, seed=seed)
    _chain(net, "NormalMixture")


for _factory in (fvsbn, nade, made, rnade):
    _factory.default_objective = "mle"
    _factory.fit_defaults = CHAIN_FIT_DEFAULTS
