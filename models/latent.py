"""Latent-variable models with amortised guides: VAE (beta-VAE, IWAE), GMVAE, VQ-VAE, factor analysis."""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn, ops

__all__ = ["vae", "gmvae", "vqvae", "factor_analysis", "LIKELIHOODS"]

LIKELIHOODS = ("bernoulli", "gaussian", "categorical")


def _widths(hidden) -> tuple:
    return (int(hidden),) if isinstance(hidden, int) else tuple(int(h) for h in hidden)


def _decode(h, x_dim, likelihood, n_levels, x_scale):
    """The observation ``x | decoder output``; called inside the data plate."""
    if likelihood == "bernoulli":
        return gd.observe("x", dist.Bernoulli(logits=h).to_event(1))
    if likelihood == "gaussian":
        return gd.observe("x", dist.Normal(h, x_scale).to_event(1))
    logits = ops.unflatten(h, -1, (x_dim, n_levels))  # (..., x_dim, n_levels)
    return gd.observe("x", dist.Categorical(logits=logits).to_event(1))


def _decoder_width(x_dim, likelihood, n_levels):
    if likelihood not in LIKELIHOODS:
        raise gd.ModelError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    return x_dim * n_levels if likelihood == "categorical" else x_dim


def _observation_scale(likelihood, x_dim, x_scale):
    # None learns one scale per pixel; a number fixes it.
    if likelihood != "gaussian":
        return None
    if x_scale is None:
        return gd.param("x_scale", (x_dim,), init=1.0, constraint="positive")
    return float(x_scale)


def _encoder_input(x, likelihood, n_levels):
    return ops.astype(x, "real") / (n_levels - 1) if likelihood == "categorical" else x


@gd.model
def vae(x_dim=784, z_dim=50, hidden=(200, 200), activation="tanh", likelihood="bernoulli",
        n_levels=17, x_scale=None):
    """Variational autoencoder: ``z ~ N(0, I)``, ``x | z ~ p(x | decoder(z))``.

    The guide ``q(z | x) = N(mu(x), diag sigma(x)^2)`` mirrors the decoder.
    Trained with ``elbo`` it is the VAE (``beta=`` for a beta-VAE); with
    ``iwae`` (``k=``) the same model is an importance-weighted autoencoder.
    The defaults are Burda et al.'s one-stochastic-layer MNIST architecture.

    Args:
        x_dim: pixels.
        z_dim: latent units.
        hidden: hidden widths of encoder and decoder (int or tuple).
        activation: hidden nonlinearity.
        likelihood: ``"bernoulli"`` (binary pixels), ``"gaussian"`` (real)
            or ``"categorical"`` (integer levels ``0..n_levels-1``).
        n_levels: levels of a categorical decoder (17 for 8x8 digits).
        x_scale: Gaussian decoder's standard deviation; ``None`` learns it.

    Default objective: ``elbo``.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
        Higgins et al., "beta-VAE", ICLR 2017.
    """
    widths = _widths(hidden)
    out = _decoder_width(x_dim, likelihood, n_levels)
    decoder = nn.MLP("decoder", [z_dim, *widths, out], activation=activation)
    scale = _observation_scale(likelihood, x_dim, x_scale)
    with gd.plate("data"):
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        _decode(decoder(z), x_dim, likelihood, n_levels, scale)


def _gaussian_encoder(x, x_dim, z_dim, hidden, activation, likelihood, n_levels):
    """q(z | x) = N(mu(x), diag sigma(x)^2), mean and log-scale from one MLP."""
    encoder = nn.MLP("encoder", [x_dim, *reversed(_widths(hidden)), 2 * z_dim], activation=activation)
    loc, log_scale = ops.split(encoder(_encoder_input(x, likelihood, n_levels)), 2, axis=-1)
    with gd.plate("data"):
        gd.sample("z", dist.Normal(loc, ops.exp(log_scale)).to_event(1))


@vae.guide
def vae_encoder(x, x_dim=784, z_dim=50, hidden=(200, 200), activation="tanh", likelihood="bernoulli",
                n_levels=17, x_scale=None):
    """q(z | x): a Gaussian with mean and log-scale from one MLP."""
    _gaussian_encoder(x, x_dim, z_dim, hidden, activation, likelihood, n_levels)


vae.default_objective = "elbo"


@gd.model
def gmvae(x_dim=784, z_dim=10, k=10, hidden=(256,), activation="relu", likelihood="bernoulli", n_levels=17,
          x_scale=None):
    """Gaussian-mixture VAE: ``y ~ Cat(1/k)``, ``z | y ~ N(mu_y, diag sigma_y^2)``,
    ``x | z ~ p(x | decoder(z))``.

    The component ``y`` is enumerated in the model (summed out exactly), so
    the guide is only ``q(z | x)``; ``fit.posterior("y", ...)`` is not
    available (``y`` is marginalised inside the bound), but
    ``fit.encode(x)`` followed by the mixture prior clusters the data.

    Default objective: ``elbo``.

    References:
        Dilokthanakul et al., "Deep Unsupervised Clustering with Gaussian
        Mixture Variational Autoencoders", 2016.
        Jiang et al., "Variational Deep Embedding", IJCAI 2017.
    """
    widths = _widths(hidden)
    out = _decoder_width(x_dim, likelihood, n_levels)
    locs = gd.param("prior_locs", (k, z_dim), init="normal")
    scales = gd.param("prior_scales", (k, z_dim), init=1.0, constraint="positive")
    decoder = nn.MLP("decoder", [z_dim, *widths, out], activation=activation)
    scale = _observation_scale(likelihood, x_dim, x_scale)
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=ops.zeros(k)))
        z = gd.sample("z", dist.Normal(locs[y], scales[y]).to_event(1))
        _decode(decoder(z), x_dim, likelihood, n_levels, scale)


