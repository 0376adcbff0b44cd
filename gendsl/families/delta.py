"""A point mass (``dist.Delta``): the libraries' ``Delta``.

Observed, it is how an implicit model is written: a GAN's data site is the
generator's output seen through a ``Delta``, which has no density, so the
objectives that need one refuse it and ``adversarial`` trains it. In a guide
it is a point estimate: every particle is the same.
"""

from __future__ import annotations

from ..dist._core import Distribution, build
from ..dist._families import FAMILIES, Family, register_family

__all__ = ["Delta"]


def _event(shapes, lits):
    event_dim = int(lits.get("event_dim", 0))
    v = shapes["v"]
    return tuple(v[len(v) - event_dim:]) if event_dim else ()


def _batch(shapes, lits):
    v = shapes["v"]
    return tuple(v[: len(v) - int(lits.get("event_dim", 0))])


def Delta(v, log_density=None, event_dim: int = 0) -> Distribution:
    """A point mass at ``v`` (``log_prob`` is ``log_density`` there), as in Pyro and NumPyro.

    Args:
        v: the value; its rightmost ``event_dim`` axes are one event.
        log_density: the log-density reported at ``v`` (default 0).
        event_dim: how many rightmost axes of ``v`` form one event.

    Example:
        >>> from gendsl import dist
        >>> dist.Delta([1.0, 2.0], event_dim=1).event_shape
        (2,)
    """
    return build(FAMILIES["Delta"], {"v": v, "log_density": log_density, "event_dim": event_dim})


register_family(Family(
    "Delta", {"v": 0, "log_density": 0}, (("v",),), defaults={"event_dim": 0}, event=_event, batch=_batch,
    density="implicit", point_mass=True, constructor=Delta,
))
