"""Denoising autoencoders on any backend: corruption, the reconstruction loss,
the code, and the generative Markov chain of Bengio et al.

Written once against a backend's NumPy-named ops and its runtime (draws,
loops) as the neutral distribution :class:`DAEImpl`.

References:
    Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing Robust
    Features with Denoising Autoencoders", ICML 2008.
    Bengio, Yao, Alain & Vincent, "Generalized Denoising Auto-Encoders as
    Generative Models", NeurIPS 2013.
"""

from __future__ import annotations

import math

from .. import ir
from ..dist._core import Distribution
from ..dist._families import Family, register_family
from ..errors import GendslError, ModelError
from ..nn import MLP
from ..shapes import format_shape
from ..trace import _STACK, current
from ._base import Implementation, Support

__all__ = ["DenoisingAutoencoder", "CORRUPTIONS", "LIKELIHOODS", "Autoencoder"]

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


def DenoisingAutoencoder(encoder, decoder, corruption: str = "gaussian", level: float = 0.5,
                         likelihood: str = "bernoulli") -> Distribution:
    """A denoising autoencoder as one site: ``x~ ~ C(x~ | x)``, code ``h =
    f(x~)``, reconstruction ``p(x | g(h))`` (Vincent et al. 2008).

    It has no density: train it with ``objective="denoising"``, which
    minimises ``-log p(x | g(f(x~)))`` with fresh corruption every step.
    ``Fitted.encode`` gives the code of clean rows, ``decode`` and
    ``reconstruct`` the reconstruction's mean, and ``sample(n, steps=)`` runs
    Bengio et al.'s generative chain (corrupt, reconstruct, draw; repeated).

    Args:
        encoder: :class:`gendsl.nn.MLP` ``f``, ``x_dim -> ... -> code``.
        decoder: :class:`gendsl.nn.MLP` ``g``, ``code -> ... -> x_dim``.
        corruption: ``"gaussian"`` (``x + level * eps``) or ``"mask"`` (each
            entry zeroed with probability ``level``).
        level: the corruption's noise scale or masking probability.
        likelihood: ``"bernoulli"`` (binary data; ``g`` gives logits) or
            ``"normal"`` (real data, unit variance; ``g`` gives means).

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist, nn
        >>> @gd.model
        ... def dae(x_dim=64):
        ...     f, g = nn.MLP("encoder", [x_dim, 32]), nn.MLP("decoder", [32, x_dim])
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.DenoisingAutoencoder(f, g, corruption="mask", level=0.25))
        >>> dae().ir["x"].shape
        (N_data, 64)

    References:
        Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing
        Robust Features with Denoising Autoencoders", ICML 2008.
        Bengio, Yao, Alain & Vincent, "Generalized Denoising Auto-Encoders as
        Generative Models", NeurIPS 2013.
    """
    for role, net in (("encoder", encoder), ("decoder", decoder)):
        if not isinstance(net, MLP):
            raise ModelError(f"dist.DenoisingAutoencoder: the {role} must be an nn.MLP, got {type(net).__name__}")
    if encoder.sizes[-1] != decoder.sizes[0] or decoder.sizes[-1] != encoder.sizes[0]:
        raise ModelError(f"dist.DenoisingAutoencoder: encoder {encoder.sizes} and decoder {decoder.sizes} do not "
                         f"fit: the decoder must map the code ({encoder.sizes[-1]}) back to x "
                         f"({encoder.sizes[0]})")
    if corruption not in CORRUPTIONS:
        raise ModelError(f"dist.DenoisingAutoencoder: unknown corruption {corruption!r}; choose one of "
                         f"{sorted(CORRUPTIONS)}")
    if likelihood not in LIKELIHOODS:
        raise ModelError(f"dist.DenoisingAutoencoder: unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}")
    if not (float(level) > 0 and (corruption == "gaussian" or float(level) < 1)):
        raise ModelError(f"dist.DenoisingAutoencoder: level must be > 0 (and < 1 for masking), got {level!r}")
    if _STACK:
        encoder._register(current("dist.DenoisingAutoencoder"))
        decoder._register(current("dist.DenoisingAutoencoder"))
    args = {"encoder": ir.Ref(encoder.name), "decoder": ir.Ref(decoder.name), "encoder_spec": encoder,
            "decoder_spec": decoder, "corruption": corruption, "level": float(level), "likelihood": likelihood}
    return Distribution(ir.DistSpec("DenoisingAutoencoder", args, (), (), (encoder.sizes[0],)))


