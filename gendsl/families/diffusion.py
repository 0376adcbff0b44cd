"""Gaussian diffusion chains on any backend: schedules, noise networks, the
variational bound, the denoising loss and the samplers.

Written once against a backend's NumPy-named ops (plus the backend-internal
``linear``, ``take0`` and ``conv2d``), so the Pyro and NumPyro chains compute
the same numbers the same way; each backend wraps it in its PPL's
the neutral distribution :class:`DiffusionImpl`, whose random numbers and
loops come from the backend's runtime (a Python loop under PyTorch, with no
host synchronisation; ``lax.fori_loop`` under JAX).

Notation (Ho et al. 2020), with steps ``t = 1..T`` stored at index ``t - 1``:
``alpha_t = 1 - beta_t``, ``abar_t = prod_{s <= t} alpha_s``,
``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` and the posterior
``q(x_{t-1} | x_t, x_0) = N(c0_t x_0 + ct_t x_t, beta~_t I)``.

References:
    Sohl-Dickstein et al., "Deep Unsupervised Learning using Nonequilibrium
    Thermodynamics", ICML 2015.
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
    Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models",
    ICML 2021 (the cosine schedule).
    Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass

import numpy as np

from .. import ir
from ..dist._core import Distribution
from ..dist._families import Family, register_family
from ..errors import ModelError
from ..nn import TimeMLP, TimeNet, TimeUNet
from ..shapes import format_shape
from ..trace import _STACK, arg_dtype, arg_shape, as_arg, current
from ._base import Implementation, Support, broadcast

__all__ = ["Diffusion", "SCHEDULES", "Schedule", "Labels", "betas_for", "schedule_arrays", "FORWARDS", "forward_for",
           "Chain", "check_options", "guided"]

# -- schedules (NumPy, float64) ---------------------------------------------------------------


def _linear(steps, beta_start, beta_end):
    return np.linspace(beta_start, beta_end, steps, dtype=np.float64)


def _cosine(steps, beta_start, beta_end, s=0.008):
    t = np.arange(steps + 1, dtype=np.float64) / steps
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    return np.clip(1 - f[1:] / f[:-1], 0.0, 0.999)


SCHEDULES = {"linear": _linear, "cosine": _cosine}


def betas_for(schedule, steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """The noise schedule ``beta_1..beta_T`` as float64.

    Args:
        schedule: ``"linear"`` (from ``beta_start`` to ``beta_end``, Ho et
            al.), ``"cosine"`` (Nichol & Dhariwal) or a sequence of betas.
    """
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ModelError(f"dist.Diffusion: unknown schedule {schedule!r}; choose one of {sorted(SCHEDULES)} "
                             f"or pass the betas as a sequence")
        if int(steps) < 1:
            raise ModelError(f"dist.Diffusion: steps must be >= 1, got {steps}")
        betas = SCHEDULES[schedule](int(steps), float(beta_start), float(beta_end))
    else:
        betas = np.asarray(schedule, dtype=np.float64).reshape(-1)
    if betas.size < 1 or not np.all((betas > 0) & (betas < 1)):
        raise ModelError(f"dist.Diffusion: every beta must lie in (0, 1); got values from "
                         f"{betas.min() if betas.size else 'none'} to {betas.max() if betas.size else 'none'}")
    return betas


@dataclass(frozen=True, repr=False)
class Schedule:
    """A noise schedule as an IR argument: its name (for graphs) and betas."""

    kind: str
    betas: tuple

    @property
    def steps(self) -> int:
        return len(self.betas)

    @functools.cached_property
    def array(self) -> np.ndarray:
        return np.asarray(self.betas, dtype=np.float64)

    def label(self) -> str:
        return f"{self.kind} schedule, T = {self.steps}"

    def __repr__(self) -> str:
        return f"Schedule({self.kind!r}, steps={self.steps}, betas {self.betas[0]:.3g}..{self.betas[-1]:.3g})"


@dataclass(frozen=True)
class Labels:
    """How a class-conditional chain treats its label, as an IR argument.

    Attributes:
        classes: ``K``, the labels ``0..K-1`` (the noise network's ``K + 1``-th
            embedding row is the "no label" token).
        dropout: the probability that ``denoising`` trains a row with the
            "no label" token instead of its label (Ho & Salimans 2021), so one
            network learns both the conditional and the unconditional noise
            that classifier-free guidance combines.
    """

    classes: int
    dropout: float = 0.1

    def label(self) -> str:
        return f"label y of {self.classes} classes, dropout {self.dropout:g} (classifier-free guidance)"


def schedule_arrays(betas) -> dict:
    """Every per-step constant of the chain, float64 NumPy arrays of length T."""
    betas = np.asarray(betas, dtype=np.float64)
    alphas = 1.0 - betas
    abar = np.cumprod(alphas)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
    # beta~_1 = 0: like Ho et al., the decoder step uses beta~_2 in its place when sigma^2 = beta~
    post_var_clipped = np.concatenate([post_var[1:2], post_var[1:]]) if len(betas) > 1 else betas.copy()
    return {
        "betas": betas, "alphas": alphas, "abar": abar, "abar_prev": abar_prev,
        "sqrt_abar": np.sqrt(abar), "sqrt_1m_abar": np.sqrt(1.0 - abar),
        "eps_coef": betas / np.sqrt(1.0 - abar), "inv_sqrt_alpha": 1.0 / np.sqrt(alphas),
        "post_var": post_var, "post_var_clipped": post_var_clipped,
        "post_c0": np.sqrt(abar_prev) * betas / (1.0 - abar),
        "post_ct": np.sqrt(alphas) * (1.0 - abar_prev) / (1.0 - abar),
    }


# -- noise networks ---------------------------------------------------------------------------------
_CONSTS: dict = {}


def _const(backend, key, value, like, dtype="real"):
    """``value()`` as a backend constant, made once per (key, dtype, device)."""
    cache_key = (backend.name, key, str(like))
    out = _CONSTS.get(cache_key)
    if out is None:
        out = _CONSTS[cache_key] = backend.const(value(), dtype, like=like)
    return out


def time_embedding(backend, t, dim: int, like):
    """Sinusoidal embedding of integer steps ``t`` (shape ``S``): ``S + (dim,)``."""
    ops, half = backend.ops, dim // 2
    freqs = _const(backend, ("freqs", dim), lambda: np.exp(-math.log(10000.0) * np.arange(half) / half), like)
    args = ops["expand_dims"](backend.to_float(t, like), -1) * freqs
    return ops["concatenate"](ops["sin"](args), ops["cos"](args), axis=-1)


def fourier_features(backend, x, levels: int, like):
    """``x`` and ``sin(2^k pi x), cos(2^k pi x)`` for ``k < levels``: ``(..., d * (1 + 2 levels))``."""
    ops = backend.ops
    freqs = _const(backend, ("fourier", levels), lambda: np.pi * 2.0 ** np.arange(levels), like)
    args = ops["reshape"](ops["expand_dims"](x, -1) * freqs, tuple(x.shape[:-1]) + (-1,))
    return ops["concatenate"](x, ops["sin"](args), ops["cos"](args), axis=-1)


def _with_label(backend, spec, p, emb, y):
    """The step embedding plus the label's (``y``: integer labels, or ``None``
    for the "no label" token); ``emb`` itself for an unconditional network."""
    if not spec.classes:
        if y is not None:
            raise ModelError(f"network {spec.name!r} takes no label (it was built without classes=); build it "
                             f"with classes=K for a class-conditional chain")
        return emb
    return emb + backend.ops["take0"](p["label.weight"], spec.null_label if y is None else y)


def time_mlp_forward(backend, spec: TimeMLP, params: dict, prefix: str):
    """``forward(x, t, y=None)`` of an ``nn.TimeMLP``; ``t`` holds a step per row,
    or is a scalar step for all; ``y`` a label per row (a class-conditional
    network; ``None``: the "no label" token)."""
    ops, act = backend.ops, backend.activations[spec.activation]
    p = {k: params[prefix + k] for k in spec.param_shapes()}
    n = len(spec.hidden)

    def forward(x, t, y=None):
        like = backend.like(p["time.weight"])
        emb = time_embedding(backend, t, spec.time_dim, like)
        emb = _with_label(backend, spec, p, act(ops["linear"](emb, p["time.weight"], p["time.bias"])), y)
        h = fourier_features(backend, x, spec.fourier, like) if spec.fourier else x
        for i in range(n):
            h = act(ops["linear"](h, p[f"{i}.weight"], p[f"{i}.bias"]) + ops["matmul"](
                emb, ops["transpose"](p[f"{i}.time.weight"])))
        return ops["linear"](h, p["out.weight"], p["out.bias"])

    return forward


def time_unet_forward(backend, spec: TimeUNet, params: dict, prefix: str):
    """``forward(x, t, y=None)`` of an ``nn.TimeUNet`` (flat rows in and out; ``y`` as for the TimeMLP)."""
    ops, act = backend.ops, backend.activations[spec.activation]
    p = {k: params[prefix + k] for k in spec.param_shapes()}
    c_in, height, width = spec.image_shape

    def conv(h, key):
        return ops["conv2d"](h, p[f"{key}.weight"], p[f"{key}.bias"])

    def channel(v):  # (B, C) -> (B, C, 1, 1), or (C,) -> (C, 1, 1)
        return ops["reshape"](v, tuple(v.shape) + (1, 1))

    def block(h, emb, key):
        r = conv(act(h), f"{key}.conv1")
        r = r + channel(ops["linear"](emb, p[f"{key}.time.weight"], p[f"{key}.time.bias"]))
        return h + conv(act(r), f"{key}.conv2")

    def pool(h):
        b, c, hh, ww = h.shape
        return ops["mean"](ops["reshape"](h, (b, c, hh // 2, 2, ww // 2, 2)), axis=(3, 5))

    def unpool(h):
        b, c, hh, ww = h.shape
        h = backend.broadcast_to(ops["reshape"](h, (b, c, hh, 1, ww, 1)), (b, c, hh, 2, ww, 2))
        return ops["reshape"](h, (b, c, 2 * hh, 2 * ww))

    def forward(x, t, y=None):
        lead = tuple(x.shape[:-1])
        x = ops["reshape"](x, (-1, c_in, height, width))
        if len(t.shape):  # one step per row; a scalar step (the samplers') is embedded once
            t = ops["reshape"](backend.broadcast_to(t, lead), (-1,))
        if y is not None and len(y.shape):  # a label per row, flattened as the rows are
            y = ops["reshape"](backend.broadcast_to(y, lead), (-1,))
        emb = time_embedding(backend, t, spec.time_dim, backend.like(p["time.weight"]))
        emb = _with_label(backend, spec, p, act(ops["linear"](emb, p["time.weight"], p["time.bias"])), y)
        skip = block(conv(x, "in"), emb, "down")
        h = conv(pool(skip), "pool")
        h = block(block(h, emb, "mid1"), emb, "mid2")
        h = conv(unpool(h), "unpool")
        h = block(conv(ops["concatenate"](h, skip, axis=1), "merge"), emb, "up")
        return ops["reshape"](conv(act(h), "out"), lead + (spec.x_dim,))

    return forward


FORWARDS = {TimeMLP: time_mlp_forward, TimeUNet: time_unet_forward}


def forward_for(spec):
    return FORWARDS[type(spec)]


_ARRAYS: dict = {}  # Schedule -> schedule_arrays


# -- the chain ---------------------------------------------------------------------------------------
VARIANCES = ("beta", "posterior")
SAMPLERS = ("ancestral", "ddim")


class Chain:
    """One diffusion chain's arithmetic on one backend and dtype.

    Args:
        backend: the backend.
        net: ``net(x_t, t)`` predicting the noise.
        schedule: the :class:`Schedule`.
        levels: ``None`` for real data; ``K`` for integer data ``0..K-1``,
            scaled to ``[-1, 1]`` and scored by a discretised Gaussian decoder.
        variance: the reverse steps' variance, ``"beta"`` (``sigma_t^2 =
            beta_t``) or ``"posterior"`` (``beta~_t``).
        like: the float dtype spec.
    """

    def __init__(self, backend, net, schedule, levels, variance, like):
        self.backend, self.net, self.levels, self.variance, self.like = backend, net, levels, variance, like
        self.schedule, self.betas = schedule, schedule.array
        self.steps = len(self.betas)
        arrays = _ARRAYS.get(schedule)
        if arrays is None:
            arrays = _ARRAYS[schedule] = schedule_arrays(self.betas)
        key = ("chain", schedule)
        self.c = {k: _const(backend, key + (k,), lambda v=v: v, like) for k, v in arrays.items()}
        self.index = _const(backend, key + ("index",), lambda: np.arange(self.steps), like, "int")

    # -- helpers --------------------------------------------------------------------------------
    def at(self, name, t):
        """Constant ``name`` at integer steps ``t`` (shape ``S``), as ``S + (1,)``."""
        return self.backend.ops["expand_dims"](self.backend.ops["take0"](self.c[name], t), -1)

    def to_model(self, x):
        """Data -> the chain's space (integers to ``[-1, 1]``)."""
        x = self.backend.to_float(x, self.like)
        return x if self.levels is None else x * (2.0 / (self.levels - 1)) - 1.0

    def from_model(self, x):
        if self.levels is None:
            return x
        ops = self.backend.ops
        k = self.levels - 1
        return ops["astype"](ops["clip"](ops["floor"]((x + 1.0) * (k / 2.0) + 0.5), 0, k), "int")

    def sigma2(self, t):
        return self.at("betas" if self.variance == "beta" else "post_var_clipped", t)

    # -- closed forms ---------------------------------------------------------------------------
    def q_sample(self, x0, t, eps):
        """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``."""
        return self.at("sqrt_abar", t) * x0 + self.at("sqrt_1m_abar", t) * eps

    def posterior(self, x0, xt, t):
        """Mean and variance of ``q(x_{t-1} | x_t, x_0)``."""
        return self.at("post_c0", t) * x0 + self.at("post_ct", t) * xt, self.at("post_var", t)

    def box(self, clip=None):
        """The box the samplers clip their ``x_0`` estimate to: ``[-1, 1]`` for
        images, ``clip`` (a checked ``(low, high)`` pair of floats or of
        per-coordinate tuples) for real data, ``None`` for no clipping."""
        if self.levels is not None:
            return -1.0, 1.0
        if clip is None:
            return None
        low, high = clip
        if isinstance(low, tuple):  # per coordinate: constants on the device, made once
            key = ("clip", low, high)
            return tuple(_const(self.backend, key + (i,), lambda v=v: np.asarray(v), self.like)
                         for i, v in enumerate((low, high)))
        return low, high

    def x0_from_eps(self, xt, t, eps, box=None):
        x0 = (xt - self.at("sqrt_1m_abar", t) * eps) / self.at("sqrt_abar", t)
        return x0 if box is None else self.backend.ops["clip"](x0, *box)

    def p_mean(self, xt, t, eps_hat, box=None):
        """Mean of ``p(x_{t-1} | x_t)`` from the predicted noise; with a ``box``
        (see :meth:`box`), through the ``x_0`` estimate clipped to it, as Ho et
        al. sample images (the same mean when nothing is clipped)."""
        if box is None:
            return self.at("inv_sqrt_alpha", t) * (xt - self.at("eps_coef", t) * eps_hat)
        return self.posterior(self.x0_from_eps(xt, t, eps_hat, box), xt, t)[0]

    # -- the objectives -------------------------------------------------------------------------
    def denoising(self, x, t, eps):
        """Ho et al.'s simple loss per row: ``|eps - eps_theta(x_t, t)|^2`` summed over dimensions."""
        ops = self.backend.ops
        x0 = self.to_model(x)
        return ops["sum"](ops["square"](eps - self.net(self.q_sample(x0, t, eps), t)), axis=-1)

    def prior_kl(self, x0):
        """``KL(q(x_T | x_0) || N(0, I))`` per row."""
        ops = self.backend.ops
        abar = ops["take0"](self.c["abar"], self.steps - 1)
        var = 1.0 - abar
        return 0.5 * ops["sum"](var + abar * ops["square"](x0) - 1.0 - ops["log"](var), axis=-1)

    def step_term(self, x0, t, eps):
        """Per row, for steps ``t`` (indices; shape ``(N,)``) with ``x_t`` from ``eps``:
        ``KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))`` for ``t >= 1``, and the
        decoder's ``-log p(x_0 | x_1)`` at index 0."""
        ops = self.backend.ops
        xt = self.q_sample(x0, t, eps)
        mean_p = self.p_mean(xt, t, self.net(xt, t))  # the bound's mean: never clipped
        var_p = self.sigma2(t)
        mean_q, var_q = self.posterior(x0, xt, t)
        safe_var_q = ops["where"](var_q > 0, var_q, var_p)  # index 0 has var_q = 0; its KL is unused
        kl = 0.5 * (ops["log"](var_p / safe_var_q) + safe_var_q / var_p
                    + ops["square"](mean_q - mean_p) / var_p - 1.0)
        kl = ops["sum"](kl, axis=-1)
        nll = -ops["sum"](self.decoder_log_prob(x0, mean_p, var_p), axis=-1)
        return ops["where"](t == 0, nll, kl)

    def decoder_log_prob(self, x0, mean, var):
        """``log p(x_0 | x_1)`` per entry: a Gaussian density for real data; for
        ``K`` levels the Gaussian's mass on each level's bin (Ho et al.'s
        discretised decoder, the outermost bins open-ended)."""
        ops = self.backend.ops
        if self.levels is None:
            return -0.5 * (math.log(2 * math.pi) + ops["log"](var) + ops["square"](x0 - mean) / var)
        half = 1.0 / (self.levels - 1)
        inv = 1.0 / ops["sqrt"](2.0 * var)
        upper = 0.5 * (1.0 + ops["erf"]((x0 + half - mean) * inv))
        lower = 0.5 * (1.0 + ops["erf"]((x0 - half - mean) * inv))
        upper = ops["where"](x0 > 1.0 - half, ops["ones_like"](upper), upper)
        lower = ops["where"](x0 < -1.0 + half, ops["zeros_like"](lower), lower)
        return ops["log"](ops["clip"](upper - lower, 1e-12, None))

    def bound_estimate(self, x, t, eps):
        """An unbiased one-step estimate of the negative bound per row (training)."""
        x0 = self.to_model(x)
        return self.prior_kl(x0) + self.steps * self.step_term(x0, t, eps)

    def bound_terms(self, x, normal):
        """Every term of the negative bound per row: ``(prior, steps)`` with
        ``steps`` of shape ``(T, N)`` (index ``t - 1`` holds ``L_{t-1}``)."""
        x0 = self.to_model(x)
        n = tuple(x0.shape[:-1])
        terms = [self.step_term(x0, self.full(n, i), normal(tuple(x0.shape), i)) for i in range(self.steps)]
        return self.prior_kl(x0), self.backend.ops["stack"](*terms, axis=0)

    def bound(self, x, normal):
        """The negative variational bound per row, every step summed (one loop)."""
        x0 = self.to_model(x)
        n = tuple(x0.shape[:-1])

        def body(i, total):
            return total + self.step_term(x0, self.full(n, i), normal(tuple(x0.shape), i))

        zero = self.backend.ops["sum"](x0 * 0.0, axis=-1)
        return self.prior_kl(x0) + self.backend.loop(self.steps, body, zero)

    def full(self, n: tuple, i):
        """Step index ``i`` (an int, or a traced one inside a loop) for every row."""
        return self.backend.broadcast_to(self.backend.ops["take0"](self.index, i), n)

    # -- samplers ---------------------------------------------------------------------------------
    def ancestral(self, shape, normal, clip=None):
        """Algorithm 2 of Ho et al.: ``x_T ~ N(0, I)``, then ``T`` reverse steps
        with ``sigma_t^2`` per :attr:`variance` (no noise on the last step).

        Args:
            normal: ``normal(shape, j)``, standard normal draws for loop step
                ``j`` (``None`` for the initial ``x_T``).
            clip: for real data, a ``(low, high)`` box for the ``x_0``
                estimate at every step (the draws end inside it); see :meth:`box`.
        """
        ops, last, box = self.backend.ops, self.steps - 1, self.box(clip)

        def body(j, x):
            t = self.backend.ops["take0"](self.index, last - j)  # one step for every row: embedded once
            mean = self.p_mean(x, t, self.net(x, t), box)
            scale = ops["sqrt"](self.sigma2(t)) * ops["expand_dims"](self.backend.to_float(t > 0, self.like), -1)
            return mean + scale * normal(shape, j)

        return self.from_model(self.backend.loop(self.steps, body, normal(shape, None)))

    def ddim(self, shape, normal, steps: int, eta: float, clip=None):
        """DDIM (Song et al.) on ``steps`` evenly spaced steps of the chain;
        ``eta=0`` is deterministic, ``eta=1`` matches ancestral sampling's noise;
        ``clip`` as for :meth:`ancestral`."""
        if not 1 <= int(steps) <= self.steps:
            raise ModelError(f"ddim: steps must lie in 1..{self.steps} (the chain's length), got {steps}")
        seq = np.unique(np.round(np.linspace(0, self.steps - 1, int(steps))).astype(np.int64))[::-1]
        abar = schedule_arrays(self.betas)["abar"]
        now, prev = abar[seq], np.concatenate([abar[seq[1:]], [1.0]])
        sigma = float(eta) * np.sqrt((1 - prev) / (1 - now) * (1 - now / prev))
        key = ("ddim", self.betas.tobytes(), seq.tobytes(), float(eta))  # once per sampling call
        c = {k: _const(self.backend, key + (k,), lambda v=v: v, self.like) for k, v in {
            "sqrt_now": np.sqrt(now), "sqrt_1m_now": np.sqrt(1 - now), "sqrt_prev": np.sqrt(prev),
            "dir": np.sqrt(np.clip(1 - prev - sigma ** 2, 0, None)), "sigma": sigma}.items()}
        ops, box = self.backend.ops, self.box(clip)
        steps_at = _const(self.backend, key + ("t",), lambda: seq.copy(), self.like, "int")

        def body(j, x):
            t = ops["take0"](steps_at, j)
            a, b = ops["take0"](c["sqrt_now"], j), ops["take0"](c["sqrt_1m_now"], j)
            eps = self.net(x, t)
            x0 = (x - b * eps) / a
            if box is not None:  # clip the estimate, and re-derive the noise from it
                x0 = ops["clip"](x0, *box)
                eps = (x - a * x0) / b
            return (ops["take0"](c["sqrt_prev"], j) * x0 + ops["take0"](c["dir"], j) * eps
                    + ops["take0"](c["sigma"], j) * normal(shape, j))

        return self.from_model(self.backend.loop(len(seq), body, normal(shape, None)))


