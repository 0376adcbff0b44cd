"""The adversarial objective: a generator against a discriminator (critic).

A GAN in gendsl is a model whose data site is a generator's output seen
through ``dist.Delta`` (no density), plus a discriminator attached with
``@model.discriminator``. ``adversarial`` trains them as a two-player game:
the discriminator takes a step on one minibatch of real rows against as many
generated ones, and every ``n_critic`` such steps the generator takes one,
each player with its own Adam optimiser (``lr`` for the generator, ``lr_d``
for the discriminator); :meth:`Adversarial.players` lists the two for the
engines, which run any objective's players through one stepper. With ``d_r =
D(x)`` on real rows and ``d_f = D(G(z))`` on generated ones (``D`` returns a
logit or a critic value), averaged over rows:

=================  ==========================================  ======================================
``loss=``          discriminator minimises                     generator minimises
=================  ==========================================  ======================================
``minimax``        ``softplus(-d_r) + softplus(d_f)``          ``-softplus(d_f)`` (= log(1 - D))
``non_saturating`` same                                        ``softplus(-d_f)`` (= -log D)
``kl``             same                                        ``-d_f`` (reverse KL(q_G || p))
``wgan``           ``d_f - d_r``, weights clipped to ``clip``  ``-d_f``
``wgan_gp``        ``d_f - d_r + gp (|grad D(x^)| - 1)^2``     ``-d_f``
``hinge``          ``relu(1 - d_r) + relu(1 + d_f)``           ``-d_f``
``lsgan``          ``(d_r - 1)^2 / 2 + d_f^2 / 2``             ``(d_f - 1)^2 / 2``
=================  ==========================================  ======================================

``minimax`` is Goodfellow et al.'s original game; its generator gradient
vanishes while the discriminator wins easily (early in training), which is
why ``non_saturating`` is the default. With the logistic discriminator at
its optimum ``d = log p_data / p_G``, so ``kl``'s generator loss
``E_q[-d]`` estimates ``KL(q_G || p_data)`` (Sonderby et al. 2017).

References:
    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
    Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017.
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
    Lim & Ye, "Geometric GAN", 2017; Miyato et al., "Spectral Normalization
    for GANs", ICLR 2018 (the hinge loss).
    Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017.
    Sonderby et al., "Amortised MAP Inference for Image Super-resolution", ICLR 2017.
"""

from __future__ import annotations

from gendsl.dist import FAMILIES
from gendsl.errors import ObjectiveError, unknown_name

from .objectives import Objective, register
from .optim import Player

__all__ = ["Adversarial", "LOSSES"]

LOSSES = ("minimax", "non_saturating", "kl", "wgan", "wgan_gp", "hinge", "lsgan")
_CLASSIFIER = ("minimax", "non_saturating", "kl")


