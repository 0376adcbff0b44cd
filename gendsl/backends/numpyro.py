"""The NumPyro backend: IR -> JAX arrays, ``numpyro.distributions`` and Flax.

As for Pyro, two products: :meth:`NumPyroBackend.compile` gives a plain
NumPyro ``(model, guide)`` pair (``numpyro.param``, ``numpyro.plate``,
``numpyro.sample``; networks are Flax modules whose weights are the
``"<net>$params"`` param, as ``numpyro.contrib.module.flax_module`` names
them), usable with ``numpyro.infer.SVI``, ``MCMC`` and ``render_model``. The
backend also serves gendsl's fast path, which training runs under ``jax.jit``.
"""

from __future__ import annotations

import contextlib
import zlib

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as ndist
from jax.scipy import special as jspecial
from numpyro.distributions import constraints as ncons
from numpyro.distributions.transforms import biject_to

from ..dist import FAMILIES
from ..errors import ModelError
from ..nn import FVSBN, MADE, MLP, NADE, Module, TimeMLP, TimeUNet
from ..transforms import Bijector, Permute, Reverse, Sigmoid
from . import autoregressive, dae, diffusion, flows, quantize
from .base import Backend
from .interpret import Context, run

__all__ = ["NumPyroBackend", "BACKEND", "FlaxMLP", "OneHotCategorical"]


def _slice_axis(x, start, stop, axis):
    return jax.lax.slice_in_dim(x, start, stop, axis=axis)


def _getitem(x, *index):
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


class FlaxMLP(linen.Module):
    """``nn.MLP`` as a Flax module; ``to_flax(spec, weights)`` gives its params."""

    sizes: tuple
    activation: str = "relu"
    output_activation: str = "identity"

    @linen.compact
    def __call__(self, x):
        last = len(self.sizes) - 2
        for i, width in enumerate(self.sizes[1:]):
            x = linen.Dense(width, name=f"layers_{i}")(x)
            x = _ACTIVATIONS[self.activation if i < last else self.output_activation](x)
        return x


def _flax_mlp(spec: MLP):
    return FlaxMLP(spec.sizes, spec.activation, spec.output_activation)


def _mlp_to_flax(spec: MLP, weights: dict, prefix: str) -> dict:
    n = len(spec.sizes) - 1
    return {"params": {f"layers_{i}": {"kernel": jnp.asarray(weights[f"{prefix}{i}.weight"]).T,
                                       "bias": jnp.asarray(weights[f"{prefix}{i}.bias"])} for i in range(n)}}


def _mlp(spec: MLP, params: dict, prefix: str):
    layers = [(params[f"{prefix}{i}.weight"], params[f"{prefix}{i}.bias"]) for i in range(len(spec.sizes) - 1)]
    act, out_act = _ACTIVATIONS[spec.activation], _ACTIVATIONS[spec.output_activation]
    last = len(layers) - 1

    def forward(x):
        for i, (w, b) in enumerate(layers):
            x = x @ w.T + b
            x = act(x) if i < last else out_act(x)
        return x

    return forward


class FlaxMasked(linen.Module):
    """An autoregressive network spec (``nn.MADE``, ``nn.FVSBN``, ``nn.NADE``)
    as a Flax module, ``__call__(x, mask=None)``; its params are gendsl's
    weights with ``.`` written ``_`` (``"0_weight"``, ``"in_weight"``)."""

    spec: object

    @linen.compact
    def __call__(self, x, mask=None):
        params = {k: self.param(k.replace(".", "_"), linen.initializers.zeros_init(), shape)
                  for k, shape in self.spec.param_shapes().items()}
        return autoregressive.forward_for(self.spec)(BACKEND, self.spec, params, "")(x, mask)


def _masked(spec, params, prefix):
    return autoregressive.forward_for(spec)(BACKEND, spec, params, prefix)


def _masked_to_flax(spec, weights: dict, prefix: str) -> dict:
    return {"params": {k.replace(".", "_"): jnp.asarray(weights[prefix + k]) for k in spec.param_shapes()}}