def guided(net, label, w: float):
    """Classifier-free guidance (Ho & Salimans 2021): the noise
    ``(1 + w) eps(x, t, y) - w eps(x, t, null)`` from a class-conditional
    network ``net(x, t, y)`` (``y = None``: the "no label" token); ``w = 0`` is
    the conditional network itself, larger ``w`` trades diversity for samples
    more typical of their class.

    Returns:
        ``net(x, t)`` predicting the guided noise.
    """
    if w == 0:
        return lambda x, t: net(x, t, label)
    return lambda x, t: (1.0 + w) * net(x, t, label) - w * net(x, t, None)


SAMPLE_OPTIONS = {"sampler": SAMPLERS, "steps": "an int (DDIM's steps)", "eta": "a float >= 0 (DDIM's noise)",
                  "variance": VARIANCES, "clip": "a (low, high) box for real data",
                  "guidance": "a float w (classifier-free guidance of a class-conditional chain)"}


def check_options(options: dict, steps: int, levels=None, x_dim=None, classes: int = 0) -> dict:
    """Validates sampling options of a diffusion chain (``Fitted.sample(n, **options)``);
    returns them with ``clip`` as a hashable pair of floats or of per-coordinate tuples,
    and ``guidance`` as a float (``classes``: the chain's labels, 0 for an unconditional one)."""
    for key, value in options.items():
        if key not in SAMPLE_OPTIONS:
            raise ModelError(f"unknown sampling option {key!r} for a diffusion chain; the options are "
                             f"{sorted(SAMPLE_OPTIONS)}")
    if "guidance" in options:
        options = dict(options, guidance=_check_guidance(options["guidance"], classes))
    if options.get("clip") is not None:
        options = dict(options, clip=_check_clip(options["clip"], levels, x_dim))
    if options.get("sampler", "ancestral") not in SAMPLERS:
        raise ModelError(f"sampler must be one of {SAMPLERS}, got {options['sampler']!r}")
    if options.get("variance", "beta") not in VARIANCES:
        raise ModelError(f"variance must be one of {VARIANCES}, got {options['variance']!r}")
    if "steps" in options and not 1 <= int(options["steps"]) <= steps:
        raise ModelError(f"steps must lie in 1..{steps} (the chain's length), got {options['steps']!r}")
    if float(options.get("eta", 0.0)) < 0:
        raise ModelError(f"eta must be >= 0, got {options['eta']!r}")
    if options.get("sampler", "ancestral") == "ancestral" and ("steps" in options or "eta" in options):
        raise ModelError("steps= and eta= apply to sampler='ddim'; ancestral sampling runs every step")
    return options