@register("adversarial")
class Adversarial(Objective):
    """A two-player game between the model's generator and its discriminator.

    Args:
        loss: one of :data:`LOSSES` (table in the module docstring).
        n_critic: discriminator steps per generator step (default 5 for the
            Wasserstein losses, 1 otherwise).
        lr_d: the discriminator's learning rate (default: ``fit``'s ``lr``).
        betas: Adam's ``(beta1, beta2)`` for both players (default
            ``(0.5, 0.9)`` for ``wgan_gp`` as Gulrajani et al., else
            ``(0.5, 0.999)`` as DCGAN).
        gp: the gradient penalty's weight (``wgan_gp``).
        clip: the critic's weight bound (``wgan``).
    """

    needs_density = False

    def __init__(self, loss: str = "non_saturating", n_critic: int | None = None, lr_d: float | None = None,
                 betas=None, gp: float = 10.0, clip: float = 0.01):
        if loss not in LOSSES:
            raise unknown_name("adversarial loss", loss, LOSSES)
        wasserstein = loss in ("wgan", "wgan_gp")
        self.loss_name = loss
        self.n_critic = int(n_critic if n_critic is not None else (5 if wasserstein else 1))
        if self.n_critic < 1:
            raise ObjectiveError(f"adversarial: n_critic is discriminator steps per generator step, an int >= 1; "
                                 f"got {n_critic!r}")
        self.lr_d = None if lr_d is None else float(lr_d)
        if self.lr_d is not None and not self.lr_d > 0:
            raise ObjectiveError(f"adversarial: lr_d must be positive, got {lr_d!r}")
        betas = betas if betas is not None else ((0.5, 0.9) if loss == "wgan_gp" else (0.5, 0.999))
        if len(betas) != 2 or not all(0.0 <= float(b) < 1.0 for b in betas):
            raise ObjectiveError(f"adversarial: betas are Adam's (beta1, beta2), each in [0, 1); got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.gp, self.clip = float(gp), float(clip)
        if self.gp < 0 or self.clip <= 0:
            raise ObjectiveError(f"adversarial: gp must be >= 0 and clip > 0; got gp={gp!r}, clip={clip!r}")

    def options(self) -> dict:
        return {"loss": self.loss_name, "n_critic": self.n_critic, "lr_d": self.lr_d, "betas": list(self.betas),
                "gp": self.gp, "clip": self.clip}

    def check(self, model, data_sites) -> None:
        super().check(model, data_sites)
        program, given = model.ir, set(data_sites)
        implicit = [s.name for s in program.observed if FAMILIES[s.dist.family].density == "implicit"]
        if not implicit:
            raise ObjectiveError(
                f"objective 'adversarial' trains implicit models, whose data site is a generator's output "
                f"observed through dist.Delta; model {model.name!r} has none. Models with a density train "
                f"with 'mle', or 'elbo'/'iwae' with a guide"
            )
        if model.discriminator_ir is None:
            raise ObjectiveError(
                f"objective 'adversarial' needs a discriminator for model {model.name!r}: attach one with "
                f"@{model.name}.discriminator (def critic({implicit[0]}, ...): return net({implicit[0]}))"
            )
        others = [s.name for s in program.observed if s.name not in implicit and s.name not in given]
        if others:
            raise ObjectiveError(
                f"model {model.name!r} observes {others} besides its generator's output; 'adversarial' "
                f"conditions the generator on them, so pass their data too"
            )
        missing = [name for name in implicit if name not in given]
        if missing:
            raise ObjectiveError(f"objective 'adversarial' needs data for {missing}, the samples to imitate")

    # -- the two players ------------------------------------------------------------------------------
    def players(self, lowered, optim) -> list:
        """The discriminator, stepping on every minibatch at ``lr_d`` (its
        weights clipped after each step for ``wgan``), then the generator,
        stepping every ``n_critic`` minibatches; the parameters' moving
        average follows the generator's steps."""
        critic = lowered.discriminator_params
        optim_d, optim_g = optim.players(self.lr_d, self.betas, self.n_critic)
        return [
            Player("discriminator", self._discriminator_step, optim_d, params=critic,
                   project=self._clip if self.clips else None, averages=False),
            Player("generator", self._generator_step, optim_g, params=lambda name: name not in critic,
                   every=self.n_critic),
        ]

    def _discriminator_step(self, lowered, params, batch, missing, n_total, rng):
        """:meth:`discriminator_loss` as a player's loss (the game uses neither ``missing`` nor ``n_total``)."""
        return self.discriminator_loss(lowered, params, batch, rng)

    def _generator_step(self, lowered, params, batch, missing, n_total, rng):
        """:meth:`generator_loss` as a player's loss."""
        return self.generator_loss(lowered, params, batch, rng)

    def _clip(self, ops, value):
        """WGAN's projection: the critic's weights back into ``[-clip, clip]``."""
        return ops["clip"](value, -self.clip, self.clip)

    def loss(self, lowered, params, batch, missing, n_total, rng):
        raise ObjectiveError("objective 'adversarial' is a two-player game: its players (see players()) "
                             "minimise discriminator_loss and generator_loss, not loss")

    def discriminator_loss(self, lowered, params, batch, rng):
        """The discriminator's loss on one minibatch of real rows and as many
        generated ones (the generator held fixed)."""
        backend = lowered.backend
        ops = backend.ops
        fake = {k: backend.stop_gradient(v) for k, v in lowered.generate(params, batch, rng).items()}
        d_real = lowered.discriminate(params, batch)
        d_fake = lowered.discriminate(params, fake)
        kind = self.loss_name
        if kind in _CLASSIFIER:
            return ops["mean"](ops["softplus"](-d_real)) + ops["mean"](ops["softplus"](d_fake))
        if kind == "hinge":
            return ops["mean"](ops["relu"](1.0 - d_real)) + ops["mean"](ops["relu"](1.0 + d_fake))
        if kind == "lsgan":
            return 0.5 * ops["mean"](ops["square"](d_real - 1.0)) + 0.5 * ops["mean"](ops["square"](d_fake))
        out = ops["mean"](d_fake) - ops["mean"](d_real)
        if kind == "wgan_gp" and self.gp > 0:
            out = out + self.gp * self.gradient_penalty(lowered, params, batch, fake, rng)
        return out

    def gradient_penalty(self, lowered, params, real, fake, rng):
        """``E (|grad_x D(x^)|_2 - 1)^2`` at ``x^`` uniform on the segments
        between real and generated rows (Gulrajani et al.); labels, if any,
        are the real rows'."""
        backend, ops = lowered.backend, lowered.backend.ops
        implicit = lowered.implicit_sites
        total = 0.0
        for name in implicit:
            x_real, x_fake = real[name], fake[name]
            n = x_real.shape[0]
            eps = backend.uniform(rng, f"{name}$penalty", (n,) + (1,) * (x_real.ndim - 1), lowered.dtype)
            mix = eps * x_real + (1.0 - eps) * x_fake

            def score(x, name=name):
                return lowered.discriminate(params, {**real, name: x})

            grad = backend.input_grad(score, mix)
            norm = ops["sqrt"](ops["sum"](ops["reshape"](ops["square"](grad), (n, -1)), axis=-1) + 1e-12)
            total = total + ops["mean"](ops["square"](norm - 1.0))
        return total

    def generator_loss(self, lowered, params, batch, rng):
        """The generator's loss on as many generated rows as ``batch`` has
        (labels, if any, taken from ``batch``)."""
        ops = lowered.backend.ops
        d_fake = lowered.discriminate(params, lowered.generate(params, batch, rng))
        kind = self.loss_name
        if kind == "minimax":
            return -ops["mean"](ops["softplus"](d_fake))
        if kind == "non_saturating":
            return ops["mean"](ops["softplus"](-d_fake))
        if kind == "lsgan":
            return 0.5 * ops["mean"](ops["square"](d_fake - 1.0))
        return -ops["mean"](d_fake)  # kl, wgan, wgan_gp, hinge

    def terms(self) -> dict:
        """The two players' losses as text (for graphs)."""
        d_real, d_fake = "D(x)", "D(G(z))"
        discriminator = {
            "minimax": f"softplus(-{d_real}) + softplus({d_fake})",
            "hinge": f"relu(1 - {d_real}) + relu(1 + {d_fake})",
            "lsgan": f"({d_real} - 1)^2 / 2 + {d_fake}^2 / 2",
            "wgan": f"{d_fake} - {d_real}, |weights| <= {self.clip:g}",
            "wgan_gp": f"{d_fake} - {d_real} + {self.gp:g} (|grad D(x^)| - 1)^2",
        }
        generator = {"minimax": f"-softplus({d_fake})", "non_saturating": f"softplus(-{d_fake})",
                     "lsgan": f"({d_fake} - 1)^2 / 2"}
        kind = self.loss_name
        steps = f", {self.n_critic} steps per generator step" if self.n_critic > 1 else ""
        return {"label": f"adversarial ({kind}{steps})",
                "discriminator": discriminator.get(kind, discriminator["minimax"]),
                "generator": generator.get(kind, f"-{d_fake}")}

    @property
    def clips(self) -> bool:
        return self.loss_name == "wgan"
