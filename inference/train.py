"""``fit``: from a model, data and an objective name to a fitted model.

With ``valid=``, :class:`_Validation` scores held-out rows between epochs
(the figure :func:`validation_metric` picks), keeps the best parameters and
stops early after ``patience`` rounds without improvement; the engine's loop
calls it and writes its state into the training checkpoint.
"""

from __future__ import annotations

import json

import numpy as np

from gendsl.errors import DataError, ObjectiveError, TrainingError

from . import objectives
from ._data import as_data
from .checkpoint import _digest
from .elbo import ELBO, _chain_bound
from .engines import _rows, _Stop, make_engine
from .fitted import Fitted, _plain
from .optim import Adam

__all__ = ["fit", "as_data", "validation_metric"]


def fit(model, data, objective="mle", backend: str = "pyro", epochs: int = 100, batch_size: int = 128,
        lr: float = 1e-3, seed: int = 0, device=None, progress=None, dtype: str = "float32",
        init: dict | None = None, callback=None, checkpoint=None, checkpoint_every: int = 1,
        resume: bool = False, ema: float | None = None, lr_schedule: str = "constant", warmup: int = 0,
        weight_decay: float = 0.0, clip_norm: float | None = None, compile: bool = False, valid=None,
        valid_every: int = 1, patience: int | None = None, **options) -> Fitted:
    """Trains ``model`` on ``data``.

    Args:
        model: a :class:`gendsl.Model`.
        data: an array (the model's one observed site) or ``{site: array}``;
            rows first. NaN entries of factorised sites are marginalised.
        objective: a registered name (``"mle"``, ...) or an instance.
        backend: ``"pyro"`` or ``"numpyro"``.
        epochs: passes over the data (the most, with ``patience``).
        batch_size: rows per Adam step.
        lr: Adam's (peak) learning rate.
        seed: seeds initialisation, batch order and sampling.
        device: ``"cpu"``/``"cuda"`` for Pyro; JAX's default device otherwise.
            On the CPU, Pyro's training and the fit's queries flush subnormal
            floats to zero, as XLA does (an IWAE-50 step at initialisation runs 1.6-1.8x faster);
            the caller's PyTorch setting is restored afterwards.
        progress: show a progress bar (default: when attached to a terminal).
        dtype: ``"float32"`` or ``"float64"``.
        init: starting parameters ``{name: array}`` (default: ``model.init_params(seed)``).
        callback: ``callback(epoch, get_params, history)`` after every epoch.
        checkpoint: a file to write the full training state to every
            ``checkpoint_every`` epochs, atomically (an interrupted run loses at
            most the epochs since).
        resume: continue from ``checkpoint`` when it exists; ``epochs`` is the
            total, so the result equals one uninterrupted run with the same seed.
        ema: keep an exponential moving average of the parameters with this
            decay (e.g. 0.999; warmed up as ``min(ema, (1 + n) / (10 + n))`` at
            step ``n``) and return it instead of the last iterate, as diffusion
            models and GANs are usually sampled. ``None`` (default): no average.
        lr_schedule: ``"constant"`` (default), ``"cosine"`` or ``"linear"``
            decay from ``lr`` to 0 over the whole run (``epochs`` x batches).
        warmup: steps of linear learning-rate warm-up from 0 to ``lr``.
        weight_decay: decoupled weight decay (AdamW) on the unconstrained
            parameters, e.g. ``1e-4``; 0 (default) is plain Adam.
        clip_norm: clip the gradient to this global L2 norm (``None``: no clipping).
        compile: Pyro backend: compile the training loss with ``torch.compile``
            (the interpreter's Python runs once, at compilation, not every
            step; an MNIST VAE's step then costs what a hand-written compiled
            one does). Pays a compilation of seconds to a minute at the first
            step; a step of an epoch's last, shorter batch runs eagerly. The
            run is reproducible and resumes exactly; Gaussian draws equal the
            eager step's, others (diffusion steps, corruption) differ. Not for
            adversarial objectives. NumPyro steps are always compiled (``jax.jit``).
        valid: held-out rows, in the form and with the sites of ``data``,
            scored after every ``valid_every``-th epoch (between epochs, never
            inside a step) by the model's own held-out figure, larger is
            better (:func:`validation_metric`: mean ``log_prob``, the ELBO, or
            minus the training loss). The fit then returns the parameters of
            the best round, not the last epoch's (epochs after the last round
            are not scored, so make ``epochs`` a multiple of ``valid_every``),
            and ``history`` records the curve (see Returns). The training
            itself is unchanged: the same batches, draws and losses.
        valid_every: epochs per validation round (default 1).
        patience: stop after this many validation rounds in a row without a
            better score (``None``, the default: train every epoch).
        **options: the objective's options (``k=5``, ``beta=4.0``, ...).

    Returns:
        A :class:`gendsl.inference.Fitted`, with the best round's parameters
        when ``valid`` is given. Its ``history`` holds ``epoch_loss`` and
        ``step_loss`` and, with ``valid``: ``valid_metric`` (``"log_prob"``,
        ``"elbo"`` or ``"loss"``), ``valid`` (the score of each round),
        ``valid_epoch`` (the epochs, counted from 1, after which each round
        ran), ``best_epoch`` (the round whose parameters are returned;
        ``None`` while no score was finite) and ``stopped_epoch`` (the epoch
        at which ``patience`` ended training, or ``None``).

    Raises:
        TrainingError: the loss became NaN or infinite; ``err.fitted`` holds
            the parameters from the end of the last good epoch.
        DataError: ``valid`` does not fit the training data's sites.
    """
    epochs, batch_size, lr, seed = int(epochs), int(batch_size), float(lr), int(seed)
    if not isinstance(compile, bool):
        raise ValueError(f"fit: compile is True (compile the training loss) or False; got {compile!r}")
    if ema is not None and not 0.0 < float(ema) < 1.0:
        raise ValueError(f"fit: ema is the average's decay and must lie in (0, 1), e.g. 0.999; got {ema!r}")
    _check_validation_options(valid, valid_every, patience)
    obj = objectives.get(objective, **options)
    data = as_data(model, data)
    obj.check(model, data)
    engine = make_engine(model, backend, dtype, device)
    missing = engine.lowered.check_data(data)
    steps = epochs * -(-_rows(data, engine.lowered) // max(batch_size, 1))
    optim = Adam(lr, schedule=lr_schedule, total_steps=steps, warmup=int(warmup), weight_decay=float(weight_decay),
                 clip_norm=None if clip_norm is None else float(clip_norm))
    validation = None if valid is None else _Validation(
        engine, obj, optim, data, _valid_data(model, engine, data, valid), int(valid_every), patience, seed, dtype,
        device)
    start = init if init is not None else model.init_params(seed)
    run = json.loads(json.dumps({
        "model": model.name, "hyper": model.hyper, "objective": obj.name, "objective_options": obj.options(),
        "backend": backend, "dtype": dtype, "seed": seed, "batch_size": batch_size, "lr": lr,
        "ema": None if ema is None else float(ema), **optim.options(),
        # (None without valid=: a checkpoint that kept a best round is not resumed as one that did not)
        "valid": None if validation is None else validation.record(),
    }, default=_plain))
    try:
        params, history = engine.train(obj, data, missing, epochs, batch_size, optim, seed, start, progress, callback,
                                       checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                                       run=run, ema=None if ema is None else float(ema), compile=compile,
                                       validation=validation)
    except _Stop as stop:
        kept = engine.with_population_statistics(stop.params, data, seed)
        fitted = Fitted(model, backend, kept, stop.history, obj, dtype, device)
        because = "" if stop.diagnosis is None else f" because {stop.diagnosis}"
        err = TrainingError(
            f"training {model.name!r} with {obj.name!r} stopped in epoch {stop.epoch}: the loss became "
            f"NaN or infinite{because}. The parameters from the end of the last good epoch are kept in err.fitted. "
            f"Try a smaller lr (now {lr}), dtype='float64', or check the data for extreme values"
        )
        err.fitted = fitted
        raise err from None
    if validation is not None and validation.best is not None:
        params = validation.best  # scored as returned: population statistics already set
    else:  # batch-normalising transforms trained on batch statistics are evaluated with the population's
        params = engine.with_population_statistics(params, data, seed)
    return Fitted(model, backend, params, history, obj, dtype, device)


# -- validation -------------------------------------------------------------------------------------------

def validation_metric(model, objective, data_sites) -> str:
    """The held-out figure ``fit(valid=...)`` maximises for ``model``, chosen
    by what the model and objective can score:

    - ``"log_prob"``: the mean per-row exact log-likelihood
      (:meth:`Fitted.log_prob <gendsl.inference.Fitted.log_prob>`), when
      objective ``mle`` accepts the model (observed sites with a density,
      every latent observed or summed out exactly: Bayesian networks,
      autoregressive models, flows);
    - ``"elbo"``: the mean per-row ELBO (:meth:`Fitted.elbo
      <gendsl.inference.Fitted.elbo>`: ``beta = 1``, one particle, the same
      draws every round) for latent models with a guide and for diffusion
      chains (their variational bound), whichever objective trains them;
    - ``"loss"``: otherwise (no density: a GAN's Delta, a denoising
      autoencoder), minus the training objective on the held-out rows,
      averaged over rows with fixed draws; for a game (several players, each
      minimising its own loss) the first player's (the critic's) loss
      against fresh samples, which the generator is playing to raise.

    Args:
        model: a :class:`gendsl.Model`.
        objective: the training objective (an instance).
        data_sites: the sites the data gives.
    """
    sites = list(data_sites)
    try:
        objectives.get("mle").check(model, sites)
        return "log_prob"
    except ObjectiveError:
        pass
    if model.guide_ir is not None or _chain_bound(model, sites):
        try:
            ELBO().check(model, sites)
            return "elbo"
        except ObjectiveError:
            pass
    return "loss"


def _check_validation_options(valid, valid_every, patience) -> None:
    if isinstance(valid_every, bool) or not isinstance(valid_every, (int, np.integer)) or valid_every < 1:
        raise ValueError(f"fit: valid_every counts epochs per validation round and must be an integer >= 1; "
                         f"got {valid_every!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, (int, np.integer))
                                 or patience < 1):
        raise ValueError(f"fit: patience counts validation rounds without improvement and must be an integer "
                         f">= 1 (or None: never stop early); got {patience!r}")
    if valid is None and patience is not None:
        raise ValueError(f"fit: patience={patience!r} stops on the held-out score, which needs held-out rows: "
                         f"pass valid=X_val")


def _valid_data(model, engine, data: dict, valid) -> dict:
    """``valid`` as ``{site: array}``, checked against the training data: the
    same sites, rows of the same shape, and data the model's sites accept."""
    try:
        valid = as_data(model, valid)
    except DataError as e:
        raise DataError(f"fit: valid= (the held-out rows) {e}") from None
    extra, absent = sorted(set(valid) - set(data)), sorted(set(data) - set(valid))
    if extra or absent:
        what = "; ".join(part for part in (f"it gives {extra}, which the training data does not" if extra else "",
                                           f"it lacks {absent}" if absent else "") if part)
        raise DataError(f"fit: valid= must give the sites the training data gives ({sorted(data)}) to be scored "
                        f"like them: {what}")
    for name, value in valid.items():
        if value.ndim != data[name].ndim or value.shape[1:] != data[name].shape[1:]:
            raise DataError(f"fit: valid= rows of site {name!r} have shape {tuple(value.shape[1:])} (data shape "
                            f"{tuple(value.shape)}), but the training rows of {name!r} have shape "
                            f"{tuple(data[name].shape[1:])}; pass held-out rows of the same shape")
    try:
        engine.lowered.check_data({k: v.copy() for k, v in valid.items()})
        rows = _rows(valid, engine.lowered)
    except DataError as e:
        raise DataError(f"fit: valid= (the held-out rows): {e}") from None
    if rows < 1:
        raise DataError(f"fit: valid= has no rows (site shapes {[tuple(v.shape) for v in valid.values()]})")
    return valid


class _Validation:
    """``fit(valid=...)``'s rounds, called by the engine between epochs:
    scores the held-out rows, keeps the best parameters, counts the rounds
    since they last improved, and says when ``patience`` is spent.

    Its state (the best parameters, their score and epoch, the rounds without
    improvement, whether training stopped) travels in the training
    checkpoint, so a resumed run ends as the uninterrupted one: :meth:`state`
    and :meth:`arrays` are written with the stepper's state and
    :meth:`restore` reads them back.

    Attributes:
        best: the best round's parameters (NumPy, as a fit returns them), or ``None``.
        stopped: ``patience`` rounds passed without improvement.
    """

    PREFIX = "valid/best/"  # the best parameters' arrays in the checkpoint

    def __init__(self, engine, objective, optim, data, valid, every, patience, seed, dtype, device):
        model = engine.model
        self.metric = validation_metric(model, objective, list(data))
        self.engine, self.valid, self.every, self.patience, self.seed = engine, valid, every, patience, seed
        self.rows = _rows(valid, engine.lowered)
        # one scorer on the training engine: its compiled queries are reused round after round
        self.probe = Fitted(model, engine.backend.name, {}, None, objective, dtype, device)
        self.probe._engine = engine
        players = objective.players(engine.lowered, optim) if self.metric == "loss" else [None]
        self.player, self.sign = players[0], 1.0 if len(players) > 1 else -1.0
        self.best, self.best_score, self.best_epoch, self.since, self.stopped = None, None, None, 0, False

    def record(self) -> dict:
        """What identifies these rounds in the run's checkpoint header (checked on resume)."""
        return {"metric": self.metric, "every": self.every, "patience": self.patience, "rows": self.rows,
                "sha256": _digest(self.valid)}

    def start(self, history: dict) -> None:
        """Adds the (empty) validation entries to a fresh run's history."""
        history.update(valid_metric=self.metric, valid=[], valid_epoch=[], best_epoch=None, stopped_epoch=None)

    def due(self, epoch: int) -> bool:
        """Whether a round follows epoch ``epoch`` (counted from 0)."""
        return (epoch + 1) % self.every == 0

    def observe(self, epoch: int, params: dict, history: dict) -> bool:
        """Scores ``params`` (NumPy, as a fit would return them) after epoch
        ``epoch`` and records the round in ``history``; whether to stop."""
        score = self.score(params)
        history["valid"].append(score)
        history["valid_epoch"].append(epoch + 1)
        if np.isfinite(score) and (self.best_score is None or score > self.best_score):
            best = {k: np.array(v, copy=True) for k, v in params.items()}  # a callback may change params
            self.best, self.best_score, self.best_epoch, self.since = best, score, epoch + 1, 0
        else:
            self.since += 1
        self.stopped = self.patience is not None and self.since >= self.patience
        history["best_epoch"] = self.best_epoch
        history["stopped_epoch"] = epoch + 1 if self.stopped else None
        return self.stopped

    def score(self, params: dict) -> float:
        """The held-out figure of ``params`` (see :func:`validation_metric`); larger is better."""
        probe = self.probe
        probe.params = {k: np.asarray(v) for k, v in params.items()}
        with self.engine._private_rng():  # the training run's random stream goes on untouched
            if self.metric == "log_prob":
                return float(np.mean(probe.log_prob(self.valid)))
            if self.metric == "elbo":
                return float(np.mean(probe.elbo(self.valid, seed=self.seed)))
            return self.sign * self._loss(probe)

    def _loss(self, probe, chunk: int = 1000) -> float:
        """The first player's loss over the held-out rows, ``chunk`` rows at a time, weighted by rows."""
        eng, total = self.engine, 0.0
        params = eng.params_in(probe.params)
        for i, start in enumerate(range(0, self.rows, chunk)):
            part = {k: v[start:start + chunk] for k, v in self.valid.items()}
            batch, missing = probe._prepare(part)
            loss = eng.held_out_loss(self.player, params, batch, missing, self.rows, self.seed * 100003 + i)
            total += float(probe._np(loss)) * _rows(part, eng.lowered)
        return total / self.rows

    def state(self) -> dict:
        """The checkpoint header's record of the rounds so far (JSON)."""
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "since": self.since,
                "stopped": self.stopped}

    def arrays(self) -> dict:
        """The best parameters, as checkpoint arrays (float64, exactly as returned)."""
        return {} if self.best is None else {self.PREFIX + k: v for k, v in self.best.items()}

    def restore(self, state: dict, arrays: dict) -> None:
        """Takes up the rounds from a checkpoint's :meth:`state` and :meth:`arrays`."""
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.since, self.stopped = int(state["since"]), bool(state["stopped"])
        best = {k[len(self.PREFIX):]: np.asarray(v) for k, v in arrays.items() if k.startswith(self.PREFIX)}
        self.best = best if self.best_epoch is not None else None