class JaxBijection(ndist.transforms.Transform):
    """A ``gendsl.transforms`` spec with weights ``params[prefix + key]`` as a
    NumPyro ``Transform``. The log-determinant computed with a value is kept
    with it, so ``TransformedDistribution.log_prob`` runs each transform once."""

    domain = ncons.real_vector
    codomain = ncons.real_vector

    def __init__(self, spec, params: dict, prefix: str = ""):
        self.spec, self.params, self.prefix = spec, params, prefix
        self._impl = flows.bijection(BACKEND, spec, params, prefix)
        self._log_det = None

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
        return (self.params,), (self.spec, self.prefix)

    @classmethod
    def tree_unflatten(cls, aux_data, children):
        return cls(aux_data[0], children[0], aux_data[1])


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


def _transformed(base_dist, transforms, specs=None, validate_args=None):
    """``dist.TransformedDistribution``: NumPyro's, with gendsl's transforms."""
    chain = [t if isinstance(t, ndist.transforms.Transform) else STATELESS[type(t)](t) for t in transforms]
    return ndist.TransformedDistribution(base_dist, chain, validate_args=validate_args)


class JaxDequantized(ndist.Distribution):
    """``dist.Dequantized`` for NumPyro: integer levels scored as
    ``base.log_prob((x + u) / levels) - d log(levels)``, ``u ~ U(0, 1)``
    (from the step's key while training, the fixed draw of
    :func:`gendsl.backends.flows.fixed_noise` otherwise)."""

    arg_constraints = {}

    def __init__(self, base_dist, levels, training=False, like=None, validate_args=None):
        self.base_dist, self.levels, self.training = base_dist, int(levels), training
        self.like = like or jnp.result_type(float)
        super().__init__(base_dist.batch_shape, base_dist.event_shape, validate_args=validate_args)

    @property
    def support(self):
        return ncons.independent(ncons.integer_interval(0, self.levels - 1), len(self.event_shape))

    def expand(self, batch_shape):
        return JaxDequantized(self.base_dist.expand(batch_shape), self.levels, self.training, self.like,
                              self._validate_args)

    def log_prob(self, value):
        x = value.astype(self.like)
        if self.training is not False:
            u = jax.random.uniform(self.training.next("$dequantize"), x.shape, self.like)
        else:
            u = flows.fixed_noise(x.shape).astype(self.like)  # a constant under jit
        d = float(np.prod(self.event_shape))
        return self.base_dist.log_prob((x + u) / self.levels) - d * np.log(self.levels)

    def sample(self, key, sample_shape=()):
        y = self.base_dist.sample(key, sample_shape)
        return jnp.clip(jnp.floor(y * self.levels), 0, self.levels - 1).astype(jnp.int32)


def _time_net(spec, params, prefix):
    return diffusion.forward_for(spec)(BACKEND, spec, params, prefix)


class JaxDiffusion(ndist.Distribution):
    """``dist.Diffusion`` for NumPyro. ``log_prob`` is the variational bound
    (every step in one ``lax.fori_loop`` while evaluating, with noise from a
    fixed key; a one-step unbiased estimate from the step's key while
    training); ``denoising_loss`` is Ho et al.'s simple loss; ``sample`` runs
    the reverse chain inside ``lax.fori_loop``."""

    arg_constraints = {}

    def __init__(self, net, spec, schedule, levels=None, variance="beta", training=False, like=None,
                 options=None, batch_shape=(), validate_args=None):
        self.net, self.spec, self.schedule, self.levels, self.step_variance = net, spec, schedule, levels, variance
        self.training, self.options = training, options or {}
        self.like = like or jnp.result_type(float)
        self.chain = diffusion.Chain(BACKEND, net, schedule, levels, variance, self.like)
        super().__init__(tuple(batch_shape), (spec.x_dim,), validate_args=validate_args)

    @property
    def support(self):
        if self.levels is None:
            return ncons.independent(ncons.real, 1)
        return ncons.independent(ncons.integer_interval(0, self.levels - 1), 1)

    def expand(self, batch_shape):
        return JaxDiffusion(self.net, self.spec, self.schedule, self.levels, self.step_variance, self.training,
                            self.like, self.options, batch_shape, self._validate_args)

    def _draws(self, value):
        k_t, k_eps = jax.random.split(self.training.next(f"{self.spec.name}$diffusion"))
        t = jax.random.randint(k_t, value.shape[:-1], 0, self.schedule.steps)
        return t, jax.random.normal(k_eps, value.shape, self.like)

    def log_prob(self, value):
        """The variational lower bound on ``log p(value)`` per row."""
        if self.training is not False:
            return -self.chain.bound_estimate(value, *self._draws(value))
        key = jax.random.PRNGKey(0)
        return -self.chain.bound(value, lambda shape, i: jax.random.normal(jax.random.fold_in(key, i), shape,
                                                                           self.like))

    def denoising_loss(self, value):
        """``|eps - eps_theta(x_t, t)|^2`` per row, ``t`` uniform."""
        return self.chain.denoising(value, *self._draws(value))

    def sample(self, key, sample_shape=()):
        k_init, k_steps = jax.random.split(key)
        shape = tuple(sample_shape) + tuple(self.batch_shape) + (self.spec.x_dim,)

        def normal(s, j):
            return jax.random.normal(k_init if j is None else jax.random.fold_in(k_steps, j), s, self.like)

        return diffusion.draw(self.chain, shape, normal, self.options)


