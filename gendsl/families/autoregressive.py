"""Autoregressive chains (``dist.Autoregressive``): masked networks and their conditionals.

The arithmetic is written once against a backend's NumPy-named ops (plus two
backend-internal ones, ``linear`` and ``take0``) and its runtime (draws,
loops), in one neutral distribution :class:`AutoregressiveImpl`, so the Pyro
and NumPyro chains compute the same numbers the same way: one masked pass
scores the whole chain, sampling runs it position by position (a Python loop
under PyTorch, ``lax.fori_loop`` under JAX).

Network outputs have shape ``(..., x_dim, params_per_dim)``; output ``d``
depends only on the inputs before ``d`` in the network's ordering.
"""

from __future__ import annotations

import abc
import math

import numpy as np

from .. import ir
from ..dist._core import Distribution
from ..dist._families import Family, register_family
from ..errors import ModelError
from ..nn import GRU, MADE, NADE, AutoregressiveNet
from ..shapes import format_shape
from ..trace import _STACK, Value, as_arg, current
from ._base import Implementation, Support, broadcast

__all__ = ["Autoregressive", "CONDITIONALS", "FORWARDS", "ChainRecursion", "GRUForward", "NADEForward",
           "chain_log_prob", "conditional_log_prob", "draw", "net_input", "positions"]

_CONSTS: dict = {}


def _const(backend, key, value, like):
    """``value`` as a backend constant, converted once per (network, dtype, device)."""
    cache_key = (backend.name, key, str(like))
    out = _CONSTS.get(cache_key)
    if out is None:
        out = _CONSTS[cache_key] = backend.const(value, "real", like=like)
    return out


def made_forward(backend, spec: MADE, params: dict, prefix: str, context_weight=None):
    """``forward(x, mask=None, context=None)``: the masked MLP; ``mask`` indexes
    the mask set. ``context`` ``(..., c)`` (with ``context_weight`` ``(width, c)``)
    is added, unmasked, to the first layer: a conditional MADE, every unit
    depending on it (its batch axes broadcast with those of ``x``)."""
    ops, act = backend.ops, backend.activations[spec.activation]
    n = len(spec.hidden) + 1
    layers = [(params[f"{prefix}{i}.weight"], params[f"{prefix}{i}.bias"]) for i in range(n)]
    like = backend.like(layers[0][0])
    masks = [_const(backend, (spec, i), m, like) for i, m in enumerate(spec.masks())]
    out_shape = (spec.x_dim, spec.params_per_dim)
    if spec.direct:
        w_direct = params[prefix + "direct.weight"]
        m_direct = _const(backend, (spec, "direct"), spec.direct_masks(), like)

    def forward(x, mask=None, context=None):
        m = 0 if mask is None else mask
        inputs = x
        for i, (w, b) in enumerate(layers):
            x = ops["linear"](x, w * ops["take0"](masks[i], m), b)
            if i == 0 and context is not None:
                x = x + ops["matmul"](context, ops["transpose"](context_weight))
            if i < n - 1:
                x = act(x)
        if spec.direct:
            x = x + ops["matmul"](inputs, ops["transpose"](w_direct * ops["take0"](m_direct, m)))
        return ops["reshape"](x, tuple(x.shape[:-1]) + out_shape)

    return forward


class ChainRecursion(abc.ABC):
    """A network whose sampler carries a state from position to position
    instead of rerunning the whole pass: :meth:`start` the state, the
    :meth:`output` of ordering position ``i`` from it, :meth:`advance` it by
    the value drawn there; ``inverse`` maps ordering positions back to dimensions."""

    inverse: np.ndarray

    @abc.abstractmethod
    def start(self, like):
        """The state before the first position, for every row of ``like``."""

    @abc.abstractmethod
    def output(self, a, i):
        """The network's output for ordering position ``i`` from state ``a``."""

    @abc.abstractmethod
    def advance(self, a, i, value):
        """State ``a`` after reading ``value``, drawn at ordering position ``i``."""


