"""The Pyro backend: IR -> PyTorch arrays, ``pyro.distributions`` and ``torch.nn``.

Two products:

* :meth:`PyroBackend.compile` gives a plain Pyro ``(model, guide)`` pair
  (``pyro.param``, ``pyro.module``, ``pyro.plate``, ``pyro.sample``) that runs
  under Pyro's own tools: ``SVI``, ``TraceEnum_ELBO``, ``render_model``.
* The backend itself serves gendsl's fast path (:class:`gendsl.backends.program.Lowered`):
  the same lowering with plain PyTorch arithmetic and argument validation off,
  so a training step costs what hand-written PyTorch costs.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator

import numpy as np
import torch
import torch.nn.functional as F

import pyro
import pyro.distributions as pdist
from pyro.distributions import constraints as pcons

from ..dist import FAMILIES
from ..errors import ModelError
from ..nn import FVSBN, MADE, MLP, NADE, Module, TimeMLP, TimeUNet
from ..transforms import Permute, Reverse, Sigmoid
from . import autoregressive, dae, diffusion, flows, quantize
from .base import Backend
from .interpret import Context, run

__all__ = ["PyroBackend", "BACKEND", "TorchMLP"]


def _axes(x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


def _reduce(fn):
    def f(x, axis=None, keepdims=False):
        return fn(x, dim=_axes(x, axis), keepdim=keepdims)
    return f


def _prod(x, axis=None, keepdims=False):
    for a in sorted((a % x.ndim for a in np.atleast_1d(_axes(x, axis))), reverse=True):
        x = torch.prod(x, dim=int(a), keepdim=keepdims)
    return x


def _tensor_pair(fn):
    def f(a, b):
        if not torch.is_tensor(a):
            a = torch.as_tensor(a, dtype=b.dtype, device=b.device)
        if not torch.is_tensor(b):
            b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
        return fn(a, b)
    return f


def _slice_axis(x, start, stop, axis):
    return x.narrow(axis, start, stop - start)


def _kl_normal(q, p):
    """``KL(q || p)`` for two diagonal Normals (plain or ``Independent`` alike), else ``None``.

    ``kl_divergence`` gives the same numbers; this skips its dispatch and the
    ``Independent`` wrapper's, which cost a VAE's training step more than the
    arithmetic does.
    """
    events = 0
    if isinstance(q, torch.distributions.Independent) and isinstance(p, torch.distributions.Independent):
        if q.reinterpreted_batch_ndims != p.reinterpreted_batch_ndims:
            return None
        events, q, p = q.reinterpreted_batch_ndims, q.base_dist, p.base_dist
    if type(q) is not pdist.Normal or type(p) is not pdist.Normal:
        return None
    ratio = q.scale / p.scale
    kl = 0.5 * (ratio.square() + ((q.loc - p.loc) / p.scale).square() - 1.0) - ratio.log()
    return kl.sum(tuple(range(-events, 0))) if events else kl


def _bernoulli_log_prob(d, value):
    """``d.log_prob(value)`` for a Bernoulli (plain or ``Independent``), else ``None``.

    The same numbers as torch's, summed over the event dimensions before the
    sign is flipped: torch negates every element first, which for an IWAE's
    ``(k, batch, pixels)`` likelihood is a pass over the largest tensor of the
    step, forward and backward.
    """
    events = 0
    if type(d) is pdist.Independent:
        events, d = d.reinterpreted_batch_ndims, d.base_dist
    if type(d) is not pdist.Bernoulli or not torch.is_tensor(value):
        return None
    logits, value = torch.broadcast_tensors(d.logits, value.to(d.logits.dtype))
    nll = F.binary_cross_entropy_with_logits(logits, value, reduction="none")
    return -(nll.sum(tuple(range(-events, 0))) if events else nll)


def _getitem(x, *index):
    return x[index if len(index) != 1 else index[0]]


def _solve_triangular(a, b, lower, unit):
    """Solves ``a v = b_row`` for every row of ``b`` (``(..., d)``)."""
    flat = b.reshape(-1, b.shape[-1]).T                      # (d, rows)
    v = torch.linalg.solve_triangular(a, flat, upper=not lower, unitriangular=unit)
    return v.T.reshape(b.shape)


def _astype(x, dtype):
    return {"real": lambda: x.to(torch.get_default_dtype()) if not x.is_floating_point() else x,
            "int": x.long, "bool": x.bool}[dtype]()


OPS = {
    "exp": torch.exp, "log": torch.log, "log1p": torch.log1p, "expm1": torch.expm1,
    "sigmoid": torch.sigmoid, "logit": torch.logit, "softplus": F.softplus, "tanh": torch.tanh,
    "relu": torch.relu, "sqrt": torch.sqrt, "square": torch.square, "abs": torch.abs,
    "negative": torch.neg, "sin": torch.sin, "cos": torch.cos, "erf": torch.special.erf,
    "floor": torch.floor,
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "power": operator.pow,
    "maximum": _tensor_pair(torch.maximum), "minimum": _tensor_pair(torch.minimum),
    "logaddexp": _tensor_pair(torch.logaddexp),
    "less": operator.lt, "less_equal": operator.le, "greater": operator.gt,
    "greater_equal": operator.ge, "equal": operator.eq, "not_equal": operator.ne,
    "where": torch.where, "clip": torch.clamp,
    "sum": _reduce(torch.sum), "mean": _reduce(torch.mean), "prod": _prod,
    "max": _reduce(torch.amax), "min": _reduce(torch.amin), "logsumexp": _reduce(torch.logsumexp),
    "var": lambda x, axis=None, keepdims=False: torch.var(x, dim=_axes(x, axis), keepdim=keepdims, correction=0),
    "std": lambda x, axis=None, keepdims=False: torch.std(x, dim=_axes(x, axis), keepdim=keepdims, correction=0),
    "softmax": lambda x, axis=-1: torch.softmax(x, dim=axis),
    "log_softmax": lambda x, axis=-1: torch.log_softmax(x, dim=axis),
    "cumsum": lambda x, axis=-1: torch.cumsum(x, dim=axis),
    "matmul": torch.matmul,
    "one_hot": lambda x, num_classes: F.one_hot(x.long(), num_classes).to(torch.get_default_dtype()),
    "slice_axis": _slice_axis,
    "concatenate": lambda *xs, axis=0: torch.cat(xs, dim=axis),
    "stack": lambda *xs, axis=0: torch.stack(xs, dim=axis),
    "reshape": lambda x, shape: x.reshape(shape),
    "transpose": lambda x, axes=None: x.permute(*(axes if axes is not None else reversed(range(x.ndim)))),
    "swapaxes": torch.swapaxes,
    "expand_dims": lambda x, axis: torch.unsqueeze(x, axis),
    "squeeze": lambda x, axis=None: x.squeeze() if axis is None else x.squeeze(axis),
    "getitem": _getitem,
    "flatten": lambda x, axis: x.flatten(axis),
    "unflatten": lambda x, axis, sizes: x.unflatten(axis, sizes),
    "astype": _astype,
    "zeros_like": torch.zeros_like, "ones_like": torch.ones_like,
    "tril": lambda x, k=0: torch.tril(x, diagonal=k), "triu": lambda x, k=0: torch.triu(x, diagonal=k),
    "diagonal": lambda x, offset=0, axis1=-2, axis2=-1: torch.diagonal(x, offset, axis1, axis2),
    # backend-internal (not gendsl.ops): used by the autoregressive chains
    "einsum": torch.einsum,
    "linear": F.linear,
    "take0": lambda a, i: a[i],
    "argmax": lambda x, axis=-1: torch.argmax(x, dim=axis),
    # backend-internal: used by the flows
    "solve_triangular": _solve_triangular,
    # backend-internal: used by diffusion networks (NCHW images, OIHW kernels, "same" padding)
    "conv2d": lambda x, w, b: F.conv2d(x, w, b, padding="same"),
}

_CONSTRAINTS = {
    "real": pcons.real,
    "positive": pcons.positive,
    "unit_interval": pcons.unit_interval,
    "simplex": pcons.simplex,
    "lower_cholesky": pcons.lower_cholesky,
    "positive_definite": pcons.positive_definite,
}

_ACTIVATIONS = {
    "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus,
    "elu": F.elu, "leaky_relu": F.leaky_relu, "gelu": F.gelu, "silu": F.silu, "identity": lambda x: x,
}


class TorchMLP(torch.nn.ModuleList):
    """``nn.MLP`` as a ``torch.nn`` module; its ``state_dict`` keys
    (``"0.weight"``, ``"0.bias"``, ...) are gendsl's weight names."""

    def __init__(self, spec: MLP):
        super().__init__(torch.nn.Linear(a, b) for a, b in zip(spec.sizes[:-1], spec.sizes[1:]))
        self.activation = _ACTIVATIONS[spec.activation]
        self.output_activation = _ACTIVATIONS[spec.output_activation]

    def forward(self, x):
        last = len(self) - 1
        for i, layer in enumerate(self):
            x = layer(x)
            x = self.activation(x) if i < last else self.output_activation(x)
        return x