class JaxDAE(ndist.Distribution):
    """``dist.DenoisingAutoencoder`` for NumPyro: no density (``log_prob``
    refuses); ``denoising_loss`` reconstructs each row from a fresh
    corruption (the step's key); ``sample`` runs Bengio et al.'s chain inside
    ``lax.fori_loop``."""

    arg_constraints = {}

    def __init__(self, encoder, decoder, encoder_spec, decoder_spec, corruption="gaussian", level=0.5,
                 likelihood="bernoulli", training=False, like=None, options=None, batch_shape=(),
                 validate_args=None):
        self.encoder, self.decoder, self.encoder_spec, self.decoder_spec = encoder, decoder, encoder_spec, decoder_spec
        self.corruption, self.level, self.likelihood = corruption, level, likelihood
        self.training, self.options = training, options or {}
        self.like = like or jnp.result_type(float)
        self.dae = dae.Autoencoder(BACKEND, encoder, decoder, likelihood, corruption, level, self.like)
        super().__init__(tuple(batch_shape), (encoder_spec.sizes[0],), validate_args=validate_args)

    @property
    def support(self):
        return ncons.independent(ncons.boolean if self.likelihood == "bernoulli" else ncons.real, 1)

    def expand(self, batch_shape):
        return JaxDAE(self.encoder, self.decoder, self.encoder_spec, self.decoder_spec, self.corruption, self.level,
                      self.likelihood, self.training, self.like, self.options, batch_shape, self._validate_args)

    @staticmethod
    def _draw(key, shape, kind, like):
        return (jax.random.normal if kind == "normal" else jax.random.uniform)(key, shape, like)

    def log_prob(self, value):
        raise NotImplementedError("a denoising autoencoder has no density; train it with objective='denoising'")

    def denoising_loss(self, value):
        """``-log p(x | g(f(x~)))`` per row, ``x~`` a fresh corruption of ``x``."""
        key = self.training.next(f"{self.encoder_spec.name}$corruption")
        return self.dae.loss(value, self._draw(key, value.shape, dae.CORRUPTIONS[self.corruption], self.like))

    def encode(self, value):
        return self.encoder(BACKEND.to_float(value, self.like))

    def decode(self, code):
        return self.dae.mean(self.decoder(code))

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + tuple(self.batch_shape) + tuple(self.event_shape)

        def draws(kind):
            def draw(s, j, role):
                k = jax.random.fold_in(key, 2 * (-1 if j is None else j) + 2 + role)
                return self._draw(k, s, kind, self.like)
            return draw

        return self.dae.chain(shape, int(self.options.get("steps", 100)), draws("uniform"), draws("normal"))


# network spec type -> (functional forward, Flax module factory, weights -> Flax params);
# a flow's transforms and the diffusion noise networks have no Flax module: plain programs
# hold their weights in one numpyro.param
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


def _raw_module(spec: Module, params: dict, prefix: str):
    """A user's Flax module, applied with gendsl's parameters."""
    if spec.framework != "flax":
        raise ModelError(f"network {spec.name!r} is a torch.nn.Module: it runs on the pyro backend only; "
                         f"use nn.MLP for a network both backends run")
    tree = _flax_tree(spec, params, prefix)
    return lambda x: spec.module.apply(tree, x)


NETS = {Module: (_raw_module, lambda spec: spec.module, _flax_tree), MLP: (_mlp, _flax_mlp, _mlp_to_flax), TimeMLP: (_time_net, None, None), TimeUNet: (_time_net, None, None),
        **{cls: (_masked, FlaxMasked, _masked_to_flax) for cls in (MADE, FVSBN, NADE)},
        **{cls: (JaxBijection, None, None) for cls in flows.BIJECTIONS}}


