"""Vector quantisation on any backend: the arithmetic of ``dist.VectorQuantized``
and ``dist.Codebook`` (van den Oord et al., "Neural Discrete Representation
Learning", 2017).

Written once against a backend's NumPy-named ops plus ``stop_gradient``, as
the two neutral distributions :class:`VectorQuantizedImpl` and
:class:`CodebookImpl` that every backend adapter wraps.

The guide's point mass sits on the code nearest to the encoder's output
``z_e``; its draw ``z_e + sg(e - z_e)`` equals ``e`` but passes the decoder's
gradient straight through to ``z_e``. Its ``log_prob`` is zero in value (a
point mass) and carries the codebook and commitment losses in its gradient
only, so the ELBO reports the true bound while training follows VQ-VAE.
"""

from __future__ import annotations

import math

from .. import ir
from ..dist._core import Distribution
from ..dist._families import Family, register_family
from ..errors import ModelError, ShapeError
from ..shapes import format_shape
from ..trace import arg_shape, as_arg
from ._base import Implementation, Support, broadcast

__all__ = ["VectorQuantized", "Codebook", "nearest", "straight_through", "vq_surrogate", "codebook_log_prob"]


def nearest(backend, z, codebook):
    """Index ``(...,)`` of the codebook row ``(K, d)`` nearest to each ``z`` ``(..., d)``.

    Squared distances as ``|e|^2 - 2 z.e`` (``|z|^2`` is the same for every
    row), one matrix product; no gradient flows through the choice.
    """
    ops, stop = backend.ops, backend.stop_gradient
    z, codebook = stop(z), stop(codebook)
    half_norms = 0.5 * ops["sum"](codebook * codebook, axis=-1)  # (K,)
    return ops["argmax"](ops["matmul"](z, ops["transpose"](codebook)) - half_norms, axis=-1)


def straight_through(backend, z_e, code):
    """``code`` in value, the identity in ``z_e``'s gradient."""
    return z_e + backend.stop_gradient(code - z_e)


def vq_surrogate(backend, z_e, code, commitment):
    """``L - sg(L)`` per latent position, ``L = |sg(z_e) - e|^2 + commitment |z_e - sg(e)|^2``:
    zero in value, the codebook loss (moves ``e`` to the encoder's outputs)
    and the commitment loss (keeps the encoder near its codes) in gradient."""
    ops, stop = backend.ops, backend.stop_gradient
    codebook_loss = ops["sum"](ops["square"](stop(z_e) - code), axis=-1)
    commitment_loss = ops["sum"](ops["square"](z_e - stop(code)), axis=-1)
    total = codebook_loss + commitment * commitment_loss
    return total - stop(total)


def codebook_log_prob(backend, codebook, logits, value):
    """``log pi_k`` of the row ``k`` nearest to ``value`` (``(..., d)`` -> ``(...,)``);
    ``-log K`` for every value when ``logits`` is ``None`` (the uniform prior)."""
    ops = backend.ops
    k = codebook.shape[0]
    if logits is None:
        return ops["zeros_like"](value[..., 0]) - math.log(k)
    index = nearest(backend, value, codebook)
    log_pi = ops["log_softmax"](logits, axis=-1)
    one_hot = ops["one_hot"](index, k)
    return ops["sum"](log_pi * backend.to_float(one_hot, backend.like(log_pi)), axis=-1)


def _codebook_shape(what: str, codebook) -> tuple:
    shape = arg_shape(as_arg(codebook))
    if len(shape) != 2 or not all(isinstance(s, int) for s in shape):
        raise ShapeError(f"dist.{what}: the codebook must be a (K, d) array of K code vectors (e.g. "
                         f"gd.param('codebook', (512, 16))), got shape {format_shape(shape)}")
    return shape


def VectorQuantized(z_e, codebook, commitment: float = 0.25) -> Distribution:
    """The VQ-VAE posterior: a point mass on the code vector nearest to the
    encoder's output ``z_e`` (van den Oord et al. 2017).

    Its draw ``z_e + sg(e - z_e)`` equals the nearest code ``e`` and passes
    the decoder's gradient straight through to ``z_e``. Its ``log_prob`` is 0
    (a point mass), so the ELBO it enters is the true bound
    ``log p(x | e) + log p(e)``, but its gradient carries the codebook loss
    ``|sg(z_e) - e|^2`` and ``commitment * |z_e - sg(e)|^2``: trained with
    ``elbo`` the pair is exactly VQ-VAE's objective. Pair it with a
    :func:`Codebook` prior on the same codebook in the model.

    Args:
        z_e: encoder outputs ``(..., d)``; one code per leading position.
        codebook: the ``(K, d)`` code vectors (a ``gd.param`` shared with the model).
        commitment: weight ``beta`` of the commitment loss (0.25 in the paper).

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist, ops
        >>> @gd.model
        ... def story(x_dim=3):
        ...     codes = gd.param("codebook", (8, x_dim), init="normal")
        ...     with gd.plate("data"):
        ...         gd.sample("z", dist.VectorQuantized(ops.zeros(x_dim), codes))
        >>> story().ir["z"].dist.event_shape
        (3,)
    """
    k, d = _codebook_shape("VectorQuantized", codebook)
    shape = arg_shape(as_arg(z_e))
    if not shape or shape[-1] != d:
        raise ShapeError(f"dist.VectorQuantized: z_e has shape {format_shape(shape)} but the codebook holds "
                         f"{k} codes of size {d}; the encoder's last axis must be {d}")
    if not float(commitment) >= 0:
        raise ModelError(f"dist.VectorQuantized: commitment must be >= 0 (0.25 in the paper), got {commitment!r}")
    args = {"z_e": as_arg(z_e), "codebook": as_arg(codebook), "commitment": float(commitment)}
    return Distribution(ir.DistSpec("VectorQuantized", args, (), shape[:-1], (d,)))