def _check_guidance(w, classes: int) -> float:
    if not classes:
        raise ModelError("guidance= is classifier-free guidance (Ho & Salimans 2021), which needs a class-conditional "
                         "diffusion chain, but this chain has no label; build the model with classes=K "
                         "(gendsl.models.ddpm(classes=K)) and sample with given={'y': c}")
    try:
        w = float(w)
    except (TypeError, ValueError):
        raise ModelError(f"guidance must be a number w (0: the conditional model, larger: stronger guidance), "
                         f"got {w!r}") from None
    if not math.isfinite(w):
        raise ModelError(f"guidance must be a finite number, got {w!r}")
    return w


def _check_clip(clip, levels, x_dim):
    """``clip=(low, high)`` as floats, or as per-coordinate tuples of ``x_dim`` floats."""
    if levels is not None:
        raise ModelError(f"clip= is for real-valued chains; this chain has levels={levels}, and its samplers "
                         f"already clip the x_0 estimate to [-1, 1] (the levels' range)")
    try:
        low, high = clip
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(f"clip must be a pair (low, high) of numbers, or of one number per coordinate of x, "
                         f"got {clip!r}") from None
    if low.ndim > 1 or high.ndim > 1 or any(a.ndim == 1 and x_dim is not None and len(a) != x_dim
                                            for a in (low, high)):
        raise ModelError(f"clip's low and high must each be a number or {x_dim} numbers (one per coordinate of "
                         f"x), got shapes {low.shape} and {high.shape}")
    if not np.all(low < high):
        raise ModelError(f"clip must have low < high in every coordinate, got low={low.tolist()}, "
                         f"high={high.tolist()}")
    if low.ndim == 0 and high.ndim == 0:
        return float(low), float(high)
    low, high = np.broadcast_arrays(low, high)
    return tuple(low.tolist()), tuple(high.tolist())


