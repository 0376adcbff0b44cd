"""A model lowered onto one backend: scoring, exact marginals, sampling.

:class:`Lowered` is the fast path that training and queries use. It runs the
same lowering as the plain Pyro/NumPyro programs, with gendsl's own handlers
instead of the PPL's, so the numbers agree while a training step does no more
than the arithmetic (no trace data structures, no host synchronisation).
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from ..dist import FAMILIES
from .. import ir
from ..errors import DataError, ModelError, non_numeric_data
from ..params import param_constraints
from ..shapes import format_shape
from .enum import eliminate, row_plate
from .handlers import GuideHandler, SampleHandler, ScoreHandler
from .interpret import Context, lower, lower_dist, run

__all__ = ["Lowered"]

# A value inside each support, written where data are missing (then masked).
_FILL = {"positive": 1.0, "unit_interval": 0.5}


class Lowered:
    """A model (and its guide) lowered onto ``backend``.

    Attributes:
        model: the :class:`gendsl.Model`.
        backend: the :class:`gendsl.backends.Backend`.
        row: the row plate's name, or ``None``.
        enumerable: latent sites summed out exactly when scoring.
    """

    def __init__(self, model, backend, dtype=None):
        self.model = model
        self.backend = backend
        self.dtype = dtype  # the backend's float dtype spec for constants
        self.program = model.ir
        self.steps = lower(model.ir, backend)
        self.guide_steps = lower(model.guide_ir, backend) if model.guide_ir is not None else None
        disc = getattr(model, "discriminator_ir", None)
        self.discriminator_steps = lower(disc, backend) if disc is not None else None
        self.row = row_plate(model.ir)
        self.constraints = param_constraints(model)
        guided = {s.name for s in model.guide_ir.sites} if model.guide_ir is not None else set()
        self.enumerable = frozenset(
            s.name for s in model.ir.latent
            if s.name not in guided
            and FAMILIES[s.dist.family].enumerable
            and s.infer.get("enumerate", "parallel") == "parallel"
        )
        self.max_plate_nesting = model.ir.max_plate_nesting

    # -- parameters -------------------------------------------------------------------
    def constrain(self, uparams: dict) -> dict:
        """Unconstrained -> constrained values, with the backend's bijections."""
        b, cons = self.backend, self.constraints
        return {k: (u if cons[k] == "real" else b.constrain(cons[k], u)) for k, u in uparams.items()}

    def unconstrain(self, params: dict) -> dict:
        b, cons = self.backend, self.constraints
        return {k: (x if cons[k] == "real" else b.unconstrain(cons[k], x)) for k, x in params.items()}

    # -- plate sizes --------------------------------------------------------------------
    def sizes(self, data: dict, n: int | None = None) -> dict:
        """Plate sizes for a run: fixed ones, data-sized ones from ``data``, else ``n``."""
        out = {}
        for plate in self.program.plates.values():
            if plate.size is not None:
                out[plate.name] = plate.size
                continue
            size = None
            for site in self.program.sites:
                if site.name in data and plate.name in site.plates:
                    shape = data[site.name].shape
                    axis = len(shape) - len(site.event_shape) + plate.dim
                    if 0 <= axis < len(shape):
                        size = shape[axis]
                        break
            out[plate.name] = n if size is None else size
            if out[plate.name] is None:
                raise DataError(f"plate {plate.name!r} takes its size from data, but no data for its sites were given")
        return out

    def context(self, params: dict, data: dict, handler, n=None, dtype=None) -> Context:
        return Context(env={}, sizes=self.sizes(data, n), params=params, handler=handler,
                       dtype=dtype or self.dtype, enumerable=self.enumerable)

    # -- scoring ------------------------------------------------------------------------------
    def score(self, params: dict, data: dict, latents=None, missing=None, dtype=None,
              particles: bool = False, training=False, enum_offset: int = 0) -> ScoreHandler:
        """Runs the model once, scoring ``data`` (and ``latents``).

        Args:
            missing: site -> boolean backend array, True where observed; the
                site's missing entries are marginalised (masked elementwise).
            training: ``False``, or a training step's random stream.
            enum_offset: enumeration axes already taken (by a guide's
                enumerated sites): the model's own start left of them.
        """
        elementwise = {}
        for name, observed in (missing or {}).items():
            node = self.program[name]
            elementwise[name] = (lower_dist(node.dist, self.backend, skip_to_event=True),
                                 observed, node.dist.reinterpreted)
        first_enum = -(self.max_plate_nesting + 1 + int(particles) + enum_offset)
        handler = ScoreHandler(self.backend, data, latents, first_enum, elementwise)
        ctx = self.context(params, data, handler, dtype=dtype)
        ctx.training = training
        run(self.steps, ctx)
        handler.sizes = ctx.sizes
        return handler

    def log_prob_rows(self, params, data, missing=None, keep=(), dtype=None, training=False):
        """Exact per-row log-likelihood, discrete latents summed out.

        Args:
            training: ``False``, or a training step's random stream (see
                :class:`gendsl.backends.interpret.Context`).

        Returns:
            ``(rows, global_logp)``: rows of shape ``(N,)`` (or ``(N, K)`` with
            one kept site), and the log-prob of sites outside the row plate.
        """
        h = self.score(params, data, missing=missing, dtype=dtype, training=training)
        return self.reduce_rows(h, h.factors, keep)

    def reduce_rows(self, handler, factors, keep=()):
        """``factors`` of a scored run, enumerated latents summed out: ``(rows, global_logp)``."""
        rank = self.max_plate_nesting + len(handler.enum_dims)
        enum_vars = {v: (d, self.program[v].plates) for v, d in handler.enum_dims.items()}
        rows, glob = eliminate(self.backend, factors, enum_vars, self.program.plates, handler.sizes,
                               self.row, rank, keep)
        if rows is None:
            return None, glob
        return self._rows(rows, keep, handler, rank), glob

    def _rows(self, rows, keep, handler, rank):
        ops = self.backend.ops
        if self.row is None:
            return ops["reshape"](ops["sum"](rows), (1,))
        row_axis = rank + self.program.plates[self.row].dim
        kept = [rank + handler.enum_dims[v] for v in keep]
        others = [a for a in range(rank) if a != row_axis and a not in kept]
        n = handler.sizes[self.row]
        rows = ops["transpose"](rows, tuple(others + [row_axis] + kept))
        k_shape = tuple(rows.shape[rank - len(kept):])
        rows = ops["reshape"](rows, (-1,) + k_shape)
        if rows.shape[0] != n:  # nothing varied by row: every row alike
            rows = self.backend.broadcast_to(rows, (n,) + k_shape)
        return rows

    def expected_value(self, params, data, missing, site: str):
        """``E[site | data]`` per row, shape ``(N,) + event_shape``: the site's
        conditional mean averaged over the posterior of the row's enumerated
        latents (used to impute missing entries)."""
        ops, node = self.backend.ops, self.program[site]
        h = self.score(params, data, missing=missing)
        rank = self.max_plate_nesting + len(h.enum_dims)
        n_event = len(node.event_shape)
        mean = self.backend.mean(h.dists[site], node.dist.family)
        mean = ops["reshape"](mean, (1,) * (rank + n_event - mean.ndim) + tuple(mean.shape))
        keep = tuple(v for v in h.enum_dims if self.row in self.program[v].plates)
        if keep:
            enum_vars = {v: (d, self.program[v].plates) for v, d in h.enum_dims.items()}
            joint, _ = eliminate(self.backend, h.factors, enum_vars, self.program.plates, h.sizes,
                                 self.row, rank, keep)
            axes = tuple(rank + h.enum_dims[v] for v in keep)
            post = ops["exp"](joint - ops["logsumexp"](joint, axis=axes, keepdims=True))
            post = ops["reshape"](post, tuple(post.shape) + (1,) * n_event)
            mean = ops["sum"](post * mean, axis=axes, keepdims=True)
        n = h.sizes[self.row]
        row_axis = rank + self.program.plates[self.row].dim
        mean = ops["reshape"](mean, tuple(mean.shape[row_axis:]))
        return self.backend.broadcast_to(mean, (n,) + tuple(node.event_shape))

    # -- guides and importance weights ---------------------------------------------------------
    def run_guide(self, params, data, k: int, rng, missing=None) -> GuideHandler:
        """Draws ``k`` particles from the guide for each row of ``data``
        (discrete guide sites enumerated; their labels, where ``data`` has
        them, taken as given: see :class:`GuideHandler`)."""
        if self.guide_steps is None:
            raise ModelError(f"model {self.program.name!r} has no guide; attach one with @{self.program.name}.guide")
        inputs = {name: data[name] for name in self.model.guide_ir.inputs}
        labels = {s.name: data[s.name] for s in self.discrete_guide_sites if s.name in data}
        observed = {name: (missing or {})[name] for name in labels if name in (missing or {})}
        handler = GuideHandler(self.backend, rng, inputs, k, self.max_plate_nesting, labels, observed)
        ctx = self.context(params, data, handler)
        run(self.guide_steps, ctx)
        handler.sizes = ctx.sizes
        return handler

    def guide_log_probs(self, params, data, site: str):
        """``log q(site = c | data)`` of a discrete guide site, shape ``(N, K)``
        (the guide's classifier; sites before it drawn once)."""
        data = {name: v for name, v in data.items() if name != site}
        guide = self.run_guide(params, data, 1, self.backend.rng(0))
        dim = guide.enum_dims[site]
        lp = next(f.log_prob for f in guide.factors if f.name == site)
        rank = -dim
        k = guide.values[site].shape[0]
        axes = [self.program.plates[self.row], ir.Plate("__values__", k, dim)]
        return self._on_axes(_padded(self.backend.ops, lp, rank), rank, axes, (guide.sizes[self.row], k))

    @property
    def discrete_guide_sites(self) -> tuple:
        """The guide's discrete sites (enumerated when guided)."""
        guide = self.model.guide_ir
        return () if guide is None else tuple(s for s in guide.sites if FAMILIES[s.dist.family].enumerable)

    def particle_terms(self, params, data, k: int, rng, missing=None):
        """Scores ``k`` guide particles per row under model and guide.

        Returns:
            ``(model, guide)`` handlers; their factors carry the particle axis
            (and the axes of enumerated guide sites, left of it).
        """
        guide = self.run_guide(params, data, k, rng, missing)
        if guide.enum_dims:  # their values come from the guide, labels and all
            data = {name: v for name, v in data.items() if name not in guide.enum_dims}
            missing = {name: v for name, v in (missing or {}).items() if name not in guide.enum_dims}
        model = self.score(params, data, latents=guide.values, missing=missing, particles=True,
                           enum_offset=len(guide.enum_dims))
        return model, guide

    def reduce_particles(self, model_factors, guide_factors, enum_dims, sizes, k: int, guide=None,
                         expectation=True):
        """Per-particle ``log p(x, z) - log q(z | x)``, enumerated latents summed out.

        With enumerated guide sites (``guide``'s ``enum_dims``) each value
        ``c`` of them gets its own term, and they are combined per row: with
        ``expectation``, ``sum_c q(c | x) [log p(x, c, z_c) - log q(z_c, c | x)]``
        (the ELBO's ``E_q``, exact over ``c``); without, ``log sum_c p(x, c,
        z_c) / q(z_c | x, c)``, the stratified importance weight (unbiased for
        ``p(x)``; ``log q(c | x)`` drops out). A labelled row keeps its
        label's term only.

        Returns:
            ``(rows, glob)``: the terms inside the row plate, shape ``(k, N)``,
            and those outside it (global latents), shape ``(k,)`` — per
            particle, never summed over particles — or ``None`` where no term
            lies outside the row plate.
        """
        mpn = self.max_plate_nesting
        particle = ir.Plate("__particles__", k, -(mpn + 1))
        plates = {**self.program.plates, particle.name: particle}
        sizes = {**sizes, particle.name: k}
        guide_enum = dict(guide.enum_dims) if guide is not None else {}
        rank = mpn + 1 + len(guide_enum) + len(enum_dims)
        enum_vars = {v: (d, self.program[v].plates + (particle.name,)) for v, d in enum_dims.items()}
        enum_vars.update({v: (d, self.model.guide_ir[v].plates + (particle.name,)) for v, d in guide_enum.items()})
        factors = [(f.name, f.log_prob, tuple(f.plates) + (particle.name,)) for f in model_factors]
        factors += [(f.name, -f.log_prob, tuple(f.plates) + (particle.name,)) for f in guide_factors
                    if expectation or f.name not in guide_enum]
        in_rows = [f for f in factors if self.row is None or self.row in f[2]]
        outside = [f for f in factors if self.row is not None and self.row not in f[2]]
        n = sizes[self.row] if self.row else 1
        target = (self.row, particle.name) if self.row else (particle.name,)
        rows, _ = eliminate(self.backend, in_rows, enum_vars, plates, sizes, target, rank, keep=tuple(guide_enum))
        if guide_enum:
            rows = self._over_guide_values(rows, guide, rank, expectation)
        rows = self._on_axes(rows, rank, [particle] + ([plates[self.row]] if self.row else []), (k, n))
        if not outside:
            return rows, None
        glob, _ = eliminate(self.backend, outside, enum_vars, plates, sizes, (particle.name,), rank)
        return rows, self._on_axes(glob, rank, [particle], (k,))

    def supervised_rows(self, guide, sizes):
        """Per row, ``log q(label | x)`` of the discrete guide sites the row's data
        label (0 on unlabelled rows), shape ``(N,)``; ``None`` without labels."""
        if guide is None or not guide.supervised or self.row is None:
            return None
        ops, mpn = self.backend.ops, self.max_plate_nesting
        total = _padded(ops, functools.reduce(operator.add, [f.log_prob for f in guide.supervised]), mpn)
        if total.ndim > mpn:  # a label's q given particles of the sites before it: their average
            total = ops["mean"](total, axis=tuple(range(total.ndim - mpn)))
        return self._on_axes(total, mpn, [self.program.plates[self.row]], (sizes[self.row],))

    def _over_guide_values(self, rows, guide, rank, expectation):
        """Combines the per-value terms of enumerated guide sites (see :meth:`reduce_particles`)."""
        ops = self.backend.ops
        axes = tuple(rank + d for d in guide.enum_dims.values())
        log_w = 0.0
        for f in guide.ruled_out:
            log_w = log_w + f.log_prob
        if not expectation:
            return ops["logsumexp"](rows + _padded(ops, log_w, rank), axis=axes, keepdims=True)
        for f in guide.factors:  # q's own log-probs (guide_factors may be rescaled)
            if f.name in guide.enum_dims:
                log_w = log_w + f.log_prob
        # a ruled-out value weighs exp(-inf) = 0 and its term is finite: no nan
        return ops["sum"](ops["exp"](_padded(ops, log_w, rank)) * rows, axis=axes, keepdims=True)

    def _on_axes(self, tensor, rank, axes_plates, shape):
        """Moves the given plates' axes last, drops the size-1 rest: ``shape``."""
        ops = self.backend.ops
        if tensor is None:
            return self.backend.broadcast_to(self.backend.asarray(0.0, like=self.dtype), shape)
        keep = [rank + p.dim for p in axes_plates]
        order = [a for a in range(rank) if a not in keep] + keep
        if order != sorted(order):
            tensor = ops["transpose"](tensor, tuple(order))
        if len(keep) < rank:
            tensor = ops["reshape"](tensor, tuple(tensor.shape[rank - len(keep):]))
        return tensor if tuple(tensor.shape) == shape else self.backend.broadcast_to(tensor, shape)

    def score_guide(self, params, data, values: dict, k: int) -> ScoreHandler:
        """``log q`` of given guide ``values`` (particles drawn earlier), the guide
        run with ``params`` as given (stopped ones, for DReG)."""
        inputs = {name: data[name] for name in self.model.guide_ir.inputs}
        handler = ScoreHandler(self.backend, inputs, values, -(self.max_plate_nesting + 1 + int(k > 1)),
                               enumerate=False)
        ctx = self.context(params, data, handler)
        run(self.guide_steps, ctx)
        return handler

    def log_weights(self, params, data, k: int, rng, missing=None):
        """Importance log-weights ``log p(x, z_i) - log q(z_i | x)``, shape ``(k, N)``."""
        model, guide = self.particle_terms(params, data, k, rng, missing)
        return self.reduce_particles(model.factors, guide.factors, model.enum_dims, model.sizes, k, guide,
                                     expectation=False)

    @property
    def coded_sites(self) -> tuple:
        """Observed sites with a code but no guide (``Family.encode``): flows,
        possibly dequantised, and denoising autoencoders."""
        return tuple(s.name for s in self.program.observed if FAMILIES[s.dist.family].coded)

    def encode(self, params, data) -> dict:
        """The guide's mean of every latent site, ``{site: (N,) + event}``;
        for a flow without a guide, each flow site's base-space value ``z``."""
        if self.model.guide_ir is None and self.coded_sites:
            handler = SampleHandler(self.backend, self.backend.rng(None), data)
            run(self.steps, self.context(params, data, handler))
            return {name: self._code(name, "encode")(self.backend, self.program[name].dist, handler.dists[name],
                                                     data[name]) for name in self.coded_sites}
        guide = self.run_guide(params, data, 1, self.backend.rng(None))  # means only: any stream will do
        guide_ir = self.model.guide_ir
        return {name: self.backend.mean(d, guide_ir[name].dist.family) for name, d in guide.dists.items()}

    def decode(self, params, latents: dict, n: int) -> dict:
        """The mean of every observed site given ``latents`` (one row each);
        for a flow, ``latents`` are base-space values of its flow sites."""
        flows = self.coded_sites
        if flows and set(latents) <= set(flows):
            handler = SampleHandler(self.backend, self.backend.rng(None), latents)
            run(self.steps, self.context(params, latents, handler, n=n))
            return {name: self._code(name, "decode")(self.backend, self.program[name].dist, handler.dists[name], z)
                    for name, z in latents.items()}
        handler = SampleHandler(self.backend, self.backend.rng(None), latents)  # means only
        ctx = self.context(params, latents, handler, n=n)
        run(self.steps, ctx)
        return {s.name: self.backend.mean(handler.dists[s.name], s.dist.family) for s in self.program.observed}

    def site_distribution(self, params, data, site: str):
        """The backend distribution of observed ``site`` given ``data`` (one row each)."""
        handler = SampleHandler(self.backend, self.backend.rng(None), data)
        run(self.steps, self.context(params, data, handler))
        return handler.dists[site]

    def _code(self, site, way):
        family = FAMILIES[self.program[site].dist.family]
        return family.encode if way == "encode" else family.decode

    # -- batch-statistics transforms ------------------------------------------------------------
    @property
    def batch_statistics_transforms(self) -> tuple:
        """Names of the model's transforms that normalise by batch statistics (``transforms.BatchNorm``)."""
        return tuple(n.name for n in self.program.nets if getattr(n.spec, "batch_statistics", False))

    def population_statistics(self, params, data: dict, rng) -> dict:
        """``{name: (mean, var)}``: each batch-statistics transform's input
        statistics over ``data`` (all rows in one pass), the transforms
        applied in the density pass's order, each normalising by the
        statistics it has just measured (Ioffe & Szegedy's inference procedure)."""
        collected: dict = {}
        handler = ScoreHandler(self.backend, data, None, -(self.max_plate_nesting + 1), {})
        ctx = self.context(params, data, handler)
        ctx.training, ctx.statistics = rng, collected
        run(self.steps, ctx)
        for factor in handler.factors:  # scoring is lazy: a flow's transforms run when its log-prob is read
            factor.log_prob
        return collected

    # -- implicit models (GANs) -------------------------------------------------------------------
    @property
    def implicit_sites(self) -> tuple:
        """Observed sites with no density: a generator's output seen through a ``Delta``."""
        return tuple(s.name for s in self.program.observed if FAMILIES[s.dist.family].density == "implicit")

    @property
    def discriminator_params(self) -> frozenset:
        """Names of the discriminator's parameters (its networks' weights and its ``gd.param``s)."""
        disc = self.model.discriminator_ir
        if disc is None:
            return frozenset()
        names = {p.name for p in disc.params}
        for net in disc.nets:
            names.update(f"{net.name}.{k}" for k in net.spec.param_shapes())
        return frozenset(names)

    def generate(self, params, batch: dict, rng) -> dict:
        """The generator's implicit sites for as many rows as ``batch`` has,
        conditioned on ``batch``'s other sites (labels); differentiable in the
        generator's parameters (reparameterised draws)."""
        implicit = self.implicit_sites
        given = {k: v for k, v in batch.items() if k not in implicit}
        n = next(iter(batch.values())).shape[0]
        values = self.sample(params, n, rng, data=given)
        return {**given, **{k: values[k] for k in implicit}}

    def discriminate(self, params, values: dict):
        """The discriminator's score of every row of ``values`` (site -> array), shape ``(N,)``."""
        if self.discriminator_steps is None:
            name = self.program.name
            raise ModelError(f"model {name!r} has no discriminator; attach one with @{name}.discriminator")
        inputs = {name: values[name] for name in self.model.discriminator_ir.inputs}
        handler = SampleHandler(self.backend, self.backend.rng(None), inputs)
        ctx = self.context(params, inputs, handler)
        run(self.discriminator_steps, ctx)
        score = ctx.env[ir.SCORE]
        n = next(iter(inputs.values())).shape[0]
        return self.backend.ops["reshape"](score, (n,))

    # -- sampling ---------------------------------------------------------------------------------
    def sample(self, params, n: int, rng, data=None, dtype=None, options=None) -> dict:
        """Ancestral samples of every site (and deterministic node), ``n`` rows.

        Args:
            options: query options for chains that take them (a diffusion
                chain's sampler; see ``Fitted.sample``).
        """
        handler = SampleHandler(self.backend, rng, data)
        ctx = self.context(params, data or {}, handler, n=n, dtype=dtype)
        ctx.options = dict(options or {})
        run(self.steps, ctx)
        return handler.values

    # -- data checks (before training, on NumPy arrays) ------------------------------------------------
    def check_data(self, data: dict, require_observed=True) -> dict:
        """Validates data against the sites and splits off missing entries.

        Returns:
            site -> boolean NumPy mask (True where observed) for sites with NaN.
        """
        program, sites = self.program, {s.name: s for s in self.program.sites + self.program.covariates}
        for name in data:
            if name not in sites:
                covariates = f" and covariates {[c.name for c in program.covariates]}" if program.covariates else ""
                raise DataError(
                    f"data has key {name!r} but model {program.name!r} has no site of that name; "
                    f"its sites are {sorted(s.name for s in program.sites)}{covariates}"
                )
        needed = [c.name for c in program.covariates if c.name not in data]
        if needed:
            raise DataError(f"model {program.name!r} takes covariate(s) {needed} (gd.covariate): every query needs "
                            f"their data, one row per row of the other sites; pass them in the data dict")
        if require_observed:
            missing_sites = [s.name for s in program.observed if s.name not in data]
            if missing_sites:
                raise DataError(f"model {program.name!r} observes {missing_sites}: pass data for them")
        rows = None
        masks = {}
        for name, value in data.items():
            node = sites[name]
            if isinstance(node, ir.Covariate):
                rows = self._check_covariate(node, value, rows)
                continue
            if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
                raise non_numeric_data(name, value.dtype, family=node.dist.family)
            shape = _expected_shape(node, value)
            if tuple(value.shape) != shape:
                raise DataError(
                    f"data for site {name!r} has shape {tuple(value.shape)} but the site's shape is "
                    f"{format_shape(node.shape)} (rows first, then {format_shape(node.event_shape)} per row)"
                    + _resize_hint(self.model, node, value)
                )
            if self.row in node.plates:
                n = value.shape[len(value.shape) - len(node.event_shape) + program.plates[self.row].dim]
                if rows is not None and n != rows:
                    raise DataError(f"data sites disagree on the number of rows ({rows} vs {n} for {name!r})")
                rows = n
            if np.issubdtype(value.dtype, np.floating) and np.isnan(value).any():
                mask = self._missing(node, value)
                if mask is not None:
                    masks[name] = mask
        return masks

    def _check_covariate(self, node, value, rows):
        """Checks a covariate's data (shape, no NaN); returns the rows seen so far."""
        shape = _expected_shape(node, value)
        if tuple(value.shape) != shape:
            raise DataError(f"data for covariate {node.name!r} has shape {tuple(value.shape)} but its shape is "
                            f"{format_shape(node.shape)} (rows first, then {format_shape(node.event_shape)} per row)")
        if np.issubdtype(value.dtype, np.floating) and np.isnan(value).any():
            raise DataError(f"covariate {node.name!r} has missing values (NaN); a covariate is not modelled, so "
                            f"gendsl cannot marginalise it: impute or drop those rows")
        if self.row in node.plates:
            n = value.shape[len(value.shape) - len(node.event_shape) + self.program.plates[self.row].dim]
            if rows is not None and n != rows:
                raise DataError(f"data sites disagree on the number of rows ({rows} vs {n} for {node.name!r})")
            rows = n
        return rows

    def _missing(self, node, value):
        family = FAMILIES[node.dist.family]
        if family.padded:  # NaN steps pad a sequence; the family leaves them out itself
            return None
        if family.missing is not None:
            raise DataError(f"site {node.name!r} is {family.missing}; impute or drop those rows")
        base_event = len(node.event_shape) - node.dist.reinterpreted
        if base_event != 0 or family.support in ("interval",):
            raise DataError(
                f"site {node.name!r} has missing values (NaN), but its {node.dist.family} is not a "
                f"product of scalar distributions (write it with .to_event) so gendsl cannot "
                f"marginalise single entries; impute or drop those rows"
            )
        observed = ~np.isnan(value)
        value[~observed] = _FILL.get(family.support, 0.0)
        return observed


