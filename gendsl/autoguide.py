"""Automatic guides by name, for latents that need no encoder.

``"normal"`` is a mean-field Gaussian (Pyro's ``AutoNormal``): each global
continuous latent gets ``<site>_loc`` and ``<site>_scale`` parameters.
``"delta"`` puts a point mass at ``<site>_loc`` (Pyro's ``AutoDelta``), so
``elbo`` becomes MAP estimation. Latents inside the data plate are one per
row and need an amortised guide (``@model.guide``) instead.
"""

from __future__ import annotations

from . import dist, ir
from .dist import FAMILIES
from .errors import ModelError, unknown_name
from .primitives import param, sample

__all__ = ["AUTO_GUIDES", "auto_guide"]

_REAL = {"real", "real_vector"}


def _normal(site: ir.Sample):
    loc = param(f"{site.name}_loc", site.shape, init="small")
    scale = param(f"{site.name}_scale", site.shape, init=0.1, constraint="positive")
    return dist.Normal(loc, scale).to_event(len(site.shape)) if site.shape else dist.Normal(loc, scale)


def _delta(site: ir.Sample):
    loc = param(f"{site.name}_loc", site.shape, init="small")
    return dist.Delta(loc, event_dim=len(site.shape))


# name -> site -> the guide's distribution for it (registered in one place)
AUTO_GUIDES = {"normal": _normal, "delta": _delta}


def auto_guide(model_ir: ir.Program, kind: str):
    """A guide function for every continuous latent of ``model_ir``.

    Raises:
        ModelError: a latent lies in a plate, or has a non-real support.
    """
    if kind not in AUTO_GUIDES:
        raise unknown_name("automatic guide", kind, AUTO_GUIDES)
    make = AUTO_GUIDES[kind]
    sites = []
    for site in model_ir.latent:
        family = FAMILIES.get(site.dist.family)
        if family is not None and family.enumerable:
            continue  # summed out exactly in the model
        if site.plates:
            raise ModelError(
                f"guide={kind!r}: latent site {site.name!r} lies in plate(s) {list(site.plates)}, one value "
                f"per row; give the model an amortised guide with @{model_ir.name}.guide"
            )
        if family is None or family.support not in _REAL:
            raise ModelError(
                f"guide={kind!r}: latent site {site.name!r} has support {family.support if family else '?'!r}; "
                f"automatic guides cover real-valued latents (Normal, Laplace, ...) only"
            )
        sites.append(site)

    def guide():
        for site in sites:
            sample(site.name, make(site))

    guide.__name__ = f"{model_ir.name}_auto_{kind}"
    return guide
