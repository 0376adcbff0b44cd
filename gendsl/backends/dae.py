"""Denoising autoencoders on any backend: corruption, the reconstruction loss,
the code, and the generative Markov chain of Bengio et al.

Written once against a backend's NumPy-named ops; ``TorchDAE`` and
``JaxDAE`` add the random numbers and the loop.

References:
    Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing Robust
    Features with Denoising Autoencoders", ICML 2008.
    Bengio, Yao, Alain & Vincent, "Generalized Denoising Auto-Encoders as
    Generative Models", NeurIPS 2013.
"""

from __future__ import annotations

import math

__all__ = ["CORRUPTIONS", "LIKELIHOODS", "Autoencoder"]

# corruption -> the standard draws it needs
CORRUPTIONS = {"gaussian": "normal", "mask": "uniform"}
LIKELIHOODS = ("bernoulli", "normal")


class Autoencoder:
    """One denoising autoencoder's arithmetic.

    Args:
        encoder, decoder: ``f(x) -> code`` and ``g(code) -> output`` (logits
            for Bernoulli data, means for real data).
        likelihood: ``"bernoulli"`` or ``"normal"`` (unit variance).
        corruption: ``"gaussian"`` (``x + level * eps``) or ``"mask"``
            (each entry zeroed with probability ``level``).
    """

    def __init__(self, backend, encoder, decoder, likelihood, corruption, level, like):
        self.backend, self.encoder, self.decoder = backend, encoder, decoder
        self.likelihood, self.corruption, self.level, self.like = likelihood, corruption, float(level), like

    def corrupt(self, x, draws):
        """``C(x~ | x)`` given standard draws of ``x``'s shape (normal or uniform, per :data:`CORRUPTIONS`)."""
        x = self.backend.to_float(x, self.like)
        if self.corruption == "gaussian":
            return x + self.level * draws
        return x * self.backend.to_float(draws >= self.level, self.like)

    def output(self, x):
        return self.decoder(self.encoder(x))

    def mean(self, out):
        return self.backend.ops["sigmoid"](out) if self.likelihood == "bernoulli" else out

    def nll(self, x, out):
        """``-log p(x | g(f(.)))`` per row."""
        ops, x = self.backend.ops, self.backend.to_float(x, self.like)
        if self.likelihood == "bernoulli":
            return ops["sum"](ops["softplus"](out) - x * out, axis=-1)
        return ops["sum"](0.5 * ops["square"](x - out) + 0.5 * math.log(2 * math.pi), axis=-1)

    def loss(self, x, draws):
        """The denoising criterion per row: reconstruct the clean ``x`` from its corruption."""
        return self.nll(x, self.output(self.corrupt(x, draws)))

    def draw_x(self, out, uniform, normal):
        """A sample of ``p(x | out)``."""
        if self.likelihood == "bernoulli":
            return self.backend.to_float(uniform < self.mean(out), self.like)
        return out + normal

    def chain(self, shape, steps: int, uniform, normal):
        """Bengio et al.'s chain: from noise, ``steps`` times corrupt, then draw
        from the reconstruction distribution; the last step returns its mean.

        Args:
            uniform, normal: ``(shape, j, role) -> draws`` for loop step ``j``
                (``None`` for the start) and ``role`` ``0`` (corruption) or
                ``1`` (the reconstruction draw).
        """
        corrupt_draws = normal if CORRUPTIONS[self.corruption] == "normal" else uniform
        start = self.draw_x(self.backend.ops["zeros_like"](normal(shape, None, 1)), uniform(shape, None, 1),
                            normal(shape, None, 1))

        def body(j, x):
            out = self.output(self.corrupt(x, corrupt_draws(shape, j, 0)))
            return self.draw_x(out, uniform(shape, j, 1), normal(shape, j, 1))

        x = self.backend.loop(int(steps) - 1, body, start) if steps > 1 else start
        return self.mean(self.output(self.corrupt(x, corrupt_draws(shape, steps, 0))))