def Codebook(codebook, logits=None) -> Distribution:
    """A prior over the rows of a ``(K, d)`` codebook: row ``k`` with
    probability ``softmax(logits)_k``, uniform when ``logits`` is ``None``
    (VQ-VAE's prior while the autoencoder trains). ``log_prob`` scores the
    row nearest to the value; ``expand([n])`` gives ``n`` independent codes.

    Args:
        codebook: the ``(K, d)`` code vectors.
        logits: ``(..., K)`` unnormalised log-probabilities, or ``None``.

    Example:
        >>> from gendsl import dist
        >>> import numpy as np
        >>> dist.Codebook(np.eye(4)).expand([7]).to_event(1).event_shape
        (7, 4)
    """
    k, d = _codebook_shape("Codebook", codebook)
    args, batch = {"codebook": as_arg(codebook)}, ()
    if logits is not None:
        shape = arg_shape(as_arg(logits))
        if not shape or shape[-1] != k:
            raise ShapeError(f"dist.Codebook: logits have shape {format_shape(shape)} but the codebook holds "
                             f"{k} codes; the last axis of logits must be {k}")
        args["logits"], batch = as_arg(logits), shape[:-1]
    return Distribution(ir.DistSpec("Codebook", args, (), batch, (d,)))


class VectorQuantizedImpl(Implementation):
    """``dist.VectorQuantized``: a point mass on the code nearest to ``z_e``,
    drawn straight-through; ``log_prob`` is 0 in value and carries the
    codebook and commitment losses in its gradient."""

    has_rsample = True  # the straight-through draw is differentiable in z_e
    support = Support("real", event_dim=1)

    def __init__(self, backend, z_e, codebook, commitment=0.25):
        super().__init__(backend, z_e.shape[:-1], z_e.shape[-1:])
        self.z_e, self.codebook, self.commitment = z_e, backend.as_array(codebook), commitment
        self.code = self.codebook[nearest(backend, z_e, self.codebook)]

    def expand(self, batch_shape):
        z_e = self.backend.broadcast_to(self.z_e, tuple(batch_shape) + self.event_shape)
        return VectorQuantizedImpl(self.backend, z_e, self.codebook, self.commitment)

    @property
    def mean(self):
        return self.code

    def sample(self, key, sample_shape):
        z = straight_through(self.backend, self.z_e, self.code)
        return self.backend.broadcast_to(z, tuple(sample_shape) + tuple(z.shape))

    def log_prob(self, value):
        lp = vq_surrogate(self.backend, self.z_e, self.code, self.commitment)
        return self.backend.broadcast_to(lp, broadcast(tuple(lp.shape), tuple(value.shape[:-1])))


class CodebookImpl(Implementation):
    """``dist.Codebook``: a categorical choice among the rows of a ``(K, d)``
    codebook (uniform without ``logits``)."""

    support = Support("real", event_dim=1)

    def __init__(self, backend, codebook, logits=None):
        codebook = backend.as_array(codebook)  # constants arrive as NumPy arrays under JAX
        super().__init__(backend, () if logits is None else logits.shape[:-1], codebook.shape[-1:])
        self.codebook, self.logits = codebook, logits

    def sample(self, key, sample_shape):
        shape = tuple(sample_shape) + self.batch_shape
        logits = self.logits
        if logits is None:
            logits = self.backend.ops["zeros_like"](self.codebook[:, 0])
        return self.codebook[self.backend.random_categorical(key, logits, shape)]

    def log_prob(self, value):
        lp = codebook_log_prob(self.backend, self.codebook, self.logits, value)
        return self.backend.broadcast_to(lp, broadcast(tuple(lp.shape), self.batch_shape))


register_family(Family(
    "VectorQuantized", {"z_e": 1, "codebook": 2}, (("z_e", "codebook"),), defaults={"commitment": 0.25},
    event=lambda shapes, lits: (shapes["z_e"][-1],), support="real_vector", point_mass=True,
    impl=VectorQuantizedImpl, constructor=VectorQuantized,
))
register_family(Family(
    "Codebook", {"codebook": 2, "logits": 1}, (("codebook",),), event=lambda shapes, lits: (shapes["codebook"][-1],),
    support="real_vector", impl=CodebookImpl, constructor=Codebook,
))
