"""The NumPyro backend: IR -> JAX arrays and ``numpyro.distributions``.

As for Pyro, two products: :meth:`NumPyroBackend.compile` gives a plain
NumPyro ``(model, guide)`` pair (``numpyro.param``, ``numpyro.plate``,
``numpyro.sample``; each network's weights are one ``"<net>$params"`` param,
as ``numpyro.contrib.module`` names them: gendsl's flat weight names, or a
user's Flax module's own tree), usable with ``numpyro.infer.SVI``, ``MCMC``
and ``render_model``. The backend also serves gendsl's fast path, which
training runs under ``jax.jit``.
"""

from __future__ import annotations

import contextlib
import functools
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as ndist
from jax.scipy import special as jspecial
from numpyro.distributions import constraints as ncons
from numpyro.distributions.transforms import biject_to

from ..errors import ModelError
from ..nn import Module
from ..transforms import Permute, Reverse, Sigmoid
from ..families import flow as flows
from .base import Backend, DistTable, FamilyAdapter
from .plain import PPL, compile_plain

__all__ = ["NumPyroBackend", "BACKEND", "JaxFamily", "OneHotCategorical"]


def _slice_axis(x, start, stop, axis):
    return jax.lax.slice_in_dim(x, start, stop, axis=axis)


def _getitem(x, *index):
    if isinstance(x, np.ndarray):  # a constant table (NumPy, see JaxBackend.const) indexed by run-time values
        x = jnp.asarray(x)
    return x[index if len(index) != 1 else index[0]]


OPS = {
    "exp": jnp.exp, "log": jnp.log, "log1p": jnp.log1p, "expm1": jnp.expm1,
    "sigmoid": jax.nn.sigmoid, "logit": jspecial.logit, "softplus": jax.nn.softplus, "tanh": jnp.tanh,
    "relu": jax.nn.relu, "sqrt": jnp.sqrt, "square": jnp.square, "abs": jnp.abs,
    "negative": jnp.negative, "sin": jnp.sin, "cos": jnp.cos, "erf": jspecial.erf, "floor": jnp.floor,
    "add": jnp.add, "subtract": jnp.subtract, "multiply": jnp.multiply, "divide": jnp.divide,
    "power": jnp.power, "maximum": jnp.maximum, "minimum": jnp.minimum, "logaddexp": jnp.logaddexp,
    "less": jnp.less, "less_equal": jnp.less_equal, "greater": jnp.greater,
    "greater_equal": jnp.greater_equal, "equal": jnp.equal, "not_equal": jnp.not_equal,
    "where": jnp.where, "clip": jnp.clip,
    "sum": jnp.sum, "mean": jnp.mean, "prod": jnp.prod, "max": jnp.max, "min": jnp.min,
    "logsumexp": lambda x, axis=None, keepdims=False: jspecial.logsumexp(x, axis=axis, keepdims=keepdims),
    "var": jnp.var, "std": jnp.std,
    "softmax": lambda x, axis=-1: jax.nn.softmax(x, axis=axis),
    "log_softmax": lambda x, axis=-1: jax.nn.log_softmax(x, axis=axis),
    "cumsum": lambda x, axis=-1: jnp.cumsum(x, axis=axis),
    "matmul": jnp.matmul,
    "one_hot": lambda x, num_classes: jax.nn.one_hot(x, num_classes),
    "slice_axis": _slice_axis,
    "concatenate": lambda *xs, axis=0: jnp.concatenate(xs, axis=axis),
    "stack": lambda *xs, axis=0: jnp.stack(xs, axis=axis),
    "reshape": lambda x, shape: jnp.reshape(x, shape),
    "transpose": lambda x, axes=None: jnp.transpose(x, axes),
    "swapaxes": jnp.swapaxes,
    "expand_dims": lambda x, axis: jnp.expand_dims(x, axis),
    "squeeze": lambda x, axis=None: jnp.squeeze(x, axis),
    "getitem": _getitem,
    "flatten": lambda x, axis: jnp.reshape(x, x.shape[:axis] + (-1,)),
    "unflatten": lambda x, axis, sizes: jnp.reshape(
        x, x.shape[:axis % x.ndim] + tuple(sizes) + x.shape[axis % x.ndim + 1:]),
    "astype": lambda x, dtype: x.astype({"real": jnp.result_type(float), "int": jnp.int32, "bool": jnp.bool_}[dtype]),
    "zeros_like": jnp.zeros_like, "ones_like": jnp.ones_like,
    "tril": lambda x, k=0: jnp.tril(x, k), "triu": lambda x, k=0: jnp.triu(x, k),
    "diagonal": lambda x, offset=0, axis1=-2, axis2=-1: jnp.diagonal(x, offset, axis1, axis2),
    # backend-internal (not gendsl.ops): used by the autoregressive chains
    "einsum": jnp.einsum,
    "linear": lambda x, w, b: x @ w.T + b,
    "take0": lambda a, i: a[i] if isinstance(i, (int, np.integer)) else jnp.take(jnp.asarray(a), i, axis=0),
    "argmax": lambda x, axis=-1: jnp.argmax(x, axis=axis),
    # backend-internal: used by the flows
    "solve_triangular": lambda a, b, lower, unit: jax.scipy.linalg.solve_triangular(
        a, b.reshape(-1, b.shape[-1]).T, lower=lower, unit_diagonal=unit).T.reshape(b.shape),
    # backend-internal: used by diffusion networks (NCHW images, OIHW kernels, "same" padding)
    "conv2d": lambda x, w, b: jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")) + b[:, None, None],
}

