"""Handlers: what a sample site does in one run of a lowered program.

* :class:`ScoreHandler` scores given values and enumerates discrete latents
  (exact marginalisation); it collects log-probability factors.
* :class:`SampleHandler` draws every site not given (ancestral sampling).

The plain Pyro/NumPyro programs use their own handlers (calling
``pyro.sample`` / ``numpyro.sample``); see the backend modules.
"""

from __future__ import annotations

import numpy as np

from ..dist import FAMILIES
from ..errors import ModelError
from ..shapes import concrete

__all__ = ["ScoreHandler", "SampleHandler", "GuideHandler", "Factor"]


class Factor:
    """One scored site: ``(name, log_prob, plates)``.

    The log-prob is computed on first use, so terms an objective replaces
    (a closed-form KL stands in for ``log p(z) - log q(z)``) cost nothing.
    Unpacks like a tuple.
    """

    __slots__ = ("name", "plates", "_thunk", "_value")

    def __init__(self, name, thunk, plates):
        self.name, self.plates, self._thunk, self._value = name, plates, thunk, None

    @property
    def log_prob(self):
        if self._value is None:
            self._value = self._thunk()
        return self._value

    def __iter__(self):
        return iter((self.name, self.log_prob, self.plates))


class _Base:
    def __init__(self, backend, data: dict):
        self.backend = backend
        self.data = data

    def input(self, node, ctx):
        try:
            return self.data[node.name]
        except KeyError:
            raise ModelError(f"input {node.name!r} was not given any data") from None

    def net(self, node, ctx):
        return None  # the backend's functional network

    def deterministic(self, node, value, ctx):
        return value


class ScoreHandler(_Base):
    """Scores a run: data and provided latents are conditioned on, enumerable
    latents are enumerated in parallel (each on its own dim to the left of
    every plate dim, as Pyro does), and each site's log-prob is kept.

    Args:
        backend: the backend.
        data: site name -> backend array of observed values.
        latents: site name -> values drawn elsewhere (by a guide).
        first_enum_dim: ``-(max_plate_nesting + 1)``.
        elementwise: site name -> ``(builder, observed_mask)`` for sites with
            missing entries, scored elementwise and masked before summing. An
            enumerable site among them (a label missing for some rows) is
            enumerated instead, every value but the label ruled out where the
            row has one: observed there, summed out where missing.
        enumerate: whether unseen discrete latents may be enumerated.
    """

    def __init__(self, backend, data, latents=None, first_enum_dim=-1, elementwise=None, enumerate=True):
        super().__init__(backend, data)
        self.latents = latents or {}
        self.next_dim = first_enum_dim
        self.elementwise = elementwise or {}
        self.enumerate = enumerate
        self.factors: list[Factor] = []
        self.enum_dims: dict[str, int] = {}
        self.dists: dict = {}  # site -> its distribution in this run (for expectations)

    def sample(self, node, fn, ctx, obs=None):
        name = node.name
        if obs is not None:
            value = obs
        elif name in self.data and name in self.elementwise and self.enumerate and name in ctx.enumerable:
            value = self._enumerate(node, fn)
            labels, observed = self.data[name], self.elementwise[name][1]
            self.factors.append(Factor(name, lambda: self._labelled(fn, value, labels, observed), node.plates))
            self.dists[name] = fn
            return value
        elif name in self.data:
            value = self.data[name]
        elif name in self.latents:
            value = self.latents[name]
        elif self.enumerate and name in ctx.enumerable:
            value = self._enumerate(node, fn)
        else:
            raise ModelError(
                f"site {name!r} is latent and continuous, so it cannot be scored without a value; "
                f"give it data, or train with a guide (objective='elbo')"
            )
        self.factors.append(Factor(name, lambda: self._score(name, fn, value, ctx), node.plates))
        self.dists[name] = fn
        return value

    def _enumerate(self, node, fn):
        dim = self.next_dim
        self.next_dim -= 1
        self.enum_dims[node.name] = dim
        support = self.backend.enumerate_support(fn)
        k = support.shape[0]
        shape = (k,) + (1,) * (-dim - 1) + tuple(node.event_shape)
        return self.backend.ops["reshape"](support, shape)

    def _labelled(self, fn, value, labels, observed):
        lp = self.backend.log_prob(fn, value)
        return lp + ruled_out(self.backend.ops, value, labels, observed, lp)

    def _score(self, name, fn, value, ctx):
        if name not in self.elementwise:
            return self.backend.log_prob(fn, value)
        build, observed, n_event = self.elementwise[name]
        lp = self.backend.log_prob(build(ctx), value)
        lp = self.backend.ops["where"](observed, lp, 0.0)
        if n_event:
            lp = self.backend.ops["sum"](lp, axis=tuple(range(-n_event, 0)))
        return lp


def ruled_out(ops, value, labels, observed, like):
    """``0`` where an enumerated ``value`` is a row's label or the row has none,
    ``-inf`` elsewhere: added to a log-prob, it keeps only the label's term
    for labelled rows (shape: ``like``'s)."""
    zero = ops["zeros_like"](like)
    keep = ops["equal"](value, labels) | ~observed
    return ops["where"](keep, zero, zero - float("inf"))