class NADEForward(ChainRecursion):
    """NADE's network: ``forward(x, mask=None)`` in one vectorised pass, and
    the ``O(x_dim * hidden)`` recursion that sampling runs position by position.

    In ordering position ``i``, ``a_i = c + sum_{j < i} W[:, o_j] x_{o_j}``
    is an exclusive cumulative sum over positions, so the hidden states of
    every conditional come from one ``cumsum`` of shape ``(..., x_dim, hidden)``
    (of the inputs shifted by one position, behind a constant 1 that carries ``c``).
    A sampler instead keeps ``a`` and adds one column per drawn input
    (:meth:`start`, :meth:`output`, :meth:`advance`, all in ordering positions).
    """

    def __init__(self, backend, spec: NADE, params: dict, prefix: str):
        ops = self.ops = backend.ops
        self.act = backend.activations[spec.activation]
        d, h, p = spec.x_dim, spec.hidden, spec.params_per_dim
        w_in, self.c = params[prefix + "in.weight"], params[prefix + "in.bias"]
        w_out = ops["reshape"](params[prefix + "out.weight"], (d, p, h))
        b_out = ops["reshape"](params[prefix + "out.bias"], (d, p))
        self.order = spec.orderings[0]
        self.natural = bool(np.array_equal(self.order, np.arange(d)))
        self.inverse = np.argsort(self.order)
        if not self.natural:  # everything in ordering positions
            w_in = ops["getitem"](w_in, slice(None), self.order)
            w_out = ops["getitem"](w_out, self.order)
            b_out = ops["getitem"](b_out, self.order)
        self.w_cols, self.w_out, self.b_out = ops["transpose"](w_in), w_out, b_out   # (d, h), (d, p, h), (d, p)
        # the sum is exclusive, so position i adds input i-1: shift the inputs right by one and
        # let a constant 1 in front carry the bias, so one cumsum gives every a_i
        self.w_shift = ops["concatenate"](ops["expand_dims"](self.c, 0),
                                          ops["getitem"](self.w_cols, slice(None, -1)), axis=0)

    def __call__(self, x, mask=None):
        ops = self.ops
        if not self.natural:
            x = ops["getitem"](x, Ellipsis, self.order)
        x_shift = ops["concatenate"](ops["ones_like"](ops["getitem"](x, Ellipsis, slice(None, 1))),
                                     ops["getitem"](x, Ellipsis, slice(None, -1)), axis=-1)
        hidden = self.act(ops["cumsum"](ops["expand_dims"](x_shift, -1) * self.w_shift, axis=-2))   # (..., d, h)
        out = ops["einsum"]("...dh,dph->...dp", hidden, self.w_out) + self.b_out
        if not self.natural:
            out = ops["getitem"](out, Ellipsis, self.inverse, slice(None))
        return out

    def start(self, like):
        """``a_0 = c`` for every row of ``like`` (shape ``(..., x_dim)``): ``(..., hidden)``."""
        return self.ops["zeros_like"](self.ops["getitem"](like, Ellipsis, slice(None, 1))) + self.c

    def output(self, a, i):
        """The network's output for ordering position ``i``: ``(..., 1, params_per_dim)``."""
        ops = self.ops
        out = ops["matmul"](self.act(a), ops["transpose"](ops["take0"](self.w_out, i))) + ops["take0"](self.b_out, i)
        return ops["expand_dims"](out, -2)

    def advance(self, a, i, value):
        """``a_{i+1}``: ``a_i`` plus input ``i``'s column times its value (``(..., 1)``)."""
        return a + value * self.ops["take0"](self.w_cols, i)


