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

__all__ = ["NetSpec", "MLP", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "elu", "leaky_relu", "gelu", "identity")


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
        weights (``(out, in)``) and biases alike."""
        out = {}
        shapes = self.param_shapes()
        for key, shape in shapes.items():
            fan_in = shape[-1] if key.endswith("weight") else shapes[key.replace("bias", "weight")][-1]
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
