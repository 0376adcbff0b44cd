"""The plain Pyro / NumPyro programs: the shared lowering, each library's primitives.

:func:`compile_plain` turns a model into a ``(model_fn, guide_fn)`` pair of
its library: parameters are ``param`` sites initialised from
``model.init_params(seed)``, networks are registered with the library, sample
sites run inside their plates, and discrete latents the guide does not cover
are marked ``infer={"enumerate": "parallel"}`` so the library's
``TraceEnum_ELBO`` sums them out; so are the guide's discrete sites (M2's
``q(y | x)``), which ``TraceEnum_ELBO`` then sums over under ``q``. A backend supplies only a :class:`PPL`: the
five primitives that differ between the libraries.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

from .interpret import Context, run
from .program import Lowered

__all__ = ["PPL", "compile_plain"]


class PPL:
    """One library's primitives for the plain programs (a backend fills them).

    Attributes:
        like: the programs' float dtype spec for constants.
        data: ``{site: array-like} -> {site: library array}``.
        param: ``(ir.Param, init) -> value`` (a ``param`` site).
        network: ``(ir.Net, init) -> (() -> forward)``: built once per compile, called
            once per run (where the library registers the network's weights).
        plate: ``(name, size, dim) -> context manager``.
        sample: ``(name, fn, obs, infer) -> value``.
        deterministic: ``(name, value, event_dim) -> value``.
    """

    def __init__(self, like, data: Callable, param: Callable, network: Callable, plate: Callable,
                 sample: Callable, deterministic: Callable):
        self.like, self.data, self.param, self.network = like, data, param, network
        self.plate, self.sample, self.deterministic = plate, sample, deterministic


def compile_plain(backend, ppl: PPL, model, seed: int = 0):
    """A plain ``(model_fn, guide_fn)`` pair; both take ``data`` (a dict
    ``{site: array}``) and ``size`` (rows to draw when no data are given)."""
    init = model.init_params(seed)
    lowered = Lowered(model, backend)
    programs = [prog for prog in (model.ir, model.guide_ir) if prog is not None]
    params = [p for prog in programs for p in prog.params]
    nets = {n.name: ppl.network(n, init) for prog in programs for n in prog.nets}

    def program(steps, enumerable):
        def fn(data=None, size=None):
            data = ppl.data(data or {})
            handler = _Handler(model, data, nets, ppl)
            ctx = Context(env={}, sizes=lowered.sizes(data, size), params={p.name: ppl.param(p, init) for p in params},
                          handler=handler, dtype=ppl.like, enumerable=enumerable)
            run(steps, ctx)
            return {k: v for k, v in ctx.env.items() if not k.startswith("%")}
        return fn

    model_fn = program(lowered.steps, lowered.enumerable)
    guide_fn = (program(lowered.guide_steps, frozenset(s.name for s in lowered.discrete_guide_sites))
                if lowered.guide_steps is not None else (lambda data=None, size=None: None))
    model_fn.__name__, guide_fn.__name__ = model.name, f"{model.name}_guide"
    return model_fn, guide_fn


class _Handler:
    """Sample sites become the library's ``sample`` inside its plates (one
    plate object per plate and run, re-entered by every site in it)."""

    def __init__(self, model, data: dict, nets: dict, ppl: PPL):
        self.model, self.data, self.nets, self.ppl = model, data, nets, ppl
        self.plates: dict[str, Any] = {}

    @contextlib.contextmanager
    def _plates(self, node, ctx):
        with contextlib.ExitStack() as stack:
            for name in node.plates:
                if name not in self.plates:
                    self.plates[name] = self.ppl.plate(name, ctx.sizes[name], self.model.ir.plates[name].dim)
                stack.enter_context(self.plates[name])
            yield

    def input(self, node, ctx):
        return self.data[node.name]

    def net(self, node, ctx):
        return self.nets[node.name]()

    def sample(self, node, fn, ctx, obs=None):
        infer = dict(node.infer)
        value = obs if obs is not None else self.data.get(node.name)
        if value is None and node.name in ctx.enumerable:
            infer.setdefault("enumerate", "parallel")
        with self._plates(node, ctx):
            return self.ppl.sample(node.name, fn, value, infer)

    def deterministic(self, node, value, ctx):
        rank = max((-self.model.ir.plates[p].dim for p in node.plates), default=0)
        with self._plates(node, ctx):
            return self.ppl.deterministic(node.name, value, len(node.shape) - rank)
