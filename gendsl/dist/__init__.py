"""Backend-neutral distribution specs (``gendsl.dist``).

``dist.Normal(loc, scale)`` builds a :class:`Distribution`: the family, its
arguments (traced values, arrays or numbers) and static batch/event shapes.
It is a description, not a sampler: backends turn it into a
``pyro.distributions`` or ``numpyro.distributions`` object. The methods
``expand``, ``to_event`` and ``mask`` behave as in Pyro and NumPyro.

Example:
    >>> from gendsl import dist
    >>> d = dist.Normal(0.0, 1.0).expand([3]).to_event(1)
    >>> d.batch_shape, d.event_shape
    ((), (3,))
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from .. import ir
from ..errors import ModelError, ShapeError, unknown_attribute
from ..shapes import broadcast_shapes, format_shape
from ..trace import _STACK, Value, arg_shape, as_arg, current
from ._families import FAMILIES, Family, register_family

__all__ = ["Distribution", "FAMILIES", "Family", "register_family", "value_dtype", *sorted(FAMILIES)]


class Distribution:
    """A distribution spec; wraps the IR's :class:`gendsl.ir.DistSpec`."""

    __slots__ = ("spec",)

    def __init__(self, spec: ir.DistSpec):
        self.spec = spec

    @property
    def batch_shape(self) -> tuple:
        return self.spec.batch_shape

    @property
    def event_shape(self) -> tuple:
        return self.spec.event_shape

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def is_enumerable(self) -> bool:
        return self.spec.family in FAMILIES and FAMILIES[self.spec.family].enumerable

    def __repr__(self) -> str:
        return (f"dist.{self.family}(batch_shape={format_shape(self.batch_shape)}, "
                f"event_shape={format_shape(self.event_shape)})")

    def _wrap(self, kind, arg, batch, event) -> "Distribution":
        return Distribution(dataclasses.replace(
            self.spec, wrappers=self.spec.wrappers + ((kind, arg),), batch_shape=batch, event_shape=event,
        ))

    def expand(self, batch_shape) -> "Distribution":
        """Broadcasts the batch shape to ``batch_shape`` (sizes of 1 grow)."""
        shape = tuple(int(s) if isinstance(s, (int, np.integer)) else s for s in batch_shape)
        try:
            merged = broadcast_shapes(self.batch_shape, shape)
        except ShapeError:
            merged = None
        if merged != shape:
            raise ShapeError(
                f"dist.{self.family}.expand: batch shape {format_shape(self.batch_shape)} cannot "
                f"expand to {format_shape(shape)}; only axes of size 1 (or missing on the left) can grow"
            )
        return self._wrap("expand", shape, shape, self.event_shape)

    def to_event(self, reinterpreted_batch_ndims: int | None = None) -> "Distribution":
        """Declares the rightmost batch axes part of one event (Pyro's ``to_event``)."""
        n = len(self.batch_shape) if reinterpreted_batch_ndims is None else int(reinterpreted_batch_ndims)
        if n < 0 or n > len(self.batch_shape):
            raise ShapeError(
                f"dist.{self.family} with batch shape {format_shape(self.batch_shape)} has "
                f"{len(self.batch_shape)} batch axi{'s' if len(self.batch_shape) == 1 else 'es'}, "
                f"so to_event({n}) is impossible; "
                f"expand it first (e.g. .expand([d]).to_event(1)) or use to_event({len(self.batch_shape)})"
            )
        if n == 0:
            return self
        cut = len(self.batch_shape) - n
        return self._wrap("to_event", n, self.batch_shape[:cut], self.batch_shape[cut:] + self.event_shape)

    def mask(self, mask) -> "Distribution":
        """Zeros the log-density where ``mask`` is False (a bool value or array)."""
        arg = as_arg(mask)
        if isinstance(mask, bool):
            return self._wrap("mask", mask, self.batch_shape, self.event_shape)
        batch = broadcast_shapes(self.batch_shape, arg_shape(arg), what=f"dist.{self.family}.mask")
        return self._wrap("mask", arg, batch, self.event_shape)


