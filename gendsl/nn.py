"""Backend-neutral network specs.

A spec is a frozen description of a network: its name, its sizes, and the
shapes of its weights. Creating one inside a model registers a
:class:`gendsl.ir.Net` node; calling it on a traced value adds an ``apply``
op. Backends turn specs into ``torch.nn`` modules (Pyro) and Flax modules
(NumPyro) through their network registries. Weights are initialised here, in
NumPy, with PyTorch's default scheme, so both backends start equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import ir
from .constraints import param_rng
from .errors import ModelError, ShapeError, SiteError
from .shapes import format_shape
from .trace import Value, _STACK, as_arg, current

__all__ = ["NetSpec", "MLP", "Module", "AutoregressiveNet", "MADE", "FVSBN", "NADE", "GRU", "TimeMLP", "TimeUNet",
           "ACTIVATIONS"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "elu", "leaky_relu", "gelu", "silu", "identity")


@dataclass(frozen=True)
class NetSpec:
    """Base class: a named network with static weight shapes.

    Subclasses define :meth:`param_shapes` and :meth:`out_shape`; the rest
    (registration, tracing, initialisation) is shared.
    """

    name: str

    def param_shapes(self) -> dict:
        """Weight name (without the net's prefix) -> shape."""
        raise NotImplementedError

    def out_shape(self, in_shape: tuple) -> tuple:
        raise NotImplementedError

    def label(self) -> str:
        """Short text for graphs (the spec's class name unless overridden)."""
        return type(self).__name__

    def init(self, seed: int) -> dict:
        """PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
        weights (``(out, in)``, or ``(out, in, kh, kw)`` for a convolution)
        and biases alike."""
        out = {}
        shapes = self.param_shapes()
        for key, shape in shapes.items():
            weight = shape if key.endswith("weight") else shapes[key.replace("bias", "weight")]
            fan_in = int(np.prod(weight[1:]))
            bound = 1.0 / np.sqrt(fan_in)
            full = f"{self.name}.{key}"
            out[full] = param_rng(seed, full).uniform(-bound, bound, shape)
        return out

    def __post_init__(self):
        # Registering at construction makes the network a node of the graph
        # even before it is used; outside a trace, registration waits for a call.
        if _STACK:
            self._register(current())

    def _register(self, tracer) -> None:
        node = tracer.nodes.get(self.name)
        if node is None:
            tracer.add(ir.Net(name=self.name, shape=(), plates=(), spec=self))
        elif not isinstance(node, ir.Net) or node.spec != self:
            raise SiteError(
                f"the name {self.name!r} is used twice (as a {node.kind} and as network {self!r}); "
                f"give each network its own name"
            )

    def __call__(self, x):
        tracer = current(f"network {self.name!r}")
        self._register(tracer)
        if not isinstance(x, Value):
            x = np.asarray(x, dtype=float)
        shape = self.out_shape(tuple(x.shape))
        node = ir.Op(
            name=tracer.fresh(), shape=shape, plates=tracer.plate_names, dtype="real",
            op="apply", args=(ir.Ref(self.name), as_arg(x)),
        )
        return tracer.add(node)


@dataclass(frozen=True)
class MLP(NetSpec):
    """A multi-layer perceptron ``sizes[0] -> ... -> sizes[-1]``.

    Args:
        name: the network's name; its weights are ``"<name>.<i>.weight"``
            (``(out, in)``) and ``"<name>.<i>.bias"``.
        sizes: layer widths, input first.
        activation: between hidden layers, one of :data:`ACTIVATIONS`.
        output_activation: after the last layer (default none).

    Example:
        >>> import gendsl as gd
        >>> from gendsl import nn, dist
        >>> @gd.model
        ... def decoder_only(z_dim=2, x_dim=4):
        ...     net = nn.MLP("decoder", [z_dim, 8, x_dim])
        ...     with gd.plate("data"):
        ...         z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        ...         gd.observe("x", dist.Bernoulli(logits=net(z)).to_event(1))
        >>> decoder_only().ir["decoder"].spec.sizes
        (2, 8, 4)
    """

    sizes: tuple = field(default=())
    activation: str = "relu"
    output_activation: str = "identity"

    def __init__(self, name, sizes, activation="relu", output_activation=None):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ModelError(f"nn.MLP {name!r}: sizes must list at least input and output widths (>= 1), got {sizes}")
        for act in (activation, output_activation or "identity"):
            if act not in ACTIVATIONS:
                raise ModelError(f"nn.MLP {name!r}: unknown activation {act!r}; choose one of {ACTIVATIONS}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "activation", activation)
        object.__setattr__(self, "output_activation", output_activation or "identity")
        self.__post_init__()

    def param_shapes(self) -> dict:
        shapes = {}
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            shapes[f"{i}.weight"] = (b, a)
            shapes[f"{i}.bias"] = (b,)
        return shapes

    def out_shape(self, in_shape: tuple) -> tuple:
        if not in_shape or in_shape[-1] != self.sizes[0]:
            raise ShapeError(
                f"network {self.name!r} expects inputs with last axis {self.sizes[0]}, "
                f"got shape {format_shape(in_shape)}"
            )
        return in_shape[:-1] + (self.sizes[-1],)

    def label(self) -> str:
        return f"MLP {'-'.join(map(str, self.sizes))}"


# -- raw framework modules ---------------------------------------------------------------
_FLAX_INIT: dict = {}


def _framework(module) -> str | None:
    try:
        import torch

        if isinstance(module, torch.nn.Module):
            return "torch"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        import flax.linen

        if isinstance(module, flax.linen.Module):
            return "flax"
    except ImportError:  # pragma: no cover - flax is a dependency
        pass
    return None


@dataclass(frozen=True, eq=False)
class Module(NetSpec):
    """A raw ``torch.nn.Module`` (Pyro backend only) or Flax ``linen.Module``
    (NumPyro backend only) used as a network on vectors of ``in_dim``.

    Its parameters become gendsl parameters ``"<name>.<path>"`` (PyTorch's
    ``named_parameters`` names; Flax's parameter tree joined with dots), so
    they train, save and load like any network's. A PyTorch module starts
    from its own weights; a Flax module from ``module.init`` with the
    model's seed. It is called functionally (``torch.func.functional_call``,
    ``module.apply``). Modules with buffers (batch norm's running
    statistics) are refused: their state would not be a parameter.

    Example:
        >>> import torch, gendsl as gd
        >>> from gendsl import nn, dist
        >>> @gd.model
        ... def raw(x_dim=3):
        ...     net = nn.Module("decoder", torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(),
        ...                                                   torch.nn.Linear(8, x_dim)), in_dim=2)
        ...     with gd.plate("data"):
        ...         z = gd.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
        ...         gd.observe("x", dist.Normal(net(z), 1.0).to_event(1))
        >>> sorted(raw().init_params())
        ['decoder.0.bias', 'decoder.0.weight', 'decoder.2.bias', 'decoder.2.weight']
    """

    module: object = None
    in_dim: int = 0
    framework: str = ""
    out_dim: int = 0

    def __init__(self, name, module, in_dim):
        kind = _framework(module)
        if kind is None:
            raise ModelError(f"nn.Module {name!r}: expected a torch.nn.Module or a flax.linen.Module, "
                             f"got {type(module).__name__}; for a backend-neutral network use nn.MLP")
        if int(in_dim) < 1:
            raise ModelError(f"nn.Module {name!r}: in_dim is the input vector's width, >= 1; got {in_dim}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "module", module)
        object.__setattr__(self, "in_dim", int(in_dim))
        object.__setattr__(self, "framework", kind)
        if kind == "torch" and any(True for _ in module.buffers()):
            raise ModelError(f"nn.Module {name!r}: the module has buffers "
                             f"({[k for k, _ in module.named_buffers()]}); only modules whose whole state is "
                             f"parameters are supported (use transforms.BatchNorm in flows, or drop the buffers)")
        object.__setattr__(self, "out_dim", self._probe())
        self.__post_init__()

    @property
    def backend(self) -> str:
        return "pyro" if self.framework == "torch" else "numpyro"

    def _probe(self) -> int:
        """The output width, from one call on a row of zeros."""
        try:
            if self.framework == "torch":
                import torch

                dtype = next(self.module.parameters(), torch.zeros(())).dtype
                with torch.no_grad():
                    out = self.module(torch.zeros((1, self.in_dim), dtype=dtype))
            else:
                import jax.numpy as jnp

                out = self.module.apply(self._flax_init(0), jnp.zeros((1, self.in_dim)))
        except Exception as e:  # the module's own error, with the shape we tried
            raise ShapeError(f"nn.Module {self.name!r}: calling it on a (1, {self.in_dim}) input failed ({e}); "
                             f"is in_dim right?") from None
        if len(out.shape) != 2 or out.shape[0] != 1:
            raise ShapeError(f"nn.Module {self.name!r}: it must map (N, {self.in_dim}) to (N, out); "
                             f"it returned shape {tuple(out.shape)}")
        return int(out.shape[1])

    def _flax_init(self, seed: int):
        key = (id(self.module), self.in_dim, int(seed))
        if key not in _FLAX_INIT:
            import jax
            import jax.numpy as jnp

            _FLAX_INIT[key] = self.module.init(jax.random.PRNGKey(int(seed)), jnp.zeros((1, self.in_dim)))
        return _FLAX_INIT[key]

    def _weights(self, seed: int = 0) -> dict:
        """``{path: float64 array}`` of the module's own parameters."""
        if self.framework == "torch":
            return {k: v.detach().cpu().double().numpy() for k, v in self.module.named_parameters()}
        import jax

        flat = jax.tree_util.tree_flatten_with_path(self._flax_init(seed)["params"])[0]
        return {".".join(str(getattr(k, "key", k)) for k in path): np.asarray(v, dtype=np.float64)
                for path, v in flat}

    def param_shapes(self) -> dict:
        return {k: v.shape for k, v in self._weights().items()}

    def init(self, seed: int) -> dict:
        return {f"{self.name}.{k}": v for k, v in self._weights(seed).items()}

    def out_shape(self, in_shape: tuple) -> tuple:
        if not in_shape or in_shape[-1] != self.in_dim:
            raise ShapeError(f"network {self.name!r} expects inputs with last axis {self.in_dim}, "
                             f"got shape {format_shape(in_shape)}")
        return in_shape[:-1] + (self.out_dim,)

    def label(self) -> str:
        return f"{type(self.module).__name__} ({self.framework}) {self.in_dim}-{self.out_dim}"


# -- autoregressive networks ---------------------------------------------------------
def _ordering(spec_name: str, x_dim: int, ordering, rng: np.random.Generator) -> np.ndarray:
    """``ordering`` -> a permutation of ``range(x_dim)`` (position -> dimension)."""
    if isinstance(ordering, str):
        if ordering == "natural":
            return np.arange(x_dim)
        if ordering == "random":
            return rng.permutation(x_dim)
        raise ModelError(f"network {spec_name!r}: ordering must be 'natural', 'random' or a permutation "
                         f"of range({x_dim}), got {ordering!r}")
    order = np.asarray(ordering)
    if order.shape != (x_dim,) or sorted(order.tolist()) != list(range(x_dim)):
        raise ModelError(f"network {spec_name!r}: the ordering must be a permutation of range({x_dim}), "
                         f"got {tuple(order.tolist())}")
    return order.astype(np.int64)


def _init_chain_net(spec, kind: str, name, x_dim, params_per_dim, activation, ordering, **fields) -> None:
    """Validates and sets the fields every autoregressive network has (plus ``fields``)."""
    if int(x_dim) < 1 or int(params_per_dim) < 1:
        raise ModelError(f"nn.{kind} {name!r}: x_dim and params_per_dim must be >= 1, got {x_dim}, {params_per_dim}")
    if activation not in ACTIVATIONS:
        raise ModelError(f"nn.{kind} {name!r}: unknown activation {activation!r}; choose one of {ACTIVATIONS}")
    if not isinstance(ordering, str):
        ordering = tuple(int(i) for i in ordering)
    _ordering(name, int(x_dim), ordering, np.random.default_rng(0))  # validates
    values = dict(name=name, x_dim=int(x_dim), params_per_dim=int(params_per_dim), activation=activation,
                  ordering=ordering, **fields)
    for key, value in values.items():
        object.__setattr__(spec, key, value)
    spec.__post_init__()


@dataclass(frozen=True)
class AutoregressiveNet(NetSpec):
    """Base of the networks that drive an autoregressive chain
    (:func:`gendsl.dist.Autoregressive`).

    For inputs ``x`` of shape ``(..., x_dim)`` the network outputs the
    parameters of every conditional at once, shape ``(..., x_dim,
    params_per_dim)``, and output ``d`` depends only on the inputs that come
    before ``d`` in the ordering: one pass scores every ``p(x_d | x_<d)``.

    Attributes:
        x_dim: the chain's length.
        params_per_dim: numbers per conditional (1 for Bernoulli logits, K for
            K-level categorical logits, 3C for a C-component Gaussian mixture).
        orderings: ``(num_masks, x_dim)`` array, position -> dimension, one
            row per ordering/mask.
    """

    x_dim: int = 0
    params_per_dim: int = 1

    @property
    def num_masks(self) -> int:
        return 1

    @property
    def orderings(self) -> np.ndarray:
        raise NotImplementedError

    def out_shape(self, in_shape: tuple) -> tuple:
        if not in_shape or in_shape[-1] != self.x_dim:
            raise ShapeError(
                f"network {self.name!r} expects inputs with last axis x_dim={self.x_dim}, "
                f"got shape {format_shape(in_shape)}"
            )
        return in_shape[:-1] + (self.x_dim, self.params_per_dim)

    def ordering_text(self) -> str:
        order = self.orderings
        if self.num_masks > 1:
            distinct = len({tuple(o) for o in order.tolist()})
            return f"{self.num_masks} masks, {distinct} ordering{'s' if distinct > 1 else ''}"
        if np.array_equal(order[0], np.arange(self.x_dim)):
            return "natural order"
        return "order " + ", ".join(map(str, order[0][:4].tolist())) + (", ..." if self.x_dim > 4 else "")


@dataclass(frozen=True)
class MADE(AutoregressiveNet):
    """Masked autoencoder for distribution estimation (Germain et al., 2015).

    An MLP whose weight matrices are multiplied by binary masks so that output
    ``d`` sees only the inputs before ``d`` in the ordering. With
    ``num_masks > 1`` each mask has its own hidden connectivity (and, with
    ``ordering="random"``, its own ordering); the chain then averages the
    masks' probabilities at test time and trains on one random mask per step.

    Args:
        name: weights ``"<name>.<i>.weight"`` ``(out, in)`` and ``"<name>.<i>.bias"``;
            the last layer has ``x_dim * params_per_dim`` outputs.
        x_dim: inputs (and conditionals).
        hidden: hidden widths; ``()`` gives a masked linear map (FVSBN).
        params_per_dim: outputs per conditional.
        num_masks: masks (orderings / connectivities) in the ensemble.
        ordering: ``"natural"``, ``"random"`` (one per mask), or a permutation.
        activation: between layers, one of :data:`ACTIVATIONS`.
        seed: draws the random orderings and the hidden units' degrees.
        direct: add masked direct input-output connections (an FVSBN path
            beside the hidden layers, weights ``"<name>.direct.weight"``,
            starting at zero); on binarised MNIST they speed training up markedly.
        input_levels: read each input as a one-hot vector of this many levels
            (nominal categories, such as VQ-VAE code indices, whose numbers
            mean nothing); ``None`` reads the number itself (0/1, reals, or
            ``k / (K - 1)`` for ordered levels such as pixel intensities).

    Example:
        >>> net = MADE("made", x_dim=3, hidden=[4])
        >>> net.out_shape((10, 3)), [m.shape for m in net.masks()]
        ((10, 3, 1), [(1, 4, 3), (1, 3, 4)])
    """

    hidden: tuple = ()
    mask_count: int = 1
    ordering: object = "natural"
    activation: str = "relu"
    seed: int = 0
    direct: bool = False
    input_levels: int = 0

    def __init__(self, name, x_dim, hidden=(500,), params_per_dim=1, num_masks=1, ordering="natural",
                 activation="relu", seed=0, direct=False, input_levels=None):
        hidden = tuple(int(h) for h in hidden)
        if hidden and min(hidden) < 1:
            raise ModelError(f"nn.MADE {name!r}: hidden widths must be >= 1, got {hidden}")
        if int(num_masks) < 1:
            raise ModelError(f"nn.MADE {name!r}: num_masks must be >= 1, got {num_masks}")
        if input_levels is not None and int(input_levels) < 2:
            raise ModelError(f"nn.MADE {name!r}: input_levels must be None (numeric inputs) or >= 2 "
                             f"(one-hot inputs), got {input_levels!r}")
        _init_chain_net(self, "MADE", name, x_dim, params_per_dim, activation, ordering, hidden=hidden,
                        mask_count=int(num_masks), seed=int(seed), direct=bool(direct),
                        input_levels=int(input_levels or 0))

    @property
    def in_width(self) -> int:
        """Input units: ``x_dim``, or ``x_dim * input_levels`` for one-hot inputs."""
        return self.x_dim * max(self.input_levels, 1)

    @property
    def num_masks(self) -> int:
        return self.mask_count

    @property
    def orderings(self) -> np.ndarray:
        return self._structure()[0]

    def masks(self) -> list:
        """One ``(num_masks, out, in)`` 0/1 array per layer."""
        return self._structure()[1]

    def direct_masks(self) -> np.ndarray:
        """``(num_masks, x_dim * params_per_dim, in_width)``: output ``d`` sees the inputs before it."""
        return self._structure()[2]

    def init(self, seed: int) -> dict:
        out = super().init(seed)
        if self.direct:
            out[f"{self.name}.direct.weight"] = np.zeros_like(out[f"{self.name}.direct.weight"])
        return out

    def _structure(self):
        cache = _MASK_CACHE.get(self)
        if cache is None:
            cache = _MASK_CACHE[self] = _made_masks(self)
        return cache

    def param_shapes(self) -> dict:
        sizes = (self.in_width, *self.hidden, self.x_dim * self.params_per_dim)
        shapes = {}
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            shapes[f"{i}.weight"] = (b, a)
            shapes[f"{i}.bias"] = (b,)
        if self.direct:
            shapes["direct.weight"] = (self.x_dim * self.params_per_dim, self.in_width)
        return shapes

    def label(self) -> str:
        inputs = f"{self.x_dim}x{self.input_levels} one-hot" if self.input_levels else str(self.x_dim)
        sizes = "-".join(map(str, (inputs, *self.hidden, self.x_dim * self.params_per_dim)))
        return (f"MADE {sizes}" + (" + direct" if self.direct else "")
                + (f" x{self.num_masks} masks" if self.num_masks > 1 else ""))


_MASK_CACHE: dict = {}


def _made_masks(spec: MADE):
    """Orderings and layer masks of a MADE (Germain et al., section 4)."""
    rng = np.random.default_rng([spec.seed, spec.x_dim, len(spec.hidden)])
    d, p = spec.x_dim, spec.params_per_dim
    orders, layers, direct = [], [[] for _ in range(len(spec.hidden) + 1)], []
    for m in range(spec.num_masks):
        order = _ordering(spec.name, d, spec.ordering, rng) if (m == 0 or spec.ordering == "random") else orders[0]
        orders.append(order)
        degree_in = np.empty(d, dtype=np.int64)
        degree_in[order] = np.arange(1, d + 1)   # position of each input, 1-based
        prev = degree_in
        for i, width in enumerate(spec.hidden):
            low = min(int(prev.min()), d - 1)
            # hidden degrees in [low, d-1]: a unit of degree k sees inputs at positions <= k
            deg = rng.integers(low, d, size=width) if d > 1 else np.zeros(width, dtype=np.int64)
            layers[i].append((deg[:, None] >= prev[None, :]).astype(np.float64))
            prev = deg
        out_deg = np.repeat(degree_in, p)          # output (dim, param) at index dim * p + param
        layers[-1].append((out_deg[:, None] > prev[None, :]).astype(np.float64))
        direct.append((out_deg[:, None] > degree_in[None, :]).astype(np.float64))
    masks, direct = [np.stack(m) for m in layers], np.stack(direct)
    if spec.input_levels:  # one-hot inputs: input unit d * L + l has input d's degree
        masks[0] = np.repeat(masks[0], spec.input_levels, axis=-1)
        direct = np.repeat(direct, spec.input_levels, axis=-1)
    return np.stack(orders), masks, direct


@dataclass(frozen=True)
class FVSBN(MADE):
    """Fully visible sigmoid belief network (Frey, 1998; Gan et al., 2015): one
    logistic regression per dimension on the dimensions before it, i.e. a MADE
    with no hidden layer. For Bernoulli chains it has ``d (d + 1) / 2`` free
    parameters (a strictly triangular weight matrix in the ordering, plus biases).

    Example:
        >>> int(FVSBN("fvsbn", x_dim=4).masks()[0][0].sum())   # 4 * 3 / 2 free weights
        6
    """

    def __init__(self, name, x_dim, params_per_dim=1, ordering="natural", seed=0):
        super().__init__(name, x_dim, hidden=(), params_per_dim=params_per_dim, ordering=ordering, seed=seed)

    def init(self, seed: int) -> dict:
        # a logistic regression starts at zero: every conditional at 1/2 (or uniform)
        return {f"{self.name}.{k}": np.zeros(s) for k, s in self.param_shapes().items()}

    def label(self) -> str:
        return f"FVSBN {self.x_dim}" + (f"x{self.params_per_dim}" if self.params_per_dim > 1 else "")


@dataclass(frozen=True)
class NADE(AutoregressiveNet):
    """Neural autoregressive distribution estimator (Larochelle & Murray, 2011).

    Hidden state ``h_d = act(c + W[:, x_<d] x_<d)`` shares the input weights
    across conditionals, so all ``x_dim`` hidden states come from one running
    sum (``O(x_dim * hidden)``), and ``out_d = b_d + V_d h_d``.

    Args:
        name: weights ``"<name>.in.weight"`` ``(hidden, x_dim)``,
            ``"<name>.in.bias"``, ``"<name>.out.weight"``
            ``(x_dim * params_per_dim, hidden)``, ``"<name>.out.bias"``.
        x_dim: inputs (and conditionals).
        hidden: hidden units.
        params_per_dim: outputs per conditional.
        ordering: ``"natural"``, ``"random"`` or a permutation.
        activation: of the hidden units (sigmoid in the paper).
        seed: draws a random ordering.

    Example:
        >>> NADE("nade", x_dim=5, hidden=8).param_shapes()["out.weight"]
        (5, 8)
    """

    hidden: int = 500
    ordering: object = "natural"
    activation: str = "sigmoid"
    seed: int = 0

    def __init__(self, name, x_dim, hidden=500, params_per_dim=1, ordering="natural", activation="sigmoid", seed=0):
        if int(hidden) < 1:
            raise ModelError(f"nn.NADE {name!r}: hidden must be >= 1, got {hidden}")
        _init_chain_net(self, "NADE", name, x_dim, params_per_dim, activation, ordering, hidden=int(hidden),
                        seed=int(seed))

    @property
    def orderings(self) -> np.ndarray:
        order = _ordering(self.name, self.x_dim, self.ordering, np.random.default_rng([self.seed, self.x_dim]))
        return order[None, :]

    def param_shapes(self) -> dict:
        d, h, p = self.x_dim, self.hidden, self.params_per_dim
        return {"in.weight": (h, d), "in.bias": (h,), "out.weight": (d * p, h), "out.bias": (d * p,)}

    def label(self) -> str:
        return f"NADE {self.x_dim}-{self.hidden}"


@dataclass(frozen=True)
class GRU(AutoregressiveNet):
    """A gated recurrent unit over a token sequence (Cho et al., 2014), the char-RNN conditioner.

    Position ``t`` reads the previous token (a start token at ``t = 0``)
    through an embedding, updates ``h_t = GRU(h_{t-1}, embed(x_{t-1}))``
    (PyTorch's gate equations) and gives the logits ``out(h_t)`` of the
    ``vocab`` tokens at ``t``: a teacher-forced pass scores the whole
    sequence, and sampling carries ``h`` from token to token.

    Args:
        name: weights ``"<name>.embed.weight"`` ``(vocab + 1, embed)`` (the last
            row is the start token), ``"<name>.ih.weight"`` ``(3 * hidden, embed)``,
            ``"<name>.ih.bias"``, ``"<name>.hh.weight"`` ``(3 * hidden, hidden)``,
            ``"<name>.hh.bias"`` (gates in the order reset, update, new),
            ``"<name>.out.weight"`` ``(vocab, hidden)``, ``"<name>.out.bias"``.
        vocab: tokens (the Categorical conditionals' ``K``; ``params_per_dim``).
        hidden: GRU state units.
        x_dim: the sequence length (the chain's length).
        embed: the token embedding's width.

    Example:
        >>> GRU("rnn", vocab=5, hidden=8, x_dim=12).param_shapes()["hh.weight"]
        (24, 8)
    """

    vocab: int = 2
    hidden: int = 256
    embed: int = 32
    ordering: object = "natural"
    activation: str = "tanh"
    #: The network reads the tokens themselves (integers), not ``x / (K - 1)``.
    input_tokens = True

    def __init__(self, name, vocab, hidden=256, *, x_dim, embed=32):
        if int(vocab) < 2 or int(hidden) < 1 or int(embed) < 1:
            raise ModelError(f"nn.GRU {name!r}: vocab must be >= 2 and hidden, embed >= 1; "
                             f"got vocab={vocab}, hidden={hidden}, embed={embed}")
        _init_chain_net(self, "GRU", name, x_dim, vocab, "tanh", "natural", vocab=int(vocab), hidden=int(hidden),
                        embed=int(embed))

    @property
    def orderings(self) -> np.ndarray:
        return np.arange(self.x_dim)[None, :]

    def param_shapes(self) -> dict:
        v, h, e = self.vocab, self.hidden, self.embed
        return {"embed.weight": (v + 1, e), "ih.weight": (3 * h, e), "ih.bias": (3 * h,),
                "hh.weight": (3 * h, h), "hh.bias": (3 * h,), "out.weight": (v, h), "out.bias": (v,)}

    def init(self, seed: int) -> dict:
        """PyTorch's: ``N(0, 1)`` embeddings, ``U(-1/sqrt(hidden), 1/sqrt(hidden))`` for the GRU's weights."""
        out = super().init(seed)
        bound = 1.0 / np.sqrt(self.hidden)
        for key, shape in self.param_shapes().items():
            full = f"{self.name}.{key}"
            if key == "embed.weight":
                out[full] = param_rng(seed, full).normal(0.0, 1.0, shape)
            elif key.startswith(("ih.", "hh.")):
                out[full] = param_rng(seed, full).uniform(-bound, bound, shape)
        return out

    def label(self) -> str:
        return f"GRU {self.vocab}-{self.hidden}"


# -- noise-prediction networks for diffusion chains ----------------------------------------------
def _time_fields(spec, kind, name, x_dim, time_dim, activation, classes=0):
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes == 1 or classes < 0:
        raise ModelError(f"nn.{kind} {name!r}: classes is the number of labels of a class-conditional network, "
                         f"an int >= 2 (or 0: unconditional), got {classes!r}")
    if int(x_dim) < 1:
        raise ModelError(f"nn.{kind} {name!r}: x_dim must be >= 1, got {x_dim}")
    if int(time_dim) < 2 or int(time_dim) % 2:
        raise ModelError(f"nn.{kind} {name!r}: time_dim must be an even number >= 2 (sines and cosines), "
                         f"got {time_dim}")
    if activation not in ACTIVATIONS:
        raise ModelError(f"nn.{kind} {name!r}: unknown activation {activation!r}; choose one of {ACTIVATIONS}")
    object.__setattr__(spec, "name", name)
    object.__setattr__(spec, "x_dim", int(x_dim))
    object.__setattr__(spec, "time_dim", int(time_dim))
    object.__setattr__(spec, "activation", activation)
    object.__setattr__(spec, "classes", int(classes))


@dataclass(frozen=True)
class TimeNet(NetSpec):
    """Base of the networks of a diffusion chain (:func:`gendsl.dist.Diffusion`):
    ``net(x_t, t)`` predicts the noise in ``x_t`` (shape ``(..., x_dim)``) at
    integer step ``t`` (``0..steps-1``, shape ``(...)``), which enters as a
    sinusoidal embedding of ``time_dim`` numbers (Vaswani et al.; Ho et al.).

    With ``classes = K > 0`` the network is class-conditional, ``net(x_t, t,
    y)``: a learned embedding of the label (weights ``"label.weight"``, ``(K +
    1, time_dim)``) is added to the step's embedding, so it reaches every layer
    the step does. Row ``K`` is the "no label" token: ``y = None`` (or ``y =
    K``) gives the unconditional prediction that classifier-free guidance
    mixes in (Ho & Salimans 2021).
    """

    x_dim: int = 0
    time_dim: int = 64
    activation: str = "silu"
    classes: int = 0

    @property
    def null_label(self) -> int:
        """The index of the "no label" row of the label embedding (``classes``)."""
        return self.classes

    def _label_shapes(self) -> dict:
        return {"label.weight": (self.classes + 1, self.time_dim)} if self.classes else {}

    def init(self, seed: int) -> dict:
        """PyTorch's defaults: :meth:`NetSpec.init` for the layers, and ``N(0, 1)``
        for the label embedding (``torch.nn.Embedding``'s)."""
        out = super().init(seed)
        if self.classes:
            full = f"{self.name}.label.weight"
            out[full] = param_rng(seed, full).normal(size=(self.classes + 1, self.time_dim))
        return out

    def out_shape(self, in_shape: tuple) -> tuple:
        if not in_shape or in_shape[-1] != self.x_dim:
            raise ShapeError(
                f"network {self.name!r} expects inputs with last axis x_dim={self.x_dim}, "
                f"got shape {format_shape(in_shape)}"
            )
        return in_shape


@dataclass(frozen=True)
class TimeMLP(TimeNet):
    """A noise-prediction MLP for vectors: ``h_{i+1} = act(W_i h_i + b_i +
    U_i e(t))`` with ``e(t)`` the embedded step, then a linear map back to
    ``x_dim``.

    With ``fourier = L > 0`` the first layer sees, besides ``x``, the
    positional encoding ``sin(2^k pi x_j), cos(2^k pi x_j)`` for ``k < L``
    and every coordinate (Mildenhall et al. 2020; Tancik et al. 2020): an MLP
    on raw low-dimensional inputs is slow to learn sharp features (thin
    curves, edges), and these features make them cheap.

    Args:
        name: the network's name.
        x_dim: the data dimension (input and output width).
        hidden: hidden widths.
        time_dim: width of the sinusoidal step embedding (even).
        activation: one of :data:`ACTIVATIONS`.
        fourier: frequencies per coordinate in the input encoding (0: none).
        classes: labels of a class-conditional network (see :class:`TimeNet`; 0: none).

    Example:
        >>> from gendsl import nn
        >>> nn.TimeMLP("eps", 2, hidden=[64, 64]).param_shapes()["0.time.weight"]
        (64, 64)
    """

    hidden: tuple = ()
    fourier: int = 0

    def __init__(self, name, x_dim, hidden=(128, 128, 128), time_dim=64, activation="silu", fourier=0, classes=0):
        _time_fields(self, "TimeMLP", name, x_dim, time_dim, activation, classes)
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1:
            raise ModelError(f"nn.TimeMLP {name!r}: hidden must list at least one width >= 1, got {hidden}")
        if isinstance(fourier, bool) or not isinstance(fourier, (int, np.integer)) or not 0 <= fourier <= 16:
            raise ModelError(f"nn.TimeMLP {name!r}: fourier is the number of input frequencies per coordinate, "
                             f"an int from 0 (none) to 16, got {fourier!r}")
        object.__setattr__(self, "hidden", hidden)
        object.__setattr__(self, "fourier", int(fourier))
        self.__post_init__()

    @property
    def in_width(self) -> int:
        """Width of the first layer's input: ``x`` and its ``2 * fourier`` features per coordinate."""
        return self.x_dim * (1 + 2 * self.fourier)

    def param_shapes(self) -> dict:
        shapes = {"time.weight": (self.time_dim, self.time_dim), "time.bias": (self.time_dim,)}
        sizes = (self.in_width,) + self.hidden
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            shapes[f"{i}.weight"], shapes[f"{i}.bias"] = (b, a), (b,)
            shapes[f"{i}.time.weight"] = (b, self.time_dim)
        shapes["out.weight"], shapes["out.bias"] = (self.x_dim, self.hidden[-1]), (self.x_dim,)
        return {**shapes, **self._label_shapes()}

    def label(self) -> str:
        widths = '-'.join(map(str, (self.x_dim,) + self.hidden + (self.x_dim,)))
        return (f"TimeMLP {widths}" + (f", fourier {self.fourier}" if self.fourier else "")
                + (f", {self.classes} classes" if self.classes else ""))


@dataclass(frozen=True)
class TimeUNet(TimeNet):
    """A small noise-prediction U-Net for images (8x8 digits, 28x28 MNIST).

    Inputs are flat rows (``x_dim = channels * height * width``), reshaped to
    images inside. One level down and back up: a residual block at full
    resolution, 2x2 average pooling, residual blocks at half resolution,
    nearest-neighbour upsampling, the skip connection concatenated, a
    residual block, and a 3x3 convolution out. Every residual block adds the
    projected step embedding to its feature maps (Ho et al.'s design, without
    group normalisation or attention: these images are small).

    Args:
        name: the network's name.
        image_shape: ``(height, width)`` or ``(channels, height, width)``;
            height and width even.
        channels: feature maps at full and at half resolution.
        time_dim: width of the step embedding (even).
        activation: one of :data:`ACTIVATIONS`.
        classes: labels of a class-conditional network (see :class:`TimeNet`; 0: none).

    Example:
        >>> from gendsl import nn
        >>> nn.TimeUNet("eps", (8, 8), channels=(16, 32)).x_dim
        64
    """

    image_shape: tuple = ()
    channels: tuple = ()

    def __init__(self, name, image_shape, channels=(32, 64), time_dim=64, activation="silu", classes=0):
        shape = tuple(int(s) for s in image_shape)
        if len(shape) == 2:
            shape = (1,) + shape
        if len(shape) != 3 or min(shape) < 1 or shape[1] % 2 or shape[2] % 2:
            raise ModelError(f"nn.TimeUNet {name!r}: image_shape must be (height, width) or (channels, height, "
                             f"width) with even height and width, got {tuple(image_shape)}")
        channels = tuple(int(c) for c in channels)
        if len(channels) != 2 or min(channels) < 1:
            raise ModelError(f"nn.TimeUNet {name!r}: channels must give two widths (full and half resolution), "
                             f"got {channels}")
        _time_fields(self, "TimeUNet", name, int(np.prod(shape)), time_dim, activation, classes)
        object.__setattr__(self, "image_shape", shape)
        object.__setattr__(self, "channels", channels)
        self.__post_init__()

    def blocks(self) -> dict:
        """Residual block name -> its channels."""
        c1, c2 = self.channels
        return {"down": c1, "mid1": c2, "mid2": c2, "up": c1}

    def param_shapes(self) -> dict:
        c_in = self.image_shape[0]
        c1, c2 = self.channels
        t = self.time_dim
        shapes = {"time.weight": (t, t), "time.bias": (t,)}

        def conv(key, c_out, c_from, k=3):
            shapes[f"{key}.weight"], shapes[f"{key}.bias"] = (c_out, c_from, k, k), (c_out,)

        conv("in", c1, c_in)
        for block, c in self.blocks().items():
            conv(f"{block}.conv1", c, c)
            conv(f"{block}.conv2", c, c)
            shapes[f"{block}.time.weight"], shapes[f"{block}.time.bias"] = (c, t), (c,)
        conv("pool", c2, c1)
        conv("unpool", c1, c2)
        conv("merge", c1, 2 * c1)
        conv("out", c_in, c1)
        return {**shapes, **self._label_shapes()}

    def label(self) -> str:
        c, h, w = self.image_shape
        return (f"TimeUNet {h}x{w}x{c}, channels {self.channels[0]}-{self.channels[1]}"
                + (f", {self.classes} classes" if self.classes else ""))