class SampleHandler(_Base):
    """Draws every site that has no data, in program order.

    Args:
        rng: the backend's random stream (``rng.next(name)`` gives a key or None).
        data: site name -> values to condition on instead of sampling.
    """

    def __init__(self, backend, rng, data=None):
        super().__init__(backend, data or {})
        self.rng = rng
        self.values: dict = {}
        self.dists: dict = {}

    def sample(self, node, fn, ctx, obs=None):
        name = node.name
        if obs is not None:
            value = obs
        elif name in self.data:
            value = self.data[name]
        else:
            batch = concrete(node.batch_shape, ctx.sizes)
            if self.backend.batch_shape(fn) != batch:
                fn = self.backend.wrap(fn, "expand", batch)
            value = self.backend.sample(fn, self.rng.next(name), ())
        self.values[name] = value
        self.dists[name] = fn
        return value

    def deterministic(self, node, value, ctx):
        self.values[node.name] = value
        return value


class GuideHandler(_Base):
    """Runs a guide: draws ``k`` reparameterised samples of every site at once
    and keeps ``log q``.

    Samples carry a particle axis at ``-(max_plate_nesting + 1)``, left of
    every plate, so the encoder runs once per row and the model sees ``k``
    particles through broadcasting (Pyro's ``vectorize_particles``).

    A discrete guide site (M2's classifier ``q(y | x)``) is not sampled but
    enumerated, each on its own axis left of the particle axis, so the sites
    after it are drawn once per value; objectives weigh the values by ``q``
    (:meth:`gendsl.backends.program.Lowered.reduce_particles`). Where the data
    give the site, its value is the label: all rows labelled, the site is
    not enumerated; some rows labelled (``observed``), it is enumerated and
    every value but the label ruled out on those rows. ``log q`` of the label
    is kept apart (:attr:`supervised`): it is not part of the bound.

    Args:
        backend: the backend.
        rng: the backend's random stream.
        data: the guide's inputs (site name -> array).
        k: particles per row.
        max_plate_nesting: of the model.
        labels: discrete guide site -> its data (labels; filled where missing).
        observed: discrete guide site -> boolean mask, True where labelled, for
            sites labelled on some rows only.
    """

    def __init__(self, backend, rng, data, k, max_plate_nesting, labels=None, observed=None):
        super().__init__(backend, data)
        self.rng, self.k, self.mpn = rng, k, max_plate_nesting
        self.labels, self.observed = labels or {}, observed or {}
        self.values: dict = {}
        self.factors: list[Factor] = []
        self.dists: dict = {}
        self.enum_dims: dict[str, int] = {}
        self.ruled_out: list[Factor] = []    # 0 / -inf: which enumerated values each row keeps
        self.supervised: list[Factor] = []   # log q(label | x) on labelled rows, 0 elsewhere
        self.next_dim = -(max_plate_nesting + 2)

    def sample(self, node, fn, ctx, obs=None):
        name = node.name
        if FAMILIES[node.dist.family].enumerable:
            return self._discrete(node, fn)
        batch = concrete(node.batch_shape, ctx.sizes)
        have = tuple(self.backend.batch_shape(fn))
        if len(have) > self.mpn:
            # downstream of an enumerated site: its axes lead the batch; the
            # particles go on their own axis between them and the plates
            target = tuple(np.broadcast_shapes(have, ((self.k,) if self.k > 1 else ()) + (1,) * (self.mpn - len(batch))
                                               + tuple(batch)))
            if have != target:
                fn = self.backend.wrap(fn, "expand", target)
            value = self.backend.sample(fn, self.rng.next(name), ())
        else:
            if self.backend.batch_shape(fn) != batch:
                fn = self.backend.wrap(fn, "expand", batch)
            if self.k == 1:
                # one particle: the particle axis stays implicit (size 1 by broadcasting),
                # so networks downstream see exactly the shapes of a hand-written model
                value = self.backend.sample(fn, self.rng.next(name), ())
            else:
                value = self.backend.sample(fn, self.rng.next(name), (self.k,))
                pad = (1,) * (self.mpn - len(batch))
                if pad:
                    value = self.backend.ops["reshape"](value, (self.k,) + pad + tuple(value.shape[1:]))
        self.values[name] = value
        self.dists[name] = fn
        self.factors.append(Factor(name, lambda: self.backend.log_prob(fn, value), node.plates))
        return value

    def _discrete(self, node, fn):
        name, ops = node.name, self.backend.ops
        self.dists[name] = fn
        if name in self.labels and name not in self.observed:  # every row labelled
            value = self.values[name] = self.labels[name]
            self.supervised.append(Factor(name, lambda: self.backend.log_prob(fn, value), node.plates))
            return value
        dim = self.enum_dims[name] = self.next_dim
        self.next_dim -= 1
        support = self.backend.enumerate_support(fn)
        value = ops["reshape"](support, (support.shape[0],) + (1,) * (-dim - 1) + tuple(node.event_shape))
        self.values[name] = value
        if name not in self.labels:
            self.factors.append(Factor(name, lambda: self.backend.log_prob(fn, value), node.plates))
            return value
        labels, observed = self.labels[name], self.observed[name]

        def unlabelled():
            lp = self.backend.log_prob(fn, value)
            return ops["where"](observed, ops["zeros_like"](lp), lp)

        def supervised():
            lp = self.backend.log_prob(fn, labels)
            return ops["where"](observed, lp, ops["zeros_like"](lp))

        self.factors.append(Factor(name, unlabelled, node.plates))
        self.ruled_out.append(Factor(name, lambda: ruled_out(ops, value, labels, observed, self.backend.log_prob(
            fn, value)), node.plates))
        self.supervised.append(Factor(name, supervised, node.plates))
        return value