class DAEImpl(Implementation):
    """``dist.DenoisingAutoencoder`` on any backend: no density (``log_prob``
    refuses); ``denoising_loss`` reconstructs each row from a fresh
    corruption (the step's stream); ``sample`` runs Bengio et al.'s chain in
    the backend's loop."""

    def __init__(self, backend, encoder, decoder, encoder_spec, decoder_spec, corruption="gaussian", level=0.5,
                 likelihood="bernoulli", training=False, like=None, options=None):
        super().__init__(backend, (), (encoder_spec.sizes[0],))
        self.encoder, self.encoder_spec, self.corruption = encoder, encoder_spec, corruption
        self.training, self.options = training, options or {}
        self.like = backend.default_like(like)
        self.dae = Autoencoder(backend, encoder, decoder, likelihood, corruption, level, self.like)
        self.support = Support("boolean" if likelihood == "bernoulli" else "real", event_dim=1)

    def _draw(self, key, shape, kind):
        b = self.backend
        return (b.random_normal if kind == "normal" else b.random_uniform)(key, shape, self.like)

    def log_prob(self, value):
        raise NotImplementedError("a denoising autoencoder has no density; train it with objective='denoising'")

    def denoising_loss(self, value):
        """``-log p(x | g(f(x~)))`` per row, ``x~`` a fresh corruption of ``x``."""
        key = self.training.next(f"{self.encoder_spec.name}$corruption")
        return self.dae.loss(value, self._draw(key, tuple(value.shape), CORRUPTIONS[self.corruption]))

    def encode(self, value):
        return self.encoder(self.backend.to_float(value, self.like))

    def decode(self, code):
        return self.dae.mean(self.dae.decoder(code))

    def sample(self, key, sample_shape):
        b = self.backend

        def draws(kind):
            def draw(s, j, role):
                return self._draw(b.fold_in(key, 2 * (-1 if j is None else j) + 2 + role), s, kind)
            return draw

        steps = int(self.options.get("steps", 100))
        return self.dae.chain(self.draw_shape(sample_shape), steps, draws("uniform"), draws("normal"))


def _encode(backend, spec, d, x):
    return backend.implementation(d).encode(x)


def _decode(backend, spec, d, z):
    return backend.implementation(d).decode(z)


def _check_query(spec, options: dict) -> dict:
    if set(options) - {"steps"} or int(options.get("steps", 1)) < 1:
        raise GendslError(f"a denoising autoencoder's sampler takes steps= (an int >= 1, the chain's length), "
                          f"got {options}")
    return options


def _graph(node: ir.Sample, observed: bool) -> dict:
    """A denoising autoencoder in one node: corruption, code, reconstruction."""
    args, name = node.dist.args, node.name
    noise = (f"N({name}, {args['level']:g}^2 I)" if args["corruption"] == "gaussian"
             else f"{name} masked, p = {args['level']:g}")
    return {
        "kind": "autoencoder",
        "dist": node.dist.family,
        "event_shape": format_shape(node.event_shape),
        "observed": observed,
        "caption": (f"{name}~ ~ {noise}\nh = {args['encoder'].name}({name}~)\n"
                    f"{name} ~ {args['likelihood'].capitalize()}({args['decoder'].name}(h))"),
    }


# DenoisingAutoencoder takes two networks; the constructor works out its shapes.
register_family(Family(
    "DenoisingAutoencoder", {}, (("encoder", "decoder"),), density="none", run_aware=True, query_aware=True,
    denoisable=True, impl=DAEImpl, constructor=DenoisingAutoencoder, encode=_encode, decode=_decode,
    check_query=_check_query, graph=_graph,
))