def draw(chain: Chain, shape: tuple, normal, options: dict):
    """Samples with the chosen sampler (defaults: ancestral, the chain's variance)."""
    clip = options.get("clip")
    if options.get("sampler", "ancestral") == "ddim":
        steps = int(options.get("steps", min(50, chain.steps)))  # 50 by default, or every step of a shorter chain
        return chain.ddim(shape, normal, steps, float(options.get("eta", 0.0)), clip)
    if "variance" in options and options["variance"] != chain.variance:
        chain = Chain(chain.backend, chain.net, chain.schedule, chain.levels, options["variance"], chain.like)
    return chain.ancestral(shape, normal, clip)


def Diffusion(net, steps: int = 1000, schedule="linear", beta_start: float = 1e-4, beta_end: float = 0.02,
              levels: int | None = None, variance: str = "beta", label=None,
              label_dropout: float = 0.1) -> Distribution:
    """A Gaussian diffusion chain ``x_T -> ... -> x_0`` as one distribution
    with event shape ``(x_dim,)`` (Sohl-Dickstein et al.; Ho et al.).

    The forward process ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1},
    beta_t I)`` is fixed by the schedule; the reverse chain ``p(x_{t-1} |
    x_t) = N(mu_theta(x_t, t), sigma_t^2 I)`` from ``x_T ~ N(0, I)`` is
    learned through ``net``, which predicts the noise in ``x_t``. Its
    likelihood has no closed form: train with ``objective="denoising"`` (Ho
    et al.'s simple loss) or ``"elbo"`` (the variational bound), whose value
    ``Fitted.elbo`` and ``Fitted.bits_per_dim`` report. Sampling runs the
    chain (ancestral, or DDIM with fewer steps: ``Fitted.sample(n,
    sampler="ddim", steps=50)``). It is one node in the IR, drawn as a
    collapsed chain.

    Args:
        net: a noise network, :class:`gendsl.nn.TimeMLP` (vectors) or
            :class:`gendsl.nn.TimeUNet` (images, as flat rows).
        steps: the chain's length ``T``.
        schedule: ``"linear"`` (``beta_start`` to ``beta_end``, Ho et al.'s
            1e-4 to 0.02), ``"cosine"`` (Nichol & Dhariwal), or the betas.
        levels: ``None`` for real data; ``K`` for integer data ``0..K-1``
            (8-bit pixels: 256; the 8x8 digits: 17), scaled to ``[-1, 1]``
            and scored by a discretised Gaussian decoder, so the bound is on
            ``-log P(x)`` of the integers.
        variance: the reverse steps' ``sigma_t^2``: ``"beta"`` (``beta_t``) or
            ``"posterior"`` (``beta~_t``, the forward posterior's variance).
        label: for a class-conditional chain ``p(x | y)``, the integer label
            of each row (a site ``y``, ``0..K-1``); ``net`` must then be built
            with ``classes=K``. ``denoising`` trains with label dropout,
            ``Fitted.sample(n, given={"y": c}, guidance=w)`` samples with
            classifier-free guidance (Ho & Salimans 2021); see :func:`guided`.
        label_dropout: the probability that ``denoising`` replaces a row's
            label by the "no label" token (Ho & Salimans: 0.1 or 0.2); the
            bound (``elbo``) always uses the label.

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist, nn
        >>> @gd.model
        ... def ddpm(x_dim=2):
        ...     eps = nn.TimeMLP("eps", x_dim, hidden=[32, 32])
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.Diffusion(eps, steps=100))
        >>> ddpm().ir["x"].shape
        (N_data, 2)
    """
    if not isinstance(net, TimeNet):
        raise ModelError(f"dist.Diffusion needs a noise network net(x_t, t) (nn.TimeMLP or nn.TimeUNet), "
                         f"got {type(net).__name__}")
    if variance not in VARIANCES:
        raise ModelError(f"dist.Diffusion: unknown variance {variance!r}; choose one of {VARIANCES}")
    if levels is not None and (int(levels) != levels or int(levels) < 2):
        raise ModelError(f"dist.Diffusion: levels must be None (real data) or an integer >= 2, got {levels!r}")
    betas = betas_for(schedule, steps, beta_start, beta_end)
    kind = schedule if isinstance(schedule, str) else "given"
    if _STACK:
        net._register(current("dist.Diffusion"))
    args = {"net": ir.Ref(net.name), "spec": net, "schedule": Schedule(kind, tuple(betas.tolist())),
            "levels": None if levels is None else int(levels), "variance": variance}
    batch = ()
    if label is not None or net.classes:
        args["label"], args["labels"], batch = _label_arg(net, label, label_dropout)
    return Distribution(ir.DistSpec("Diffusion", args, (), batch, (net.x_dim,)))