class GRUForward(ChainRecursion):
    """:class:`gendsl.nn.GRU`: ``forward(x, mask=None)`` scores a token sequence
    ``(..., T)`` in one teacher-forced pass, ``(..., T, vocab)`` logits; sampling
    carries the state ``h`` (``(..., hidden)``) from token to token.

    The input projections of all positions come from one matmul; only
    ``h W_hh^T`` runs inside the scan over time (a Python loop under PyTorch,
    ``lax.scan`` under JAX).
    """

    def __init__(self, backend, spec: GRU, params: dict, prefix: str):
        self.backend, self.ops, self.spec = backend, backend.ops, spec
        self.table = params[prefix + "embed.weight"]                                   # (vocab + 1, embed)
        self.w_ih, self.b_ih = params[prefix + "ih.weight"], params[prefix + "ih.bias"]
        self.w_hh, self.b_hh = params[prefix + "hh.weight"], params[prefix + "hh.bias"]
        self.w_out, self.b_out = params[prefix + "out.weight"], params[prefix + "out.bias"]
        self.inverse = np.arange(spec.x_dim)

    def _embed(self, tokens):
        """The input projections of ``tokens`` (reals holding integers): ``(..., 3 * hidden)``."""
        ops = self.ops
        return ops["linear"](ops["take0"](self.table, ops["astype"](tokens, "int")), self.w_ih, self.b_ih)

    def _cell(self, h, gi):
        """One GRU step from ``h`` ``(..., H)`` and the input projection ``gi`` ``(..., 3H)``."""
        ops, n = self.ops, self.spec.hidden
        gh = ops["linear"](h, self.w_hh, self.b_hh)
        part = lambda g, k: ops["slice_axis"](g, k * n, (k + 1) * n, -1)  # noqa: E731
        r = ops["sigmoid"](part(gi, 0) + part(gh, 0))
        z = ops["sigmoid"](part(gi, 1) + part(gh, 1))
        new = ops["tanh"](part(gi, 2) + r * part(gh, 2))
        return (1.0 - z) * new + z * h

    def __call__(self, x, mask=None):
        ops, b = self.ops, self.backend
        start = ops["zeros_like"](ops["getitem"](x, Ellipsis, slice(None, 1))) + float(self.spec.vocab)
        previous = ops["concatenate"](start, ops["getitem"](x, Ellipsis, slice(None, -1)), axis=-1)  # (..., T)
        gi = self._embed(previous)                                                          # (..., T, 3H)
        nd = gi.ndim
        gi = ops["transpose"](gi, (nd - 2,) + tuple(range(nd - 2)) + (nd - 1,))            # (T, ..., 3H)

        def body(h, t):
            h = self._cell(h, ops["take0"](gi, t))
            return h, h

        h0 = ops["zeros_like"](ops["slice_axis"](ops["take0"](gi, 0), 0, self.spec.hidden, -1))
        _, hs = b.scan(self.spec.x_dim, body, h0)                                           # (T, ..., H)
        hs = ops["transpose"](hs, tuple(range(1, nd - 1)) + (0, nd - 1))                    # (..., T, H)
        return ops["linear"](hs, self.w_out, self.b_out)                                    # (..., T, vocab)

    def start(self, like):
        """``h`` after the start token, for every row of ``like`` (``(..., T)``): ``(..., hidden)``."""
        ops = self.ops
        h0 = ops["zeros_like"](ops["getitem"](like, Ellipsis, slice(None, 1))) * ops["zeros_like"](
            ops["slice_axis"](self.b_hh, 0, self.spec.hidden, -1))
        start = ops["zeros_like"](ops["getitem"](like, Ellipsis, 0)) + float(self.spec.vocab)   # (...,)
        return self._cell(h0, self._embed(start))

    def output(self, h, i):
        """The logits of position ``i``'s token: ``(..., 1, vocab)``."""
        return self.ops["expand_dims"](self.ops["linear"](h, self.w_out, self.b_out), -2)

    def advance(self, h, i, value):
        """``h`` after reading the token drawn at ``i`` (``value``, ``(..., 1)``)."""
        return self._cell(h, self._embed(self.ops["squeeze"](value, -1)))


# network spec type -> functional forward builder (FVSBN is a MADE without hidden layers)
FORWARDS = {MADE: made_forward, NADE: NADEForward, GRU: GRUForward}


def forward_for(spec):
    for cls in type(spec).__mro__:
        if cls in FORWARDS:
            return FORWARDS[cls]
    raise TypeError(f"no autoregressive forward for {type(spec).__name__}")


def net_input(backend, family, x, spec):
    """What the network reads: 0/1 and reals as they are, K levels as
    ``x / (K - 1)``, one-hot vectors for a MADE with ``input_levels``, or the
    tokens themselves for a network that embeds them (``input_tokens``, nn.GRU)."""
    if getattr(spec, "input_tokens", False):
        return x
    levels = getattr(spec, "input_levels", 0)
    if levels:
        ops = backend.ops
        onehot = backend.to_float(ops["one_hot"](ops["astype"](x, "int"), levels), backend.like(x))
        return ops["reshape"](onehot, tuple(x.shape[:-1]) + (x.shape[-1] * levels,))
    if family == "Categorical":
        return x / float(spec.params_per_dim - 1)
    return x


