"""Latent-variable models with amortised guides: VAE (beta-VAE, IWAE), GMVAE, VQ-VAE, factor analysis."""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn, ops

__all__ = ["vae", "ssvae", "gmvae", "vqvae", "factor_analysis", "LIKELIHOODS"]

LIKELIHOODS = ("bernoulli", "gaussian", "categorical")

#: ``ssvae``'s default weight of ``log q(y | x)`` per labelled row (see :func:`ssvae`). On the
#: bundled binary digits (``z_dim=8, hidden=(256,)``, 300 epochs, no ``ema``) its classifier
#: labelled 0.808 / 0.833 / 0.841 of the held-out digits with alpha 3 / 10 / 30 and 5 labels
#: per class, 0.914 / 0.914 / 0.916 with 14 per class (``bench/semisupervised_digits.py``).
SSVAE_ALPHA = 30.0


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
        n_levels=17, x_scale=None, classes=None):
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
        classes: ``K`` makes it a conditional VAE (Sohn et al. 2015): an
            observed label ``y ~ Categorical(softmax(y_logits))`` (a learned
            prior) enters the decoder, ``x | z, y``, and the guide,
            ``q(z | x, y)``, as a one-hot vector. Data are ``{"x": ..., "y": ...}``;
            ``fit.sample(n, given={"y": c})`` draws class ``c``, and
            ``fit.posterior("y", {"x": X})`` classifies by Bayes' rule with
            importance-sampled ``p(x | y)``.

    Default objective: ``elbo``.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
        Higgins et al., "beta-VAE", ICLR 2017.
        Sohn, Lee & Yan, "Learning Structured Output Representation using
        Deep Conditional Generative Models", NeurIPS 2015.
    """
    widths = _widths(hidden)
    out = _decoder_width(x_dim, likelihood, n_levels)
    k = _classes(classes)
    decoder = nn.MLP("decoder", [z_dim + k, *widths, out], activation=activation)
    scale = _observation_scale(likelihood, x_dim, x_scale)
    prior = gd.param("y_logits", (k,), init=0.0) if k else None
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=prior)) if k else None
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        _decode(decoder(_with_label(z, y, k)), x_dim, likelihood, n_levels, scale)


def _classes(classes) -> int:
    """``classes`` as a count (0: unconditional), checked."""
    if classes is None:
        return 0
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise gd.ModelError(f"classes must be an integer >= 2 (the number of labels) or None, got {classes!r}")
    return classes


def _with_label(h, y, k):
    """``h`` with the one-hot label appended (``h`` itself when unconditional)."""
    return h if y is None else ops.concatenate([h, ops.one_hot(y, k)], -1)


def _gaussian_encoder(x, x_dim, z_dim, hidden, activation, likelihood, n_levels, y=None, classes=0):
    """q(z | x) = N(mu(x), diag sigma(x)^2) (``q(z | x, y)`` given a label), mean and log-scale from one MLP."""
    encoder = nn.MLP("encoder", [x_dim + classes, *reversed(_widths(hidden)), 2 * z_dim], activation=activation)
    h = _with_label(_encoder_input(x, likelihood, n_levels), y, classes)
    loc, log_scale = ops.split(encoder(h), 2, axis=-1)
    with gd.plate("data"):
        gd.sample("z", dist.Normal(loc, ops.exp(log_scale)).to_event(1))


@vae.guide
def vae_encoder(x, y=None, x_dim=784, z_dim=50, hidden=(200, 200), activation="tanh", likelihood="bernoulli",
                n_levels=17, x_scale=None, classes=None):
    """q(z | x) (``q(z | x, y)`` with ``classes``): a Gaussian with mean and log-scale from one MLP."""
    _gaussian_encoder(x, x_dim, z_dim, hidden, activation, likelihood, n_levels, y, _classes(classes))


vae.default_objective = "elbo"


@gd.model
def ssvae(x_dim=784, classes=10, z_dim=50, hidden=(500,), activation="softplus", likelihood="bernoulli",
          n_levels=17, x_scale=None, alpha=SSVAE_ALPHA):
    """Semi-supervised VAE (Kingma et al.'s M2): ``y ~ Cat(1/K)``, ``z ~ N(0, I)``,
    ``x | y, z ~ p(x | decoder(z, y))``, with a classifier in the guide.

    The guide is ``q(y | x) q(z | x, y)``: an MLP classifier and a Gaussian
    encoder given the one-hot label. Labels are data, NaN where a row has
    none (a float array). ``elbo`` then uses each row's label where it has
    one and sums ``y`` out exactly under ``q(y | x)`` where it does not
    (``z`` drawn for each of the ``K`` values), and adds ``alpha * log q(y |
    x)`` on the labelled rows so that the classifier learns from the labels
    too. ``fit.predict("y", {"x": X})`` classifies with ``q(y | x)``;
    ``fit.sample(n, given={"y": c})`` draws class ``c``.

    Args:
        x_dim: pixels.
        classes: labels ``K``.
        z_dim: latent units (the style, given the class).
        hidden: hidden widths of classifier, encoder and decoder.
        activation: hidden nonlinearity.
        likelihood: ``"bernoulli"``, ``"gaussian"`` or ``"categorical"`` (as in :func:`vae`).
        n_levels: levels of a categorical decoder.
        x_scale: Gaussian decoder's standard deviation; ``None`` learns it.
        alpha: weight of the classification term per labelled row, relative
            to the row's bound (the ``elbo`` option ``alpha``; the model's
            ``fit`` default). Kingma et al.'s ``alpha = 0.1 N`` on the sum
            over the data is ``0.1 N / N_labelled`` per labelled row.

    Default objective: ``elbo``. The defaults are the paper's MNIST
    architecture (one hidden layer of 500 softplus units, 50 latent units).

    References:
        Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with
        Deep Generative Models", NeurIPS 2014.
    """
    k = _classes(classes)
    decoder = nn.MLP("decoder", [z_dim + k, *_widths(hidden), _decoder_width(x_dim, likelihood, n_levels)],
                     activation=activation)
    scale = _observation_scale(likelihood, x_dim, x_scale)
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=ops.zeros(k)))
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        _decode(decoder(_with_label(z, y, k)), x_dim, likelihood, n_levels, scale)


@ssvae.guide
def ssvae_guide(x, x_dim=784, classes=10, z_dim=50, hidden=(500,), activation="softplus", likelihood="bernoulli",
                n_levels=17, x_scale=None, alpha=SSVAE_ALPHA):
    """q(y | x): an MLP classifier; q(z | x, y): a Gaussian encoder given the one-hot label."""
    k = _classes(classes)
    classifier = nn.MLP("classifier", [x_dim, *_widths(hidden), k], activation=activation)
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=classifier(_encoder_input(x, likelihood, n_levels))))
    _gaussian_encoder(x, x_dim, z_dim, hidden, activation, likelihood, n_levels, y, k)


def _ssvae_fit_defaults(hyper: dict, objective, options: dict) -> dict:
    """``ssvae``'s ``fit`` defaults: ``elbo`` with its ``alpha``, and the classifier
    read from the parameters' moving average (``ema=0.999``: with 5 labels per
    digit class it labelled 0.852 of the held-out digits, 0.841 without)."""
    return {"alpha": hyper["alpha"], "ema": 0.999} if objective == "elbo" else {"ema": 0.999}


ssvae.default_objective = "elbo"
ssvae.fit_defaults = _ssvae_fit_defaults


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
def vqvae(x_dim=784, n_latents=None, code_dim=8, n_codes=64, hidden=(400,), activation="relu",
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
        n_latents: discrete latents per row; ``None``: one per 49 values
            (a 7x7 patch), ``max(1, x_dim // 49)``: 16 for 28x28 images, 1 for
            the 8x8 digits, where 16 latents cost 66.5 nats under the uniform
            prior and the bound was 70 nats against independent pixels' 25
            (1: 19.3, ``bench/defaults.py``).
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
    n_latents = _code_count(x_dim, n_latents)
    out = _decoder_width(x_dim, likelihood, n_levels)
    codebook = gd.param("codebook", (n_codes, code_dim), init="normal")
    decoder = nn.MLP("decoder", [n_latents * code_dim, *widths, out], activation=activation)
    scale = _observation_scale(likelihood, x_dim, x_scale)
    with gd.plate("data"):
        z = gd.sample("z", dist.Codebook(codebook).expand([n_latents]).to_event(1))
        _decode(decoder(ops.flatten(z, -2)), x_dim, likelihood, n_levels, scale)


@vqvae.guide
def vqvae_encoder(x, x_dim=784, n_latents=None, code_dim=8, n_codes=64, hidden=(400,), activation="relu",
                  likelihood="bernoulli", n_levels=17, x_scale=None, commitment=0.25):
    """q(z | x): each of the encoder's ``n_latents`` outputs snapped to its nearest code."""
    n_latents = _code_count(x_dim, n_latents)
    codebook = gd.param("codebook", (n_codes, code_dim), init="normal")
    encoder = nn.MLP("encoder", [x_dim, *reversed(_widths(hidden)), n_latents * code_dim], activation=activation)
    z_e = ops.unflatten(encoder(_encoder_input(x, likelihood, n_levels)), -1, (n_latents, code_dim))
    with gd.plate("data"):
        gd.sample("z", dist.VectorQuantized(z_e, codebook, commitment).to_event(1))


vqvae.default_objective = "elbo"


def _code_count(x_dim, n_latents):
    """``vqvae``'s ``n_latents``: as given, else one per 49 values."""
    return max(1, int(x_dim) // 49) if n_latents is None else int(n_latents)


@gd.model
def factor_analysis(x_dim=5, z_dim=2):
    """Factor analysis: ``z ~ N(0, I)``, ``x | z ~ N(W z + mu, diag psi)``.

    Linear-Gaussian, so ``log p(x) = log N(x; mu, W W^T + diag psi)`` is
    known in closed form — the yardstick for ``log_likelihood(k=)``.

    Default objective: ``elbo`` (with the linear Gaussian guide below); fit
    default ``lr=0.01`` (``factor_analysis.fit_defaults``: few parameters;
    on the standardised breast-cancer features 300 epochs come within 0.4
    nats of scikit-learn's EM, ``bench/defaults.py``).

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
factor_analysis.fit_defaults = {"lr": 0.01}
