"""The generative adversarial network: an implicit model, a generator seen
through ``dist.Delta``, with its discriminator attached."""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn

__all__ = ["gan"]


@gd.model
def gan(x_dim=2, z_dim=2, hidden=(128, 128), critic_hidden=(128, 128), output="identity", activation="relu",
        critic_activation="leaky_relu"):
    """A generative adversarial network (Goodfellow et al. 2014).

    ``z ~ N(0, I)`` of ``z_dim`` dimensions, ``x = G(z)`` with ``G`` an MLP
    ``z_dim -> hidden -> x_dim``; ``x`` is observed through a ``Delta``, so
    the model has no density and trains only with ``adversarial``. The
    discriminator is an MLP ``x_dim -> critic_hidden -> 1`` returning a logit
    (or a critic value for the Wasserstein losses). The WGAN-GP of the zoo
    is this model trained with ``loss="wgan_gp"``.

    Args:
        x_dim: data dimensions.
        z_dim: noise dimensions.
        hidden: the generator's hidden widths.
        critic_hidden: the discriminator's hidden widths.
        output: the generator's output activation: ``"identity"`` for real
            data, ``"sigmoid"`` for data in [0, 1] (pixel intensities).
        activation: the generator's hidden activation.
        critic_activation: the discriminator's hidden activation.

    Default objective: ``adversarial`` (``loss="non_saturating"``).

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
    """
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    generator = nn.MLP("generator", (z_dim, *hidden, x_dim), activation=activation, output_activation=output)
    with gd.plate("data"):
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        gd.observe("x", dist.Delta(generator(z), event_dim=1))


@gan.discriminator
def critic(x, x_dim=2, critic_hidden=(128, 128), critic_activation="leaky_relu"):
    """D(x): one logit (or critic value) per row."""
    critic_hidden = (critic_hidden,) if isinstance(critic_hidden, int) else tuple(critic_hidden)
    net = nn.MLP("critic", (x_dim, *critic_hidden, 1), activation=critic_activation)
    return net(x)


gan.default_objective = "adversarial"