_SUPPORT = {"Bernoulli": lambda spec: ncons.boolean,
            "Categorical": lambda spec: ncons.integer_interval(0, spec.params_per_dim - 1),
            "NormalMixture": lambda spec: ncons.real}


class JaxAutoregressive(ndist.Distribution):
    """``dist.Autoregressive`` for NumPyro: one masked pass scores the whole
    chain; sampling runs it position by position inside ``lax.fori_loop``.

    Args:
        net: ``forward(x, mask)`` (a functional network or a bound Flax module).
        spec: the network's spec (orderings, masks, sizes).
        family: ``"Bernoulli"``, ``"Categorical"`` or ``"NormalMixture"``.
        mask: a mask index, or ``None`` for the mixture over all masks.
        training: ``False``, or the step's random stream (one random mask per step).
        like: float dtype of samples.
    """

    arg_constraints = {}

    def __init__(self, net, spec, family, mask=None, training=False, like=None, batch_shape=(),
                 validate_args=None):
        self.net, self.spec, self.family, self.mask, self.training = net, spec, family, mask, training
        self.like = like or jnp.result_type(float)
        super().__init__(tuple(batch_shape), (spec.x_dim,), validate_args=validate_args)

    @property
    def support(self):
        return ncons.independent(_SUPPORT[self.family](self.spec), 1)

    def expand(self, batch_shape):
        return JaxAutoregressive(self.net, self.spec, self.family, self.mask, self.training, self.like,
                                 batch_shape, self._validate_args)

    def log_prob(self, value):
        mask = self.mask
        if mask is None and self.training is not False and self.spec.num_masks > 1:
            mask = jax.random.randint(self.training.next(f"{self.spec.name}$mask"), (), 0, self.spec.num_masks)
        value = value.astype(self.like) if not jnp.issubdtype(value.dtype, jnp.floating) else value
        lp = autoregressive.chain_log_prob(BACKEND, self.net, self.spec, self.family, value, mask)
        return jnp.broadcast_to(lp, jnp.broadcast_shapes(lp.shape, self.batch_shape))

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        if isinstance(self.net, autoregressive.NADEForward):  # NADE's O(dH) recursion inside lax.scan
            return self._sample_recursion(key, shape)
        d, m_count = self.spec.x_dim, self.spec.num_masks
        pos = autoregressive.positions(self.spec)
        family, spec, net = self.family, self.spec, self.net

        def forward(x, m):
            return net(autoregressive.net_input(BACKEND, family, x, spec), m)

        if self.mask is not None or m_count == 1:
            m = 0 if self.mask is None else self.mask
            pos_rows = jnp.take(jnp.asarray(pos), m, axis=0) if not isinstance(m, int) else pos[m]
            step_net = lambda x: forward(x, m)  # noqa: E731
        else:  # the mixture over masks: each row draws its mask
            key, k_mask = jax.random.split(key)
            which = jax.random.randint(k_mask, shape, 0, m_count)
            pos_rows = jnp.asarray(pos)[which]
            flat = jax.vmap(lambda xr, mr: forward(xr, mr))

            def step_net(x):
                out = flat(x.reshape((-1, d)), which.reshape(-1))
                return out.reshape(shape + out.shape[1:])

        def body(i, carry):
            x, k = carry
            k, ku, kn = jax.random.split(k, 3)
            cand = autoregressive.draw(
                BACKEND, family, step_net(x),
                lambda s: jax.random.uniform(ku, s, self.like, minval=1e-12),
                lambda s: jax.random.normal(kn, s, self.like))
            return jnp.where(pos_rows == i, cand, x), k

        x, _ = jax.lax.fori_loop(0, d, body, (jnp.zeros(shape + (d,), self.like), key))
        return x.astype(jnp.int32) if family == "Categorical" else x

    def _sample_recursion(self, key, shape):
        net, family, spec = self.net, self.family, self.spec

        def body(carry, i):
            a, k = carry
            k, ku, kn = jax.random.split(k, 3)
            value = autoregressive.draw(
                BACKEND, family, net.output(a, i),
                lambda s: jax.random.uniform(ku, s, self.like, minval=1e-12),
                lambda s: jax.random.normal(kn, s, self.like))   # (..., 1)
            return (net.advance(a, i, autoregressive.net_input(BACKEND, family, value, spec)), k), value[..., 0]

        start = net.start(jnp.zeros(shape + (spec.x_dim,), self.like))
        _, columns = jax.lax.scan(body, (start, key), jnp.arange(spec.x_dim))
        x = jnp.moveaxis(columns, 0, -1)[..., net.inverse]
        return x.astype(jnp.int32) if family == "Categorical" else x