def _padded(ops, x, rank):
    if not hasattr(x, "ndim"):  # a plain 0.0: no term
        return x
    return ops["reshape"](x, (1,) * (rank - x.ndim) + tuple(x.shape)) if x.ndim < rank else x


def _expected_shape(node, value) -> tuple:
    """The site's shape with data-sized axes taken from ``value``."""
    if value.ndim != len(node.shape):
        return tuple(node.shape)
    return tuple(v if hasattr(s, "plate") else s for s, v in zip(node.shape, value.shape))


def _resize_hint(model, node, value) -> str:
    """``"; for these data build the model with gendsl.models.vae(x_dim=64)"`` when the size hyper-parameter of the
    model (``x_dim``) is the site's last axis and the data's last axis differs."""
    hyper = getattr(model, "hyper", {})
    if not node.event_shape or value.ndim < 1 or "x_dim" not in hyper:
        return ""
    if node.event_shape[-1] != hyper["x_dim"] or value.shape[-1] == hyper["x_dim"]:
        return ""
    others = ", ".join(f"{k}={v!r}" for k, v in hyper.items() if k != "x_dim" and v != model.factory.defaults.get(k))
    call = ", ".join(filter(None, [f"x_dim={value.shape[-1]}", others]))
    where = "gendsl.models." if model.factory.fn.__module__.startswith("gendsl.models") else ""
    return f"; for these data build the model with {where}{model.name}({call})"
