"""Hidden Markov models (``dist.HiddenMarkov``): a discrete chain over time as one node.

``z_1 ~ init``, ``z_t | z_{t-1} ~ trans[z_{t-1}]``, ``x_t | z_t ~ emission[z_t]``;
the value is the whole sequence ``x_1..x_T``, the states are summed out.

The forward algorithm is a product of ``T - 1`` matrices in the log semiring,
``M_t[i, j] = log trans[i, j] + log p(x_t | z_t = j)``, applied to the first
step's vector ``log init + log p(x_1 | z_1)``. Matrix products are
associative, so ``log_prob`` multiplies them pairwise (a tree of depth
``O(log T)``: one vectorised computation per level, not one per step), and
the forward-backward queries use the backend's parallel prefix scan
(:meth:`gendsl.backends.Backend.associative_scan`) in both directions. In the
max-plus semiring the same scans give max-marginals, whose argmax per step is
the Viterbi path (where the best path is unique).

Variable-length sequences: steps whose value is NaN (padding after a row's
end) are left out: their matrix is the semiring's identity and their emission
term zero, so a padded row scores as the sequence alone.

References:
    Baum & Petrie, "Statistical Inference for Probabilistic Functions of Finite
    State Markov Chains", Ann. Math. Statist. 1966.
    Rabiner, "A Tutorial on Hidden Markov Models and Selected Applications in
    Speech Recognition", Proc. IEEE 1989.
    Sarkka & Garcia-Fernandez, "Temporal Parallelization of Bayesian Smoothers",
    IEEE TAC 2021 (the associative-scan form).
"""

from __future__ import annotations

import numpy as np

from .. import ir
from ..dist._core import Distribution
from ..dist._families import FAMILIES, Family, register_family
from ..errors import ModelError, ShapeError
from ..shapes import format_shape
from ..trace import arg_shape, as_arg
from ._base import Implementation, Support, broadcast

__all__ = ["HiddenMarkov", "HiddenMarkovImpl"]

#: log of "impossible" in the semiring identity: finite, so no -inf - -inf = NaN in gradients
_NEG = -1e30


def HiddenMarkov(init, trans, emission: Distribution, steps: int, logits: bool = False,
                 states: str = "z") -> Distribution:
    """A hidden Markov model over ``steps`` time steps as one distribution.

    Args:
        init: ``(K,)`` initial state probabilities (or logits, with ``logits=True``).
        trans: ``(K, K)`` transition probabilities, row ``i`` is ``p(z_t | z_{t-1} = i)``
            (or logits).
        emission: a distribution whose batch shape is ``(K,)``, one emission per state
            (``dist.Normal(loc, scale).to_event(1)`` with ``loc`` ``(K, x_dim)``, or
            ``dist.Categorical(probs=probs)`` with ``probs`` ``(K, V)``).
        steps: the sequence length ``T``; the event shape is ``(T,) + emission event``.
            Shorter sequences are padded with NaN after their end.
        logits: ``init`` and ``trans`` are unnormalised log-probabilities.
        states: the name of the hidden chain, for ``Fitted.posterior(states, x)``
            (forward-backward marginals, ``(N, T, K)``) and ``Fitted.predict``
            (the Viterbi path, ``(N, T)``).

    Example:
        >>> import numpy as np, gendsl as gd
        >>> from gendsl import dist
        >>> @gd.model
        ... def weather(steps=100):
        ...     init = gd.param("init", (2,), init=np.full(2, 0.5), constraint="simplex")
        ...     trans = gd.param("trans", (2, 2), init=np.full((2, 2), 0.5), constraint="simplex")
        ...     loc = gd.param("loc", (2, 1), init=np.array([[-1.0], [1.0]]))
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.HiddenMarkov(init, trans, dist.Normal(loc, 1.0).to_event(1), steps))
        >>> weather().ir["x"].shape
        (N_data, 100, 1)
    """
    if not isinstance(emission, Distribution):
        raise ModelError(f"dist.HiddenMarkov: emission must be a dist.* distribution, got {type(emission).__name__}")
    if not isinstance(steps, int) or steps < 1:
        raise ModelError(f"dist.HiddenMarkov: steps must be a positive int (the sequence length), got {steps!r}")
    init_shape, trans_shape = arg_shape(as_arg(init)), arg_shape(as_arg(trans))
    if len(init_shape) != 1:
        raise ShapeError(f"dist.HiddenMarkov: init must have shape (K,), got {format_shape(init_shape)}")
    k = init_shape[0]
    if tuple(trans_shape) != (k, k):
        raise ShapeError(f"dist.HiddenMarkov: init has K = {k} states, so trans must have shape ({k}, {k}); "
                         f"got {format_shape(trans_shape)}")
    if tuple(emission.batch_shape) != (k,):
        raise ShapeError(
            f"dist.HiddenMarkov: the emission's batch shape must be ({k},), one emission per state, got "
            f"{format_shape(emission.batch_shape)}; perhaps use .to_event(1) on a per-dimension emission "
            f"(dist.Normal(loc, scale).to_event(1) with loc of shape ({k}, x_dim))")
    discrete = FAMILIES[emission.spec.family].dtype_of(emission.spec) == "int"
    args = {"init": as_arg(init), "trans": as_arg(trans), "emission": emission.spec, "steps": steps,
            "logits": bool(logits), "states": states, "discrete": discrete}
    return Distribution(ir.DistSpec("HiddenMarkov", args, (), (), (steps,) + tuple(emission.event_shape)))


