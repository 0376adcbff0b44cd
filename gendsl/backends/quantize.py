"""Vector quantisation on any backend: the arithmetic of ``dist.VectorQuantized``
and ``dist.Codebook`` (van den Oord et al., "Neural Discrete Representation
Learning", 2017).

Written once against a backend's NumPy-named ops plus ``stop_gradient``; each
backend wraps it in its PPL's distribution class (``TorchVectorQuantized``,
``JaxVectorQuantized``, ``TorchCodebook``, ``JaxCodebook``).

The guide's point mass sits on the code nearest to the encoder's output
``z_e``; its draw ``z_e + sg(e - z_e)`` equals ``e`` but passes the decoder's
gradient straight through to ``z_e``. Its ``log_prob`` is zero in value (a
point mass) and carries the codebook and commitment losses in its gradient
only, so the ELBO reports the true bound while training follows VQ-VAE.
"""

from __future__ import annotations

import math

__all__ = ["nearest", "straight_through", "vq_surrogate", "codebook_log_prob"]


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
