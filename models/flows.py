"""Normalizing flows: NICE, RealNVP, MAF, IAF and a Glow-style flow.

Each is one ``dist.TransformedDistribution`` site: a base density pushed
through a chain of invertible :mod:`gendsl.transforms`, scored exactly by the
change of variables. For real vectors the flow models ``x`` directly; with
``levels`` set, ``x`` holds integer pixels ``0..levels-1`` and the flow
models their uniform dequantisation on the unit cube, through a final
:class:`gendsl.transforms.Sigmoid` (RealNVP's logit pre-processing, run
backwards), so ``log_prob`` is the usual dequantised bound.

``classes=K`` on :func:`realnvp`, :func:`maf` and :func:`glow` makes the
flow class-conditional: a label ``y ~ Categorical(softmax(y_logits))`` (a
learned prior) whose one-hot vector every coupling MLP or MADE reads beside
its inputs, so ``p(x | y = c)`` is an exact density for each class. Data are
``{"x": ..., "y": ...}``; ``fit.sample(n, given={"y": c})`` draws class ``c``
and ``fit.posterior("y", {"x": X})`` is Bayes' rule, exactly (``y`` summed
out by enumeration).
"""

from __future__ import annotations

import gendsl as gd
from gendsl import dist, ops
from gendsl import transforms as T

from .latent import _classes

__all__ = ["nice", "realnvp", "maf", "iaf", "glow", "FLOW_FIT_DEFAULTS"]

#: Every flow's ``fit`` defaults (``factory.fit_defaults``): Adam from 2e-3
#: decayed to 0 along a cosine, batches of 256 (the toy benches' recipe, whose
#: step-wise halvings the cosine replaces). On 2-D toys each flow beats an
#: 8-component full-covariance GMM on held-out log-likelihood in under a minute
#: of CPU (``bench/defaults.py``).
FLOW_FIT_DEFAULTS = {"lr": 2e-3, "batch_size": 256, "lr_schedule": "cosine"}


def _observe(x_dim, layers, base="normal", levels=None, alpha=0.05, classes=0):
    """The flow's site ``x`` in the row plate (after a label ``y`` whose one-hot
    vector conditions the layers, with ``classes``)."""
    if base == "logistic":
        prior = dist.Logistic(0.0, 1.0).expand([x_dim]).to_event(1)
    else:
        prior = dist.Normal(0.0, 1.0).expand([x_dim]).to_event(1)
    y_logits = gd.param("y_logits", (classes,), init=0.0) if classes else None
    with gd.plate("data"):
        context = ops.one_hot(gd.sample("y", dist.Categorical(logits=y_logits)), classes) if classes else None
        if levels is None:
            flow = dist.TransformedDistribution(prior, layers, context=context)
        else:
            flow = dist.Dequantized(dist.TransformedDistribution(prior, [*layers, T.Sigmoid(x_dim, alpha)],
                                                                 context=context), levels)
        gd.observe("x", flow)


def _check_layers(layers):
    if int(layers) < 1:
        raise gd.ModelError(f"layers must be >= 1, got {layers}")
    return int(layers)


@gd.model
def nice(x_dim=2, hidden=(64, 64), layers=12, levels=None, alpha=0.05):
    """NICE: additive couplings (alternating halves) and a final diagonal
    scaling, on a logistic base; volume-preserving except for the scaling.

    Args:
        x_dim: dimensions.
        hidden: each coupling MLP's hidden widths.
        layers: coupling layers (the paper uses 4, for 784 pixels; an
            additive coupling of 2-D data shifts one coordinate, and the
            moons need 12 to beat an 8-component GMM).
        levels: integer pixel levels (dequantised), or ``None`` for real data.
        alpha: the logit pre-processing margin when ``levels`` is set.

    Default objective: ``mle``; fit defaults :data:`FLOW_FIT_DEFAULTS`.

    References:
        Dinh, Krueger & Bengio, "NICE: Non-linear Independent Components
        Estimation", ICLR 2015 workshop.
    """
    chain = [T.AdditiveCoupling(f"coupling{i}", x_dim, hidden, mask="half", parity=i % 2)
             for i in range(_check_layers(layers))]
    _observe(x_dim, chain + [T.ActNorm("scaling", x_dim)], "logistic", levels, alpha)


def _normalised(chain, x_dim, batch_norm):
    """``chain`` with a :class:`gendsl.transforms.BatchNorm` after each learnable layer (so the
    data side is standardised first when the density is evaluated)."""
    if not batch_norm:
        return chain
    out = []
    for t in chain:
        out.append(t)
        if isinstance(t, T.Bijector):
            out.append(T.BatchNorm(f"{t.name}_bn", x_dim))
    return out