# -- the semirings: (add over an axis) and the matrix product built on it -----------------------------
def _add(ops, semiring):
    if semiring == "sum":
        return lambda x, axis: ops["logsumexp"](x, axis=axis)
    return lambda x, axis: ops["max"](x, axis=axis)


def _matmul(ops, add, semiring="sum"):
    """``C[i, k] = add_j A[i, j] + B[j, k]`` over the leading batch axes.

    In the log semiring, as Pyro's ``DiscreteHMM`` does: rows of ``A`` and columns
    of ``B`` shifted by their maxima, exponentiated, multiplied by the array
    library's batched matmul (no ``(..., K, K, K)`` intermediate) and shifted back.
    """
    if semiring == "max":
        return lambda a, b: add(ops["expand_dims"](a, -1) + ops["expand_dims"](b, -3), -2)

    def logmatmulexp(a, b):
        a_max = ops["max"](a, axis=-1, keepdims=True)                  # (..., K, 1)
        b_max = ops["max"](b, axis=-2, keepdims=True)                  # (..., 1, K)
        return ops["log"](ops["matmul"](ops["exp"](a - a_max), ops["exp"](b - b_max))) + a_max + b_max

    return logmatmulexp


def _tree_product(ops, mul, m, identity):
    """``M_1 . M_2 . ... . M_n`` of ``m`` ``(..., n, K, K)`` in ``ceil(log2 n)`` levels."""
    n = m.shape[-3]
    if n == 0:
        return identity
    while n > 1:
        even = n - n % 2
        pairs = ops["reshape"](ops["slice_axis"](m, 0, even, -3), tuple(m.shape[:-3]) + (even // 2, 2) + m.shape[-2:])
        out = mul(ops["getitem"](pairs, Ellipsis, 0, slice(None), slice(None)),
                  ops["getitem"](pairs, Ellipsis, 1, slice(None), slice(None)))
        if n % 2:  # the odd one out waits for the next level
            out = ops["concatenate"](out, ops["slice_axis"](m, even, n, -3), axis=-3)
        m, n = out, out.shape[-3]
    return ops["getitem"](m, Ellipsis, 0, slice(None), slice(None))


class HiddenMarkovImpl(Implementation):
    """``dist.HiddenMarkov`` on any backend.

    Args:
        init, trans: backend arrays ``(K,)`` and ``(K, K)``: probabilities, or logits.
        emission: the backend distribution of the emissions, batch shape ``(K,)``.
        steps: ``T``.
        logits: ``init`` and ``trans`` are logits.
        states: the hidden chain's name (queries and graphs only).
        discrete: the emission takes integer values (read from float data).
    """

    def __init__(self, backend, init, trans, emission, steps, logits=False, states="z", discrete=False):
        self.event_rank = len(tuple(emission.event_shape))
        super().__init__(backend, (), (steps,) + tuple(emission.event_shape))
        ops = backend.ops
        if logits:
            init, trans = ops["log_softmax"](init, axis=-1), ops["log_softmax"](trans, axis=-1)
        else:
            init, trans = ops["log"](init), ops["log"](trans)
        self.log_init, self.log_trans, self.emission = init, trans, emission   # (K,), (K, K)
        self.k, self.steps, self.discrete = init.shape[-1], steps, discrete
        self.support = Support("real", event_dim=1 + self.event_rank)

    # -- the chain's pieces ---------------------------------------------------------------
    def _pieces(self, value):
        """The first step's vector ``(..., K)``, the step matrices ``(..., T-1, K, K)``,
        the observed steps ``(..., T)`` (bool) and the semiring's identity."""
        b, ops, r = self.backend, self.backend.ops, self.event_rank
        x = b.as_float(value, b.like(self.log_trans))
        nan = ops["not_equal"](x, x)
        nan_steps = b.to_float(nan, b.like(x))
        if r:
            nan_steps = ops["sum"](nan_steps, axis=tuple(range(-r, 0)))
        observed = ops["equal"](nan_steps, 0.0)                                   # (..., T)
        x = ops["where"](nan, ops["zeros_like"](x), x)   # padding read as 0, then left out
        if self.discrete:
            x = ops["astype"](x, "int")
        e = b.log_prob(self.emission, ops["expand_dims"](x, -(r + 1)))      # (..., T, K)
        e = ops["where"](ops["expand_dims"](observed, -1), e, ops["zeros_like"](e))
        like = b.like(e)
        identity = b.const(np.where(np.eye(self.k), 0.0, _NEG), "real", like=like)
        first = self.log_init + ops["getitem"](e, Ellipsis, 0, slice(None))
        m = self.log_trans + ops["expand_dims"](ops["slice_axis"](e, 1, self.steps, -2), -2)   # (..., T-1, K, K)
        step_obs = ops["expand_dims"](ops["expand_dims"](ops["slice_axis"](observed, 1, self.steps, -1), -1), -1)
        m = ops["where"](step_obs, m, identity)          # padded steps: the identity (broadcast)
        return first, m, observed, identity

    def log_prob(self, value):
        ops = self.backend.ops
        add = _add(ops, "sum")
        first, m, _, identity = self._pieces(value)
        product = _tree_product(ops, _matmul(ops, add, "sum"), m, identity)            # (..., K, K)
        lp = add(add(ops["expand_dims"](first, -1) + product, -1), -1)
        return self.backend.broadcast_to(lp, broadcast(tuple(lp.shape), self.batch_shape))

    def state_posterior(self, value, semiring="sum"):
        """Per-step ``log`` marginals ``(..., T, K)`` by forward-backward (``semiring="sum"``)
        or max-marginals (``"max"``: the best path's score through each state), both
        by parallel prefix scans; padded steps are NaN."""
        b, ops = self.backend, self.backend.ops
        add = _add(ops, semiring)
        mul = _matmul(ops, add, semiring)
        first, m, observed, _ = self._pieces(value)
        alpha, beta = ops["expand_dims"](first, -2), ops["zeros_like"](ops["expand_dims"](first, -2))
        if self.steps > 1:
            prefix = b.associative_scan(mul, m, axis=-3)                 # M_1 .. M_t,     (..., T-1, K, K)
            suffix = b.associative_scan(mul, m, axis=-3, reverse=True)   # M_t .. M_{T-1}, (..., T-1, K, K)
            start = ops["expand_dims"](ops["expand_dims"](first, -2), -1)
            alpha = ops["concatenate"](alpha, add(start + prefix, -2), axis=-2)   # (..., T, K)
            beta = ops["concatenate"](add(suffix, -1), beta, axis=-2)
        g = alpha + beta
        g = g - add(g, -1)[..., None] if semiring == "sum" else g
        nan = b.asarray(float("nan"), like=b.like(g))
        return ops["where"](ops["expand_dims"](observed, -1), g, nan + ops["zeros_like"](g))

    def marginals(self, value):
        """``p(z_t = k | x)``, shape ``(..., T, K)`` (NaN at padded steps)."""
        return self.backend.ops["exp"](self.state_posterior(value, "sum"))

    def viterbi(self, value):
        """The most probable state path, shape ``(..., T)`` (-1 at padded steps)."""
        ops = self.backend.ops
        g = self.state_posterior(value, "max")
        observed = ops["equal"](g[..., 0], g[..., 0])
        path = ops["argmax"](ops["where"](ops["expand_dims"](observed, -1), g, ops["zeros_like"](g)), axis=-1)
        return ops["where"](observed, path, -1 + ops["zeros_like"](path))

    def sample(self, key, sample_shape):
        b, ops = self.backend, self.backend.ops
        shape, r = tuple(sample_shape) + self.batch_shape, self.event_rank
        key, k0, kx = b.split(key, 3)
        z0 = b.random_categorical(k0, self.log_init, shape)                         # (...,)

        def body(carry, i):
            z, k = carry
            k, kz = b.split(k, 2)
            z = b.random_categorical(kz, ops["take0"](self.log_trans, z), shape)
            return (z, k), z

        if self.steps > 1:
            _, rest = b.scan(self.steps - 1, body, (z0, key))                       # (T-1, ...)
            z = ops["concatenate"](ops["expand_dims"](z0, 0), rest, axis=0)
        else:
            z = ops["expand_dims"](z0, 0)
        z = ops["transpose"](z, tuple(range(1, z.ndim)) + (0,))                      # (..., T)
        x_all = b.sample(self.emission, kx, shape + (self.steps,))                   # (..., T, K) + event
        like = b.like(self.log_trans)
        pick = b.to_float(ops["one_hot"](z, self.k), like)
        pick = ops["reshape"](pick, tuple(pick.shape) + (1,) * r)
        return ops["sum"](pick * b.to_float(x_all, like), axis=-(r + 1))


def _graph(node: ir.Sample, observed: bool) -> dict:
    """The chain collapsed into one node: ``z_1 -> z_2 -> ... -> z_T``, emissions inside."""
    args, name = node.dist.args, node.name
    z, t, emission = args["states"], args["steps"], args["emission"]
    k = emission.batch_shape[-1]
    return {
        "kind": "chain",
        "dist": node.dist.family,
        "event_shape": format_shape(node.event_shape),
        "observed": observed,
        "caption": (f"{z}_1 -> {z}_2 -> ... -> {z}_T, T = {t}, K = {k} states\n"
                    f"{name}_t | {z}_t ~ {emission.family}, t = 1..{t}"),
    }


# HiddenMarkov takes an emission distribution; the constructor works out its shapes.
register_family(Family(
    "HiddenMarkov", {}, (("init", "trans", "emission"),), impl=HiddenMarkovImpl, constructor=HiddenMarkov,
    graph=_graph, padded=True, hidden=lambda spec: spec.args["states"],
))