def _build(family: Family, kwargs: dict) -> Distribution:
    known = set(family.params) | set(family.defaults)
    unknown = set(kwargs) - known
    if unknown:
        raise ModelError(
            f"dist.{family.name} got unexpected argument(s) {sorted(unknown)}; it takes {sorted(known)}"
        )
    given = {k for k, v in kwargs.items() if v is not None and k in family.params}
    if not any(set(group) <= given and not (given - set(group) - _optional(family, group)) for group in family.required):
        options = " or ".join("(" + ", ".join(g) + ")" for g in family.required)
        raise ModelError(f"dist.{family.name} needs exactly one of {options}; got {sorted(given)}")
    args, shapes, lits = {}, {}, {}
    for k, v in kwargs.items():
        if v is None:
            continue
        a = as_arg(v)
        args[k] = a
        if isinstance(a, (ir.Ref, ir.Const)):
            shapes[k] = arg_shape(a)
        else:
            shapes[k] = ()
            lits[k] = a
    lits = {**family.defaults, **lits}
    batch_parts = []
    for k, shape in shapes.items():
        rank = family.params.get(k, 0)
        if len(shape) < rank:
            raise ShapeError(
                f"dist.{family.name}: argument {k!r} needs at least {rank} axes (its event part), "
                f"got shape {format_shape(shape)}"
            )
        batch_parts.append(shape[: len(shape) - rank])
    if family.name == "Delta":
        ed = int(lits.get("event_dim", 0))
        batch_parts = [shapes["v"][: len(shapes["v"]) - ed]]
    batch = broadcast_shapes(*batch_parts, what=f"dist.{family.name} arguments")
    event = family.event(shapes, lits)
    return Distribution(ir.DistSpec(family.name, args, (), batch, event))


def _optional(family: Family, group) -> set:
    # Arguments outside every required group are optional (StudentT's loc/scale).
    in_groups = {a for g in family.required for a in g}
    return set(family.params) - in_groups


def MixtureSameFamily(mixture_distribution: Distribution, component_distribution: Distribution) -> Distribution:
    """A mixture whose K components share one family.

    Args:
        mixture_distribution: a ``Categorical`` with batch shape ``B``, K categories.
        component_distribution: batch shape ``B + (K,)``.
    """
    mix, comp = mixture_distribution, component_distribution
    if not isinstance(mix, Distribution) or mix.family != "Categorical":
        raise ModelError("dist.MixtureSameFamily: mixture_distribution must be a dist.Categorical")
    if not isinstance(comp, Distribution) or not comp.batch_shape:
        raise ShapeError(
            "dist.MixtureSameFamily: component_distribution needs a batch axis of size K "
            "(the components) as its rightmost batch axis"
        )
    k_mix = FAMILIES["Categorical"].support_size(
        {k: arg_shape(v) for k, v in mix.spec.args.items()}, {})
    if comp.batch_shape[-1] != k_mix:
        raise ShapeError(
            f"dist.MixtureSameFamily: the Categorical has {k_mix} categories but the components' "
            f"rightmost batch axis is {comp.batch_shape[-1]!r} (batch shape {format_shape(comp.batch_shape)})"
        )
    batch = broadcast_shapes(mix.batch_shape, comp.batch_shape[:-1], what="dist.MixtureSameFamily")
    spec = ir.DistSpec(
        "MixtureSameFamily",
        {"mixture_distribution": mix.spec, "component_distribution": comp.spec},
        (), batch, comp.event_shape,
    )
    return Distribution(spec)


# conditional family of a chain -> what its network gives per dimension
CONDITIONALS = {
    "Bernoulli": "logits",
    "Categorical": "logits of the K levels",
    "NormalMixture": "mixture logits, means and log-scales of C components (3C numbers)",
}


