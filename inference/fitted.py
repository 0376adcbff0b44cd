"""A trained model: parameters plus the queries a user asks of them.

Every answer comes back as NumPy, whatever the backend.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings

import numpy as np
from scipy.special import logsumexp, softmax

from gendsl.dist import FAMILIES
from gendsl.errors import GendslError, ObjectiveError, SiteError

from ._data import as_data, given_values, support_size
from .checkpoint import atomic_savez

__all__ = ["Fitted", "load"]


class Fitted:
    """A model with trained parameters on one backend.

    Attributes:
        model: the :class:`gendsl.Model`.
        backend: ``"pyro"`` or ``"numpyro"``.
        params: ``{name: NumPy array}`` of constrained parameter values; from
            ``fit(valid=...)``, those of the best validation round.
        history: ``{"epoch_loss": [...], "step_loss": [...]}`` and, from
            ``fit(valid=...)``, ``valid_metric``, ``valid`` (each round's
            held-out score), ``valid_epoch`` (the epochs, from 1, after which
            they ran), ``best_epoch`` (the round ``params`` come from) and
            ``stopped_epoch`` (where ``patience`` ended training, or ``None``).
        objective: the objective it was trained with.
    """

    def __init__(self, model, backend, params, history=None, objective=None, dtype="float32", device=None):
        self.model = model
        self.backend = backend
        self.params = {k: np.asarray(v) for k, v in params.items()}
        self.history = history or {"epoch_loss": [], "step_loss": []}
        self.objective = objective
        self.dtype = dtype
        self.device = device
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from .engines import make_engine

            self._engine = make_engine(self.model, self.backend, self.dtype, self.device)
        return self._engine

    def __repr__(self) -> str:
        return f"<Fitted {self.model!r} on {self.backend}, {len(self.params)} params>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.model._repr_mimebundle_(include, exclude)

    # -- helpers ------------------------------------------------------------------------
    def _prepare(self, data, require_observed=True):
        data = as_data(self.model, data)
        missing = self.engine.lowered.check_data(data, require_observed=require_observed)
        eng = self.engine
        return eng.put_data(data), {k: eng.put(m, "bool") for k, m in missing.items()}

    def _np(self, x):
        return np.asarray(self.engine.backend.to_numpy(x), dtype=np.float64)

    def _no_grad(self):
        return self.engine._no_grad()

    # -- queries ----------------------------------------------------------------------------
    def log_prob(self, data, batch_size: int = 1000) -> np.ndarray:
        """Exact log-likelihood of each row, discrete latents summed out.

        Terms outside the row plate (global sites) are not included. Rows are
        scored ``batch_size`` at a time (a NADE on MNIST holds ``batch x 784 x
        hidden`` numbers while it scores).
        """
        data = as_data(self.model, data)
        self._check_exact(data)
        params = self.engine.params_in(self.params)
        if self.engine.lowered.row is None:  # no row plate: one joint term, scored whole
            batch, missing = self._prepare(data)
            with self._no_grad():
                return self._np(self.engine.log_prob_rows(params, batch, missing)[0])
        return self._rows_in_batches(data, lambda b, m: self.engine.log_prob_rows(params, b, m)[0], batch_size)

    def bits_per_dim(self, data) -> float:
        """``-mean(log_prob) / (d log 2)``: the average negative log-likelihood
        in bits per observed number (``d``: the observed sites' entries per row).
        For a dequantised flow, this is the usual dequantised bound; for a
        diffusion chain, its variational bound (:meth:`elbo`)."""
        data = as_data(self.model, data)
        dims = sum(int(np.prod(np.shape(v)[1:])) for v in data.values())
        rows = self.elbo(data) if self._chain_bound(data) else self.log_prob(data)
        return float(-np.mean(rows) / (dims * np.log(2)))

    def _chain_bound(self, data) -> bool:
        from .elbo import _chain_bound

        return _chain_bound(self.model, list(data))

    def _check_exact(self, data):
        from gendsl.errors import ObjectiveError

        from .objectives import get

        try:
            get("mle").check(self.model, list(data))
        except ObjectiveError as e:
            implicit = [s.name for s in self.model.ir.observed if FAMILIES[s.dist.family].density == "implicit"]
            if implicit:
                raise ObjectiveError(
                    f"log_prob needs a likelihood, but model {self.model.name!r} is implicit: it observes "
                    f"{implicit} through a Delta (a generator's output) and has no density. Compare its "
                    f"samples with data instead: gendsl.inference.metrics.mmd, sliced_wasserstein, c2st"
                ) from None
            if self._chain_bound(data):
                raise ObjectiveError(
                    f"log_prob needs an exact likelihood, but model {self.model.name!r} is a diffusion chain, "
                    f"whose likelihood has no closed form; its variational bound is elbo(data) (per row, "
                    f"nats) and bits_per_dim(data)") from None
            raise ObjectiveError(
                f"log_prob needs an exact likelihood: {e}. For latent-variable models use "
                f"log_likelihood(data, k=...) (importance sampling) or elbo(data)"
            ) from None

    def posterior(self, site: str, data, k: int = 500, seed: int = 0) -> np.ndarray:
        """Per-row posterior probabilities ``p(site = c | data)``, shape ``(N, K)``.

        Exact where every other latent is discrete (summed out). Where the
        guide draws ``site`` (M2's classifier ``q(y | x)``), the guide's
        ``q(site | data)``: the amortised approximation trained for it. In a
        model whose continuous latents have a guide (a conditional VAE's
        ``z``) and whose guide does not draw ``site``, Bayes' rule over
        ``site``'s values with each ``log p(data, site = c)``
        importance-sampled by :meth:`log_likelihood` (``k`` guide samples,
        the same draws for every ``c``): an estimate, consistent as ``k``
        grows. :meth:`posterior_method` says which of the three applies.
        For the hidden chain of a sequence site (``dist.HiddenMarkov``'s
        ``states``), the per-step marginals ``(N, T, K)``: :meth:`hidden_states`.
        """
        chain = self._hidden_chain(site)
        if chain is not None:
            return self.hidden_states(chain, data, method="marginals")
        node = self.model.ir.by_name.get(site)
        lowered = self.engine.lowered
        usable = sorted(lowered.enumerable | {s.name for s in lowered.discrete_guide_sites})
        hint = f"posterior() answers for the discrete latent sites {usable}" if usable else \
            f"model {self.model.name!r} has no discrete latent site to ask about"
        if node is None or node.kind != "sample":
            sites = [s.name for s in self.model.ir.sites]
            what = f"is a {node.kind}, not a site" if node is not None else "is not a site"
            raise SiteError(f"posterior({site!r}): model {self.model.name!r} has no site {site!r} "
                            f"(it {what}; its sites are {sites}); {hint}")
        method = self.posterior_method(site)
        if method is None:
            what = "observed" if node.observed else f"a continuous latent ({node.dist.family})"
            raise SiteError(f"posterior({site!r}): {site!r} is {what}; {hint}")
        data = {key: v for key, v in as_data(self.model, data).items() if key != site}
        if method == "guide":
            batch, missing = self._prepare(data)
            with self._no_grad():
                lq = self._np(self.engine.guide_log_probs(self.engine.params_in(self.params), batch, site))
            return softmax(lq, axis=-1)
        if method == "importance":
            return self._importance_posterior(node, data, k, seed)
        batch, missing = self._prepare(data)
        with self._no_grad():
            joint, _ = self.engine.log_prob_rows(self.engine.params_in(self.params), batch, missing, keep=(site,))
        joint = self._np(joint)
        return softmax(joint, axis=-1)

    def posterior_method(self, site: str) -> str | None:
        """How :meth:`posterior` answers for ``site``: ``"exact"`` (every other
        latent summed out), ``"guide"`` (the guide's ``q(site | data)``),
        ``"importance"`` (Bayes' rule, importance-sampled), or ``None`` (it
        cannot: ``site`` is observed or continuous)."""
        guide = self.model.guide_ir
        guided = {s.name for s in guide.sites} if guide is not None else set()
        if site in guided:
            return "guide" if FAMILIES[guide[site].dist.family].enumerable else None
        if site not in self.engine.lowered.enumerable:
            return None
        continuous = guide is not None and any(not FAMILIES[s.dist.family].enumerable for s in guide.sites)
        return "importance" if continuous else "exact"

    def _importance_posterior(self, node, data, k, seed):
        size = support_size(self.model.ir, node)
        if size is None:
            raise SiteError(f"posterior({node.name!r}): the number of values of its {node.dist.family} is not fixed "
                            f"by its arguments' shapes, so they cannot be enumerated")
        rows = len(next(iter(data.values())))
        joint = np.stack([self.log_likelihood({**data, node.name: np.full(rows, c)}, k=k, seed=seed)
                          for c in range(size)], axis=-1)
        return softmax(joint, axis=-1)

    def predict(self, site: str, data, **options) -> np.ndarray:
        """The most probable value of a discrete latent ``site`` for each row
        (``options``: :meth:`posterior`'s ``k`` and ``seed`` where it samples);
        for the hidden chain of a sequence site, its Viterbi path ``(N, T)``."""
        chain = self._hidden_chain(site)
        if chain is not None:
            return self.hidden_states(chain, data, method="viterbi")
        return np.argmax(self.posterior(site, data, **options), axis=-1)

    # -- hidden chains of sequence sites (dist.HiddenMarkov) ----------------------------------------
    def _hidden_chain(self, site: str) -> str | None:
        """The sequence site whose hidden chain is named ``site`` (``Family.hidden``), or ``None``."""
        if site in self.model.ir.by_name:
            return None
        for s in self.model.ir.sites:
            hidden = FAMILIES[s.dist.family].hidden
            if hidden is not None and hidden(s.dist) == site:
                return s.name
        return None

    def hidden_states(self, site: str, data, method: str = "viterbi") -> np.ndarray:
        """The hidden states of sequence site ``site`` given its data, exactly.

        Args:
            site: a site with a hidden discrete chain (``dist.HiddenMarkov``).
            method: ``"viterbi"``: the most probable state path ``(N, T)``
                (max-product); ``"marginals"``: ``p(z_t = k | x)``, ``(N, T, K)``
                (forward-backward). Padded (NaN) steps give -1 / NaN.
        """
        node = self.model.ir.by_name.get(site)
        if node is None or node.kind != "sample" or FAMILIES[node.dist.family].hidden is None:
            chains = [s.name for s in self.model.ir.sites if FAMILIES[s.dist.family].hidden is not None]
            raise SiteError(f"hidden_states({site!r}): model {self.model.name!r} has no sequence site {site!r} "
                            f"with hidden states; its sites with a hidden chain are {chains}")
        if method not in ("viterbi", "marginals"):
            raise ValueError(f"hidden_states: method must be 'viterbi' or 'marginals', got {method!r}")
        batch, _ = self._prepare(data)
        eng = self.engine
        with self._no_grad():
            out = eng.hidden_states(eng.params_in(self.params), batch, site, method)
        out = np.asarray(eng.backend.to_numpy(out))
        return out.astype(np.int64) if method == "viterbi" else out.astype(np.float64)

    def sample(self, n: int, seed: int = 0, given: dict | None = None, **options) -> dict:
        """``n`` ancestral samples: ``{site: array}`` for every site and deterministic node.

        Args:
            given: ``{site: value}`` to clamp: one value (a class label, a
                latent vector) broadcast to all ``n`` rows, or an array of ``n``
                rows; every other site is drawn ancestrally given them (a
                class-conditional model's ``x`` given its ``y``). A given
                site's sampled ancestors must be given too (clamping a site
                does not infer its causes: use ``posterior``/``encode``).
            options: for a diffusion chain, its sampler: ``sampler="ancestral"``
                (the default; ``variance="beta"`` or ``"posterior"``) or
                ``sampler="ddim"`` with ``steps=`` (default 50, or every step
                of a shorter chain) and ``eta=``
                (default 0, deterministic); ``clip=(low, high)`` keeps a
                real-valued chain's estimate of ``x_0`` in that box at every
                step (numbers, or one per coordinate), as image chains do
                with ``[-1, 1]``. For a denoising autoencoder,
                ``steps=`` of Bengio et al.'s chain (default 100).
        """
        eng = self.engine
        if options:
            chains = [s for s in self.model.ir.sites if FAMILIES[s.dist.family].query_aware]
            if not chains:
                raise GendslError(f"sample options {sorted(options)} choose a chain's sampler (a diffusion chain or "
                                  f"a denoising autoencoder), but model {self.model.name!r} has neither")
            for site in chains:
                options = FAMILIES[site.dist.family].check_query(site.dist, options)
        needs = given or self.model.ir.covariates  # covariates are required, given or not
        clamped = given_values(self.model.ir, given or {}, int(n)) if needs else None
        with self._no_grad():
            values = eng.sample(eng.params_in(self.params), int(n), seed, options,
                                given=eng.put_data(clamped) if clamped else None)
        values = {k: np.asarray(eng.backend.to_numpy(v)) for k, v in values.items()}
        for site, value in values.items():
            if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
                bad = int(np.sum(~np.isfinite(value.reshape(len(value), -1)).all(axis=1))) if value.ndim else 1
                warnings.warn(f"sample: {bad} of {n} rows of {site!r} are not finite (NaN or inf): the sampler "
                              f"diverged there (for a diffusion chain, where the network extrapolates far from the "
                              f"training data); keep the finite rows with np.isfinite(x).all(axis=1), or train "
                              f"longer", RuntimeWarning, stacklevel=2)
        return values

    def discriminate(self, data, batch_size: int = 1000) -> np.ndarray:
        """The discriminator's score of each row (a GAN's logit or critic value), shape ``(N,)``."""
        from gendsl.errors import ModelError

        if self.model.discriminator_ir is None:
            raise ModelError(f"discriminate: model {self.model.name!r} has no discriminator; attach one with "
                             f"@{self.model.name}.discriminator")
        lowered, params = self.engine.lowered, self.engine.params_in(self.params)
        return self._rows_in_batches(data, lambda batch, missing: lowered.discriminate(params, batch), batch_size)

    # -- latent-variable queries ------------------------------------------------------------
    def _rows_in_batches(self, data, fn, batch_size):
        """Runs ``fn(backend_batch, backend_missing)`` over row batches; NumPy out."""
        data = as_data(self.model, data)
        n = len(next(iter(data.values())))
        out = []
        for start in range(0, n, batch_size):
            part = {k: v[start:start + batch_size] for k, v in data.items()}
            batch, missing = self._prepare(part)
            with self._no_grad():
                out.append(self._np(fn(batch, missing)))
        return np.concatenate(out, axis=-1)

    def elbo(self, data, num_particles: int = 1, seed: int = 0, batch_size: int = 1000,
             analytic_kl: bool = True) -> np.ndarray:
        """Per-row ELBO estimate (closed-form KL where available, unless ``analytic_kl=False``).
        Discrete guide sites are summed over exactly; rows whose data give them use the label."""
        from .elbo import ELBO

        objective = ELBO(num_particles=num_particles, analytic_kl=analytic_kl)
        objective.check(self.model, [s.name for s in self.model.ir.observed])
        params = self.engine.params_in(self.params)
        return self._rows_in_batches(
            data, lambda b, m: self.engine.elbo_rows(objective, params, b, m, seed), batch_size)

    def log_likelihood(self, data, k: int = 5000, seed: int = 0, batch_size: int = 100,
                       particle_batch: int = 500) -> np.ndarray:
        """Importance-sampled ``log p(x)`` per row with ``k`` guide samples:
        ``log (1/k) sum_i p(x, z_i) / q(z_i | x)``, computed in chunks of
        ``particle_batch`` particles and ``batch_size`` rows so k=5000 fits in memory.

        In a model with global latents (guide sites outside the row plate, such
        as a Bayesian regression's weights ``w``) each row's figure is its
        posterior predictive ``log p(x_n | training data) ~ log (1/k) sum_i
        p(x_n | w_i)`` with ``w_i ~ q(w)``, the guide standing in for the
        posterior (local latents are weighed given each ``w_i``); the priors'
        ``log p(w) - log q(w)`` is not part of any row.

        References:
            Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, §5.
        """
        from .elbo import IWAE

        IWAE(k=1).check(self.model, [s.name for s in self.model.ir.observed])
        point = [s.name for s in self.model.guide_ir.sites if FAMILIES[s.dist.family].point_mass]
        if point:
            raise ObjectiveError(
                f"log_likelihood(k=) samples the guide of model {self.model.name!r}, but its site(s) {point} are "
                f"point masses ({', '.join(sorted({self.model.guide_ir[n].dist.family for n in point}))}): every "
                f"particle is the same, so the estimate stays at the ELBO for any k. Use fit.elbo(x), a bound on "
                f"log p(x)"
            )
        params = self.engine.params_in(self.params)

        def rows(batch, missing):
            chunks = []
            for i, start in enumerate(range(0, k, particle_batch)):
                size = min(particle_batch, k - start)
                chunks.append(self._np(self.engine.log_weights(params, batch, missing, size, seed * 100003 + i)))
            logw = np.concatenate(chunks, axis=0)  # (k, rows)
            return logsumexp(logw, axis=0) - np.log(k)

        return self._rows_in_batches(data, rows, batch_size)

    def encode(self, data) -> np.ndarray | dict:
        """The guide's mean of the latent site(s): an array if there is one
        latent, else a dict. For a flow (no guide), the base-space value
        ``z = t_1^-1(... t_n^-1(x))`` of its observed site."""
        if not self.engine.lowered.coded_sites:
            self._need_guide("encode")
        batch, _ = self._prepare(data)
        with self._no_grad():
            means = self.engine.encode(self.engine.params_in(self.params), batch)
        means = {k: self._np(v) for k, v in means.items()}
        return next(iter(means.values())) if len(means) == 1 else means

    def decode(self, latents) -> np.ndarray | dict:
        """The mean of the observed site(s) given latent values (an array for a
        model with one latent site, else a dict ``{site: array}``). For a
        flow: its observed site pushed forward from base-space values."""
        if not isinstance(latents, dict):
            guided = [s.name for s in self.model.guide_ir.sites] if self.model.guide_ir else \
                [s.name for s in self.model.ir.latent] or list(self.engine.lowered.coded_sites)
            if len(guided) != 1:
                raise SiteError(f"decode: model {self.model.name!r} has latents {guided}; pass a dict")
            latents = {guided[0]: latents}
        latents = {k: np.asarray(v, dtype=np.float64) for k, v in latents.items()}
        n = len(next(iter(latents.values())))
        eng = self.engine
        with self._no_grad():
            means = eng.decode(eng.params_in(self.params), eng.put_data(latents), n)
        means = {k: self._np(v) for k, v in means.items()}
        return next(iter(means.values())) if len(means) == 1 else means

    def reconstruct(self, data):
        """``decode(encode(data))``: the mean reconstruction of each row."""
        return self.decode(self.encode(data))

    def interpolate(self, x1, x2, steps: int = 8):
        """Decodes ``steps`` points on the straight line between the encodings
        of two rows; returns ``(steps,) + x shape``."""
        z1, z2 = self.encode(np.asarray(x1)[None]), self.encode(np.asarray(x2)[None])
        t = np.linspace(0.0, 1.0, steps)[:, None]
        return self.decode(z1 + t * (z2 - z1))

    def _need_guide(self, what):
        if self.model.guide_ir is None:
            raise SiteError(f"{what}() needs a guide; model {self.model.name!r} has none")

    def impute(self, data, site: str | None = None) -> np.ndarray:
        """Fills NaN entries of an observed site with their conditional mean
        ``E[x_missing | x_observed]`` under the model (latents summed out).
        """
        data = as_data(self.model, data)
        if site is None:
            site = next((k for k, v in data.items() if np.isnan(v).any()), next(iter(data)))
        filled = data[site].copy()
        nan = np.isnan(filled)
        if not nan.any():
            return filled
        batch, missing = self._prepare(data)
        with self._no_grad():
            mean = self.engine.expected_value(self.engine.params_in(self.params), batch, missing, site)
        filled[nan] = self._np(mean)[nan]
        return filled

    # -- moving and saving --------------------------------------------------------------------
    def to(self, backend: str) -> "Fitted":
        """The same fitted model on another backend (same parameter values)."""
        return Fitted(self.model, backend, self.params, self.history, self.objective, self.dtype,
                      None if backend != self.backend else self.device)

    def save(self, path) -> str:
        """Writes parameters, history and the model's recipe to ``path`` (``.npz``), atomically."""
        path = os.fspath(path)
        factory = self.model.factory
        meta = {
            "format": "gendsl-fit/1",
            "model": f"{factory.fn.__module__}:{factory.fn.__qualname__}",
            "hyper": self.model.hyper,
            "auto_guide": self.model.auto_guide,
            "backend": self.backend,
            "dtype": self.dtype,
            "objective": getattr(self.objective, "name", None),
            "objective_options": self.objective.options() if self.objective is not None else {},
            "history": self.history,
        }
        arrays = {f"param:{k}": v for k, v in self.params.items()}
        atomic_savez(path, __meta__=np.array(json.dumps(meta, default=_plain)), **arrays)
        return path


def _plain(value):
    """JSON for NumPy scalars and arrays in hyper-parameters, options and history."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def load(path, model=None) -> Fitted:
    """Reads a fit written by :meth:`Fitted.save`.

    Args:
        model: the model factory, needed when it cannot be imported by its
            recorded ``module:name`` (models defined in ``__main__`` or a notebook).
    """
    try:
        with open(os.fspath(path), "rb") as fh, np.load(fh, allow_pickle=False) as f:
            meta = json.loads(str(f["__meta__"]))
            params = {k[len("param:"):]: f[k] for k in f.files if k.startswith("param:")}
    except (OSError, ValueError, KeyError) as e:
        raise GendslError(f"{path!s} is not a readable gendsl fit ({e}); was it written by fit.save()?") from None
    if model is None:
        module, _, qualname = meta["model"].partition(":")
        try:
            model = importlib.import_module(module)
            for part in qualname.split("."):
                model = getattr(model, part)
        except (ImportError, AttributeError):
            raise GendslError(
                f"cannot import the model {meta['model']!r} recorded in {path!s}; pass it: "
                f"gd.load(path, model=my_model)"
            ) from None
    from . import objectives

    # JSON has no tuples: hyper-parameters given as tuples come back as lists
    hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["hyper"].items()}
    bound = model(**hyper)
    if meta.get("auto_guide"):
        bound = bound.with_guide(meta["auto_guide"])
    objective = objectives.get(meta["objective"], **meta["objective_options"]) if meta["objective"] else None
    return Fitted(bound, meta["backend"], params, meta["history"], objective, meta["dtype"])
