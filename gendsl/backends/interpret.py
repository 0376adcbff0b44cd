"""Lowering: IR nodes -> small closures over one backend.

:func:`lower` turns a :class:`gendsl.ir.Program` into a list of steps once;
:func:`run` executes them against an environment. Each node type has one
lowering rule in :data:`LOWER` (a dispatch table, not an ``isinstance``
ladder). Random choices are delegated to a handler (see
:mod:`gendsl.backends.handlers`), which is how one lowering serves scoring,
sampling and the plain Pyro/NumPyro programs alike.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import ir
from ..dist import FAMILIES
from ..families.flow import BATCH_MODE
from ..shapes import concrete
from .particles import Layout

__all__ = ["Context", "lower", "run", "lower_arg", "lower_dist"]


@dataclass
class Context:
    """The state of one run of a program.

    Attributes:
        env: node name -> backend value.
        sizes: plate name -> size for this run.
        params: parameter name -> constrained backend value.
        handler: decides what each sample site does.
        dtype: backend float dtype for constants.
        nets: network name -> callable, built once per run.
        enumerable: latent sites that scoring may enumerate.
        training: ``False``, or the random stream of a training step (a chain
            with several masks then scores one random mask; see
            ``dist.Autoregressive``).
        options: the query's options for families that take them (a
            diffusion chain's sampler, ``Family.query_aware``).
        statistics: ``None``, or a dict that batch-statistics transforms
            (``transforms.BatchNorm``) fill with their input's mean and
            variance while normalising by them (population statistics).
    """

    env: dict
    sizes: dict
    params: dict
    handler: Any
    dtype: Any = None
    nets: dict = field(default_factory=dict)
    enumerable: frozenset = frozenset()
    training: Any = False
    options: dict = field(default_factory=dict)
    statistics: Any = None


def lower_arg(arg, backend) -> Callable[[Context], Any]:
    """A getter for one IR argument."""
    if isinstance(arg, ir.Ref):
        name = arg.name
        return lambda ctx: ctx.env[name]
    if isinstance(arg, ir.Const):
        value, cache = arg.value, {}

        def const(ctx):
            key = ctx.dtype
            if key not in cache:
                kind = value.dtype.kind
                dtype = "int" if kind in "iu" else "bool" if kind == "b" else "real"
                cache[key] = backend.const(value, dtype, like=ctx.dtype)
            return cache[key]

        return const
    if isinstance(arg, ir.DistSpec):
        return lower_dist(arg, backend)
    if isinstance(arg, tuple):
        parts = [lower_arg(a, backend) for a in arg]
        return lambda ctx: tuple(p(ctx) for p in parts)
    if isinstance(arg, slice):
        a, b, c = (lower_arg(x, backend) for x in (arg.start, arg.stop, arg.step))
        return lambda ctx: slice(a(ctx), b(ctx), c(ctx))
    return lambda ctx: arg


def lower_dist(spec: ir.DistSpec, backend, skip_to_event: bool = False,
               layout: "Layout | None" = None) -> Callable[[Context], Any]:
    """A builder of the backend distribution for ``spec``.

    Args:
        skip_to_event: leave out ``to_event`` wrappers (to score elementwise,
            e.g. when marginalising missing entries).
        layout: the program's :class:`~gendsl.backends.particles.Layout`, to
            align arguments whose particle axes lie at different places.
    """
    family = backend.dists[spec.family]
    align = layout.arguments(spec, FAMILIES[spec.family], backend) if layout is not None else None
    # Float literals become arrays of the run's dtype, so a float64 run stays float64.
    getters = {k: lower_arg(ir.Const(np.asarray(v, dtype=float)) if type(v) is float else v, backend)
               for k, v in spec.args.items()}
    wrappers = []
    for kind, arg in spec.wrappers:
        if kind == "to_event" and skip_to_event:
            continue
        if kind == "expand":
            shape = arg
            wrappers.append((kind, lambda ctx, s=shape: concrete(s, ctx.sizes)))
        elif kind == "mask":
            wrappers.append((kind, lower_arg(arg, backend)))
        else:
            wrappers.append((kind, lambda ctx, n=arg: n))

    run_aware, query_aware = FAMILIES[spec.family].run_aware, FAMILIES[spec.family].query_aware

    def build(ctx: Context):
        kwargs = {k: g(ctx) for k, g in getters.items()}
        if align is not None:
            kwargs = align(kwargs)
        if run_aware:  # chains and dequantisation know whether they are training, and the run's dtype
            kwargs.update(training=ctx.training, like=ctx.dtype)
        if query_aware:
            kwargs["options"] = ctx.options
        d = family(**kwargs)
        for kind, get in wrappers:
            d = backend.wrap(d, kind, get(ctx))
        return d

    if not (backend.eager and _constant(spec)):
        return build
    # A distribution of constants only (a standard-normal prior, say) is the same object every run of
    # an eager backend with the same dtype and plate sizes: built once, not once per training step.
    cache: dict = {}
    shapes = [get for kind, get in wrappers if kind == "expand"]

    def cached(ctx: Context):
        key = (ctx.dtype, *(get(ctx) for get in shapes))
        d = cache.get(key)
        if d is None:
            if len(cache) >= 32:  # many batch sizes (queries in chunks): keep the newest
                cache.clear()
            d = cache[key] = build(ctx)
        return d

    return cached


def _constant(arg) -> bool:
    """Whether a distribution argument (or a whole spec) is made of constants only:
    no node values, no parameters, no networks or transforms that read them."""
    if isinstance(arg, ir.DistSpec):
        family = FAMILIES[arg.family]
        return (not family.run_aware and not family.query_aware
                and all(_constant(v) for v in arg.args.values())
                and all(kind != "mask" or _constant(a) for kind, a in arg.wrappers))
    if isinstance(arg, (tuple, list)):
        return all(_constant(a) for a in arg)
    return isinstance(arg, (ir.Const, bool, int, float, str, np.ndarray, np.generic)) or arg is None


def _lower_input(node: ir.Input, backend):
    name = node.name

    def step(ctx):
        ctx.env[name] = ctx.handler.input(node, ctx)

    return step


def _lower_param(node: ir.Param, backend):
    name = node.name

    def step(ctx):
        ctx.env[name] = ctx.params[name]

    return step


def _lower_net(node: ir.Net, backend):
    name, spec, prefix = node.name, node.spec, node.name + "."

    batch_mode = getattr(spec, "batch_statistics", False)  # a BatchNorm transform: the run picks its statistics

    def step(ctx):
        net = ctx.nets.get(name)
        if net is None:
            params = ctx.params
            if batch_mode and (ctx.training is not False or ctx.statistics is not None):
                params = {**params, prefix + BATCH_MODE: True if ctx.statistics is None else ctx.statistics}
            net = ctx.nets[name] = ctx.handler.net(node, ctx) or backend.net(spec, params, prefix)
        ctx.env[name] = net

    return step


# ops that make real values out of integers: cast to the run's float dtype
_TO_REAL = {"astype", "one_hot"}


def _lower_op(node: ir.Op, backend, layout: "Layout | None" = None):
    name = node.name
    fn = backend.ops[node.op] if node.op != "apply" else (lambda net, x: net(x))
    node_args, kwargs = node.args, dict(node.kwargs)
    if layout is not None:  # particle and enumeration axes, where NumPy's broadcasting is not enough
        node_args, kwargs = layout.normalise(node)
        fn = layout.wrap(node, fn, backend, node_args) or fn
    args = [lower_arg(a, backend) for a in node_args]
    if node.op in _TO_REAL and node.dtype == "real":
        def step(ctx):
            ctx.env[name] = backend.to_float(fn(*[a(ctx) for a in args], **kwargs), ctx.dtype)
    elif len(args) == 1 and not kwargs:
        a0 = args[0]

        def step(ctx):
            ctx.env[name] = fn(a0(ctx))
    elif len(args) == 2 and not kwargs:
        a0, a1 = args

        def step(ctx):
            ctx.env[name] = fn(a0(ctx), a1(ctx))
    else:
        def step(ctx):
            ctx.env[name] = fn(*[a(ctx) for a in args], **kwargs)

    return step


def _lower_sample(node: ir.Sample, backend, layout: "Layout | None" = None):
    name = node.name
    build = lower_dist(node.dist, backend, layout=layout)
    obs = lower_arg(node.obs, backend) if node.obs is not None else None

    def step(ctx):
        ctx.env[name] = ctx.handler.sample(node, build(ctx), ctx, None if obs is None else obs(ctx))

    return step


def _lower_deterministic(node: ir.Deterministic, backend):
    name, get = node.name, lower_arg(node.value, backend)

    def step(ctx):
        ctx.env[name] = ctx.handler.deterministic(node, get(ctx), ctx)

    return step


LOWER: dict[type, Callable] = {
    ir.Input: _lower_input,
    ir.Covariate: _lower_input,
    ir.Param: _lower_param,
    ir.Net: _lower_net,
    ir.Op: _lower_op,
    ir.Sample: _lower_sample,
    ir.Deterministic: _lower_deterministic,
}


def lower(program: ir.Program, backend) -> list:
    """The program as a list of steps ``step(ctx)``, in program order."""
    layout = Layout(program)
    rules = {**LOWER, ir.Op: functools.partial(_lower_op, layout=layout),
             ir.Sample: functools.partial(_lower_sample, layout=layout)}
    return [rules[type(node)](node, backend) for node in program.nodes]


def run(steps: list, ctx: Context) -> Context:
    for step in steps:
        step(ctx)
    return ctx