def Autoregressive(net, family: str = "Bernoulli", mask=None) -> Distribution:
    """An autoregressive chain ``p(x) = prod_i p(x_{o_i} | x_{o_<i})`` as one
    distribution with event shape ``(x_dim,)``.

    The network (:class:`gendsl.nn.MADE`, :class:`gendsl.nn.FVSBN` or
    :class:`gendsl.nn.NADE`) gives every conditional's parameters in one
    masked pass, so ``log_prob`` is one vectorised computation however long
    the chain; ``sample`` runs the chain in order, one network pass per
    position. It is one node in the IR and is drawn as a collapsed chain
    ``x_i | x_<i``.

    Args:
        net: an autoregressive network spec; its ``params_per_dim`` must suit ``family``.
        family: the conditionals: ``"Bernoulli"`` (values 0/1, 1 logit per
            dimension), ``"Categorical"`` (values 0..K-1, K logits; the network
            reads ``x / (K - 1)``) or ``"NormalMixture"`` (real values, C
            components: 3C numbers, the RNADE conditional).
        mask: for a network with several masks: an index picks one mask;
            ``None`` makes the chain the uniform mixture over all masks
            (``log_prob`` averages their probabilities; training draws one
            mask per step, as Germain et al. do).

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist, nn
        >>> @gd.model
        ... def chain(x_dim=6):
        ...     made = nn.MADE("made", x_dim, hidden=[16])
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.Autoregressive(made, "Bernoulli"))
        >>> chain().ir["x"].shape
        (N_data, 6)
    """
    from ..nn import AutoregressiveNet

    if not isinstance(net, AutoregressiveNet):
        raise ModelError(
            f"dist.Autoregressive needs an autoregressive network (nn.MADE, nn.FVSBN or nn.NADE), "
            f"got {type(net).__name__}"
        )
    if family not in CONDITIONALS:
        raise ModelError(f"dist.Autoregressive: unknown conditional family {family!r}; "
                         f"choose one of {sorted(CONDITIONALS)}")
    p = net.params_per_dim
    if (family == "Bernoulli" and p != 1) or (family == "Categorical" and p < 2) or (
            family == "NormalMixture" and p % 3):
        need = {"Bernoulli": "1", "Categorical": "K >= 2 (the levels)",
                "NormalMixture": "3C (C components)"}[family]
        raise ModelError(
            f"dist.Autoregressive({family!r}): network {net.name!r} gives {p} number(s) per dimension "
            f"but {family} conditionals need {need} ({CONDITIONALS[family]}); set params_per_dim"
        )
    if mask is not None and not isinstance(mask, Value):
        if not 0 <= int(mask) < net.num_masks:
            raise ModelError(f"dist.Autoregressive: mask {mask} is out of range; network {net.name!r} "
                             f"has {net.num_masks} mask(s)")
        mask = int(mask)
    if _STACK:
        net._register(current("dist.Autoregressive"))
    args = {"net": ir.Ref(net.name), "spec": net, "family": family, "mask": as_arg(mask) if mask is not None else None}
    return Distribution(ir.DistSpec("Autoregressive", args, (), (), (net.x_dim,)))


def TransformedDistribution(base_dist: Distribution, transforms) -> Distribution:
    """A normalizing flow: ``x = t_n(... t_1(z))`` with ``z ~ base_dist``, so
    ``log p(x) = log p_base(z) - sum_i log|det J_{t_i}|``.

    Args:
        base_dist: a distribution with event shape ``(d,)`` (e.g.
            ``dist.Normal(0., 1.).expand([d]).to_event(1)``).
        transforms: a list of :mod:`gendsl.transforms` specs (or one), each
            of dimension ``d``, applied in order from the base to the data.

    Returns:
        A distribution with the base's batch and event shapes. Backends build
        their library's ``TransformedDistribution``; graphs list the chain.

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist, transforms as T
        >>> @gd.model
        ... def nice(x_dim=4):
        ...     base = dist.Logistic(0.0, 1.0).expand([x_dim]).to_event(1)
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.TransformedDistribution(
        ...             base, [T.AdditiveCoupling("c1", x_dim), T.AdditiveCoupling("c2", x_dim, parity=1)]))
        >>> nice().ir["x"].shape
        (N_data, 4)
    """
    from ..transforms import Bijector, StatelessTransform

    if not isinstance(base_dist, Distribution):
        raise ModelError(f"dist.TransformedDistribution: base_dist must be a gendsl distribution, "
                         f"got {type(base_dist).__name__}")
    transforms = list(transforms) if isinstance(transforms, (list, tuple)) else [transforms]
    if len(base_dist.event_shape) != 1:
        raise ShapeError(
            f"dist.TransformedDistribution: the base distribution's event shape is "
            f"{format_shape(base_dist.event_shape)}, but flows transform vectors: give the base an event "
            f"shape (d,), e.g. dist.Normal(0., 1.).expand([d]).to_event(1)"
        )
    d = base_dist.event_shape[0]
    for i, t in enumerate(transforms):
        if not isinstance(t, (Bijector, StatelessTransform)):
            raise ModelError(f"dist.TransformedDistribution: transform {i} is a {type(t).__name__}; "
                             f"use the specs of gendsl.transforms (AffineCoupling, Permute, ...)")
        if t.dim != d:
            what = getattr(t, "name", None) or type(t).__name__
            raise ShapeError(f"dist.TransformedDistribution: transform {i} ({what!r}) has dim {t.dim} but the "
                             f"base distribution's event shape is ({d},); give every transform dim={d}")
    if not transforms:
        raise ModelError("dist.TransformedDistribution needs at least one transform")
    if _STACK:
        tracer = current("dist.TransformedDistribution")
        for t in transforms:
            if isinstance(t, Bijector):
                t._register(tracer)
    args = {"base_dist": base_dist.spec,
            "transforms": tuple(ir.Ref(t.name) if isinstance(t, Bijector) else t for t in transforms),
            "specs": tuple(transforms)}
    return Distribution(ir.DistSpec("TransformedDistribution", args, (), base_dist.batch_shape,
                                    base_dist.event_shape))


