"""The generative adversarial network: an implicit model, a generator seen
through ``dist.Delta``, with its discriminator attached."""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, nn, ops

__all__ = ["gan", "GAN_LR"]

#: ``fit``'s default learning rate per adversarial ``loss`` (both players; Adam's
#: betas per loss are the objective's own, :class:`gendsl.inference.adversarial.Adversarial`),
#: measured on eight Gaussians by ``bench/defaults.py``; other losses get 1e-3, unmeasured.
GAN_LR = {"non_saturating": 1e-3, "minimax": 1e-3, "wgan_gp": 2e-3}


@gd.model
def gan(x_dim=2, z_dim=2, hidden=(128, 128), critic_hidden=(128, 128), output="identity", activation="relu",
        critic_activation="leaky_relu", classes=None):
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
        classes: ``K`` makes it class-conditional: a label ``y ~
            Categorical(uniform)`` (data in training, where each fake row
            takes its real row's label) joins ``z`` at the generator's input
            as a one-hot vector, and the discriminator is a projection
            discriminator (Miyato & Koyama 2018): ``D(x, y) = w . phi(x) + b +
            embed(y) . phi(x)``, ``phi`` the critic MLP's last hidden layer.
            ``fit.sample(n, given={"y": c})`` draws class ``c``.

    Default objective: ``adversarial`` (``loss="non_saturating"``). Fit
    defaults (``gan.fit_defaults``; a call's own keywords win): ``lr`` per
    loss from :data:`GAN_LR` (``wgan_gp`` 2e-3, the others 1e-3),
    ``batch_size=256``, ``ema=0.999`` (the generator's moving average is what
    is sampled; not for the weight-clipping ``wgan``), and for ``wgan_gp`` on 2-D data a gradient penalty of
    ``gp=0.1``. With them each of ``non_saturating`` (100 epochs) and
    ``wgan_gp`` (200) covers the eight Gaussians' 8 modes with about 90 % of
    samples near one in under a minute of CPU (``bench/RESULTS.md``).

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
        Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018.
    """
    from .latent import _classes, _with_label

    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    k = _classes(classes)
    generator = nn.MLP("generator", (z_dim + k, *hidden, x_dim), activation=activation, output_activation=output)
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=ops.zeros(k))) if k else None
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        gd.observe("x", dist.Delta(generator(_with_label(z, y, k)), event_dim=1))


@gan.discriminator
def critic(x, y=None, x_dim=2, critic_hidden=(128, 128), critic_activation="leaky_relu", classes=None):
    """D(x): one logit (or critic value) per row; with ``classes``, the projection ``D(x, y)``."""
    critic_hidden = (critic_hidden,) if isinstance(critic_hidden, int) else tuple(critic_hidden)
    if y is None:
        return nn.MLP("critic", (x_dim, *critic_hidden, 1), activation=critic_activation)(x)
    features = nn.MLP("critic", (x_dim, *critic_hidden), activation=critic_activation,
                      output_activation=critic_activation)(x)
    head = nn.MLP("critic_head", (critic_hidden[-1], 1))
    embed = gd.param("critic_embed", (int(classes), critic_hidden[-1]), init="small")
    projection = ops.sum(ops.getitem(embed, y) * features, -1)
    return head(features) + ops.expand_dims(projection, -1)


def _fit_defaults(hyper: dict, objective, options: dict) -> dict:
    """``gan``'s ``fit`` defaults for a call (see :meth:`gendsl.Model.default_fit_options`).

    The learning rate follows the loss (:data:`GAN_LR`). Every loss but
    ``wgan`` samples the generator's moving average (the average, which
    ``fit`` keeps of every parameter, would move a weight-clipped critic
    outside its box). For ``wgan_gp`` on
    2-D data the penalty's weight is 0.1, as in Gulrajani et al.'s released
    toy code ("smaller lambda seems to help for toy tasks"): on the eight
    Gaussians, with the paper's 10, 77-88 % of the samples were near a mode
    after 200 epochs over three seeds, with 0.1 92-93 % (``bench/RESULTS.md``);
    data of more dimensions keep 10.
    """
    loss = options.get("loss", objective.options().get("loss") if not isinstance(objective, str) else None)
    loss = loss or "non_saturating"
    out = {"lr": GAN_LR.get(loss, 1e-3), "batch_size": 256}
    if loss != "wgan":  # the average spans the critic too, so a clipped critic would come back unclipped
        out["ema"] = 0.999
    if objective == "adversarial" and loss == "wgan_gp" and hyper["x_dim"] <= 2:
        out["gp"] = 0.1
    return out


gan.default_objective = "adversarial"
gan.fit_defaults = _fit_defaults
