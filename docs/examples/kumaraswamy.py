"""A family added in one file: the Kumaraswamy distribution on (0, 1).

``p(x | a, b) = a b x^(a-1) (1 - x^a)^(b-1)``. Its CDF ``1 - (1 - x^a)^b``
inverts in closed form, so a draw is a reparameterised function of
``u ~ U(0, 1)``: ``x = (1 - (1 - u)^(1/b))^(1/a)``; a Beta-like density
whose draws need no rejection (the reason VAEs use it for unit-interval latents).

Importing this module registers the family: ``dist.Kumaraswamy(a, b)`` then
works in any model, on both backends, in the plain Pyro and NumPyro programs.

References:
    Kumaraswamy, "A generalized probability density function for
    double-bounded random processes", Journal of Hydrology 46, 1980.
    Nalisnick & Smyth, "Stick-Breaking Variational Autoencoders", ICLR 2017.
"""

from __future__ import annotations

import numpy as np

import gendsl as gd
from gendsl import dist
from gendsl.dist import Family, register_family
from gendsl.families import Implementation, Support


class KumaraswamyImpl(Implementation):
    """The family's one backend-neutral distribution: ``ops`` and the backend's draws only."""

    has_rsample = True  # the inverse-CDF draw is differentiable in a and b
    support = Support("unit_interval")

    def __init__(self, backend, concentration1, concentration0):
        shape = np.broadcast_shapes(tuple(concentration1.shape), tuple(concentration0.shape))
        super().__init__(backend, shape, ())
        self.a, self.b = concentration1, concentration0

    def log_prob(self, x):
        ops, a, b = self.backend.ops, self.a, self.b
        return ops["log"](a) + ops["log"](b) + (a - 1) * ops["log"](x) + (b - 1) * ops["log1p"](-ops["power"](x, a))

    def sample(self, key, sample_shape):
        ops = self.backend.ops
        u = self.backend.random_uniform(key, self.draw_shape(sample_shape), self.backend.like(self.a), minval=1e-12)
        return ops["power"](-ops["expm1"](ops["log1p"](-u) / self.b), 1.0 / self.a)


def example():
    """A small model using the family and data for it (the conformance suite's case)."""
    @gd.model
    def kumaraswamy_story(x_dim=3):
        """Kumaraswamy features: x_d ~ Kumaraswamy(a_d, b_d)."""
        a = gd.param("a", (x_dim,), init=2.0, constraint="positive")
        b = gd.param("b", (x_dim,), init=3.0, constraint="positive")
        with gd.plate("data"):
            gd.observe("x", dist.Kumaraswamy(a, b).to_event(1))

    return kumaraswamy_story(), lambda rng, n: {"x": rng.beta(2.0, 3.0, size=(n, 3))}


KUMARASWAMY = register_family(Family(
    "Kumaraswamy", params={"concentration1": 0, "concentration0": 0},
    required=(("concentration1", "concentration0"),), support="unit_interval",
    impl=KumaraswamyImpl, example=example,
))