def Dequantized(base_dist: Distribution, levels: int) -> Distribution:
    """Integer values ``0..levels-1`` as the floor of ``levels * y``, ``y`` from
    a density on the unit cube (a flow ending in ``transforms.Sigmoid``).

    Uniform dequantisation: ``log P(x) >= E_u[log p((x + u) / levels)] - d
    log(levels)``, ``u ~ U(0, 1)^d``. Training draws fresh noise at every
    step; evaluation uses one fixed draw (the same on both backends), so
    ``log_prob`` is a one-sample estimate of that bound and ``bits_per_dim``
    is comparable with published flow figures.

    Args:
        base_dist: a distribution over ``(0, 1)^d`` with event shape ``(d,)``.
        levels: the number of integer levels (256 for 8-bit images, 17 for
            the 8x8 digits).

    References:
        Theis, van den Oord & Bethge, "A note on the evaluation of generative
        models", ICLR 2016 (uniform dequantisation as a bound).
        Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
    """
    if not isinstance(base_dist, Distribution) or len(base_dist.event_shape) != 1:
        raise ShapeError("dist.Dequantized: base_dist must be a distribution with event shape (d,), e.g. a flow "
                         "dist.TransformedDistribution(base, [..., transforms.Sigmoid(d)])")
    if int(levels) != levels or int(levels) < 2:
        raise ModelError(f"dist.Dequantized: levels must be an integer >= 2, got {levels!r}")
    args = {"base_dist": base_dist.spec, "levels": int(levels)}
    return Distribution(ir.DistSpec("Dequantized", args, (), base_dist.batch_shape, base_dist.event_shape))