def _label_arg(net, label, dropout):
    """``(label argument, Labels, batch shape)`` of a class-conditional chain, checked."""
    if not net.classes:
        raise ModelError(f"dist.Diffusion: label= makes a class-conditional chain, but network {net.name!r} takes "
                         f"no label; build it with classes=K (nn.TimeMLP(..., classes=K))")
    if label is None:
        raise ModelError(f"dist.Diffusion: network {net.name!r} is class-conditional ({net.classes} classes): give "
                         f"the chain each row's label, dist.Diffusion({net.name}, label=y)")
    arg = as_arg(label)
    if isinstance(arg, (ir.Ref, ir.Const)) and arg_dtype(arg) != "int":
        raise ModelError(f"dist.Diffusion: label= takes integer labels 0..{net.classes - 1} (a Categorical site), "
                         f"got a {arg_dtype(arg)} value")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout <= 1.0:
        raise ModelError(f"dist.Diffusion: label_dropout is a probability in [0, 1], got {dropout!r}")
    return arg, Labels(int(net.classes), float(dropout)), tuple(arg_shape(arg))


class DiffusionImpl(Implementation):
    """``dist.Diffusion`` on any backend. ``log_prob`` is the variational bound
    (every step while evaluating, with noise from a key seeded 0; a one-step
    unbiased estimate from the step's stream while training);
    ``denoising_loss`` is Ho et al.'s simple loss; ``sample`` runs the reverse
    chain in the backend's loop, with no host synchronisation."""

    def __init__(self, backend, net, spec, schedule, levels=None, variance="beta", label=None, labels=None,
                 training=False, like=None, options=None):
        super().__init__(backend, () if label is None else tuple(label.shape), (spec.x_dim,))
        self.net, self.spec, self.schedule, self.levels = net, spec, schedule, levels
        self.label, self.labels = label, labels
        self.training, self.options = training, options or {}
        self.like = backend.default_like(like)
        self.chain = Chain(backend, net if label is None else guided(net, label, 0.0), schedule, levels, variance,
                           self.like)
        self.support = Support("real" if levels is None else "integer_interval", (levels or 1) - 1, 1)

    def _draws(self, value):
        b = self.backend
        k_t, k_eps = b.split(self.training.next(f"{self.spec.name}$diffusion"), 2)
        t = b.random_int(k_t, tuple(value.shape[:-1]), self.schedule.steps, self.like)
        return t, b.random_normal(k_eps, tuple(value.shape), self.like)

    def _rows(self, value):
        """``value`` broadcast against the labels' batch shape: a label enumerated
        on an axis of its own (``y`` summed out) scores every row once per class."""
        if self.label is None:
            return value
        lead = broadcast(tuple(self.label.shape), tuple(value.shape[:-1]))
        if lead == tuple(value.shape[:-1]):
            return value
        return self.backend.broadcast_to(value, lead + tuple(value.shape[-1:]))

    def log_prob(self, value):
        """The variational lower bound on ``log p(value)`` per row (``log p(value | y)``
        for a class-conditional chain, the label never dropped; an enumerated
        label scores every class with the same draws)."""
        b, rows = self.backend, tuple(value.shape)
        if self.training is not False:
            return -self.chain.bound_estimate(self._rows(value), *self._draws(value))
        key = b.fixed_key(0, self.like)

        def normal(shape, i):
            eps = b.random_normal(b.fold_in(key, i), rows, self.like)
            return eps if tuple(shape) == rows else b.broadcast_to(eps, tuple(shape))

        return -self.chain.bound(self._rows(value), normal)

    def denoising_loss(self, value):
        """``|eps - eps_theta(x_t, t)|^2`` per row, ``t`` uniform; a class-conditional
        chain's label replaced by the "no label" token with probability ``label_dropout``."""
        value, chain = self._rows(value), self.chain
        if self.label is not None and self.labels.dropout > 0 and self.training is not False:
            b, ops = self.backend, self.backend.ops
            key = self.training.next(f"{self.spec.name}$label_dropout")
            drop = b.random_uniform(key, tuple(self.label.shape), self.like) < self.labels.dropout
            label = ops["where"](drop, ops["zeros_like"](self.label) + self.spec.null_label, self.label)
            chain = copy.copy(chain)
            chain.net = guided(self.net, label, 0.0)
        return chain.denoising(value, *self._draws(value))

    def sample(self, key, sample_shape):
        b = self.backend
        k_init, k_steps = b.split(key, 2)

        def normal(s, j):
            return b.random_normal(k_init if j is None else b.fold_in(k_steps, j), s, self.like)

        chain, w = self.chain, self.options.get("guidance", 0.0)
        if w:  # checked by check_options: only a class-conditional chain takes it
            chain = copy.copy(chain)
            chain.net = guided(self.net, self.label, w)
        return draw(chain, self.draw_shape(sample_shape), normal, self.options)