@gmvae.guide
def gmvae_encoder(x, x_dim=784, z_dim=10, k=10, hidden=(256,), activation="relu", likelihood="bernoulli",
                  n_levels=17, x_scale=None):
    """q(z | x): a Gaussian from one MLP."""
    _gaussian_encoder(x, x_dim, z_dim, hidden, activation, likelihood, n_levels)


gmvae.default_objective = "elbo"


@gd.model
def vqvae(x_dim=784, n_latents=16, code_dim=8, n_codes=64, hidden=(400,), activation="relu",
          likelihood="bernoulli", n_levels=17, x_scale=None, commitment=0.25):
    """Vector-quantised VAE: ``n_latents`` codes ``z_j``, each one of the
    ``n_codes`` rows of a learned codebook (uniform prior), and
    ``x | z ~ p(x | decoder(z_1, ..., z_n))``.

    The guide puts a point mass on the codes nearest to the encoder's
    outputs (``dist.VectorQuantized``, straight-through gradient); trained
    with ``elbo`` the loss is the reconstruction term plus the codebook and
    commitment losses, and the bound reported is the true ELBO
    ``log p(x | z) - n_latents log n_codes``. ``fit.encode(x)`` gives the
    chosen code vectors, ``fit.decode`` maps codes to pixel means.

    Args:
        x_dim: pixels.
        n_latents: discrete latents per row.
        code_dim: size of each code vector.
        n_codes: codebook size ``K``.
        hidden: hidden widths of encoder and decoder (int or tuple).
        activation: hidden nonlinearity.
        likelihood: ``"bernoulli"``, ``"gaussian"`` or ``"categorical"`` (as in :func:`vae`).
        n_levels: levels of a categorical decoder.
        x_scale: Gaussian decoder's standard deviation; ``None`` learns it.
        commitment: weight of the commitment loss (0.25 in the paper).

    Default objective: ``elbo``.

    References:
        van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation
        Learning", NeurIPS 2017.
    """
    widths = _widths(hidden)
    out = _decoder_width(x_dim, likelihood, n_levels)
    codebook = gd.param("codebook", (n_codes, code_dim), init="normal")
    decoder = nn.MLP("decoder", [n_latents * code_dim, *widths, out], activation=activation)
    scale = _observation_scale(likelihood, x_dim, x_scale)
    with gd.plate("data"):
        z = gd.sample("z", dist.Codebook(codebook).expand([n_latents]).to_event(1))
        _decode(decoder(ops.flatten(z, -2)), x_dim, likelihood, n_levels, scale)


@vqvae.guide
def vqvae_encoder(x, x_dim=784, n_latents=16, code_dim=8, n_codes=64, hidden=(400,), activation="relu",
                  likelihood="bernoulli", n_levels=17, x_scale=None, commitment=0.25):
    """q(z | x): each of the encoder's ``n_latents`` outputs snapped to its nearest code."""
    codebook = gd.param("codebook", (n_codes, code_dim), init="normal")
    encoder = nn.MLP("encoder", [x_dim, *reversed(_widths(hidden)), n_latents * code_dim], activation=activation)
    z_e = ops.unflatten(encoder(_encoder_input(x, likelihood, n_levels)), -1, (n_latents, code_dim))
    with gd.plate("data"):
        gd.sample("z", dist.VectorQuantized(z_e, codebook, commitment).to_event(1))


vqvae.default_objective = "elbo"


@gd.model
def factor_analysis(x_dim=5, z_dim=2):
    """Factor analysis: ``z ~ N(0, I)``, ``x | z ~ N(W z + mu, diag psi)``.

    Linear-Gaussian, so ``log p(x) = log N(x; mu, W W^T + diag psi)`` is
    known in closed form — the yardstick for ``log_likelihood(k=)``.

    Default objective: ``elbo`` (with the linear Gaussian guide below).

    References:
        Spearman, "General Intelligence, Objectively Determined and
        Measured", 1904; Bishop, "Pattern Recognition and Machine Learning",
        2006, §12.2.4.
    """
    w = gd.param("W", (x_dim, z_dim), init="small")
    mu = gd.param("mu", (x_dim,), init=0.0)
    psi = gd.param("psi", (x_dim,), init=1.0, constraint="positive")
    with gd.plate("data"):
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        gd.observe("x", dist.Normal(z @ ops.swapaxes(w, 0, 1) + mu, ops.sqrt(psi)).to_event(1))


@factor_analysis.guide
def factor_analysis_encoder(x, x_dim=5, z_dim=2):
    """q(z | x): linear-Gaussian, the form of the exact posterior (diagonal here)."""
    encoder = nn.MLP("encoder", [x_dim, 2 * z_dim])
    loc, log_scale = ops.split(encoder(x), 2, axis=-1)
    with gd.plate("data"):
        gd.sample("z", dist.Normal(loc, ops.exp(log_scale)).to_event(1))


factor_analysis.default_objective = "elbo"