def _mlp(spec: MLP, params: dict, prefix: str):
    layers = [(params[f"{prefix}{i}.weight"], params[f"{prefix}{i}.bias"]) for i in range(len(spec.sizes) - 1)]
    act, out_act = _ACTIVATIONS[spec.activation], _ACTIVATIONS[spec.output_activation]
    last = len(layers) - 1

    def forward(x):
        for i, (w, b) in enumerate(layers):
            x = F.linear(x, w, b)
            x = act(x) if i < last else out_act(x)
        return x

    return forward


class TorchMasked(torch.nn.Module):
    """An autoregressive network spec (``nn.MADE``, ``nn.FVSBN``, ``nn.NADE``)
    as a ``torch.nn`` module; ``forward(x, mask=None)``. Its ``state_dict``
    keys are gendsl's weight names (``"0.weight"``, ``"in.weight"``, ...);
    the masks are constants, not state."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        _add_parameters(self, spec.param_shapes())

    def forward(self, x, mask=None):
        return self.functional()(x, mask)

    def functional(self):
        """The network as gendsl's functional forward over this module's parameters."""
        return autoregressive.forward_for(self.spec)(BACKEND, self.spec, dict(self.named_parameters()), "")


def _add_parameters(module: torch.nn.Module, shapes: dict) -> None:
    """Registers a zero parameter per gendsl weight name; a dotted name
    (``"0.weight"``) nests submodules, so ``state_dict`` keys are the names."""
    for key, shape in shapes.items():
        *path, leaf = key.split(".")
        owner = module
        for part in path:
            if part not in owner._modules:
                owner.add_module(part, torch.nn.Module())
            owner = owner._modules[part]
        owner.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape)))


def _masked(spec, params, prefix):
    return autoregressive.forward_for(spec)(BACKEND, spec, params, prefix)


class _BijectionCalls:
    """``Transform`` methods over a :class:`gendsl.backends.flows.Bijection`
    (from ``self._bijection()``). The log-determinant computed with a value
    is kept with it, so ``TransformedDistribution.log_prob`` (``inv`` then
    ``log_abs_det_jacobian``) runs each transform once."""

    domain = pcons.independent(pcons.real, 1)
    codomain = pcons.independent(pcons.real, 1)
    bijective = True

    def _call(self, x):
        y, ld = self._bijection().forward(x)
        self._log_det = (x, y, ld)
        return y

    def _inverse(self, y):
        x, ld = self._bijection().inverse(y)
        self._log_det = (x, y, ld)
        return x

    def log_abs_det_jacobian(self, x, y):
        kept = getattr(self, "_log_det", None)
        if kept is not None and kept[0] is x and kept[1] is y:
            return kept[2]
        return self._bijection().log_det(x, y)


class TorchBijection(_BijectionCalls, torch.distributions.Transform):
    """A ``gendsl.transforms`` spec with given weights ``params[prefix + key]``
    as a ``torch.distributions.Transform`` (gendsl's training path)."""

    def __init__(self, spec, params: dict, prefix: str = ""):
        super().__init__(cache_size=1)
        self.spec = spec
        self._impl = flows.bijection(BACKEND, spec, params, prefix)

    def _bijection(self):
        return self._impl


class TorchBijector(_BijectionCalls, pdist.TransformModule):
    """A ``gendsl.transforms`` spec as a Pyro ``TransformModule`` (plain Pyro
    programs register it with ``pyro.module``); its ``state_dict`` keys are
    gendsl's weight names."""

    def __init__(self, spec):
        super().__init__(cache_size=1)
        self.spec = spec
        _add_parameters(self, spec.param_shapes())

    def _bijection(self):
        return flows.bijection(BACKEND, self.spec, dict(self.named_parameters()), "")


def _bijection(spec, params, prefix):
    return TorchBijection(spec, params, prefix)


def _permute(spec):
    return pdist.transforms.Permute(torch.as_tensor(spec.perm))


def _sigmoid(spec):
    a = spec.alpha
    squash = pdist.transforms.ComposeTransform([
        pdist.transforms.SigmoidTransform(),
        pdist.transforms.AffineTransform(-a / (1 - 2 * a), 1 / (1 - 2 * a)),
    ])
    return pdist.transforms.IndependentTransform(squash, 1)


# stateless transform spec type -> Pyro's own transform
STATELESS = {Permute: _permute, Reverse: _permute, Sigmoid: _sigmoid}


def _transformed(base_dist, transforms, specs=None, validate_args=None):
    """``dist.TransformedDistribution``: Pyro's, with gendsl's transforms."""
    chain = [t if isinstance(t, torch.distributions.Transform) else STATELESS[type(t)](t) for t in transforms]
    return pdist.TransformedDistribution(base_dist, chain, validate_args=validate_args)


class TorchDequantized(pdist.TorchDistribution):
    """``dist.Dequantized`` for Pyro: integer levels scored as
    ``base.log_prob((x + u) / levels) - d log(levels)``, ``u ~ U(0, 1)``
    (fresh while training, :func:`gendsl.backends.flows.fixed_noise` otherwise)."""

    arg_constraints = {}
    has_rsample = False

    def __init__(self, base_dist, levels, training=False, like=None, validate_args=None):
        self.base_dist, self.levels, self.training = base_dist, int(levels), training
        self.like = like if like is not None else (torch.get_default_dtype(), torch.device("cpu"))
        super().__init__(base_dist.batch_shape, base_dist.event_shape, validate_args=validate_args)

    @property
    def support(self):
        return pcons.independent(pcons.integer_interval(0, self.levels - 1), len(self.event_shape))

    def expand(self, batch_shape, _instance=None):
        return TorchDequantized(self.base_dist.expand(batch_shape), self.levels, self.training, self.like,
                                self._validate_args)

    def log_prob(self, value):
        x = value.to(self.like[0])
        if self.training:
            u = torch.rand_like(x)
        else:
            u = torch.as_tensor(flows.fixed_noise(tuple(x.shape)), dtype=x.dtype, device=x.device)
        d = float(np.prod(self.event_shape))
        return self.base_dist.log_prob((x + u) / self.levels) - d * math.log(self.levels)

    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        y = self.base_dist.sample(sample_shape)
        return torch.clamp(torch.floor(y * self.levels), 0, self.levels - 1).long()


class TorchTimeNet(torch.nn.Module):
    """A diffusion noise network (``nn.TimeMLP``, ``nn.TimeUNet``) as a
    ``torch.nn`` module, ``forward(x_t, t)``; its ``state_dict`` keys are
    gendsl's weight names."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        _add_parameters(self, spec.param_shapes())

    def forward(self, x, t):
        return diffusion.forward_for(self.spec)(BACKEND, self.spec, dict(self.named_parameters()), "")(x, t)


def _time_net(spec, params, prefix):
    return diffusion.forward_for(spec)(BACKEND, spec, params, prefix)


class TorchDiffusion(pdist.TorchDistribution):
    """``dist.Diffusion`` for Pyro. ``log_prob`` is the variational bound
    (every step while evaluating, with noise from a generator seeded 0; a
    one-step unbiased estimate while training); ``denoising_loss`` is Ho et
    al.'s simple loss; ``sample`` runs the reverse chain on the device, with
    no host synchronisation."""

    arg_constraints = {}
    has_rsample = False

    def __init__(self, net, spec, schedule, levels=None, variance="beta", training=False, like=None,
                 options=None, batch_shape=(), validate_args=None):
        self.net, self.spec, self.schedule, self.levels, self.step_variance = net, spec, schedule, levels, variance
        self.training, self.options = training, options or {}
        self.like = like if like is not None else (torch.get_default_dtype(), torch.device("cpu"))
        self.chain = diffusion.Chain(BACKEND, net, schedule, levels, variance, self.like)
        super().__init__(torch.Size(batch_shape), torch.Size((spec.x_dim,)), validate_args=validate_args)

    @property
    def support(self):
        if self.levels is None:
            return pcons.independent(pcons.real, 1)
        return pcons.independent(pcons.integer_interval(0, self.levels - 1), 1)

    def expand(self, batch_shape, _instance=None):
        return TorchDiffusion(self.net, self.spec, self.schedule, self.levels, self.step_variance, self.training,
                              self.like, self.options, batch_shape, self._validate_args)

    def _draws(self, value):
        dtype, device = self.like
        t = torch.randint(self.schedule.steps, tuple(value.shape[:-1]), device=device)
        return t, torch.randn(tuple(value.shape), dtype=dtype, device=device)

    def log_prob(self, value):
        """The variational lower bound on ``log p(value)`` per row."""
        if self.training:
            return -self.chain.bound_estimate(value, *self._draws(value))
        dtype, device = self.like
        generator = torch.Generator(device=device).manual_seed(0)
        return -self.chain.bound(value, lambda shape, i: torch.randn(shape, generator=generator, dtype=dtype,
                                                                     device=device))

    def denoising_loss(self, value):
        """``|eps - eps_theta(x_t, t)|^2`` per row, ``t`` uniform."""
        return self.chain.denoising(value, *self._draws(value))

    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        dtype, device = self.like
        shape = tuple(sample_shape) + tuple(self.batch_shape) + (self.spec.x_dim,)
        return diffusion.draw(self.chain, shape, lambda s, j: torch.randn(s, dtype=dtype, device=device),
                              self.options)


class TorchDAE(pdist.TorchDistribution):
    """``dist.DenoisingAutoencoder`` for Pyro: no density (``log_prob``
    refuses); ``denoising_loss`` reconstructs each row from a fresh
    corruption; ``sample`` runs Bengio et al.'s chain on the device."""

    arg_constraints = {}
    has_rsample = False

    def __init__(self, encoder, decoder, encoder_spec, decoder_spec, corruption="gaussian", level=0.5,
                 likelihood="bernoulli", training=False, like=None, options=None, batch_shape=(),
                 validate_args=None):
        self.encoder, self.decoder, self.encoder_spec, self.decoder_spec = encoder, decoder, encoder_spec, decoder_spec
        self.corruption, self.level, self.likelihood = corruption, level, likelihood
        self.training, self.options = training, options or {}
        self.like = like if like is not None else (torch.get_default_dtype(), torch.device("cpu"))
        self.dae = dae.Autoencoder(BACKEND, encoder, decoder, likelihood, corruption, level, self.like)
        super().__init__(torch.Size(batch_shape), torch.Size((encoder_spec.sizes[0],)), validate_args=validate_args)

    @property
    def support(self):
        return pcons.independent(pcons.boolean if self.likelihood == "bernoulli" else pcons.real, 1)

    def expand(self, batch_shape, _instance=None):
        return TorchDAE(self.encoder, self.decoder, self.encoder_spec, self.decoder_spec, self.corruption, self.level,
                        self.likelihood, self.training, self.like, self.options, batch_shape, self._validate_args)

    def _draws(self, shape, kind):
        dtype, device = self.like
        return (torch.randn if kind == "normal" else torch.rand)(shape, dtype=dtype, device=device)

    def log_prob(self, value):
        raise NotImplementedError("a denoising autoencoder has no density; train it with objective='denoising'")

    def denoising_loss(self, value):
        """``-log p(x | g(f(x~)))`` per row, ``x~`` a fresh corruption of ``x``."""
        return self.dae.loss(value, self._draws(tuple(value.shape), dae.CORRUPTIONS[self.corruption]))

    def encode(self, value):
        return self.encoder(BACKEND.to_float(value, self.like))

    def decode(self, code):
        return self.dae.mean(self.decoder(code))

    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        shape = tuple(sample_shape) + tuple(self.batch_shape) + tuple(self.event_shape)
        return self.dae.chain(shape, int(self.options.get("steps", 100)),
                              lambda s, j, role: self._draws(s, "uniform"), lambda s, j, role: self._draws(s, "normal"))


# network spec type -> (functional forward, torch.nn.Module class)
def _raw_module(spec: Module, params: dict, prefix: str):
    """A user's ``torch.nn.Module``, called with gendsl's parameters in place of its own."""
    if spec.framework != "torch":
        raise ModelError(f"network {spec.name!r} is a Flax module: it runs on the numpyro backend only; "
                         f"use nn.MLP for a network both backends run")
    weights = {k: params[prefix + k] for k in spec.param_shapes()}
    return lambda x: torch.func.functional_call(spec.module, weights, (x,))


NETS = {Module: (_raw_module, lambda spec: spec.module), MLP: (_mlp, TorchMLP), MADE: (_masked, TorchMasked), FVSBN: (_masked, TorchMasked),
        NADE: (_masked, TorchMasked), TimeMLP: (_time_net, TorchTimeNet), TimeUNet: (_time_net, TorchTimeNet),
        **{cls: (_bijection, TorchBijector) for cls in flows.BIJECTIONS}}


_SUPPORT = {"Bernoulli": lambda spec: pcons.boolean,
            "Categorical": lambda spec: pcons.integer_interval(0, spec.params_per_dim - 1),
            "NormalMixture": lambda spec: pcons.real}


class TorchAutoregressive(pdist.TorchDistribution):
    """``dist.Autoregressive`` for Pyro: one masked pass scores the whole
    chain; sampling runs it position by position (no host synchronisation).

    Args:
        net: ``forward(x, mask)`` (a functional network or a ``TorchMasked``).
        spec: the network's spec (orderings, masks, sizes).
        family: ``"Bernoulli"``, ``"Categorical"`` or ``"NormalMixture"``.
        mask: a mask index, or ``None`` for the mixture over all masks.
        training: score with one random mask per call (with several masks).
        like: ``(dtype, device)`` of samples.
    """

    arg_constraints = {}
    has_rsample = False

    def __init__(self, net, spec, family, mask=None, training=False, like=None, batch_shape=(),
                 validate_args=None):
        self.net, self.spec, self.family, self.mask, self.training = net, spec, family, mask, training
        self.like = like if like is not None else (torch.get_default_dtype(), torch.device("cpu"))
        super().__init__(torch.Size(batch_shape), torch.Size((spec.x_dim,)), validate_args=validate_args)

    @property
    def support(self):
        return pcons.independent(_SUPPORT[self.family](self.spec), 1)

    def expand(self, batch_shape, _instance=None):
        return TorchAutoregressive(self.net, self.spec, self.family, self.mask, self.training, self.like,
                                   batch_shape, self._validate_args)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        mask = self.mask
        if mask is None and self.training and self.spec.num_masks > 1:
            mask = int(torch.randint(self.spec.num_masks, (1,)))  # drawn on the host: no device sync
        value = value.to(self.like[0]) if not value.is_floating_point() else value
        lp = autoregressive.chain_log_prob(BACKEND, self.net, self.spec, self.family, value, mask)
        return lp.expand(torch.broadcast_shapes(lp.shape, self.batch_shape))

    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        dtype, device = self.like
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        d, n = self.spec.x_dim, int(np.prod(shape, dtype=np.int64))
        x = torch.zeros((n, d), dtype=dtype, device=device)
        uniform = lambda s: torch.rand(s, dtype=dtype, device=device)  # noqa: E731
        normal = lambda s: torch.randn(s, dtype=dtype, device=device)  # noqa: E731
        net = self.net.functional() if isinstance(self.net, TorchMasked) else self.net
        if isinstance(net, autoregressive.NADEForward):  # NADE's O(dH) recursion
            x = self._sample_recursion(net, x, uniform, normal)
        else:
            x = self._sample_passes(x, uniform, normal)
        x = x.reshape(shape + (d,))
        return x.long() if self.family == "Categorical" else x

    def _sample_passes(self, x, uniform, normal):
        """One network pass per position, keeping that position's draw."""
        pos = torch.as_tensor(autoregressive.positions(self.spec), device=x.device)
        if self.mask is not None or self.spec.num_masks == 1:
            groups = [(slice(None), 0 if self.mask is None else self.mask)]
        else:  # the mixture over masks: each row draws its mask
            which = torch.randint(self.spec.num_masks, (x.shape[0],), device=x.device)
            groups = [(which == m, m) for m in range(self.spec.num_masks)]
        for rows, m in groups:
            xs = x[rows]
            for i in range(self.spec.x_dim):
                out = self.net(autoregressive.net_input(BACKEND, self.family, xs, self.spec), m)
                xs = torch.where(pos[m] == i, autoregressive.draw(BACKEND, self.family, out, uniform, normal), xs)
            x[rows] = xs
        return x

    def _sample_recursion(self, net, x, uniform, normal):
        """NADE: keep the running sum, one output and one added column per position."""
        a, columns = net.start(x), []
        for i in range(self.spec.x_dim):
            value = autoregressive.draw(BACKEND, self.family, net.output(a, i), uniform, normal)   # (n, 1)
            columns.append(value)
            a = net.advance(a, i, autoregressive.net_input(BACKEND, self.family, value, self.spec))
        return torch.cat(columns, dim=-1)[:, torch.as_tensor(net.inverse, device=x.device)]


class TorchVectorQuantized(pdist.TorchDistribution):
    """``dist.VectorQuantized`` for Pyro: a point mass on the code nearest to
    ``z_e``, drawn straight-through; ``log_prob`` is 0 in value and carries
    the codebook and commitment losses in its gradient (see
    :mod:`gendsl.backends.quantize`)."""

    arg_constraints = {}
    support = pcons.real_vector
    has_rsample = True

    def __init__(self, z_e, codebook, commitment=0.25, validate_args=None):
        self.z_e, self.codebook, self.commitment = z_e, codebook, commitment
        self.code = codebook[quantize.nearest(BACKEND, z_e, codebook)]
        super().__init__(z_e.shape[:-1], z_e.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        shape = torch.Size(batch_shape) + self.event_shape
        return TorchVectorQuantized(self.z_e.expand(shape), self.codebook, self.commitment, self._validate_args)

    @property
    def mean(self):
        return self.code

    def rsample(self, sample_shape=torch.Size()):
        z = quantize.straight_through(BACKEND, self.z_e, self.code)
        return z.expand(torch.Size(sample_shape) + z.shape)

    def log_prob(self, value):
        lp = quantize.vq_surrogate(BACKEND, self.z_e, self.code, self.commitment)
        return lp.expand(torch.broadcast_shapes(lp.shape, value.shape[:-1]))


class TorchCodebook(pdist.TorchDistribution):
    """``dist.Codebook`` for Pyro: a categorical choice among the rows of a
    ``(K, d)`` codebook (uniform without ``logits``)."""

    arg_constraints = {}
    support = pcons.real_vector

    def __init__(self, codebook, logits=None, batch_shape=None, validate_args=None):
        self.codebook, self.logits = codebook, logits
        if batch_shape is None:
            batch_shape = () if logits is None else logits.shape[:-1]
        super().__init__(torch.Size(batch_shape), codebook.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return TorchCodebook(self.codebook, self.logits, batch_shape, self._validate_args)

    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + self.batch_shape
        logits = self.codebook.new_zeros(self.codebook.shape[0]) if self.logits is None else self.logits
        index = pdist.Categorical(logits=logits).expand(shape).sample()
        return self.codebook[index]

    def log_prob(self, value):
        lp = quantize.codebook_log_prob(BACKEND, self.codebook, self.logits, value)
        return lp.expand(torch.broadcast_shapes(lp.shape, self.batch_shape))


class _TorchRNG:
    """PyTorch's global generator, seeded once per call that needs randomness."""

    def __init__(self, seed=None):
        if seed is not None:
            torch.manual_seed(int(seed))

    def next(self, name):
        return None


_ENUMERATE = None  # PyroBackend.enumerate_support's function, outside any compiled graph


class PyroBackend(Backend):
    """PyTorch arrays, Pyro distributions.

    Args:
        validate: validate distribution arguments and values (Pyro's default
            is on; gendsl's training path turns it off, having checked data
            before training, so steps never synchronise with the host).
    """

    name = "pyro"
    eager = True
    ops = OPS
    activations = _ACTIVATIONS

    def __init__(self, validate: bool = False):
        self.validate = validate
        self.dists = {
            name: functools.partial(getattr(pdist, name), validate_args=validate)
            for name in FAMILIES if hasattr(pdist, name)
        }
        self.dists["Autoregressive"] = functools.partial(TorchAutoregressive, validate_args=validate)
        self.dists["TransformedDistribution"] = functools.partial(_transformed, validate_args=validate)
        self.dists["Dequantized"] = functools.partial(TorchDequantized, validate_args=validate)
        self.dists["Diffusion"] = functools.partial(TorchDiffusion, validate_args=validate)
        self.dists["DenoisingAutoencoder"] = functools.partial(TorchDAE, validate_args=validate)
        self.dists["VectorQuantized"] = functools.partial(TorchVectorQuantized, validate_args=validate)
        self.dists["Codebook"] = functools.partial(TorchCodebook, validate_args=validate)

    # -- arrays -----------------------------------------------------------------------
    def float_dtype(self, name="float32"):
        return {"float32": torch.float32, "float64": torch.float64}[str(name)]

    def asarray(self, x, dtype="real", like=None):
        float_dtype, device = like if isinstance(like, tuple) else (like or torch.get_default_dtype(), None)
        torch_dtype = {"real": float_dtype, "int": torch.long, "bool": torch.bool}[dtype]
        # C order (minibatches gather rows), writable (arrays from JAX are read-only)
        arr = np.asarray(x, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        if not arr.flags.writeable:
            arr = arr.copy()
        return torch.as_tensor(arr, dtype=torch_dtype, device=device)

    def like(self, x):
        """The dtype spec of array ``x`` (``(dtype, device)``)."""
        return (x.dtype, x.device)

    def to_float(self, x, like):
        return x.to(like[0] if isinstance(like, tuple) else (like or torch.get_default_dtype()))

    def to_numpy(self, x):
        return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)

    def broadcast_to(self, x, shape):
        return torch.broadcast_to(x, shape)

    def rng(self, seed=None):
        return _TorchRNG(seed)

    def fori_loop(self, n: int, body, init):
        """``init`` after ``n`` applications of ``body`` (a Python loop: no host sync)."""
        for _ in range(n):
            init = body(init)
        return init

    def loop(self, n: int, body, init):
        """``body(i, carry)`` for ``i = 0..n-1`` (a Python loop: no host sync)."""
        for i in range(n):
            init = body(i, init)
        return init

    # -- gradients and plain draws (the adversarial objective) -------------------------------
    def stop_gradient(self, x):
        return x.detach()

    def no_gradient(self):
        """A context whose values record nothing for autograd (what it computes is held fixed)."""
        return torch.no_grad()

    def uniform(self, rng, name: str, shape: tuple, like):
        """U(0, 1) draws of ``shape`` (PyTorch's global generator)."""
        dtype, device = like if isinstance(like, tuple) else (like, None)
        return torch.rand(shape, dtype=dtype, device=device)

    def input_grad(self, fn, x):
        """``d fn(x).sum() / dx``, itself differentiable (a gradient penalty's inner gradient)."""
        x = x.detach().requires_grad_(True)
        return torch.autograd.grad(fn(x).sum(), x, create_graph=True)[0]

    # -- distributions ------------------------------------------------------------------
    def sample(self, d, rng, shape):
        return d.rsample(shape) if d.has_rsample else d.sample(shape)

    def log_prob(self, d, value):
        fast = _bernoulli_log_prob(d, value)
        return d.log_prob(value) if fast is None else fast

    def enumerate_support(self, d):
        """As every backend does; outside a compiled graph, because Pyro tags the
        support tensor with a Python attribute (which ``torch.compile`` cannot
        trace) and the support is a constant anyway."""
        global _ENUMERATE
        if _ENUMERATE is None:  # made on first use: torch.compiler.disable imports dynamo (seconds),
            # which an eager run never needs; a compiled step's eager warm-up pass makes it before tracing
            _ENUMERATE = torch.compiler.disable(lambda d: d.enumerate_support(expand=False))
        return _ENUMERATE(d)

    def kl(self, q, p):
        fast = _kl_normal(q, p)
        if fast is not None:
            return fast
        try:
            return torch.distributions.kl_divergence(q, p)
        except NotImplementedError:
            return None

    # -- parameters ------------------------------------------------------------------------
    # transform_to, as pyro.param stores constrained parameters
    def constrain(self, constraint, u):
        return torch.distributions.transform_to(_CONSTRAINTS[constraint])(u)

    def unconstrain(self, constraint, x):
        return torch.distributions.transform_to(_CONSTRAINTS[constraint]).inv(x)

    def net(self, spec, params, prefix):
        return NETS[type(spec)][0](spec, params, prefix)

    def module(self, spec, weights: dict | None = None, prefix: str = "") -> torch.nn.Module:
        """``spec`` as a ``torch.nn.Module``, loaded with ``weights`` if given."""
        module = NETS[type(spec)][1](spec)
        if weights is not None:
            state = {k: torch.as_tensor(weights[prefix + k]) for k in module.state_dict()}
            module.load_state_dict(state)
        return module

    # -- the plain Pyro program -----------------------------------------------------------------
    def compile(self, model, seed: int = 0, dtype="float32", device="cpu"):
        """A plain Pyro ``(model, guide)`` pair.

        Both take ``data`` (a dict ``{site: tensor}``) and ``size`` (rows to
        draw when no data are given). Parameters are ``pyro.param`` sites
        initialised from ``model.init_params(seed)``; networks are
        ``pyro.module`` sites. Discrete latents the guide does not cover are
        marked ``infer={"enumerate": "parallel"}``, so ``TraceEnum_ELBO`` with
        ``max_plate_nesting=model.ir.max_plate_nesting`` sums them out.

        Example:
            >>> import pyro, gendsl.models as zoo
            >>> model_fn, guide_fn = zoo.gmm(x_dim=2, k=3).to_pyro()
            >>> svi = pyro.infer.SVI(model_fn, guide_fn, pyro.optim.Adam({"lr": 0.01}),
            ...                      pyro.infer.TraceEnum_ELBO(max_plate_nesting=1))
        """
        return _compile(PyroBackend(validate=True), model, seed, self.float_dtype(dtype), torch.device(device))


def _compile(backend, model, seed, dtype, device):
    from .program import Lowered

    init = model.init_params(seed)
    lowered = Lowered(model, backend)
    modules = {
        n.name: backend.module(n.spec, init, n.name + ".").to(device=device, dtype=dtype)
        for prog in (model.ir, model.guide_ir) if prog is not None for n in prog.nets
    }
    params = [p for prog in (model.ir, model.guide_ir) if prog is not None for p in prog.params]

    def get_params():
        return {p.name: pyro.param(p.name, lambda p=p: torch.as_tensor(init[p.name], dtype=dtype, device=device),
                                   constraint=_CONSTRAINTS[p.constraint]) for p in params}

    def program(steps):
        def fn(data=None, size=None):
            data = {k: torch.as_tensor(v, device=device, dtype=dtype if torch.is_floating_point(torch.as_tensor(v)) else None)
                    for k, v in (data or {}).items()}
            handler = _PyroHandler(model, data, modules)
            ctx = Context(env={}, sizes=lowered.sizes(data, size), params=get_params(), handler=handler,
                          dtype=(dtype, device), enumerable=lowered.enumerable)
            run(steps, ctx)
            return {k: v for k, v in ctx.env.items() if not k.startswith("%")}
        return fn

    model_fn = program(lowered.steps)
    guide_fn = program(lowered.guide_steps) if lowered.guide_steps is not None else (lambda data=None, size=None: None)
    model_fn.__name__, guide_fn.__name__ = model.name, f"{model.name}_guide"
    return model_fn, guide_fn


class _PyroHandler:
    """Sample sites become ``pyro.sample`` inside their ``pyro.plate``s."""

    def __init__(self, model, data, modules):
        self.model, self.data, self.modules = model, data, modules
        self.plates = {}  # Pyro wants one plate object per run, re-entered

    @contextlib.contextmanager
    def _plates(self, node, ctx):
        with contextlib.ExitStack() as stack:
            for name in node.plates:
                if name not in self.plates:
                    dim = self.model.ir.plates[name].dim
                    self.plates[name] = pyro.plate(name, ctx.sizes[name], dim=dim)
                stack.enter_context(self.plates[name])
            yield

    def input(self, node, ctx):
        return self.data[node.name]

    def net(self, node, ctx):
        return pyro.module(node.name, self.modules[node.name])

    def sample(self, node, fn, ctx, obs=None):
        infer = dict(node.infer)
        value = obs if obs is not None else self.data.get(node.name)
        if value is None and node.name in ctx.enumerable:
            infer.setdefault("enumerate", "parallel")
        with self._plates(node, ctx):
            return pyro.sample(node.name, fn, obs=value, infer=infer)

    def deterministic(self, node, value, ctx):
        rank = max((-self.model.ir.plates[p].dim for p in node.plates), default=0)
        with self._plates(node, ctx):
            return pyro.deterministic(node.name, value, event_dim=len(node.shape) - rank)


BACKEND = PyroBackend()