def conditional_log_prob(backend, family, out, x):
    """Per-dimension ``log p(x_d | x_<d)``, shape ``(..., x_dim)``."""
    ops = backend.ops
    if family == "Bernoulli":
        logits = ops["squeeze"](out, -1)
        return x * logits - ops["softplus"](logits)
    if family == "Categorical":
        k = out.shape[-1]
        onehot = backend.to_float(ops["one_hot"](ops["astype"](x, "int"), k), backend.like(out))
        return ops["sum"](onehot * ops["log_softmax"](out, axis=-1), axis=-1)
    logits, loc, log_scale = _mixture(ops, out)
    z = (ops["expand_dims"](x, -1) - loc) * ops["exp"](-log_scale)
    comp = -0.5 * z * z - log_scale - 0.5 * math.log(2 * math.pi)
    return ops["logsumexp"](ops["log_softmax"](logits, axis=-1) + comp, axis=-1)


def _mixture(ops, out):
    c = out.shape[-1] // 3
    logits = ops["slice_axis"](out, 0, c, -1)
    loc = ops["slice_axis"](out, c, 2 * c, -1)
    log_scale = ops["clip"](ops["slice_axis"](out, 2 * c, 3 * c, -1), -7.0, 7.0)
    return logits, loc, log_scale


def chain_log_prob(backend, net, spec, family, x, mask):
    """``log p(x)`` summed over the chain, shape ``x.shape[:-1]``.

    ``mask=None`` with several masks: the uniform mixture over masks
    (``logsumexp_m log p_m(x) - log M``); else the chain of that mask.
    """
    ops = backend.ops
    inp = net_input(backend, family, x, spec)
    if mask is not None or spec.num_masks == 1:
        return ops["sum"](conditional_log_prob(backend, family, net(inp, mask), x), axis=-1)
    per_mask = [ops["sum"](conditional_log_prob(backend, family, net(inp, m), x), axis=-1)
                for m in range(spec.num_masks)]
    return ops["logsumexp"](ops["stack"](*per_mask, axis=0), axis=0) - math.log(spec.num_masks)


def draw(backend, family, out, uniform, normal):
    """One draw of every dimension from its conditional (as reals of ``out``'s
    dtype), given ``uniform(shape)`` / ``normal(shape)`` noise makers."""
    ops, like = backend.ops, backend.like(out)
    if family == "Bernoulli":
        logits = ops["squeeze"](out, -1)
        return backend.to_float(ops["less"](uniform(tuple(logits.shape)), ops["sigmoid"](logits)), like)
    if family == "Categorical":
        gumbel = -ops["log"](-ops["log"](uniform(tuple(out.shape))))
        return backend.to_float(ops["argmax"](out + gumbel, axis=-1), like)
    logits, loc, log_scale = _mixture(ops, out)
    gumbel = -ops["log"](-ops["log"](uniform(tuple(logits.shape))))
    pick = backend.to_float(ops["one_hot"](ops["argmax"](logits + gumbel, axis=-1), logits.shape[-1]), like)
    mean = ops["sum"](pick * loc, axis=-1)
    scale = ops["sum"](pick * ops["exp"](log_scale), axis=-1)
    return mean + scale * normal(tuple(mean.shape))


def positions(spec) -> np.ndarray:
    """``(num_masks, x_dim)``: the position of each dimension in each ordering."""
    return np.argsort(spec.orderings, axis=1)


# conditional family of a chain -> what its network gives per dimension
CONDITIONALS = {
    "Bernoulli": "logits",
    "Categorical": "logits of the K levels",
    "NormalMixture": "mixture logits, means and log-scales of C components (3C numbers)",
}


