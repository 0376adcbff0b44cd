"""``fit``: from a model, data and an objective name to a fitted model."""

from __future__ import annotations

import json

from gendsl.errors import TrainingError

from . import objectives
from ._data import as_data
from .engines import _rows, _Stop, make_engine
from .fitted import Fitted, _plain
from .optim import Adam

__all__ = ["fit", "as_data"]


def fit(model, data, objective="mle", backend: str = "pyro", epochs: int = 100, batch_size: int = 128,
        lr: float = 1e-3, seed: int = 0, device=None, progress=None, dtype: str = "float32",
        init: dict | None = None, callback=None, checkpoint=None, checkpoint_every: int = 1,
        resume: bool = False, ema: float | None = None, lr_schedule: str = "constant", warmup: int = 0,
        weight_decay: float = 0.0, clip_norm: float | None = None, compile: bool = False, **options) -> Fitted:
    """Trains ``model`` on ``data``.

    Args:
        model: a :class:`gendsl.Model`.
        data: an array (the model's one observed site) or ``{site: array}``;
            rows first. NaN entries of factorised sites are marginalised.
        objective: a registered name (``"mle"``, ...) or an instance.
        backend: ``"pyro"`` or ``"numpyro"``.
        epochs: passes over the data.
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
        **options: the objective's options (``k=5``, ``beta=4.0``, ...).

    Returns:
        A :class:`gendsl.inference.Fitted`.

    Raises:
        TrainingError: the loss became NaN or infinite; ``err.fitted`` holds
            the parameters from the end of the last good epoch.
    """
    epochs, batch_size, lr, seed = int(epochs), int(batch_size), float(lr), int(seed)
    if not isinstance(compile, bool):
        raise ValueError(f"fit: compile is True (compile the training loss) or False; got {compile!r}")
    if ema is not None and not 0.0 < float(ema) < 1.0:
        raise ValueError(f"fit: ema is the average's decay and must lie in (0, 1), e.g. 0.999; got {ema!r}")
    obj = objectives.get(objective, **options)
    data = as_data(model, data)
    obj.check(model, data)
    engine = make_engine(model, backend, dtype, device)
    missing = engine.lowered.check_data(data)
    steps = epochs * -(-_rows(data, engine.lowered) // max(batch_size, 1))
    optim = Adam(lr, schedule=lr_schedule, total_steps=steps, warmup=int(warmup), weight_decay=float(weight_decay),
                 clip_norm=None if clip_norm is None else float(clip_norm))
    start = init if init is not None else model.init_params(seed)
    run = json.loads(json.dumps({
        "model": model.name, "hyper": model.hyper, "objective": obj.name, "objective_options": obj.options(),
        "backend": backend, "dtype": dtype, "seed": seed, "batch_size": batch_size, "lr": lr,
        "ema": None if ema is None else float(ema), **optim.options(),
    }, default=_plain))
    try:
        params, history = engine.train(obj, data, missing, epochs, batch_size, optim, seed, start, progress, callback,
                                       checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                                       run=run, ema=None if ema is None else float(ema), compile=compile)
    except _Stop as stop:
        kept = engine.with_population_statistics(stop.params, data, seed)
        fitted = Fitted(model, backend, kept, stop.history, obj, dtype, device)
        err = TrainingError(
            f"training {model.name!r} with {obj.name!r} stopped in epoch {stop.epoch}: the loss became "
            f"NaN or infinite. The parameters from the end of the last good epoch are kept in err.fitted. "
            f"Try a smaller lr (now {lr}), dtype='float64', or check the data for extreme values"
        )
        err.fitted = fitted
        raise err from None
    # batch-normalising transforms trained on batch statistics are evaluated with the population's
    params = engine.with_population_statistics(params, data, seed)
    return Fitted(model, backend, params, history, obj, dtype, device)
