"""The families gendsl implements itself, one module each.

A module holds everything one family is: its user constructor (re-exported
as ``gendsl.dist.<Name>``), its maths written against ``ops`` and the
backend runtime, its one backend-neutral distribution class
(:class:`Implementation`), its graph look, and its :class:`gendsl.dist.Family`
registration. Adding a family is one module plus one line below (see the
docs' "Adding a family").
"""

from ._base import Implementation, Support
from . import mixture, delta, flow, dequantized, autoregressive, diffusion, dae, vq, hmm  # noqa: F401  (registers)

__all__ = ["Implementation", "Support"]
