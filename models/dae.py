"""The denoising autoencoder: corrupt, encode, reconstruct, as one
``dist.DenoisingAutoencoder`` site."""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn

__all__ = ["dae"]


@gd.model
def dae(x_dim=64, hidden=(256,), code_dim=32, corruption="mask", level=0.25, likelihood="bernoulli",
        activation="relu"):
    """A denoising autoencoder (Vincent et al. 2008).

    Each row is corrupted (``corruption="mask"``: every entry zeroed with
    probability ``level``; ``"gaussian"``: noise of scale ``level`` added),
    encoded by an MLP ``x_dim -> hidden -> code_dim`` and reconstructed by
    the mirror MLP; training minimises ``-log p(x | decoder(encoder(x~)))``.

    Args:
        x_dim: data dimensions.
        hidden: the encoder's hidden widths (the decoder mirrors them).
        code_dim: width of the code ``h``.
        corruption: ``"mask"`` or ``"gaussian"``.
        level: the masking probability or the noise's scale.
        likelihood: ``"bernoulli"`` (binary data) or ``"normal"`` (real data).
        activation: hidden activation of both networks.

    Default objective: ``denoising``. ``sample(n, steps=)`` runs Bengio et
    al.'s corrupt-reconstruct chain; ``encode`` gives codes of clean rows.

    References:
        Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing
        Robust Features with Denoising Autoencoders", ICML 2008.
        Bengio, Yao, Alain & Vincent, "Generalized Denoising Auto-Encoders as
        Generative Models", NeurIPS 2013.
    """
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    encoder = nn.MLP("encoder", (x_dim, *hidden, code_dim), activation=activation, output_activation=activation)
    decoder = nn.MLP("decoder", (code_dim, *hidden[::-1], x_dim), activation=activation)
    with gd.plate("data"):
        gd.observe("x", dist.DenoisingAutoencoder(encoder, decoder, corruption=corruption, level=level,
                                                  likelihood=likelihood))


dae.default_objective = "denoising"
