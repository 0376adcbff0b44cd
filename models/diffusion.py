"""Diffusion: DDPM as one ``dist.Diffusion`` site, a Markov chain
``x_T -> ... -> x_0`` whose learned reverse steps undo a fixed Gaussian
noising process.
"""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn

__all__ = ["ddpm", "DDPM_FIT_DEFAULTS"]

#: ``ddpm``'s ``fit`` defaults (``ddpm.fit_defaults``): batches of 256 and a
#: moving average of the weights (decay 0.999), which is what is sampled
#: (Adam at ``fit``'s 1e-3; a cosine decay measured no better, within the
#: draws' noise, and a schedule ties a checkpoint to its run's length). With
#: them and ``fourier=6`` a chain on the moons or spirals beats an 8-component
#: GMM's MMD at a quarter of the median bandwidth after 250 epochs, under a
#: minute of CPU (``bench/defaults.py``).
DDPM_FIT_DEFAULTS = {"batch_size": 256, "ema": 0.999}


@gd.model
def ddpm(x_dim=2, hidden=(128, 128, 128), steps=1000, schedule="linear", levels=None, image_shape=None,
         channels=(32, 64), time_dim=64, variance="beta", fourier=6):
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

    Default objective: ``denoising`` (``elbo`` trains on the variational
    bound); fit defaults :data:`DDPM_FIT_DEFAULTS`. The chain models the
    data at their own scale (its ``x_T`` is ``N(0, I)``): it is built for
    data of roughly unit scale, as the 2-D toys are.

    References:
        Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
        Sohl-Dickstein et al., "Deep Unsupervised Learning using
        Nonequilibrium Thermodynamics", ICML 2015.
    """
    if image_shape is None:
        eps = nn.TimeMLP("eps", x_dim, hidden=hidden, time_dim=time_dim, fourier=fourier)
    else:
        eps = nn.TimeUNet("eps", image_shape, channels=channels, time_dim=time_dim)
        if eps.x_dim != x_dim:
            raise gd.ModelError(f"ddpm: image_shape {tuple(image_shape)} holds {eps.x_dim} pixels but x_dim is "
                                f"{x_dim}; give x_dim = height * width (* channels)")
    with gd.plate("data"):
        gd.observe("x", dist.Diffusion(eps, steps=steps, schedule=schedule, levels=levels, variance=variance))


ddpm.default_objective = "denoising"
ddpm.fit_defaults = DDPM_FIT_DEFAULTS