_CONSTRAINTS = {
    "real": ncons.real,
    "positive": ncons.positive,
    "unit_interval": ncons.unit_interval,
    "simplex": ncons.simplex,
    "lower_cholesky": ncons.lower_cholesky,
    "positive_definite": ncons.positive_definite,
}

_ACTIVATIONS = {
    "relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus,
    "elu": jax.nn.elu, "leaky_relu": jax.nn.leaky_relu, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "silu": jax.nn.silu, "identity": lambda x: x,
}


class OneHotCategorical(ndist.Distribution):
    """One-hot categorical (NumPyro has none); values are one-hot vectors."""

    arg_constraints = {"logits": ncons.real_vector}
    support = ncons.simplex
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self.logits = jnp.log(probs) if logits is None else jax.nn.log_softmax(logits, -1)
        super().__init__(jnp.shape(self.logits)[:-1], jnp.shape(self.logits)[-1:], validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        idx = jax.random.categorical(key, self.logits, shape=sample_shape + self.batch_shape)
        return jax.nn.one_hot(idx, self.event_shape[-1], dtype=self.logits.dtype)

    def log_prob(self, value):
        return jnp.sum(value * jax.nn.log_softmax(self.logits, -1), -1)

    def enumerate_support(self, expand=True):
        k = self.event_shape[-1]
        values = jnp.eye(k, dtype=self.logits.dtype).reshape((k,) + (1,) * len(self.batch_shape) + (k,))
        return jnp.broadcast_to(values, (k,) + self.batch_shape + (k,)) if expand else values


class JaxBijection(ndist.transforms.Transform):
    """A ``gendsl.transforms`` spec with weights ``params[prefix + key]`` as a
    NumPyro ``Transform``. The log-determinant computed with a value is kept
    with it, so ``TransformedDistribution.log_prob`` runs each transform once."""

    domain = ncons.real_vector
    codomain = ncons.real_vector

    def __init__(self, spec, params: dict, prefix: str = "", context=None):
        self.spec, self.params, self.prefix, self.context = spec, params, prefix, context
        self._impl = flows.bijection(BACKEND, spec, params, prefix, context)
        self._log_det = None

    def condition(self, context):
        """The transform given ``context`` (a conditional flow's one-hot label)."""
        return JaxBijection(self.spec, self.params, self.prefix, context)

    def __call__(self, x):
        y, ld = self._impl.forward(x)
        self._log_det = (x, y, ld)
        return y

    def _inverse(self, y):
        x, ld = self._impl.inverse(y)
        self._log_det = (x, y, ld)
        return x

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        kept = self._log_det
        if kept is not None and kept[0] is x and kept[1] is y:
            return kept[2]
        return self._impl.log_det(x, y)

    def tree_flatten(self):
        return (self.params, self.context), (self.spec, self.prefix)

    @classmethod
    def tree_unflatten(cls, aux_data, children):
        return cls(aux_data[0], children[0], aux_data[1], children[1])


def _permute(spec):
    return ndist.transforms.PermuteTransform(np.asarray(spec.perm))


def _sigmoid(spec):
    a = spec.alpha
    squash = ndist.transforms.ComposeTransform([
        ndist.transforms.SigmoidTransform(),
        ndist.transforms.AffineTransform(-a / (1 - 2 * a), 1 / (1 - 2 * a)),
    ])
    return ndist.transforms.IndependentTransform(squash, 1)


# stateless transform spec type -> NumPyro's own transform
STATELESS = {Permute: _permute, Reverse: _permute, Sigmoid: _sigmoid}


def _flax_tree(spec: Module, weights: dict, prefix: str) -> dict:
    """gendsl's flat ``"<name>.<path>"`` weights -> the Flax module's parameter tree."""
    tree: dict = {}
    for key in spec.param_shapes():
        *path, leaf = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = jnp.asarray(weights[prefix + key])
    return {"params": tree}


class JaxFamily(FamilyAdapter, ndist.Distribution):
    """A family gendsl implements (its neutral :attr:`Family.impl`) as a
    NumPyro distribution: the library's constraints and keys; the arithmetic
    is the implementation's."""

    arg_constraints = {}
    constraints = {"real": ncons.real, "boolean": ncons.boolean, "positive": ncons.positive,
                   "unit_interval": ncons.unit_interval, "integer_interval": ncons.integer_interval,
                   "independent": ncons.independent}

    def __init__(self, impl, validate_args=None):
        self.impl = impl
        super().__init__(impl.batch_shape, impl.event_shape, validate_args=validate_args)

    def log_prob(self, value):
        return self.impl.log_prob(value)

    def sample(self, key, sample_shape=()):
        return self.impl.sample(key, tuple(sample_shape))


def _adapted(impl, backend, *args, **kwargs):
    return JaxFamily(impl(backend, *args, **kwargs))


class _JaxRNG:
    """Explicit keys: each site draws from ``fold_in(key, hash(name))``."""

    def __init__(self, key=None):
        # an int seeds a key; None (no explicit seed) means key 0, as JAX has no global state
        if key is None or isinstance(key, (int, np.integer)):
            key = jax.random.PRNGKey(0 if key is None else int(key))
        self.key = key

    def next(self, name):
        return jax.random.fold_in(self.key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


class NumPyroBackend(Backend):
    """JAX arrays, NumPyro distributions, Flax networks."""

    name = "numpyro"
    arrays = "jax"
    ops = OPS
    activations = _ACTIVATIONS
    wrappers = (ndist.Independent, ndist.MaskedDistribution, ndist.ExpandedDistribution)
    adapter = JaxFamily

    def __init__(self):
        self.dists = DistTable(self, lambda name: getattr(ndist, name, None),
                               lambda impl: functools.partial(_adapted, impl, self))
        self.dists["OneHotCategorical"] = OneHotCategorical

    # -- arrays -----------------------------------------------------------------------
    def float_dtype(self, name="float32"):
        if str(name) == "float64" and not jax.config.jax_enable_x64:
            numpyro.enable_x64()
        return {"float32": jnp.float32, "float64": jnp.float64}[str(name)]

    def asarray(self, x, dtype="real", like=None):
        jdtype = {"real": like or jnp.result_type(float), "int": jnp.int32, "bool": jnp.bool_}[dtype]
        return jnp.asarray(np.asarray(x, order="C"), dtype=jdtype)

    def const(self, x, dtype, like=None):
        # NumPy, not jax.Array: a jax.Array made while tracing one jit shape and
        # reused by the next trace confuses XLA's constant hoisting.
        np_dtype = {"real": np.dtype(like or jnp.result_type(float)), "int": np.int32, "bool": np.bool_}[dtype]
        return np.asarray(x, dtype=np_dtype)

    def like(self, x):
        """The dtype spec of array ``x``."""
        return x.dtype

    def to_float(self, x, like):
        return x.astype(like or jnp.result_type(float))

    def to_numpy(self, x):
        return np.asarray(x)

    def broadcast_to(self, x, shape):
        return jnp.broadcast_to(x, shape)

    def rng(self, seed=None):
        return _JaxRNG(seed)

    def loop(self, n: int, body, init):
        """``body(i, carry)`` for ``i = 0..n-1`` (``lax.fori_loop``: one traced body)."""
        return jax.lax.fori_loop(0, n, body, init)

    # -- the runtime of the neutral families (explicit keys) ------------------------------------------
    def default_like(self, like):
        return like or jnp.result_type(float)

    def as_float(self, x, like):
        return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(like)

    def as_array(self, x):
        return jnp.asarray(x)

    def split(self, key, n):
        return list(jax.random.split(key, n))

    def fold_in(self, key, i):
        return jax.random.fold_in(key, i)

    def fixed_key(self, seed, like):
        return jax.random.PRNGKey(int(seed))

    def random_uniform(self, key, shape, like, minval=0.0):
        return jax.random.uniform(key, tuple(shape), like, minval=minval)

    def random_normal(self, key, shape, like):
        return jax.random.normal(key, tuple(shape), like)

    def random_int(self, key, shape, high, like):
        return jax.random.randint(key, tuple(shape), 0, int(high))

    def random_index(self, key, high):
        return jax.random.randint(key, (), 0, int(high))

    def random_categorical(self, key, logits, shape):
        return jax.random.categorical(key, logits, shape=tuple(shape))

    def scan(self, n, body, init):
        return jax.lax.scan(body, init, jnp.arange(n))

    def associative_scan(self, fn, elems, axis=0, reverse=False):
        """``jax.lax.associative_scan``; ``fn(a, b)`` keeps ``a`` the earlier
        elements in both directions (JAX's ``reverse`` swaps them)."""
        axis = axis % elems.ndim
        if reverse:
            return jax.lax.associative_scan(lambda a, b: fn(b, a), elems, reverse=True, axis=axis)
        return jax.lax.associative_scan(fn, elems, axis=axis)

    def by_row(self, which, n, fn, x):
        rows = jax.vmap(fn)(x.reshape((-1,) + x.shape[which.ndim:]), which.reshape(-1))
        return rows.reshape(which.shape + rows.shape[1:])

    # -- gradients and plain draws (the adversarial objective) -------------------------------
    def stop_gradient(self, x):
        return jax.lax.stop_gradient(x)

    def no_gradient(self):
        """A context for values held fixed: nothing to do under JAX, whose
        ``stop_gradient`` prunes them from the compiled gradient."""
        return contextlib.nullcontext()

    def input_grad(self, fn, x):
        """``d fn(x).sum() / dx``, itself differentiable (a gradient penalty's inner gradient)."""
        return jax.grad(lambda v: fn(v).sum())(x)

    # -- distributions ------------------------------------------------------------------
    def sample(self, d, rng, shape):
        return d.sample(rng, shape)

    def kl(self, q, p):
        from numpyro.distributions.kl import kl_divergence

        try:
            return kl_divergence(q, p)
        except NotImplementedError:
            return None

    # -- parameters ------------------------------------------------------------------------
    def constrain(self, constraint, u):
        if constraint in ("lower_cholesky", "positive_definite") and u.dtype != jnp.result_type(float):
            # NumPyro builds the triangle on zeros of JAX's default float type, which
            # clashes with float32 parameters when x64 is on; compute there, cast back.
            return biject_to(_CONSTRAINTS[constraint])(u.astype(jnp.result_type(float))).astype(u.dtype)
        return biject_to(_CONSTRAINTS[constraint])(u)

    def unconstrain(self, constraint, x):
        return biject_to(_CONSTRAINTS[constraint]).inv(x)

    def raw_module(self, spec, params, prefix):
        """A user's Flax module, applied with gendsl's parameters."""
        if spec.framework != "flax":
            raise ModelError(f"network {spec.name!r} is a torch.nn.Module: it runs on the pyro backend only; "
                             f"use nn.MLP for a network both backends run")
        tree = _flax_tree(spec, params, prefix)
        return lambda x: spec.module.apply(tree, x)

    def transform(self, spec, params, prefix):
        return JaxBijection(spec, params, prefix)

    def stateless(self, spec):
        return STATELESS[type(spec)](spec)

    def transformed_distribution(self, base_dist, transforms):
        return ndist.TransformedDistribution(base_dist, transforms)

    # -- the plain NumPyro program ------------------------------------------------------------------
    def compile(self, model, seed: int = 0, dtype="float32"):
        """A plain NumPyro ``(model, guide)`` pair.

        Both take ``data`` (a dict ``{site: array}``) and ``size``. Discrete
        latents the guide does not cover are marked for parallel enumeration
        (``numpyro.infer.TraceEnum_ELBO`` / ``numpyro.contrib.funsor`` sum
        them out).
        """
        float_dtype, backend = self.float_dtype(dtype), self

        def network(node, init):
            spec, prefix = node.spec, node.name + "."
            if isinstance(spec, Module):  # a user's Flax module: its own parameter tree
                tree = _flax_tree(spec, init, prefix)["params"]
                return lambda: functools.partial(_apply, spec.module, numpyro.param(f"{node.name}$params", tree))
            weights = {k: jnp.asarray(init[prefix + k]) for k in spec.param_shapes()}
            return lambda: backend.net(spec, numpyro.param(f"{node.name}$params", weights), "")

        ppl = PPL(
            like=float_dtype, data=lambda values: {k: jnp.asarray(v) for k, v in values.items()}, network=network,
            param=lambda p, init: numpyro.param(p.name, jnp.asarray(init[p.name], float_dtype),
                                                constraint=_CONSTRAINTS[p.constraint]),
            plate=lambda name, size, dim: numpyro.plate(name, size, dim=dim),
            sample=lambda name, fn, obs, infer: numpyro.sample(name, fn, obs=obs, infer=infer),
            deterministic=lambda name, value, event_dim: numpyro.deterministic(name, value),
        )
        return compile_plain(self, ppl, model, seed)


def _apply(module, variables, *args):
    return module.apply({"params": variables}, *args)


BACKEND = NumPyroBackend()