def Diffusion(net, steps: int = 1000, schedule="linear", beta_start: float = 1e-4, beta_end: float = 0.02,
              levels: int | None = None, variance: str = "beta") -> Distribution:
    """A Gaussian diffusion chain ``x_T -> ... -> x_0`` as one distribution
    with event shape ``(x_dim,)`` (Sohl-Dickstein et al.; Ho et al.).

    The forward process ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1},
    beta_t I)`` is fixed by the schedule; the reverse chain ``p(x_{t-1} |
    x_t) = N(mu_theta(x_t, t), sigma_t^2 I)`` from ``x_T ~ N(0, I)`` is
    learned through ``net``, which predicts the noise in ``x_t``. Its
    likelihood has no closed form: train with ``objective="denoising"`` (Ho
    et al.'s simple loss) or ``"elbo"`` (the variational bound), whose value
    ``Fitted.elbo`` and ``Fitted.bits_per_dim`` report. Sampling runs the
    chain (ancestral, or DDIM with fewer steps: ``Fitted.sample(n,
    sampler="ddim", steps=50)``). It is one node in the IR, drawn as a
    collapsed chain.

    Args:
        net: a noise network, :class:`gendsl.nn.TimeMLP` (vectors) or
            :class:`gendsl.nn.TimeUNet` (images, as flat rows).
        steps: the chain's length ``T``.
        schedule: ``"linear"`` (``beta_start`` to ``beta_end``, Ho et al.'s
            1e-4 to 0.02), ``"cosine"`` (Nichol & Dhariwal), or the betas.
        levels: ``None`` for real data; ``K`` for integer data ``0..K-1``
            (8-bit pixels: 256; the 8x8 digits: 17), scaled to ``[-1, 1]``
            and scored by a discretised Gaussian decoder, so the bound is on
            ``-log P(x)`` of the integers.
        variance: the reverse steps' ``sigma_t^2``: ``"beta"`` (``beta_t``) or
            ``"posterior"`` (``beta~_t``, the forward posterior's variance).

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist, nn
        >>> @gd.model
        ... def ddpm(x_dim=2):
        ...     eps = nn.TimeMLP("eps", x_dim, hidden=[32, 32])
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.Diffusion(eps, steps=100))
        >>> ddpm().ir["x"].shape
        (N_data, 2)
    """
    from ..backends.diffusion import VARIANCES, Schedule, betas_for
    from ..nn import TimeNet

    if not isinstance(net, TimeNet):
        raise ModelError(f"dist.Diffusion needs a noise network net(x_t, t) (nn.TimeMLP or nn.TimeUNet), "
                         f"got {type(net).__name__}")
    if variance not in VARIANCES:
        raise ModelError(f"dist.Diffusion: unknown variance {variance!r}; choose one of {VARIANCES}")
    if levels is not None and (int(levels) != levels or int(levels) < 2):
        raise ModelError(f"dist.Diffusion: levels must be None (real data) or an integer >= 2, got {levels!r}")
    betas = betas_for(schedule, steps, beta_start, beta_end)
    kind = schedule if isinstance(schedule, str) else "given"
    if _STACK:
        net._register(current("dist.Diffusion"))
    args = {"net": ir.Ref(net.name), "spec": net, "schedule": Schedule(kind, tuple(betas.tolist())),
            "levels": None if levels is None else int(levels), "variance": variance}
    return Distribution(ir.DistSpec("Diffusion", args, (), (), (net.x_dim,)))


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
    from ..backends.dae import CORRUPTIONS, LIKELIHOODS
    from ..nn import MLP

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


# families whose backend distributions take the run's training flag and dtype
RUN_AWARE = ("Autoregressive", "Dequantized", "Diffusion", "DenoisingAutoencoder")
# families whose backend distributions also take the query's options (samplers)
QUERY_AWARE = ("Diffusion", "DenoisingAutoencoder")
# families whose log_prob is a variational bound, not a likelihood
BOUND_ONLY = ("Diffusion",)
# families that put all their mass on one value (guides of these give one particle, whatever k)
POINT_MASSES = ("Delta", "VectorQuantized")
# families with no density at all: trained by 'denoising' only
NO_DENSITY = ("DenoisingAutoencoder",)


def value_dtype(spec: ir.DistSpec) -> str:
    """dtype of the values of ``spec`` (``"real"`` or ``"int"``)."""
    if spec.family == "Autoregressive":
        return "int" if spec.args["family"] == "Categorical" else "real"
    if spec.family == "Diffusion":
        return "real" if spec.args["levels"] is None else "int"
    if spec.family in ("MixtureSameFamily", "TransformedDistribution") or spec.family not in FAMILIES:
        return "real"
    return FAMILIES[spec.family].dtype


def _constructor(family: Family):
    def make(*args, **kwargs):
        names = list(family.params) + list(family.defaults)
        if len(args) > len(names):
            raise ModelError(f"dist.{family.name} takes at most {len(names)} positional arguments ({names})")
        for name, value in zip(names, args):
            if name in kwargs:
                raise ModelError(f"dist.{family.name}: argument {name!r} given twice")
            kwargs[name] = value
        return _build(family, kwargs)

    make.__name__ = make.__qualname__ = family.name
    params = ", ".join(family.params)
    make.__doc__ = f"``{family.name}({params})`` as in Pyro and NumPyro; support: {family.support}."
    return make


_module = sys.modules[__name__]
for _name, _family in FAMILIES.items():
    if _name not in ("MixtureSameFamily", "Autoregressive", "TransformedDistribution", "Dequantized", "Diffusion",
                     "DenoisingAutoencoder", "VectorQuantized", "Codebook"):
        setattr(_module, _name, _constructor(_family))


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise unknown_attribute("distribution", name, FAMILIES)