class JaxVectorQuantized(ndist.Distribution):
    """``dist.VectorQuantized`` for NumPyro: a point mass on the code nearest
    to ``z_e``, drawn straight-through; ``log_prob`` is 0 in value and
    carries the codebook and commitment losses in its gradient (see
    :mod:`gendsl.backends.quantize`)."""

    arg_constraints = {}
    support = ncons.real_vector
    has_rsample = True  # the straight-through draw is differentiable in z_e (NumPyro's ELBOs read this)

    def __init__(self, z_e, codebook, commitment=0.25, validate_args=None):
        self.z_e, self.codebook, self.commitment = z_e, jnp.asarray(codebook), commitment
        self.code = self.codebook[quantize.nearest(BACKEND, z_e, self.codebook)]
        super().__init__(jnp.shape(z_e)[:-1], jnp.shape(z_e)[-1:], validate_args=validate_args)

    def expand(self, batch_shape):
        shape = tuple(batch_shape) + self.event_shape
        return JaxVectorQuantized(jnp.broadcast_to(self.z_e, shape), self.codebook, self.commitment,
                                  self._validate_args)

    @property
    def mean(self):
        return self.code

    def sample(self, key, sample_shape=()):
        z = quantize.straight_through(BACKEND, self.z_e, self.code)
        return jnp.broadcast_to(z, tuple(sample_shape) + z.shape)

    def log_prob(self, value):
        lp = quantize.vq_surrogate(BACKEND, self.z_e, self.code, self.commitment)
        return jnp.broadcast_to(lp, jnp.broadcast_shapes(lp.shape, jnp.shape(value)[:-1]))


