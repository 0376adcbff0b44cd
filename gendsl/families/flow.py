"""Normalizing flows (``dist.TransformedDistribution``) and the arithmetic of
:mod:`gendsl.transforms` on any backend.

Each learnable transform is written once against a backend's NumPy-named ops
(plus the backend-internal ``linear``, ``solve_triangular`` and
``backend.fori_loop``), as a :class:`Bijection`: ``forward(x) -> (y,
log|det dy/dx|)`` and ``inverse(y) -> (x, log|det dy/dx|)``. The Pyro and
NumPyro backends wrap a bijection in their library's ``Transform`` class, so
both compute the same numbers the same way and a ``TransformedDistribution``
of either library runs it.

``log|det|`` always has the batch shape (the vector axis summed) and is the
forward direction's, whichever way a call goes.

A class-conditional flow (``TransformedDistribution(base, layers,
context=c)``) hands its context ``c`` ``(..., C)`` to every transform whose
spec has ``context=C`` (a coupling's MLP, a MAF's MADE); the others ignore it.
The context's batch axes broadcast with the value's, so a label enumerated
on an axis of its own (``(K, 1, C)`` beside rows ``(N, d)``) gives ``(K, N)``
log-densities, one per label, as Pyro's enumeration lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import ir
from ..dist._core import Distribution
from ..dist._families import Family, register_family
from ..errors import ModelError, ShapeError
from ..shapes import broadcast_shapes, format_shape
from ..trace import _STACK, arg_shape, as_arg, current
from ..transforms import (ActNorm, AdditiveCoupling, AffineCoupling, BatchNorm, Bijector, InverseAutoregressive,
                          InvertibleLinear, MaskedAutoregressive, Planar, Radial, StatelessTransform)
from .autoregressive import _const, made_forward

__all__ = ["TransformedDistribution", "Bijection", "BIJECTIONS", "bijection", "flow_attrs"]

# a MAF/IAF log-scale a = CLAMP * tanh(raw / CLAMP): exp(a) stays within e^-5..e^5 per layer
CLAMP = 5.0
# halvings of the planar inverse's bracket (2 |w.u| / 2^60 is below float64 resolution)
BISECTIONS = 60


@dataclass(frozen=True)
class Bijection:
    """One transform on one backend.

    Attributes:
        forward: ``x -> (y, log|det J|)``.
        inverse: ``y -> (x, log|det J|)``.
        log_det: ``(x, y) -> log|det J|`` from whichever side is one pass.
    """

    forward: Callable
    inverse: Callable
    log_det: Callable


def _broadcast_batch(backend, v, context):
    """``v`` ``(..., d)`` broadcast to the batch axes it shares with ``context`` ``(..., C)``."""
    batch = np.broadcast_shapes(tuple(v.shape[:-1]), tuple(context.shape[:-1]))
    return v if tuple(v.shape[:-1]) == batch else backend.broadcast_to(v, batch + tuple(v.shape[-1:]))


def _joined(backend, v, context):
    """``(v, context)`` concatenated on the last axis, their batch axes broadcast first."""
    v = _broadcast_batch(backend, v, context)
    context = _broadcast_batch(backend, context, v)
    return backend.ops["concatenate"](v, context, axis=-1)


def _batch_zeros(ops, x):
    return ops["zeros_like"](ops["getitem"](x, Ellipsis, 0))


def _constant_log_det(ops, value, x):
    return _batch_zeros(ops, x) + value


def coupling(backend, spec, params, prefix, context=None) -> Bijection:
    """NICE's additive and RealNVP's affine coupling, with a 0/1 mask over the
    coordinates (kept coordinates condition the MLP and pass unchanged; a
    conditional coupling's MLP reads the context after them)."""
    ops = backend.ops
    net = backend.net(spec.conditioner(), params, prefix)
    like = backend.like(params[f"{prefix}0.weight"])
    keep = _const(backend, (spec, "keep"), spec.keep(), like)
    change = _const(backend, (spec, "change"), 1.0 - spec.keep(), like)
    affine = isinstance(spec, AffineCoupling)
    scale = params.get(prefix + "scale")

    def shift_and_log_scale(kept):
        out = net(kept if context is None else _joined(backend, kept, context))
        if not affine:
            return out, None
        shift, raw = ops["slice_axis"](out, 0, spec.dim, -1), ops["slice_axis"](out, spec.dim, 2 * spec.dim, -1)
        return shift, change * scale * ops["tanh"](raw)          # (..., dim), zero on kept coordinates

    def forward(x):
        shift, s = shift_and_log_scale(x * keep)
        if s is None:
            return x + change * shift, _batch_zeros(ops, x)
        return x * ops["exp"](s) + change * shift, ops["sum"](s, axis=-1)

    def inverse(y):
        shift, s = shift_and_log_scale(y * keep)
        if s is None:
            return y - change * shift, _batch_zeros(ops, y)
        return (y - change * shift) * ops["exp"](-s), ops["sum"](s, axis=-1)

    def log_det(x, y):
        return forward(x)[1] if affine else _batch_zeros(ops, x)

    return Bijection(forward, inverse, log_det)


def autoregressive(backend, spec, params, prefix, context=None) -> Bijection:
    """MAF (one pass from data to noise) and IAF (one pass from noise to data);
    with a context, a conditional MADE (the context feeds its first layer).

    The slow direction iterates ``v <- f(v)`` ``dim`` times: after ``k``
    iterations the first ``k`` coordinates in the ordering are exact, because
    coordinate ``i`` depends only on coordinates before it.
    """
    ops = backend.ops
    made = made_forward(backend, spec.made(), params, prefix,
                        None if context is None else params[prefix + "context.weight"])

    def shift_and_log_scale(v):
        out = made(v, context=context)                            # (..., dim, 2)
        shift, raw = out[..., 0], out[..., 1]
        return shift, CLAMP * ops["tanh"](raw / CLAMP)

    def affine(x, cond):                                          # y = x exp(a(cond)) + m(cond)
        shift, a = shift_and_log_scale(cond)
        return x * ops["exp"](a) + shift, ops["sum"](a, axis=-1)

    def unaffine(y, cond):                                        # x = (y - m(cond)) exp(-a(cond))
        shift, a = shift_and_log_scale(cond)
        return (y - shift) * ops["exp"](-a), ops["sum"](a, axis=-1)

    def iterate(fn, target):
        if context is not None:  # the loop's carry keeps one shape: the context's batch axes from the start
            target = _broadcast_batch(backend, target, context)
        start = ops["zeros_like"](target)
        v = backend.fori_loop(spec.dim, lambda v: fn(target, v)[0], start)
        return fn(target, v)  # one more pass gives the log-determinant at the fixed point

    if isinstance(spec, MaskedAutoregressive):  # conditions on the data side y
        return Bijection(forward=lambda x: iterate(lambda t, v: affine(t, v), x),
                         inverse=lambda y: unaffine(y, y),
                         log_det=lambda x, y: ops["sum"](shift_and_log_scale(y)[1], axis=-1))
    return Bijection(forward=lambda x: affine(x, x),                # IAF conditions on the noise side x
                     inverse=lambda y: iterate(lambda t, v: unaffine(t, v), y),
                     log_det=lambda x, y: ops["sum"](shift_and_log_scale(x)[1], axis=-1))


def actnorm(backend, spec, params, prefix) -> Bijection:
    """``y = x * exp(log_scale) + loc``."""
    ops = backend.ops
    loc, log_scale = params[prefix + "loc"], params[prefix + "log_scale"]

    def log_det(x, y=None):
        return _constant_log_det(ops, ops["sum"](log_scale), x)

    return Bijection(forward=lambda x: (x * ops["exp"](log_scale) + loc, log_det(x)),
                     inverse=lambda y: ((y - loc) * ops["exp"](-log_scale), log_det(y)),
                     log_det=log_det)


def invertible_linear(backend, spec, params, prefix) -> Bijection:
    """``y = P L U x`` with unit-lower ``L`` and upper ``U`` (diagonal
    ``sign * exp(log_diag)``); the inverse is two triangular solves."""
    ops = backend.ops
    lu = spec.lu()
    log_diag = params[prefix + "log_diag"]
    like = backend.like(log_diag)
    eye = _const(backend, (spec, "eye"), np.eye(spec.dim), like)
    sign = _const(backend, (spec, "sign"), lu["sign"], like)
    lower = ops["tril"](params[prefix + "lower"], -1) + eye
    upper = ops["triu"](params[prefix + "upper"], 1) + eye * (sign * ops["exp"](log_diag))
    perm, unperm = lu["perm"], np.argsort(lu["perm"])

    def log_det(x, y=None):
        return _constant_log_det(ops, ops["sum"](log_diag), x)

    def forward(x):                                               # rows: y = x U^T L^T, then P
        y = ops["matmul"](ops["matmul"](x, ops["transpose"](upper)), ops["transpose"](lower))
        return ops["getitem"](y, Ellipsis, perm), log_det(x)

    def inverse(y):
        v = ops["getitem"](y, Ellipsis, unperm)                   # P^T y
        v = ops["solve_triangular"](lower, v, lower=True, unit=True)
        return ops["solve_triangular"](upper, v, lower=False, unit=False), log_det(y)

    return Bijection(forward, inverse, log_det)


def planar(backend, spec, params, prefix) -> Bijection:
    """``y = x + u_hat tanh(w . x + b)``; the inverse bisects for ``a = w . x``
    in ``a + (w . u_hat) tanh(a + b) = w . y``, increasing in ``a``."""
    ops = backend.ops
    u, w, b = params[prefix + "u"], params[prefix + "w"], params[prefix + "b"]
    wu = ops["sum"](w * u)
    u_hat = u + (ops["softplus"](wu) - 1.0 - wu) * w / ops["sum"](w * w)
    w_u_hat = ops["sum"](w * u_hat)                               # >= -1

    def log_det_at(pre):                                          # pre = w . x + b
        t = ops["tanh"](pre)
        return ops["log"](ops["abs"](1.0 + (1.0 - t * t) * w_u_hat))

    def forward(x):
        pre = ops["sum"](x * w, axis=-1) + b
        return x + ops["expand_dims"](ops["tanh"](pre), -1) * u_hat, log_det_at(pre)

    def inverse(y):
        target = ops["sum"](y * w, axis=-1)
        reach = ops["abs"](w_u_hat)

        def halve(bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            above = mid + w_u_hat * ops["tanh"](mid + b) > target
            return ops["where"](above, lo, mid), ops["where"](above, mid, hi)

        lo, hi = backend.fori_loop(BISECTIONS, halve, (target - reach - 1.0, target + reach + 1.0))
        pre = 0.5 * (lo + hi) + b
        return y - ops["expand_dims"](ops["tanh"](pre), -1) * u_hat, log_det_at(pre)

    return Bijection(forward, inverse, lambda x, y: forward(x)[1])


def radial(backend, spec, params, prefix) -> Bijection:
    """``y = x + beta (x - x0) / (alpha + r)``; the inverse solves
    ``r^2 + (alpha + beta - |y - x0|) r - alpha |y - x0| = 0`` for ``r``."""
    ops = backend.ops
    x0 = params[prefix + "x0"]
    alpha = ops["softplus"](params[prefix + "alpha_prime"])
    beta = -alpha + ops["softplus"](params[prefix + "beta_prime"])
    d = spec.dim

    def log_det_at(r):
        h = 1.0 / (alpha + r)
        return (d - 1) * ops["log1p"](beta * h) + ops["log1p"](beta * h - beta * r * h * h)

    def norm(v):
        return ops["sqrt"](ops["sum"](v * v, axis=-1))

    def forward(x):
        diff = x - x0
        r = norm(diff)
        return x + ops["expand_dims"](beta / (alpha + r), -1) * diff, log_det_at(r)

    def inverse(y):
        diff = y - x0
        ry = norm(diff)
        c = alpha + beta - ry
        r = 0.5 * (-c + ops["sqrt"](c * c + 4.0 * alpha * ry))
        return x0 + diff / ops["expand_dims"](1.0 + beta / (alpha + r), -1), log_det_at(r)

    return Bijection(forward, inverse, lambda x, y: log_det_at(norm(x - x0)))


# the key under which a run passes a batch-statistics transform its mode (see interpret._lower_net):
# absent in evaluation; True while training; a dict to collect population statistics into
BATCH_MODE = "$batch"


def batch_norm(backend, spec, params, prefix) -> Bijection:
    """``z = (y - mean) / sqrt(var + eps) * exp(log_gamma) + beta`` from data ``y``
    to noise ``z`` (the inverse); ``mean``/``var`` the batch's in a training
    run, else the stored population statistics (no gradient)."""
    ops = backend.ops
    log_gamma, beta = params[prefix + "log_gamma"], params[prefix + "beta"]
    mode = params.get(prefix + BATCH_MODE)
    stored = (backend.stop_gradient(params[prefix + "mean"]),
              ops["exp"](backend.stop_gradient(params[prefix + "log_var"])))

    def statistics(y):
        if mode is None:
            return stored
        rows = ops["reshape"](y, (-1, spec.dim))
        mean = ops["mean"](rows, axis=0)
        var = ops["mean"](ops["square"](rows - mean), axis=0)
        if isinstance(mode, dict):
            mode[spec.name] = (mean, var)
        return mean, var

    def log_det_of(var, like):  # the forward (noise-to-data) direction's
        return _constant_log_det(ops, ops["sum"](0.5 * ops["log"](var + spec.eps) - log_gamma), like)

    def forward(x):
        mean, var = stored
        y = (x - beta) * ops["exp"](-log_gamma) * ops["sqrt"](var + spec.eps) + mean
        return y, log_det_of(var, x)

    def inverse(y):
        mean, var = statistics(y)
        return (y - mean) / ops["sqrt"](var + spec.eps) * ops["exp"](log_gamma) + beta, log_det_of(var, y)

    def log_det(x, y):
        return log_det_of(stored[1] if mode is None else statistics(y)[1], x)

    return Bijection(forward, inverse, log_det)


# transform spec type -> bijection builder
BIJECTIONS = {
    AdditiveCoupling: coupling, AffineCoupling: coupling,
    MaskedAutoregressive: autoregressive, InverseAutoregressive: autoregressive,
    ActNorm: actnorm, BatchNorm: batch_norm, InvertibleLinear: invertible_linear, Planar: planar, Radial: radial,
}


def bijection(backend, spec, params: dict, prefix: str, context=None) -> Bijection:
    """The :class:`Bijection` of transform ``spec`` with weights ``params[prefix + key]``,
    conditioned on ``context`` ``(..., spec.context)`` where the spec reads one."""
    build = BIJECTIONS[type(spec)]
    if not spec.context:
        return build(backend, spec, params, prefix)
    if context is None:  # the network step builds it before its flow conditions it (``condition(context)``)
        def unconditioned(*args):
            raise ModelError(f"transform {spec.name!r} reads a context of width {spec.context} but none was "
                             f"given: pass dist.TransformedDistribution(base, layers, context=c)")
        return Bijection(unconditioned, unconditioned, unconditioned)
    return build(backend, spec, params, prefix, context=context)


def TransformedDistribution(base_dist: Distribution, transforms, context=None) -> Distribution:
    """A normalizing flow: ``x = t_n(... t_1(z))`` with ``z ~ base_dist``, so
    ``log p(x) = log p_base(z) - sum_i log|det J_{t_i}|``.

    Args:
        base_dist: a distribution with event shape ``(d,)`` (e.g.
            ``dist.Normal(0., 1.).expand([d]).to_event(1)``).
        transforms: a list of :mod:`gendsl.transforms` specs (or one), each
            of dimension ``d``, applied in order from the base to the data.
        context: a conditioning vector ``c`` of shape ``(..., C)`` (a one-hot
            label, ``ops.one_hot(y, K)``) for the transforms built with
            ``context=C`` (couplings, MAF/IAF layers), which read it in their
            conditioner: the flow is then ``p(x | c)``, exact for every ``c``.

    Returns:
        A distribution with the base's event shape, and the batch shape of the
        base and the context's batch axes broadcast. Backends build their
        library's ``TransformedDistribution``; graphs list the chain.

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist, transforms as T
        >>> @gd.model
        ... def nice(x_dim=4):
        ...     base = dist.Logistic(0.0, 1.0).expand([x_dim]).to_event(1)
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.TransformedDistribution(
        ...             base, [T.AdditiveCoupling("c1", x_dim), T.AdditiveCoupling("c2", x_dim, parity=1)]))
        >>> nice().ir["x"].shape
        (N_data, 4)
    """
    if not isinstance(base_dist, Distribution):
        raise ModelError(f"dist.TransformedDistribution: base_dist must be a gendsl distribution, "
                         f"got {type(base_dist).__name__}")
    transforms = list(transforms) if isinstance(transforms, (list, tuple)) else [transforms]
    if len(base_dist.event_shape) != 1:
        raise ShapeError(
            f"dist.TransformedDistribution: the base distribution's event shape is "
            f"{format_shape(base_dist.event_shape)}, but flows transform vectors: give the base an event "
            f"shape (d,), e.g. dist.Normal(0., 1.).expand([d]).to_event(1)"
        )
    d = base_dist.event_shape[0]
    for i, t in enumerate(transforms):
        if not isinstance(t, (Bijector, StatelessTransform)):
            raise ModelError(f"dist.TransformedDistribution: transform {i} is a {type(t).__name__}; "
                             f"use the specs of gendsl.transforms (AffineCoupling, Permute, ...)")
        if t.dim != d:
            what = getattr(t, "name", None) or type(t).__name__
            raise ShapeError(f"dist.TransformedDistribution: transform {i} ({what!r}) has dim {t.dim} but the "
                             f"base distribution's event shape is ({d},); give every transform dim={d}")
    if not transforms:
        raise ModelError("dist.TransformedDistribution needs at least one transform")
    batch, context = base_dist.batch_shape, _check_context(transforms, context)
    if context is not None:
        batch = broadcast_shapes(batch, arg_shape(context)[:-1], what="dist.TransformedDistribution context")
    if _STACK:
        tracer = current("dist.TransformedDistribution")
        for t in transforms:
            if isinstance(t, Bijector):
                t._register(tracer)
    args = {"base_dist": base_dist.spec,
            "transforms": tuple(ir.Ref(t.name) if isinstance(t, Bijector) else t for t in transforms),
            "specs": tuple(transforms)}
    if context is not None:
        args["context"] = context
    return Distribution(ir.DistSpec("TransformedDistribution", args, (), batch, base_dist.event_shape))


def _check_context(transforms, context):
    """``context`` as an IR argument, checked against the transforms that read one."""
    widths = {t.name: t.context for t in transforms if isinstance(t, Bijector) and t.context}
    if context is None:
        if widths:
            raise ModelError(f"dist.TransformedDistribution: transforms {sorted(widths)} read a context "
                             f"(widths {sorted(set(widths.values()))}) but none was given: pass context=c, "
                             f"e.g. context=ops.one_hot(y, K)")
        return None
    if not widths:
        raise ModelError("dist.TransformedDistribution: a context was given but no transform reads one; build "
                         "the couplings or MAF layers with context=C (the context's width)")
    arg = as_arg(context)
    shape = arg_shape(arg) if isinstance(arg, (ir.Ref, ir.Const)) else ()
    wrong = {n: w for n, w in widths.items() if not shape or shape[-1] != w}
    if wrong:
        raise ShapeError(f"dist.TransformedDistribution: the context has shape {format_shape(shape)}, but "
                         f"transforms {sorted(wrong)} read a context of width {sorted(set(wrong.values()))} "
                         f"on its last axis")
    return arg


def _encode(backend, spec, d, x):
    """Data -> the base space: the transforms inverted, last first."""
    for t in reversed(backend.unwrap(d).transforms):
        x = t.inv(x)
    return x


def _decode(backend, spec, d, z):
    """Base-space values -> data: the transforms applied in order."""
    for t in backend.unwrap(d).transforms:
        z = t(z)
    return z


# a flow node lists at most this many transforms, then "... n more"
FLOW_LINES = 12


def flow_attrs(node: ir.Sample, observed: bool, spec=None, header=()) -> dict:
    """A flow as one graph node listing its base distribution and transform
    chain (the transforms' weights are not drawn as separate networks);
    ``spec`` and ``header`` let a wrapping family (dequantisation) show its flow."""
    spec = node.dist if spec is None else spec
    base = spec.args["base_dist"]
    chain = spec.args["specs"]
    lines = [f"base {base.family} {format_shape(base.event_shape)}", *_chain_lines(chain)]
    if len(lines) > FLOW_LINES:
        lines = lines[:FLOW_LINES - 1] + [f"... {len(lines) - FLOW_LINES + 1} more"]
    return {
        "kind": "flow",
        "dist": node.dist.family,
        "event_shape": format_shape(node.event_shape),
        "observed": observed,
        "caption": "\n".join([f"flow of {len(chain)} transform{'s' if len(chain) > 1 else ''}", *header, *lines]),
    }


def _chain_lines(chain) -> list:
    """One line per transform, with a repeated block of kinds written once:
    ``"4 x [ActNorm(2) -> InvertibleLinear(2, LU) -> AffineCoupling(...)]"``."""
    if not chain:
        return []
    kinds = [type(t).__name__ for t in chain]
    for period in range(1, 5):
        repeats = 1
        while kinds[repeats * period:(repeats + 1) * period] == kinds[:period]:
            repeats += 1
        if repeats >= 2 and repeats * period >= 4:
            block = " -> ".join(t.label() for t in chain[:period])
            return [f"{repeats} x [{block}]"] + _chain_lines(chain[repeats * period:])
    return [chain[0].label()] + _chain_lines(chain[1:])


def _builder(backend, library):
    """The library's ``TransformedDistribution`` over gendsl's transforms (learnable
    ones arrive as the backend's transforms, stateless ones as their specs)."""
    def build(base_dist, transforms, specs, context=None):
        chain = [backend.stateless(t) if isinstance(t, StatelessTransform)
                 else t.condition(context) if context is not None and spec.context else t
                 for t, spec in zip(transforms, specs)]
        if context is not None:  # the context's batch axes (rows, an enumerated label's axis) are the flow's
            batch = np.broadcast_shapes(backend.batch_shape(base_dist), tuple(context.shape[:-1]))
            if batch != backend.batch_shape(base_dist):
                base_dist = backend.wrap(base_dist, "expand", batch)
        return backend.transformed_distribution(base_dist, chain)
    return build


# TransformedDistribution takes a distribution and transforms; the constructor works out its shapes.
# The libraries have the family: each backend builds its own with gendsl's transforms.
register_family(Family("TransformedDistribution", {}, (("base_dist", "transforms"),), builder=_builder,
                       constructor=TransformedDistribution, encode=_encode, decode=_decode, graph=flow_attrs))