def Autoregressive(net, family: str = "Bernoulli", mask=None) -> Distribution:
    """An autoregressive chain ``p(x) = prod_i p(x_{o_i} | x_{o_<i})`` as one
    distribution with event shape ``(x_dim,)``.

    The network (:class:`gendsl.nn.MADE`, :class:`gendsl.nn.FVSBN`,
    :class:`gendsl.nn.NADE`, or :class:`gendsl.nn.GRU` over tokens) gives
    every conditional's parameters in one masked (or teacher-forced) pass, so
    ``log_prob`` is one vectorised computation however long the chain;
    ``sample`` runs the chain in order, one network pass per position (or one
    state update, for NADE and a GRU). It is one node in the IR and is drawn as a collapsed chain
    ``x_i | x_<i``.

    Args:
        net: an autoregressive network spec; its ``params_per_dim`` must suit ``family``.
        family: the conditionals: ``"Bernoulli"`` (values 0/1, 1 logit per
            dimension), ``"Categorical"`` (values 0..K-1, K logits; the network
            reads ``x / (K - 1)``) or ``"NormalMixture"`` (real values, C
            components: 3C numbers, the RNADE conditional).
        mask: for a network with several masks: an index picks one mask;
            ``None`` makes the chain the uniform mixture over all masks
            (``log_prob`` averages their probabilities; training draws one
            mask per step, as Germain et al. do).

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist, nn
        >>> @gd.model
        ... def chain(x_dim=6):
        ...     made = nn.MADE("made", x_dim, hidden=[16])
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.Autoregressive(made, "Bernoulli"))
        >>> chain().ir["x"].shape
        (N_data, 6)
    """
    if not isinstance(net, AutoregressiveNet):
        raise ModelError(
            f"dist.Autoregressive needs an autoregressive network (nn.MADE, nn.FVSBN, nn.NADE or nn.GRU), "
            f"got {type(net).__name__}"
        )
    if family not in CONDITIONALS:
        raise ModelError(f"dist.Autoregressive: unknown conditional family {family!r}; "
                         f"choose one of {sorted(CONDITIONALS)}")
    p = net.params_per_dim
    if (family == "Bernoulli" and p != 1) or (family == "Categorical" and p < 2) or (
            family == "NormalMixture" and p % 3):
        need = {"Bernoulli": "1", "Categorical": "K >= 2 (the levels)",
                "NormalMixture": "3C (C components)"}[family]
        raise ModelError(
            f"dist.Autoregressive({family!r}): network {net.name!r} gives {p} number(s) per dimension "
            f"but {family} conditionals need {need} ({CONDITIONALS[family]}); set params_per_dim"
        )
    if mask is not None and not isinstance(mask, Value):
        if not 0 <= int(mask) < net.num_masks:
            raise ModelError(f"dist.Autoregressive: mask {mask} is out of range; network {net.name!r} "
                             f"has {net.num_masks} mask(s)")
        mask = int(mask)
    if _STACK:
        net._register(current("dist.Autoregressive"))
    args = {"net": ir.Ref(net.name), "spec": net, "family": family, "mask": as_arg(mask) if mask is not None else None}
    return Distribution(ir.DistSpec("Autoregressive", args, (), (), (net.x_dim,)))


# conditional family -> its support over one dimension
_SUPPORTS = {"Bernoulli": lambda spec: Support("boolean", event_dim=1),
             "Categorical": lambda spec: Support("integer_interval", spec.params_per_dim - 1, 1),
             "NormalMixture": lambda spec: Support("real", event_dim=1)}