def _dtype(spec) -> str:
    return "real" if spec.args["levels"] is None else "int"


def _check_query(spec, options: dict) -> dict:
    args = spec.args
    classes = args["labels"].classes if "labels" in args else 0
    return check_options(options, args["schedule"].steps, args["levels"], args["spec"].x_dim, classes)


def _graph(node: ir.Sample, observed: bool) -> dict:
    """The chain collapsed into one node: ``x_{t-1} | x_t, t = T..1``, the
    chain's direction, its schedule and decoder."""
    args, name = node.dist.args, node.name
    schedule = args["schedule"]
    betas = f"beta {schedule.betas[0]:.3g} to {schedule.betas[-1]:.3g}"
    data = "real values" if args["levels"] is None else f"{args['levels']} levels (discretised decoder)"
    if "labels" in args:
        data += f"\n{args['labels'].label()}"
    return {
        "kind": "chain",
        "dist": node.dist.family,
        "event_shape": format_shape(node.event_shape),
        "observed": observed,
        "caption": (f"{name}_t-1 | {name}_t, t = T..1\n{name}_T -> ... -> {name}_0, T = {schedule.steps}\n"
                    f"{schedule.kind} schedule, {betas}\nGaussian steps, sigma^2 = {args['variance']}; {data}"),
    }


# Diffusion takes a noise network and a schedule; the constructor works out its shapes.
register_family(Family(
    "Diffusion", {}, (("net", "schedule"),), density="bound", run_aware=True, query_aware=True, denoisable=True,
    impl=DiffusionImpl, constructor=Diffusion, value_dtype=_dtype, check_query=_check_query, graph=_graph,
))
