"""What a family gendsl implements gives every backend: one neutral distribution.

An :class:`Implementation` is written once against a backend's NumPy-named
``ops`` and its small runtime surface (random draws from a key, loops,
``stop_gradient``, dtypes; see :class:`gendsl.backends.Backend`). Each
backend adapter wraps it in its library's distribution class, so Pyro and
NumPyro run the same arithmetic: the adapter supplies only what the library
needs (constraints, ``rsample`` under PyTorch, keys under JAX).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

__all__ = ["Implementation", "Support", "broadcast"]


def broadcast(*shapes) -> tuple:
    """NumPy broadcasting of concrete shapes, at run time: plain Python with no
    imports or exceptions, so ``torch.compile`` traces it without a graph break
    (shapes are checked when the model is traced, not here)."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(-rank, 0):
        size = 1
        for s in shapes:
            if len(s) >= -i and s[i] != 1:
                size = s[i]
        out.append(size)
    return tuple(out)


@dataclass(frozen=True)
class Support:
    """A support in words the adapters translate to their library's constraints.

    Attributes:
        kind: ``"real"``, ``"positive"``, ``"unit_interval"``, ``"boolean"`` or
            ``"integer_interval"`` (``0..high``).
        high: the largest integer of an ``integer_interval``.
        event_dim: trailing axes that form one event (``independent`` in both libraries).
    """

    kind: str
    high: int = 0
    event_dim: int = 0


class Implementation:
    """Base of the backend-neutral distributions of :mod:`gendsl.families`.

    Subclasses implement :meth:`log_prob` and :meth:`sample` and set
    :attr:`support`; :meth:`expand` copies the distribution with a new batch
    shape (override it where arguments carry the batch axes).

    Args:
        backend: the :class:`gendsl.backends.Backend` whose ops and draws it uses.
        batch_shape, event_shape: as in Pyro and NumPyro.
    """

    #: draws are differentiable in the arguments (a reparameterised or straight-through draw)
    has_rsample = False
    support = Support("real")

    def __init__(self, backend, batch_shape=(), event_shape=()):
        self.backend = backend
        self.batch_shape, self.event_shape = tuple(batch_shape), tuple(event_shape)

    def expand(self, batch_shape) -> "Implementation":
        out = copy.copy(self)
        out.batch_shape = tuple(batch_shape)
        return out

    def log_prob(self, value):
        raise NotImplementedError

    def sample(self, key, sample_shape: tuple):
        """Draws of shape ``sample_shape + batch_shape + event_shape``; ``key`` is
        the backend's random key (``None`` under PyTorch: its global generator)."""
        raise NotImplementedError

    @property
    def mean(self):
        raise NotImplementedError(f"{type(self).__name__} has no mean")

    def draw_shape(self, sample_shape) -> tuple:
        return tuple(sample_shape) + self.batch_shape + self.event_shape