class AutoregressiveImpl(Implementation):
    """``dist.Autoregressive`` on any backend.

    Args:
        net: ``forward(x, mask)`` (a functional network, or the backend's module of it).
        spec: the network's spec (orderings, masks, sizes).
        family: ``"Bernoulli"``, ``"Categorical"`` or ``"NormalMixture"``.
        mask: a mask index, or ``None`` for the mixture over all masks.
        training: ``False``, or the step's random stream (one random mask per step).
        like: the run's float dtype spec.
    """

    def __init__(self, backend, net, spec, family, mask=None, training=False, like=None):
        super().__init__(backend, (), (spec.x_dim,))
        self.net, self.spec, self.family, self.mask, self.training = net, spec, family, mask, training
        self.like = backend.default_like(like)
        self.support = _SUPPORTS[family](spec)

    def log_prob(self, value):
        b, mask = self.backend, self.mask
        if mask is None and self.training is not False and self.spec.num_masks > 1:
            mask = b.random_index(self.training.next(f"{self.spec.name}$mask"), self.spec.num_masks)
        value = b.as_float(value, self.like)
        lp = chain_log_prob(b, self.net, self.spec, self.family, value, mask)
        return b.broadcast_to(lp, broadcast(tuple(lp.shape), self.batch_shape))

    def sample(self, key, sample_shape):
        shape = tuple(sample_shape) + self.batch_shape
        net = self.backend.network(self.net)
        if isinstance(net, ChainRecursion):  # NADE's O(dH) recursion, a GRU's state
            x = self._sample_recursion(net, key, shape)
        else:
            x = self._sample_passes(key, shape)
        return self.backend.ops["astype"](x, "int") if self.family == "Categorical" else x

    def _noise(self, key):
        b, like = self.backend, self.like
        key, ku, kn = b.split(key, 3)
        return key, (lambda s: b.random_uniform(ku, s, like, minval=1e-12)), (lambda s: b.random_normal(kn, s, like))

    def _sample_passes(self, key, shape):
        """One network pass per position, keeping that position's draw."""
        b, ops, spec, family = self.backend, self.backend.ops, self.spec, self.family
        d, pos = spec.x_dim, positions(spec)

        def forward(x, m):
            return self.net(net_input(b, family, x, spec), m)

        if self.mask is not None or spec.num_masks == 1:
            m = 0 if self.mask is None else self.mask
            pos_rows = b.const(pos[m], "int", like=self.like) if isinstance(m, int) else ops["take0"](
                b.const(pos, "int", like=self.like), m)
            step_net = lambda x: forward(x, m)  # noqa: E731
        else:  # the mixture over masks: each row draws its mask
            key, k_mask = b.split(key, 2)
            which = b.random_int(k_mask, shape, spec.num_masks, self.like)
            pos_rows = ops["take0"](b.const(pos, "int", like=self.like), which)   # (..., x_dim)
            step_net = lambda x: b.by_row(which, spec.num_masks, forward, x)  # noqa: E731

        def body(i, carry):
            x, k = carry
            k, uniform, normal = self._noise(k)
            return ops["where"](pos_rows == i, draw(b, family, step_net(x), uniform, normal), x), k

        zeros = b.broadcast_to(b.asarray(0.0, like=self.like), shape + (d,))
        x, _ = b.loop(d, body, (zeros, key))
        return x

    def _sample_recursion(self, net, key, shape):
        """Carry the network's state: one output and one update per position
        (NADE's running sum, a GRU's hidden state)."""
        b, family, spec = self.backend, self.family, self.spec

        def body(carry, i):
            a, k = carry
            k, uniform, normal = self._noise(k)
            value = draw(b, family, net.output(a, i), uniform, normal)   # (..., 1)
            return (net.advance(a, i, net_input(b, family, value, spec)), k), value[..., 0]

        zeros = b.broadcast_to(b.asarray(0.0, like=self.like), shape + (spec.x_dim,))
        _, columns = b.scan(spec.x_dim, body, (net.start(zeros), key))      # (x_dim, ...)
        x = b.ops["transpose"](columns, tuple(range(1, columns.ndim)) + (0,))
        return x[..., b.const(net.inverse, "int", like=self.like)]


def _dtype(spec) -> str:
    return "int" if spec.args["family"] == "Categorical" else "real"


def _graph(node: ir.Sample, observed: bool) -> dict:
    """The chain collapsed into one node: ``x_i | x_<i``, its length, conditionals and ordering."""
    spec, name = node.dist.args["spec"], node.name
    conditional = node.dist.args["family"]
    if conditional == "Categorical":
        conditional = f"Categorical({spec.params_per_dim})"
    elif conditional == "NormalMixture":
        conditional = f"NormalMixture({spec.params_per_dim // 3})"
    return {
        "kind": "chain",
        "dist": node.dist.family,
        "event_shape": format_shape(node.event_shape),
        "observed": observed,
        "caption": f"{name}_i | {name}_<i, i = 1..{spec.x_dim}\n{conditional}, {spec.ordering_text()}",
    }


# Autoregressive takes a network; the constructor works out its shapes.
register_family(Family(
    "Autoregressive", {}, (("net",),), run_aware=True, impl=AutoregressiveImpl, constructor=Autoregressive,
    value_dtype=_dtype, graph=_graph,
    missing="an autoregressive chain with missing values (NaN); its later conditionals read the missing entries, "
            "so gendsl cannot marginalise them",
))