@gd.model
def realnvp(x_dim=2, hidden=(64, 64), layers=6, levels=None, alpha=0.05, batch_norm=False, classes=None):
    """RealNVP: affine couplings on alternating coordinates, a standard
    normal base.

    Args: as :func:`nice`; ``batch_norm=True`` adds a
    :class:`gendsl.transforms.BatchNorm` after each coupling, as the paper does;
    ``classes=K`` makes it class-conditional (see the module's docstring):
    each coupling's MLP reads ``(x_A, one_hot(y))``.

    Default objective: ``mle``; fit defaults :data:`FLOW_FIT_DEFAULTS`.

    References:
        Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
    """
    k = _classes(classes)
    chain = [T.AffineCoupling(f"coupling{i}", x_dim, hidden, parity=i % 2, context=k)
             for i in range(_check_layers(layers))]
    _observe(x_dim, _normalised(chain, x_dim, batch_norm), "normal", levels, alpha, k)


def _autoregressive(cls, x_dim, hidden, layers, context=0):
    chain = []
    for i in range(_check_layers(layers)):
        if i:
            chain.append(T.Reverse(x_dim))  # each layer sees the previous one's ordering reversed
        chain.append(cls(f"layer{i}", x_dim, hidden, seed=i, context=context))
    return chain


@gd.model
def maf(x_dim=2, hidden=(64, 64), layers=5, levels=None, alpha=0.05, batch_norm=False, classes=None):
    """Masked autoregressive flow: MADE-parametrised affine autoregressive
    layers with reversed orderings between them; the density is one pass per
    layer, sampling ``x_dim`` passes.

    Args: as :func:`nice` (``hidden``: each MADE's hidden widths);
    ``batch_norm=True`` adds a :class:`gendsl.transforms.BatchNorm` after each
    MADE layer (the paper's "MAF with batch norm"); ``classes=K`` makes it the
    paper's conditional MAF (see the module's docstring): ``one_hot(y)``
    reaches every unit of each MADE's first layer, unmasked.

    Default objective: ``mle``; fit defaults :data:`FLOW_FIT_DEFAULTS`.

    References:
        Papamakarios, Pavlakou & Murray, "Masked Autoregressive Flow for
        Density Estimation", NeurIPS 2017.
    """
    k = _classes(classes)
    chain = _autoregressive(T.MaskedAutoregressive, x_dim, hidden, layers, k)
    _observe(x_dim, _normalised(chain, x_dim, batch_norm), "normal", levels, alpha, k)


@gd.model
def iaf(x_dim=2, hidden=(64, 64), layers=5, levels=None, alpha=0.05):
    """Inverse autoregressive flow as a density model: sampling is one pass
    per layer, the density ``x_dim`` passes (so ``mle`` training is slower
    than MAF's; IAF's home is the fast-sampling side, e.g. VAE posteriors).

    Args: as :func:`maf`.

    Default objective: ``mle``; fit defaults :data:`FLOW_FIT_DEFAULTS`.

    References:
        Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, "Improved
        Variational Inference with Inverse Autoregressive Flow", NeurIPS 2016.
    """
    _observe(x_dim, _autoregressive(T.InverseAutoregressive, x_dim, hidden, layers), "normal", levels, alpha)


@gd.model
def glow(x_dim=2, hidden=(64, 64), layers=8, levels=None, alpha=0.05, classes=None):
    """A Glow-style flow for vectors: each step is actnorm, an invertible
    linear mixing in LU form (Glow's 1x1 convolution over the vector's
    coordinates) and an affine coupling. No multi-scale squeezing.

    Args: as :func:`nice` (``layers``: flow steps; 8, where 4 fell short
    of an 8-component GMM on the moons); ``classes=K`` makes it
    class-conditional (see the module's docstring): each coupling's MLP
    reads ``one_hot(y)`` too (actnorm and the mixing stay unconditional).

    Default objective: ``mle``; fit defaults :data:`FLOW_FIT_DEFAULTS`.

    References:
        Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1
        Convolutions", NeurIPS 2018.
    """
    k = _classes(classes)
    chain = []
    for i in range(_check_layers(layers)):
        chain += [T.ActNorm(f"actnorm{i}", x_dim), T.InvertibleLinear(f"mix{i}", x_dim, seed=i),
                  T.AffineCoupling(f"coupling{i}", x_dim, hidden, parity=i % 2, context=k)]
    _observe(x_dim, chain, "normal", levels, alpha, k)


for _factory in (nice, realnvp, maf, iaf, glow):
    _factory.default_objective = "mle"
    _factory.fit_defaults = FLOW_FIT_DEFAULTS