class JaxCodebook(ndist.Distribution):
    """``dist.Codebook`` for NumPyro: a categorical choice among the rows of
    a ``(K, d)`` codebook (uniform without ``logits``)."""

    arg_constraints = {}
    support = ncons.real_vector

    def __init__(self, codebook, logits=None, batch_shape=None, validate_args=None):
        self.codebook, self.logits = jnp.asarray(codebook), logits  # constants arrive as NumPy arrays
        if batch_shape is None:
            batch_shape = () if logits is None else jnp.shape(logits)[:-1]
        super().__init__(tuple(batch_shape), jnp.shape(codebook)[-1:], validate_args=validate_args)

    def expand(self, batch_shape):
        return JaxCodebook(self.codebook, self.logits, batch_shape, self._validate_args)

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape
        logits = jnp.zeros(self.codebook.shape[0], self.codebook.dtype) if self.logits is None else self.logits
        index = jax.random.categorical(key, logits, shape=shape)
        return self.codebook[index]

    def log_prob(self, value):
        lp = quantize.codebook_log_prob(BACKEND, self.codebook, self.logits, value)
        return jnp.broadcast_to(lp, jnp.broadcast_shapes(lp.shape, self.batch_shape))


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
    ops = OPS
    activations = _ACTIVATIONS

    def __init__(self):
        self.dists = {name: getattr(ndist, name) for name in FAMILIES if hasattr(ndist, name)}
        self.dists["OneHotCategorical"] = OneHotCategorical
        self.dists["Autoregressive"] = JaxAutoregressive
        self.dists["TransformedDistribution"] = _transformed
        self.dists["Dequantized"] = JaxDequantized
        self.dists["Diffusion"] = JaxDiffusion
        self.dists["VectorQuantized"] = JaxVectorQuantized
        self.dists["Codebook"] = JaxCodebook
        self.dists["DenoisingAutoencoder"] = JaxDAE

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

    def fori_loop(self, n: int, body, init):
        """``init`` after ``n`` applications of ``body`` (``lax.fori_loop``: one traced body)."""
        return jax.lax.fori_loop(0, n, lambda i, carry: body(carry), init)

    # -- gradients and plain draws (the adversarial objective) -------------------------------
    def stop_gradient(self, x):
        return jax.lax.stop_gradient(x)

    def no_gradient(self):
        """A context for values held fixed: nothing to do under JAX, whose
        ``stop_gradient`` prunes them from the compiled gradient."""
        return contextlib.nullcontext()

    def uniform(self, rng, name: str, shape: tuple, like):
        """U(0, 1) draws of ``shape`` from the stream's key for ``name``."""
        return jax.random.uniform(rng.next(name), shape, like)

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

    def net(self, spec, params, prefix):
        return NETS[type(spec)][0](spec, params, prefix)

    def module(self, spec):
        """``spec`` as a Flax module."""
        return NETS[type(spec)][1](spec)

    def flax_params(self, spec, weights: dict, prefix: str) -> dict:
        """gendsl weights (``(out, in)`` matrices) -> the Flax module's params."""
        return NETS[type(spec)][2](spec, weights, prefix)

    # -- the plain NumPyro program ------------------------------------------------------------------
    def compile(self, model, seed: int = 0, dtype="float32"):
        """A plain NumPyro ``(model, guide)`` pair.

        Both take ``data`` (a dict ``{site: array}``) and ``size``. Discrete
        latents the guide does not cover are marked for parallel enumeration
        (``numpyro.infer.TraceEnum_ELBO`` / ``numpyro.contrib.funsor`` sum
        them out).
        """
        from .program import Lowered

        float_dtype = self.float_dtype(dtype)
        init = model.init_params(seed)
        lowered = Lowered(model, self)
        params = [p for prog in (model.ir, model.guide_ir) if prog is not None for p in prog.params]
        nets = {n.name: n.spec for prog in (model.ir, model.guide_ir) if prog is not None for n in prog.nets}
        backend = self

        def program(steps):
            def fn(data=None, size=None):
                data = {k: jnp.asarray(v) for k, v in (data or {}).items()}
                values = {p.name: numpyro.param(p.name, jnp.asarray(init[p.name], float_dtype),
                                                constraint=_CONSTRAINTS[p.constraint]) for p in params}
                handler = _NumPyroHandler(model, data, nets, init, backend)
                ctx = Context(env={}, sizes=lowered.sizes(data, size), params=values, handler=handler,
                              dtype=float_dtype, enumerable=lowered.enumerable)
                run(steps, ctx)
                return {k: v for k, v in ctx.env.items() if not k.startswith("%")}
            return fn

        model_fn = program(lowered.steps)
        guide_fn = program(lowered.guide_steps) if lowered.guide_steps is not None else (lambda data=None, size=None: None)
        model_fn.__name__, guide_fn.__name__ = model.name, f"{model.name}_guide"
        return model_fn, guide_fn


class _NumPyroHandler:
    """Sample sites become ``numpyro.sample`` inside their ``numpyro.plate``s."""

    def __init__(self, model, data, nets, init, backend):
        self.model, self.data, self.nets, self.init, self.backend = model, data, nets, init, backend

    @contextlib.contextmanager
    def _plates(self, node, ctx):
        with contextlib.ExitStack() as stack:
            for name in node.plates:
                stack.enter_context(numpyro.plate(name, ctx.sizes[name], dim=self.model.ir.plates[name].dim))
            yield

    def input(self, node, ctx):
        return self.data[node.name]

    def net(self, node, ctx):
        spec = self.nets[node.name]
        if NETS[type(spec)][1] is None:  # a flow transform or a noise network: weights as one param dict
            weights = numpyro.param(f"{node.name}$params", {k: jnp.asarray(self.init[f"{node.name}.{k}"])
                                                            for k in spec.param_shapes()})
            return JaxBijection(spec, weights, "") if isinstance(spec, Bijector) else _time_net(spec, weights, "")
        module = self.backend.module(spec)
        init = self.backend.flax_params(spec, self.init, node.name + ".")
        variables = numpyro.param(f"{node.name}$params", init["params"])
        return lambda *args: module.apply({"params": variables}, *args)

    def sample(self, node, fn, ctx, obs=None):
        infer = dict(node.infer)
        value = obs if obs is not None else self.data.get(node.name)
        if value is None and node.name in ctx.enumerable:
            infer.setdefault("enumerate", "parallel")
        with self._plates(node, ctx):
            return numpyro.sample(node.name, fn, obs=value, infer=infer)

    def deterministic(self, node, value, ctx):
        return numpyro.deterministic(node.name, value)


BACKEND = NumPyroBackend()
