"""Diffusion: DDPM as one ``dist.Diffusion`` site, a Markov chain
``x_T -> ... -> x_0`` whose learned reverse steps undo a fixed Gaussian
noising process.
"""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn

from .latent import _classes

__all__ = ["ddpm", "DDPM_FIT_DEFAULTS"]

#: ``ddpm``'s ``fit`` defaults (``ddpm.fit_defaults``): batches of 256 and a
#: moving average of the weights (decay 0.999), which is what is sampled
#: (Adam at ``fit``'s 1e-3; a cosine decay measured no better, within the
#: draws' noise, and a schedule ties a checkpoint to its run's length). With
#: them and ``fourier=6`` a chain on the moons or spirals beats an 8-component
#: GMM's MMD at a quarter of the median bandwidth after 250 epochs, under a
#: minute of CPU (``bench/defaults.py``). They serve the class-conditional
#: chain as they are: ``ddpm(x_dim=64, levels=17, hidden=(256, 256, 256),
#: classes=10)`` on the bundled digits, 2,000 epochs of them (150 s of CPU),
#: draws samples the digits' SVC labels as asked 94 % of the time unguided
#: and 100 % with guidance 1 (``bench/conditional_digits.py``).
DDPM_FIT_DEFAULTS = {"batch_size": 256, "ema": 0.999}


@gd.model
def ddpm(x_dim=2, hidden=(128, 128, 128), steps=1000, schedule="linear", levels=None, image_shape=None,
         channels=(32, 64), time_dim=64, variance="beta", fourier=6, classes=None, label_dropout=0.1):
    """DDPM: a denoising diffusion probabilistic model.

    The noise network is an ``nn.TimeMLP`` for vectors, or an
    ``nn.TimeUNet`` when ``image_shape`` is given (rows are flattened
    images of ``x_dim`` pixels).

    Args:
        x_dim: dimensions (pixels per image when ``image_shape`` is set).
        hidden: the TimeMLP's hidden widths.
        steps: the chain's length ``T`` (Ho et al.: 1000).
        schedule: ``"linear"`` (1e-4 to 0.02), ``"cosine"``, or the betas.
        levels: integer pixel levels (a discretised decoder), or ``None``.
        image_shape: ``(height, width)`` for the U-Net, or ``None``.
        channels: the U-Net's feature maps at full and half resolution.
        time_dim: width of the step embedding.
        variance: the reverse steps' ``sigma_t^2``, ``"beta"`` or ``"posterior"``.
        fourier: the TimeMLP's input frequencies per coordinate (see
            ``nn.TimeMLP``; 0: none). They sharpen the checkerboard's
            edges and the moons' arcs (``bench/RESULTS.md``); a 250-epoch moons chain
            without them scored 24 (x 1e5) in MMD at a quarter of the median
            bandwidth, worse than an 8-component GMM's 17, and 0.3 with 6.
        classes: ``K`` makes it class-conditional, ``p(x | y)``: a label ``y ~
            Categorical(softmax(y_logits))`` (a learned prior) enters the noise
            network as a learned embedding added to the step's (``K + 1``
            rows: the last is the "no label" token). Data are ``{"x": ...,
            "y": ...}``; ``fit.sample(n, given={"y": c}, guidance=w)`` draws
            class ``c`` with classifier-free guidance, the noise ``(1 + w)
            eps(x, t, y) - w eps(x, t, null)`` (``w = 0``: the conditional
            model) (Ho & Salimans 2021).
        label_dropout: with ``classes``, the probability that ``denoising``
            trains a row on the "no label" token instead of its label, which
            is what guidance needs (Ho & Salimans: 0.1 to 0.2).

    Default objective: ``denoising`` (``elbo`` trains on the variational
    bound); fit defaults :data:`DDPM_FIT_DEFAULTS`. The chain models the
    data at their own scale (its ``x_T`` is ``N(0, I)``): it is built for
    data of roughly unit scale, as the 2-D toys are.

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        Sohl-Dickstein et al., "Deep Unsupervised Learning using
        Nonequilibrium Thermodynamics", ICML 2015.
        Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021
        Workshop on Deep Generative Models (``classes``).
    """
    k = _classes(classes)
    if image_shape is None:
        eps = nn.TimeMLP("eps", x_dim, hidden=hidden, time_dim=time_dim, fourier=fourier, classes=k)
    else:
        eps = nn.TimeUNet("eps", image_shape, channels=channels, time_dim=time_dim, classes=k)
        if eps.x_dim != x_dim:
            raise gd.ModelError(f"ddpm: image_shape {tuple(image_shape)} holds {eps.x_dim} pixels but x_dim is "
                                f"{x_dim}; give x_dim = height * width (* channels)")
    prior = gd.param("y_logits", (k,), init=0.0) if k else None
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=prior)) if k else None
        labelled = dict(label=y, label_dropout=label_dropout) if k else {}
        gd.observe("x", dist.Diffusion(eps, steps=steps, schedule=schedule, levels=levels, variance=variance,
                                       **labelled))


ddpm.default_objective = "denoising"
ddpm.fit_defaults = DDPM_FIT_DEFAULTS
