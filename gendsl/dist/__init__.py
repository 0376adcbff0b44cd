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

import sys

from ..errors import unknown_attribute
from ._core import Distribution, constructor, value_dtype
from ._families import DENSITIES, FAMILIES, Family, family_of, register_family
from .. import families  # noqa: F401  (registers the families gendsl implements)
from ..families.autoregressive import CONDITIONALS, Autoregressive
from ..families.dae import DenoisingAutoencoder
from ..families.delta import Delta
from ..families.dequantized import Dequantized
from ..families.diffusion import Diffusion
from ..families.flow import TransformedDistribution
from ..families.hmm import HiddenMarkov
from ..families.mixture import MixtureSameFamily
from ..families.vq import Codebook, VectorQuantized

__all__ = ["Distribution", "FAMILIES", "DENSITIES", "Family", "family_of", "register_family", "value_dtype",
           "CONDITIONALS", *sorted(FAMILIES)]

# every other registered family gets the generic constructor of its arguments
_module = sys.modules[__name__]
for _name, _family in FAMILIES.items():
    if not hasattr(_module, _name):
        setattr(_module, _name, _family.constructor or constructor(_family))


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    family = FAMILIES.get(name)
    if family is not None:  # registered after import (a user's family): its constructor
        return family.constructor or constructor(family)
    raise unknown_attribute("distribution", name, FAMILIES)
