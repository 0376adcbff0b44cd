"""Adam settings shared by both engines: learning rate and its schedule,
decoupled weight decay, and gradient-norm clipping; and the players that
share a training step, each with its own Adam.

:func:`gendsl.inference.fit` builds one :class:`Adam` from its keywords; the
PyTorch engine turns it into ``torch.optim.Adam``/``AdamW`` and the JAX
engine into an ``optax`` chain, so the two backends follow the same recipe
step for step. An objective splits the step into :class:`Player` records
(:meth:`gendsl.inference.objectives.Objective.players`): one by default, two
for a GAN's discriminator and generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

__all__ = ["Adam", "Player", "SCHEDULES"]

SCHEDULES = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba, 2015) with the options most training recipes use.

    Args:
        lr: the peak learning rate.
        schedule: ``"constant"``; ``"cosine"`` (from ``lr`` to 0 along half a
            cosine over ``total_steps``); ``"linear"`` (straight to 0).
        total_steps: the steps the schedule spans (``fit`` sets epochs x
            batches per epoch).
        warmup: steps of linear warm-up from 0 to ``lr`` before the schedule.
        weight_decay: decoupled weight decay (AdamW, Loshchilov & Hutter, 2019)
            on the unconstrained parameters; 0 is plain Adam.
        clip_norm: rescale the gradient to at most this global L2 norm.
        betas: Adam's moment decays.

    Example:
        >>> opt = Adam(1e-3, schedule="cosine", total_steps=100)
        >>> opt.factor(0), round(opt.factor(50), 3), opt.factor(100)
        (1.0, 0.5, 0.0)
    """

    lr: float
    schedule: str = "constant"
    total_steps: int = 0
    warmup: int = 0
    weight_decay: float = 0.0
    clip_norm: float | None = None
    betas: tuple = (0.9, 0.999)

    def __post_init__(self):
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"fit: lr must be a positive number, e.g. 1e-3; got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"fit: lr_schedule must be one of {list(SCHEDULES)}; got {self.schedule!r}")
        if self.schedule != "constant" and self.total_steps < 1:
            raise ValueError(f"fit: lr_schedule={self.schedule!r} needs the run's length (total_steps >= 1)")
        if int(self.warmup) < 0:
            raise ValueError(f"fit: warmup counts steps and must be >= 0; got {self.warmup!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"fit: weight_decay must be >= 0 (e.g. 1e-4); got {self.weight_decay!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"fit: clip_norm is a maximum gradient norm and must be > 0 (or None); "
                             f"got {self.clip_norm!r}")

    @classmethod
    def of(cls, lr) -> Adam:
        """``lr`` as settings: an :class:`Adam` passes through, a number is a constant rate."""
        return lr if isinstance(lr, cls) else cls(float(lr))

    def players(self, lr_d: float | None, betas: tuple, n_critic: int) -> tuple:
        """``(discriminator, generator)`` settings for a two-player game: the
        discriminator at ``lr_d`` (default ``lr``) steps every batch, the
        generator every ``n_critic`` batches, so its schedule spans that many fewer steps."""
        d = replace(self, lr=float(lr_d if lr_d is not None else self.lr), betas=tuple(betas))
        g = replace(self, betas=tuple(betas), total_steps=max(self.total_steps // int(n_critic), 1),
                    warmup=self.warmup // int(n_critic))
        return d, g

    @property
    def scheduled(self) -> bool:
        return self.schedule != "constant" or self.warmup > 0

    def factor(self, step: int) -> float:
        """The multiplier of ``lr`` at ``step`` (0-based): warm-up, then the schedule."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.schedule == "constant":
            return 1.0
        span = max(self.total_steps - self.warmup, 1)
        t = min(max(step - self.warmup, 0) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * t)) if self.schedule == "cosine" else 1.0 - t

    def options(self) -> dict:
        """What differs from plain constant-rate Adam (the run's record and checkpoint header)."""
        out = {}
        if self.schedule != "constant":  # a resumed run must keep the schedule's span
            out.update(lr_schedule=self.schedule, lr_schedule_steps=int(self.total_steps))
        if self.warmup:
            out["warmup"] = int(self.warmup)
        if self.weight_decay:
            out["weight_decay"] = float(self.weight_decay)
        if self.clip_norm is not None:
            out["clip_norm"] = float(self.clip_norm)
        return out

    def torch(self, params: list):
        """``torch.optim.Adam`` (or ``AdamW`` with weight decay) over ``params``;
        the schedule is applied by :meth:`torch_step`.

        The fused implementation (one kernel per parameter, on the CPU and on
        CUDA) where every parameter allows it: the same update as the default
        per-tensor loop, which costs a fifth of a Burda-size VAE's step on the
        CPU (bench/RESULTS.md).
        """
        import torch

        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params) or None
        if self.weight_decay:
            return torch.optim.AdamW(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay,
                                     fused=fused)
        return torch.optim.Adam(params, lr=self.lr, betas=self.betas, fused=fused)

    def torch_step(self, opt, step: int) -> None:
        """Clip, set this step's rate and take the step (no host synchronisation)."""
        import torch

        if self.clip_norm is not None:
            params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        if self.scheduled:
            for group in opt.param_groups:
                group["lr"] = self.lr * self.factor(step)
        opt.step()

    def optax(self):
        """The equivalent ``optax`` transformation (the step count lives in its state)."""
        import jax.numpy as jnp
        import optax

        warmup, span, kind = self.warmup, max(self.total_steps - self.warmup, 1), self.schedule

        def scheduled(count):  # optax passes the number of steps taken so far
            after = jnp.clip((count - warmup) / span, 0.0, 1.0)
            decay = {"constant": jnp.ones_like(after), "cosine": 0.5 * (1.0 + jnp.cos(jnp.pi * after)),
                     "linear": 1.0 - after}[kind]
            ramp = (count + 1.0) / warmup if warmup else 1.0
            return self.lr * jnp.where(count < warmup, ramp, decay)

        lr = scheduled if self.scheduled else self.lr
        b1, b2 = self.betas
        adam = (optax.adamw(lr, b1=b1, b2=b2, weight_decay=self.weight_decay) if self.weight_decay
                else optax.adam(lr, b1=b1, b2=b2))
        return optax.chain(optax.clip_by_global_norm(self.clip_norm), adam) if self.clip_norm is not None else adam


@dataclass(frozen=True)
class Player:
    """One optimiser's share of a training step: the parameters it owns, the
    loss it minimises over them, and how often it steps.

    On the ``t``-th minibatch (counting from 1) each player with ``t % every
    == 0`` takes one step, in the order the objective lists them, each on the
    parameters as the players before it left them; the others' parameters are
    held fixed (no gradient reaches them).

    Attributes:
        name: the player's name. The first player's losses are the history's
            ``step_loss``/``epoch_loss``, another's ``{name}_step_loss`` and
            ``{name}_epoch_loss``; checkpoints keep its optimiser's state
            under ``opt_{name}/`` (the first player's under ``opt/``).
        loss: ``(lowered, params, batch, missing, n_total, rng) -> scalar``,
            as :meth:`~gendsl.inference.objectives.Objective.loss`, with
            ``params`` every constrained parameter.
        optim: its :class:`Adam`; a schedule counts this player's own steps,
            so ``total_steps`` and ``warmup`` are in those.
        params: the unconstrained parameters it updates: a set of names or a
            predicate ``name -> bool``; ``None`` (default) is every parameter.
        every: it steps on the minibatches whose count is a multiple of this.
        project: ``(ops, value) -> value`` applied to each of its parameters
            after its update (a constraint kept by projection, such as WGAN's
            weight clipping); ``ops`` is the backend's table of operations.
        averages: whether the parameters' moving average (``fit(ema=...)``)
            takes a step after each update of this player.

    Example:
        >>> p = Player("critic", loss=None, optim=Adam(1e-3), params={"critic.w"})
        >>> p.owns("critic.w"), p.owns("generator.w"), p.steps_at(3)
        (True, False, True)
    """

    name: str
    loss: Callable
    optim: Adam
    params: Callable[[str], bool] | frozenset | None = None
    every: int = 1
    project: Callable | None = None
    averages: bool = True

    def __post_init__(self):
        if not (isinstance(self.every, int) and self.every >= 1):
            raise ValueError(f"player {self.name!r}: every counts minibatches between its steps, an int >= 1; "
                             f"got {self.every!r}")
        if isinstance(self.params, set):  # frozen all the way down
            object.__setattr__(self, "params", frozenset(self.params))

    def owns(self, name: str) -> bool:
        """Whether this player updates the unconstrained parameter ``name``."""
        if self.params is None:
            return True
        return name in self.params if isinstance(self.params, frozenset) else bool(self.params(name))

    def steps_at(self, t: int) -> bool:
        """Whether this player steps on the ``t``-th minibatch (from 1)."""
        return t % self.every == 0

    def schedule_step(self, t: int) -> int:
        """This player's own steps before the one it takes on minibatch ``t`` (its schedule's position)."""
        return t // self.every - 1
