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

import functools
import operator

import numpy as np
import torch
import torch.nn.functional as F

import pyro
import pyro.distributions as pdist
from pyro.distributions import constraints as pcons

from ..errors import ModelError
from ..families import flow as flows
from ..nn import Module
from ..transforms import Bijector, Permute, Reverse, Sigmoid
from .base import Backend, DistTable, FamilyAdapter
from .plain import PPL, compile_plain

__all__ = ["PyroBackend", "BACKEND", "TorchNet", "TorchFamily"]


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


class TorchNet(torch.nn.Module):
    """A gendsl network spec (``nn.MLP``, ``nn.MADE``, ``nn.TimeMLP``, ...) as a
    ``torch.nn`` module whose forward is gendsl's functional one; its
    ``state_dict`` keys are gendsl's weight names (``"0.weight"``, ``"in.weight"``, ...)."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        _add_parameters(self, spec.param_shapes())

    def forward(self, *args):
        return self.functional()(*args)

    def functional(self):
        """The network as gendsl's functional forward over this module's parameters."""
        return BACKEND.net(self.spec, dict(self.named_parameters()), "")


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


class _BijectionCalls:
    """``Transform`` methods over a :class:`gendsl.families.flow.Bijection`
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
    (and, for a conditional one, its ``context``) as a
    ``torch.distributions.Transform`` (gendsl's training path)."""

    def __init__(self, spec, params: dict, prefix: str = "", context=None):
        super().__init__(cache_size=1)
        self.spec, self._params, self._prefix = spec, params, prefix
        self._impl = flows.bijection(BACKEND, spec, params, prefix, context)

    def _bijection(self):
        return self._impl

    def condition(self, context):
        """The transform given ``context`` (Pyro's ``ConditionalTransform.condition``)."""
        return TorchBijection(self.spec, self._params, self._prefix, context)


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

    def condition(self, context):
        """The transform given ``context``, over this module's parameters."""
        return TorchBijection(self.spec, dict(self.named_parameters()), "", context)


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


def _adapted(impl, backend, validate, *args, **kwargs):
    return TorchFamily(impl(backend, *args, **kwargs), validate_args=validate)


class TorchFamily(FamilyAdapter, pdist.TorchDistribution):
    """A family gendsl implements (its neutral :attr:`Family.impl`) as a Pyro
    distribution: the library's constraints and ``rsample``; the arithmetic
    is the implementation's."""

    arg_constraints = {}
    constraints = {"real": pcons.real, "boolean": pcons.boolean, "positive": pcons.positive,
                   "unit_interval": pcons.unit_interval, "integer_interval": pcons.integer_interval,
                   "independent": pcons.independent}

    def __init__(self, impl, validate_args=None):
        self.impl = impl
        super().__init__(torch.Size(impl.batch_shape), torch.Size(impl.event_shape), validate_args=validate_args)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.impl.log_prob(value)

    def rsample(self, sample_shape=torch.Size()):
        return self.impl.sample(None, tuple(sample_shape))

    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        return self.impl.sample(None, tuple(sample_shape))


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
    arrays = "torch"
    eager = True
    ops = OPS
    activations = _ACTIVATIONS
    wrappers = (torch.distributions.Independent, pdist.MaskedDistribution, pdist.ExpandedDistribution)
    adapter = TorchFamily

    def __init__(self, validate: bool = False):
        self.validate = validate
        self.dists = DistTable(self, lambda name: functools.partial(getattr(pdist, name), validate_args=validate)
                               if hasattr(pdist, name) else None,
                               lambda impl: functools.partial(_adapted, impl, self, validate))

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

    def loop(self, n: int, body, init):
        """``body(i, carry)`` for ``i = 0..n-1`` (a Python loop: no host sync)."""
        for i in range(n):
            init = body(i, init)
        return init

    # -- the runtime of the neutral families (keys: None for the global generator, or a Generator) ------
    def default_like(self, like):
        return like if like is not None else (torch.get_default_dtype(), torch.device("cpu"))

    def as_float(self, x, like):
        return x if x.is_floating_point() else x.to(like[0])

    def split(self, key, n):
        return [key] * n

    def fold_in(self, key, i):
        return key

    def fixed_key(self, seed, like):
        return torch.Generator(device=like[1]).manual_seed(int(seed))

    def random_uniform(self, key, shape, like, minval=0.0):
        u = torch.rand(tuple(shape), generator=key, dtype=like[0], device=like[1])
        return u.clamp_(min=minval) if minval else u

    def random_normal(self, key, shape, like):
        return torch.randn(tuple(shape), generator=key, dtype=like[0], device=like[1])

    def random_int(self, key, shape, high, like):
        return torch.randint(int(high), tuple(shape), generator=key, device=like[1])

    def random_index(self, key, high):
        return int(torch.randint(int(high), (1,), generator=key))

    def random_categorical(self, key, logits, shape):
        return pdist.Categorical(logits=logits).expand(torch.Size(shape)).sample()

    def scan(self, n, body, init):
        ys = []
        for i in range(n):
            init, y = body(init, i)
            ys.append(y)
        return init, torch.stack(ys)

    def by_row(self, which, n, fn, x):
        out = None
        for m in range(n):
            rows = which == m
            y = fn(x[rows], m)
            if out is None:
                out = y.new_zeros(tuple(which.shape) + tuple(y.shape[1:]))
            out[rows] = y
        return out

    def network(self, net):
        return net.functional() if isinstance(net, TorchNet) else net

    # -- gradients and plain draws (the adversarial objective) -------------------------------
    def stop_gradient(self, x):
        return x.detach()

    def no_gradient(self):
        """A context whose values record nothing for autograd (what it computes is held fixed)."""
        return torch.no_grad()

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

    def raw_module(self, spec, params, prefix):
        """A user's ``torch.nn.Module``, called with gendsl's parameters in place of its own."""
        if spec.framework != "torch":
            raise ModelError(f"network {spec.name!r} is a Flax module: it runs on the numpyro backend only; "
                             f"use nn.MLP for a network both backends run")
        weights = {k: params[prefix + k] for k in spec.param_shapes()}
        return lambda x: torch.func.functional_call(spec.module, weights, (x,))

    def transform(self, spec, params, prefix):
        return TorchBijection(spec, params, prefix)

    def stateless(self, spec):
        return STATELESS[type(spec)](spec)

    def transformed_distribution(self, base_dist, transforms):
        return pdist.TransformedDistribution(base_dist, transforms, validate_args=self.validate)

    def module(self, spec, weights: dict | None = None, prefix: str = "") -> torch.nn.Module:
        """``spec`` as a ``torch.nn.Module``, loaded with ``weights`` if given."""
        module = spec.module if isinstance(spec, Module) else TorchBijector(spec) if isinstance(
            spec, Bijector) else TorchNet(spec)
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
        backend, dtype, device = PyroBackend(validate=True), self.float_dtype(dtype), torch.device(device)

        def network(node, init):
            module = backend.module(node.spec, init, node.name + ".").to(device=device, dtype=dtype)
            return lambda: pyro.module(node.name, module)

        def data(values):
            values = {k: torch.as_tensor(v, device=device) for k, v in values.items()}
            return {k: v.to(dtype) if v.is_floating_point() else v for k, v in values.items()}

        ppl = PPL(
            like=(dtype, device), data=data, network=network,
            param=lambda p, init: pyro.param(p.name, lambda: torch.as_tensor(init[p.name], dtype=dtype, device=device),
                                             constraint=_CONSTRAINTS[p.constraint]),
            plate=lambda name, size, dim: pyro.plate(name, size, dim=dim),
            sample=lambda name, fn, obs, infer: pyro.sample(name, fn, obs=obs, infer=infer),
            deterministic=lambda name, value, event_dim: pyro.deterministic(name, value, event_dim=event_dim),
        )
        return compile_plain(backend, ppl, model, seed)


BACKEND = PyroBackend()
