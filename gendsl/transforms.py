"""Backend-neutral bijections for normalizing flows (``gendsl.transforms``).

A flow is ``dist.TransformedDistribution(base, [t1, t2, ...])``: a sample is
``t_n(... t_1(z))`` with ``z`` from ``base``, and

    log p(x) = log p_base(z) - sum_i log |det J_{t_i}|,   z = t_1^-1(... t_n^-1(x)).

Each transform maps vectors of ``dim`` numbers (event shape ``(dim,)``) in the
base-to-data direction. Learnable transforms are named, like networks: their
weights are parameters ``"<name>.<key>"`` and they appear in the IR as
:class:`gendsl.ir.Net` nodes. Stateless ones (:class:`Permute`,
:class:`Reverse`, :class:`Sigmoid`) take no name and become the libraries' own
transforms (``pyro.distributions.transforms.Permute``,
``numpyro.distributions.transforms.PermuteTransform``, ...).

=========================  ====================  ===================================
transform                  one pass in           paper
=========================  ====================  ===================================
:class:`AdditiveCoupling`  both directions       NICE (Dinh et al., 2015)
:class:`AffineCoupling`    both directions       RealNVP (Dinh et al., 2017)
:class:`MaskedAutoregressive`  density (inverse)  MAF (Papamakarios et al., 2017)
:class:`InverseAutoregressive` sampling (forward) IAF (Kingma et al., 2016)
:class:`ActNorm`           both                  Glow (Kingma & Dhariwal, 2018)
:class:`BatchNorm`         both                  RealNVP, MAF (batch statistics)
:class:`InvertibleLinear`  both (LU)             Glow's invertible 1x1 convolution
:class:`Planar`            forward (inverse by   Rezende & Mohamed, 2015
                           bisection)
:class:`Radial`            both (closed form)    Rezende & Mohamed, 2015
=========================  ====================  ===================================

Example:
    >>> import gendsl as gd
    >>> from gendsl import dist, transforms as T
    >>> @gd.model
    ... def flow(x_dim=2):
    ...     base = dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1)
    ...     layers = [T.AffineCoupling("c1", x_dim, hidden=[16]), T.Reverse(x_dim),
    ...               T.AffineCoupling("c2", x_dim, hidden=[16])]
    ...     with gd.plate("data"):
    ...         gd.observe("x", dist.TransformedDistribution(base, layers))
    >>> flow().ir["x"].dist.family, [n.name for n in flow().ir.nets]
    ('TransformedDistribution', ['c1', 'c2'])
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from .constraints import param_rng
from .errors import ModelError
from .nn import MADE, MLP, ACTIVATIONS, NetSpec
from .trace import _STACK

__all__ = [
    "Bijector", "StatelessTransform",
    "AdditiveCoupling", "AffineCoupling", "MaskedAutoregressive", "InverseAutoregressive",
    "ActNorm", "BatchNorm", "InvertibleLinear", "Planar", "Radial",
    "Permute", "Reverse", "Sigmoid", "TRANSFORMS",
]


@contextlib.contextmanager
def _detached():
    """Builds helper network specs without registering them in the active trace."""
    saved = _STACK[:]
    _STACK.clear()
    try:
        yield
    finally:
        _STACK.extend(saved)


def _check_dim(kind: str, name, dim) -> int:
    if int(dim) < 1:
        raise ModelError(f"transforms.{kind} {name!r}: dim must be >= 1, got {dim}")
    return int(dim)


@dataclass(frozen=True)
class Bijector(NetSpec):
    """Base of the learnable transforms: a named bijection of ``R^dim`` with
    weights ``"<name>.<key>"`` (shapes from :meth:`param_shapes`).

    Backends implement each kind once, in :mod:`gendsl.families.flow`, and
    wrap it as a ``pyro.distributions.transforms.Transform`` (a
    ``TransformModule`` in plain Pyro programs) or a NumPyro ``Transform``.
    """

    dim: int = 0
    # the width of the conditioning vector its conditioner reads (0: none); couplings and MAF/IAF layers
    # take it as an argument, the other transforms read no context
    context = 0

    def out_shape(self, in_shape: tuple) -> tuple:
        raise ModelError(f"transform {self.name!r} is not a network: use it inside "
                         f"dist.TransformedDistribution(base, [...])")

    def __call__(self, x):
        self.out_shape(())


def _mask(dim: int, kind: str, parity: int) -> np.ndarray:
    """1 for the coordinates a coupling layer keeps (and conditions on)."""
    if kind == "alternate":
        keep = (np.arange(dim) % 2) == parity
    else:  # "half": NICE's split into the first and the second half
        keep = (np.arange(dim) < (dim + 1) // 2) != bool(parity)
    return keep.astype(np.float64)


# the conditioner's last layer starts this much smaller than PyTorch's default
LAST_LAYER_SCALE = 0.01


def _check_context(kind: str, name, context) -> int:
    if isinstance(context, bool) or int(context) != context or int(context) < 0:
        raise ModelError(f"transforms.{kind} {name!r}: context must be an integer >= 0 (the width of the "
                         f"conditioning vector, e.g. K for a one-hot label), got {context!r}")
    return int(context)


def _context_text(context: int) -> str:
    return f", context {context}" if context else ""


def _near_identity(weights: dict, name: str, last: int) -> dict:
    """Scales the conditioner's last layer down, so the transform starts near
    the identity (Glow zeroes it; a small scale keeps every weight's gradient
    non-zero from the first step)."""
    for key in (f"{name}.{last}.weight", f"{name}.{last}.bias"):
        weights[key] = weights[key] * LAST_LAYER_SCALE
    return weights


@dataclass(frozen=True)
class _Coupling(Bijector):
    hidden: tuple = ()
    mask: str = "alternate"
    parity: int = 0
    activation: str = "relu"
    context: int = 0

    outputs_per_dim = 1  # the conditioner's outputs per coordinate

    def __init__(self, name, dim, hidden=(64, 64), mask="alternate", parity=0, activation="relu", context=0):
        kind = type(self).__name__
        dim = _check_dim(kind, name, dim)
        if mask not in ("alternate", "half"):
            raise ModelError(f"transforms.{kind} {name!r}: mask must be 'alternate' or 'half', got {mask!r}")
        if parity not in (0, 1):
            raise ModelError(f"transforms.{kind} {name!r}: parity must be 0 or 1, got {parity!r}")
        if activation not in ACTIVATIONS:
            raise ModelError(f"transforms.{kind} {name!r}: unknown activation {activation!r}; "
                             f"choose one of {ACTIVATIONS}")
        if dim < 2:
            raise ModelError(f"transforms.{kind} {name!r}: a coupling layer needs dim >= 2 (it transforms "
                             f"one part given the other), got dim={dim}; use ActNorm or Planar for 1-D data")
        for key, value in dict(name=name, dim=dim, hidden=tuple(int(h) for h in hidden), mask=mask,
                               parity=int(parity), activation=activation,
                               context=_check_context(kind, name, context)).items():
            object.__setattr__(self, key, value)
        self.__post_init__()

    def keep(self) -> np.ndarray:
        """``(dim,)``: 1 where the layer passes the coordinate through unchanged."""
        return _mask(self.dim, self.mask, self.parity)

    def conditioner(self) -> MLP:
        """The network reading the kept coordinates (masked, full width), then
        the ``context`` vector (a class-conditional flow's one-hot label)."""
        with _detached():
            return MLP(self.name, [self.dim + self.context, *self.hidden, self.outputs_per_dim * self.dim],
                       activation=self.activation)

    def param_shapes(self) -> dict:
        return self.conditioner().param_shapes()

    def init(self, seed: int) -> dict:
        return _near_identity(self.conditioner().init(seed), self.name, len(self.hidden))

    def label(self) -> str:
        return (f"{type(self).__name__}({self.dim}, hidden {'-'.join(map(str, self.hidden)) or 'none'}, {self.mask}"
                f"{_context_text(self.context)})")


@dataclass(frozen=True, init=False)
class AdditiveCoupling(_Coupling):
    """NICE's additive coupling: ``y_A = x_A``, ``y_B = x_B + t(x_A)``;
    volume-preserving (``log|det J| = 0``).

    Args:
        name: weights ``"<name>.<i>.weight"`` / ``.bias`` of the MLP ``t``.
        dim: the vector's length (>= 2).
        hidden: the MLP's hidden widths.
        mask: ``"alternate"`` (even/odd coordinates) or ``"half"`` (first/second half).
        parity: which part is kept (flip it in consecutive layers).
        activation: of the MLP's hidden layers.
        context: the width of a conditioning vector ``c`` (a one-hot label)
            that the MLP reads beside ``x_A``, ``t(x_A, c)``: the flow is then
            ``p(x | c)``, its ``dist.TransformedDistribution`` given
            ``context=``; 0 (unconditional) by default.

    References:
        Dinh, Krueger & Bengio, "NICE: Non-linear Independent Components
        Estimation", ICLR 2015 workshop.
    """


@dataclass(frozen=True, init=False)
class AffineCoupling(_Coupling):
    """RealNVP's affine coupling: ``y_A = x_A``,
    ``y_B = x_B * exp(s(x_A)) + t(x_A)`` with ``s = scale * tanh(raw)``
    (a learned per-coordinate ``scale``, as in the paper, keeps early steps
    stable); ``log|det J| = sum_B s``.

    Args: as :class:`AdditiveCoupling`; the MLP outputs ``2 * dim`` numbers
    (shift, then raw log-scale), and ``"<name>.scale"`` is ``(dim,)``. With
    ``context`` the MLP reads ``(x_A, c)``: ``s(x_A, c)``, ``t(x_A, c)``.

    References:
        Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP",
        ICLR 2017.
    """

    outputs_per_dim = 2

    def param_shapes(self) -> dict:
        return {**super().param_shapes(), "scale": (self.dim,)}

    def init(self, seed: int) -> dict:
        return {**super().init(seed), f"{self.name}.scale": np.ones(self.dim)}


@dataclass(frozen=True)
class _Autoregressive(Bijector):
    hidden: tuple = ()
    ordering: object = "natural"
    activation: str = "relu"
    seed: int = 0
    context: int = 0

    def __init__(self, name, dim, hidden=(64, 64), ordering="natural", activation="relu", seed=0, context=0):
        kind = type(self).__name__
        dim = _check_dim(kind, name, dim)
        if not isinstance(ordering, str):
            ordering = tuple(int(i) for i in ordering)
        for key, value in dict(name=name, dim=dim, hidden=tuple(int(h) for h in hidden), ordering=ordering,
                               activation=activation, seed=int(seed),
                               context=_check_context(kind, name, context)).items():
            object.__setattr__(self, key, value)
        self.made()  # validates ordering, hidden and activation
        self.__post_init__()

    def made(self) -> MADE:
        """The conditioner: a MADE giving ``(shift, raw log-scale)`` per coordinate
        (built once: a training step asks for it every run)."""
        made = self.__dict__.get("_made")
        if made is None:
            with _detached():
                made = MADE(self.name, self.dim, hidden=self.hidden, params_per_dim=2, ordering=self.ordering,
                            activation=self.activation, seed=self.seed)
            object.__setattr__(self, "_made", made)  # not a field: equality and hashing ignore it
        return made

    def param_shapes(self) -> dict:
        shapes = self.made().param_shapes()
        if self.context:  # unmasked: the context reaches every unit of the MADE's first layer
            shapes["context.weight"] = (shapes["0.weight"][0], self.context)
        return shapes

    def init(self, seed: int) -> dict:
        weights = self.made().init(seed)
        if self.context:  # PyTorch's default bound for a layer reading the inputs and the context
            key, (width, inputs) = f"{self.name}.context.weight", self.made().param_shapes()["0.weight"]
            bound = 1.0 / np.sqrt(inputs + self.context)
            weights[key] = param_rng(seed, key).uniform(-bound, bound, (width, self.context))
        weights = _near_identity(weights, self.name, len(self.hidden))
        if self.context and not self.hidden:  # no hidden layer: the context weight is part of the last layer
            weights[f"{self.name}.context.weight"] = weights[f"{self.name}.context.weight"] * LAST_LAYER_SCALE
        return weights

    def label(self) -> str:
        return (f"{type(self).__name__}({self.dim}, MADE hidden {'-'.join(map(str, self.hidden))}, "
                f"{self.made().ordering_text()}{_context_text(self.context)})")


@dataclass(frozen=True, init=False)
class MaskedAutoregressive(_Autoregressive):
    """MAF's layer: ``y_i = x_i * exp(a_i(y_<i)) + m_i(y_<i)``. The density
    direction (``y -> x``) is one MADE pass; sampling runs ``dim`` passes.
    The log-scale is soft-clamped, ``a = 5 tanh(raw / 5)``.

    Args:
        name: the MADE's weights ``"<name>.<i>.weight"`` (masked, ``2 * dim`` outputs).
        dim: the vector's length.
        hidden: the MADE's hidden widths.
        ordering: ``"natural"``, ``"random"`` or a permutation (alternate
            orderings between layers, or put a :class:`Reverse` between them).
        activation: of the MADE's hidden layers.
        seed: the MADE's hidden degrees (and a random ordering).
        context: the width of a conditioning vector ``c`` (a one-hot
            label): a conditional MADE, ``a_i(y_<i, c)``, ``m_i(y_<i, c)``,
            with ``c`` connected to every unit of the first layer by an
            unmasked weight ``"<name>.context.weight"`` (Papamakarios et al.'s
            conditional MAF); the flow's ``dist.TransformedDistribution`` is
            given ``context=``. 0 (unconditional) by default.

    References:
        Papamakarios, Pavlakou & Murray, "Masked Autoregressive Flow for
        Density Estimation", NeurIPS 2017.
    """


@dataclass(frozen=True, init=False)
class InverseAutoregressive(_Autoregressive):
    """IAF's layer: ``y_i = x_i * exp(a_i(x_<i)) + m_i(x_<i)``. Sampling
    (``x -> y``) is one MADE pass; the density direction runs ``dim`` passes.

    Args: as :class:`MaskedAutoregressive`.

    References:
        Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, "Improved
        Variational Inference with Inverse Autoregressive Flow", NeurIPS 2016.
    """


@dataclass(frozen=True)
class ActNorm(Bijector):
    """Glow's activation normalisation: ``y = x * exp(log_scale) + loc``,
    per coordinate; weights ``"<name>.loc"``, ``"<name>.log_scale"`` (zero
    at the start: the identity).

    References:
        Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1
        Convolutions", NeurIPS 2018.
    """

    def __init__(self, name, dim):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dim", _check_dim("ActNorm", name, dim))
        self.__post_init__()

    def param_shapes(self) -> dict:
        return {"loc": (self.dim,), "log_scale": (self.dim,)}

    def init(self, seed: int) -> dict:
        return {f"{self.name}.{k}": np.zeros(s) for k, s in self.param_shapes().items()}

    def label(self) -> str:
        return f"ActNorm({self.dim})"


@dataclass(frozen=True)
class BatchNorm(Bijector):
    """Batch normalisation as a bijection (RealNVP, MAF): in the data-to-noise
    direction ``z = (y - mean) / sqrt(var + eps) * exp(log_gamma) + beta``.

    While training, ``mean`` and ``var`` are the minibatch's (gradients flow
    through them); in evaluation they are the population statistics
    ``"<name>.mean"`` and ``"<name>.log_var"``, which receive no gradient and
    which ``fit`` sets after training from one pass over the training rows
    (up to 20,000 of them), layer by layer in the density pass's order, as
    Ioffe & Szegedy's inference procedure does. Weights ``"<name>.log_gamma"``
    and ``"<name>.beta"``; all four start at the identity.

    References:
        Ioffe & Szegedy, "Batch Normalization", ICML 2015.
        Dinh, Sohl-Dickstein & Bengio, "Density Estimation Using Real NVP", ICLR 2017.
        Papamakarios, Pavlakou & Murray, "Masked Autoregressive Flow for Density Estimation", NeurIPS 2017.
    """

    eps: float = 1e-5
    batch_statistics = True  # the run tells it whether it is training (see gendsl.backends.interpret)
    STATISTICS = ("mean", "log_var")

    def __init__(self, name, dim, eps=1e-5):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dim", _check_dim("BatchNorm", name, dim))
        if not float(eps) > 0:
            raise ModelError(f"transforms.BatchNorm {name!r}: eps must be positive, got {eps}")
        object.__setattr__(self, "eps", float(eps))
        self.__post_init__()

    def param_shapes(self) -> dict:
        return {k: (self.dim,) for k in ("log_gamma", "beta", "mean", "log_var")}

    def init(self, seed: int) -> dict:
        return {f"{self.name}.{k}": np.zeros(s) for k, s in self.param_shapes().items()}

    def label(self) -> str:
        return f"BatchNorm({self.dim})"


_LU_CACHE: dict = {}


@dataclass(frozen=True)
class InvertibleLinear(Bijector):
    """Glow's invertible 1x1 convolution for vectors: ``y = W x`` with ``W``
    kept in LU form, ``W = P L (U + diag(sign * exp(log_diag)))``, so
    ``log|det W| = sum(log_diag)`` and the inverse is two triangular solves.
    ``P`` and ``sign`` are fixed; ``W`` starts as a random rotation.

    Args:
        name: weights ``"<name>.lower"``, ``"<name>.upper"`` ``(dim, dim)``
            (only their strict triangles are used) and ``"<name>.log_diag"``.
        dim: the vector's length.
        seed: the starting rotation (and so ``P`` and ``sign``).

    References:
        Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1
        Convolutions", NeurIPS 2018, section 3.2 (the LU decomposition).
    """

    seed: int = 0

    def __init__(self, name, dim, seed=0):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dim", _check_dim("InvertibleLinear", name, dim))
        object.__setattr__(self, "seed", int(seed))
        self.__post_init__()

    def lu(self) -> dict:
        """The starting rotation's LU factors: ``perm`` (``(P w)_i = w[perm[i]]``),
        ``sign``, ``lower``, ``upper``, ``log_diag``."""
        cached = _LU_CACHE.get(self)
        if cached is None:
            import scipy.linalg

            rng = np.random.default_rng([self.seed, self.dim])
            q, _ = np.linalg.qr(rng.standard_normal((self.dim, self.dim)))
            p, lower, upper = scipy.linalg.lu(q)
            diag = np.diag(upper)
            cached = _LU_CACHE[self] = {
                "perm": np.argmax(p, axis=1), "sign": np.sign(diag),
                "lower": np.tril(lower, -1), "upper": np.triu(upper, 1), "log_diag": np.log(np.abs(diag)),
            }
        return cached

    def param_shapes(self) -> dict:
        return {"lower": (self.dim, self.dim), "upper": (self.dim, self.dim), "log_diag": (self.dim,)}

    def init(self, seed: int) -> dict:
        lu = self.lu()
        return {f"{self.name}.{k}": lu[k].copy() for k in self.param_shapes()}

    def label(self) -> str:
        return f"InvertibleLinear({self.dim}, LU)"


def _uniform_init(spec, seed: int) -> dict:
    # Pyro's Planar/Radial init: U(-1/sqrt(dim), 1/sqrt(dim)) for every weight
    bound = 1.0 / np.sqrt(spec.dim)
    return {f"{spec.name}.{k}": param_rng(seed, f"{spec.name}.{k}").uniform(-bound, bound, s)
            for k, s in spec.param_shapes().items()}


@dataclass(frozen=True)
class Planar(Bijector):
    """Planar flow ``y = x + u_hat tanh(w . x + b)``, with ``u`` projected so
    that ``w . u_hat >= -1`` (invertible). ``log|det J| = log|1 + (1 -
    tanh^2) w . u_hat|``. The inverse solves one monotone scalar equation by
    bisection (60 halvings, exact to float64 precision).

    References:
        Rezende & Mohamed, "Variational Inference with Normalizing Flows",
        ICML 2015, appendix A.1.
    """

    def __init__(self, name, dim):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dim", _check_dim("Planar", name, dim))
        self.__post_init__()

    def param_shapes(self) -> dict:
        return {"u": (self.dim,), "w": (self.dim,), "b": ()}

    def init(self, seed: int) -> dict:
        return _uniform_init(self, seed)

    def label(self) -> str:
        return f"Planar({self.dim})"


@dataclass(frozen=True)
class Radial(Bijector):
    """Radial flow ``y = x + beta h(r) (x - x0)``, ``h = 1 / (alpha + r)``,
    ``r = |x - x0|``, with ``alpha > 0`` and ``beta >= -alpha`` (invertible);
    the inverse is the root of a quadratic in ``r``.

    References:
        Rezende & Mohamed, "Variational Inference with Normalizing Flows",
        ICML 2015, appendix A.2.
    """

    def __init__(self, name, dim):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dim", _check_dim("Radial", name, dim))
        self.__post_init__()

    def param_shapes(self) -> dict:
        return {"x0": (self.dim,), "alpha_prime": (), "beta_prime": ()}

    def init(self, seed: int) -> dict:
        return _uniform_init(self, seed)

    def label(self) -> str:
        return f"Radial({self.dim})"


# -- stateless transforms -------------------------------------------------------------------
@dataclass(frozen=True)
class StatelessTransform:
    """A transform without weights; backends map it to their library's own."""

    dim: int

    def label(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Permute(StatelessTransform):
    """``y = x[perm]`` (``log|det J| = 0``).

    Example:
        >>> Permute([2, 0, 1]).perm
        (2, 0, 1)
    """

    perm: tuple = field(default=())

    def __init__(self, perm):
        perm = tuple(int(i) for i in perm)
        if sorted(perm) != list(range(len(perm))) or not perm:
            raise ModelError(f"transforms.Permute: perm must be a permutation of range(d), got {perm}")
        object.__setattr__(self, "dim", len(perm))
        object.__setattr__(self, "perm", perm)


@dataclass(frozen=True)
class Reverse(Permute):
    """Reverses the coordinates (RealNVP and MAF put one between layers)."""

    def __init__(self, dim):
        super().__init__(range(_check_dim("Reverse", "", dim) - 1, -1, -1))

    def label(self) -> str:
        return "Reverse"


@dataclass(frozen=True)
class Sigmoid(StatelessTransform):
    """``y = (sigmoid(x) - alpha) / (1 - 2 alpha)``: maps reals onto (0, 1),
    the inverse of RealNVP's logit pre-processing of pixels
    ``x = logit(alpha + (1 - 2 alpha) y)``.

    Args:
        dim: the vector's length.
        alpha: keeps the logit away from 0 and 1 (RealNVP: 0.05).
    """

    alpha: float = 0.0

    def __init__(self, dim, alpha=0.0):
        if not 0.0 <= float(alpha) < 0.5:
            raise ModelError(f"transforms.Sigmoid: alpha must be in [0, 0.5), got {alpha}")
        object.__setattr__(self, "dim", _check_dim("Sigmoid", "", dim))
        object.__setattr__(self, "alpha", float(alpha))

    def label(self) -> str:
        return f"Sigmoid(alpha={self.alpha:g})" if self.alpha else "Sigmoid"


# name -> class, for errors and docs
TRANSFORMS = {cls.__name__: cls for cls in (
    AdditiveCoupling, AffineCoupling, MaskedAutoregressive, InverseAutoregressive, ActNorm, BatchNorm,
    InvertibleLinear, Planar, Radial, Permute, Reverse, Sigmoid)}
