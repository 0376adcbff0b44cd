"""Engines: a lowered model on one device, with its optimiser loop.

Two engines share one interface: :class:`TorchEngine` (Pyro backend, eager
PyTorch with ``torch.optim.Adam``) and :class:`JaxEngine` (NumPyro backend,
``jax.jit``-compiled updates with ``optax.adam``). Each has one stepper, which
runs the players an objective lists (:meth:`Objective.players
<gendsl.inference.objectives.Objective.players>`: one by default, a GAN's
discriminator and generator): on each minibatch the players due take their
steps in turn, each with its own optimiser over its own parameters. Both keep
the data on the device, draw minibatch orders from the same NumPy generator
(so a seed gives the same batches on both) and read the losses back once per
epoch, not per step, so no step waits on the host.
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
import warnings

import numpy as np

from gendsl.backends import get_backend
from gendsl.backends.program import Lowered
from gendsl.errors import DataError, GendslError

from . import diagnose
from .checkpoint import load_checkpoint, save_checkpoint
from .optim import Adam

__all__ = ["make_engine", "Engine", "TorchEngine", "JaxEngine"]


class Engine:
    """A model lowered onto a backend, plus device placement and training.

    Attributes:
        backend: the :class:`gendsl.backends.Backend`.
        lowered: the :class:`gendsl.backends.program.Lowered` model.
        dtype: ``"float32"`` or ``"float64"``.
    """

    def __init__(self, model, backend_name: str, dtype: str = "float32", device=None):
        if dtype not in ("float32", "float64"):
            raise GendslError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.model = model
        self.backend = get_backend(backend_name)
        self.dtype = dtype
        self.device = device
        self.lowered = Lowered(model, self.backend, self._dtype_spec())

    # -- per backend ------------------------------------------------------------------------------
    def _dtype_spec(self):
        raise NotImplementedError

    def put(self, x: np.ndarray, kind: str = "real"):
        """A NumPy array as a backend array on this engine's device."""
        return self.backend.asarray(x, kind, like=self.lowered.dtype)

    def put_data(self, data: dict) -> dict:
        sites = self.model.ir.by_name
        return {k: self.put(v, "int" if sites[k].dtype == "int" else "real") for k, v in data.items()}

    def params_in(self, params: dict) -> dict:
        """NumPy constrained params -> backend arrays."""
        return {k: self.put(v) for k, v in params.items()}

    def params_out(self, params: dict) -> dict:
        return {k: np.asarray(self.backend.to_numpy(v), dtype=np.float64) for k, v in params.items()}

    def stepper(self, objective, data, missing, optim, seed, params, ema=None, compile=False):
        """The optimiser states and training step of ``objective``'s players
        (keeping an exponential moving average of the parameters when ``ema``
        is a decay); ``optim`` is an :class:`~gendsl.inference.optim.Adam` or
        a constant learning rate. ``compile``: compile the loss (PyTorch's
        ``torch.compile``, for a one-player objective; a JAX step is always
        compiled)."""
        players = objective.players(self.lowered, Adam.of(optim))
        return self._stepper(objective, players, data, missing, seed, params, ema, compile)

    def _stepper(self, objective, players, data, missing, seed, params, ema, compile):
        """This engine's stepper over ``players`` (see :meth:`stepper`)."""
        raise NotImplementedError

    def train(self, objective, data, missing, epochs, batch_size, optim, seed, params, progress, callback=None,
              checkpoint=None, checkpoint_every=1, resume=False, run=None, ema=None, compile=False, validation=None):
        """Minibatch epochs; the loss is read back once per epoch.

        Args:
            checkpoint: path of a checkpoint written (atomically) every
                ``checkpoint_every`` epochs and after the last one.
            resume: continue from ``checkpoint`` if it exists: parameters,
                optimiser, random states and history, so the result equals an
                uninterrupted run.
            run: header fields identifying the run (checked on resume).
            ema: the decay of a moving average of the parameters, which is
                then what snapshots, callbacks and the result hold.
            compile: compile the training loss (see :meth:`stepper`).
            validation: ``fit(valid=...)``'s rounds (``train._Validation``),
                run between epochs when ``validation.due(epoch)``, on the
                parameters as a fit would return them; training stops when
                it says so. Its state is written into each checkpoint (header
                and arrays, in the one atomic write) and restored on resume.

        Returns:
            ``(params, history)``, the last epoch's parameters (the best
            round's are ``validation.best``); raises ``_Stop`` on a non-finite loss.
        """
        with self._numerics():
            diagnose.check_start(self, params, data, seed)  # first-step validation: once, on the host
            return self._train(objective, data, missing, epochs, batch_size, optim, seed, params, progress, callback,
                               checkpoint, checkpoint_every, resume, run, ema, compile, validation)

    def _train(self, objective, data, missing, epochs, batch_size, optim, seed, params, progress, callback,
               checkpoint, checkpoint_every, resume, run, ema, compile=False, validation=None):
        stepper = self.stepper(objective, data, missing, optim, seed, params, ema, compile)
        rng = np.random.default_rng(seed)
        n = _rows(data, self.lowered)
        history = {"epoch_loss": [], "step_loss": []}
        if validation is not None:
            validation.start(history)
        first = 0
        if resume and checkpoint is not None and os.path.exists(checkpoint):
            header, arrays = load_checkpoint(checkpoint, expect=run)
            if validation is not None:  # its header entry and arrays, beside the stepper's
                validation.restore(header["valid_state"], arrays)
                arrays = {k: v for k, v in arrays.items() if not k.startswith(validation.PREFIX)}
            stepper.restore(arrays)
            rng.bit_generator.state = header["batch_rng"]
            history, first = header["history"], header["epoch"] + 1
            if validation is not None and validation.stopped:  # patience ended that run: nothing is left
                first = max(first, epochs)
        bar = _epoch_bar(epochs, progress, f"{self.model.name} [{self.backend.name}]")
        bar.update(first)
        start = stepper.snapshot()
        for epoch in range(first, epochs):
            previous_start, start = start, stepper.snapshot()
            for idx in _batches(n, batch_size, rng):
                stepper.step(idx)
            losses = stepper.read()  # {player: its losses this epoch}, the one host read per epoch
            if not all(np.all(np.isfinite(v)) for v in losses.values()):
                good = _last_good(next(iter(losses.values())), start, previous_start)
                halt = _Stop(epoch, stepper.params(good), history)
                # which site's arguments left their support, if any did: fit's error says so
                halt.diagnosis = diagnose.non_finite(self, stepper.params(stepper.snapshot()), halt.params, data, seed)
                raise halt
            _record(history, losses)
            bar.update(1)
            # the parameters as a fit would return them (population statistics set), computed once if asked for
            current = functools.cache(lambda: self.with_population_statistics(stepper.params(stepper.snapshot()),
                                                                              data, seed))
            stop = validation is not None and validation.due(epoch) and validation.observe(epoch, current(), history)
            _postfix(bar, history)
            if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs or stop):
                header = {**(run or {}), "epoch": epoch, "history": history,
                          "batch_rng": rng.bit_generator.state}
                arrays = stepper.state()
                if validation is not None:
                    header["valid_state"], arrays = validation.state(), {**arrays, **validation.arrays()}
                save_checkpoint(checkpoint, header, arrays)
            if callback is not None:
                callback(epoch, current, history)
            if stop:
                break
        bar.close()
        return stepper.params(stepper.snapshot()), history

    def with_population_statistics(self, params: dict, data: dict, seed: int, max_rows: int = 20_000) -> dict:
        """``params`` (NumPy) with every batch-statistics transform's stored
        mean and log-variance set from one pass over ``data`` (at most
        ``max_rows`` rows, drawn at random). Unchanged without such transforms."""
        lowered = self.lowered
        if not lowered.batch_statistics_transforms:
            return params
        n = _rows(data, lowered)
        rows = np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False)) if n > max_rows else slice(None)
        part = self.put_data({k: v[rows] for k, v in data.items()})
        with self._no_grad(), self._private_rng():
            stats = lowered.population_statistics(self.params_in(params), part, self.backend.rng(seed))
        out = dict(params)
        for name, (mean, var) in stats.items():
            out[f"{name}.mean"] = np.asarray(self.backend.to_numpy(mean), dtype=np.float64)
            out[f"{name}.log_var"] = np.log(np.asarray(self.backend.to_numpy(var), dtype=np.float64))
        return out

    def _no_grad(self):
        """The context queries run in (no autograd graph; the engine's numerics)."""
        return contextlib.nullcontext()

    def _numerics(self):
        """The context training and queries compute in."""
        return contextlib.nullcontext()

    def _private_rng(self):
        """A context in which seeding the backend leaves the caller's random state alone."""
        return contextlib.nullcontext()

    # -- queries (the JAX engine compiles them) ---------------------------------------------------
    def log_prob_rows(self, params, data, missing, keep=()):
        return self.lowered.log_prob_rows(params, data, missing, keep=keep)

    def expected_value(self, params, data, missing, site):
        return self.lowered.expected_value(params, data, missing, site)

    def sample(self, params, n, seed, options=None, given=None):
        with self._private_rng():
            return self.lowered.sample(params, n, self.backend.rng(seed), data=given, options=options)

    def log_weights(self, params, data, missing, k, seed):
        with self._private_rng():
            return self.lowered.log_weights(params, data, k, self.backend.rng(seed), missing)[0]

    def guide_log_probs(self, params, data, site):
        with self._private_rng():
            return self.lowered.guide_log_probs(params, data, site)

    def elbo_rows(self, objective, params, data, missing, seed):
        with self._private_rng():
            return objective.rows(self.lowered, params, data, missing, self.backend.rng(seed))[0]

    def held_out_loss(self, player, params, data, missing, n_total, seed):
        """``player``'s loss (an :class:`~gendsl.inference.optim.Player`) on
        held-out rows, its draws seeded by ``seed``: ``fit(valid=...)``'s
        figure for a model with no density. Nothing is trained; autograd stays
        on for a gradient penalty's inner gradient."""
        with self._private_rng():
            return player.loss(self.lowered, params, data, missing, n_total, self.backend.rng(seed))

    def hidden_states(self, params, data, site, method):
        """The Viterbi path or per-step marginals of ``site``'s hidden chain (``Family.hidden``)."""
        impl = self.backend.implementation(self.lowered.site_distribution(params, data, site))
        return impl.viterbi(data[site]) if method == "viterbi" else impl.marginals(data[site])

    def encode(self, params, data):
        return self.lowered.encode(params, data)

    def decode(self, params, latents, n):
        return self.lowered.decode(params, latents, n)


@contextlib.contextmanager
def flush_subnormals():
    """PyTorch's CPU arithmetic with subnormal floats flushed to zero, as XLA's is.

    Subnormals (below 1.2e-38 in float32) arise in training, for instance as
    the gradients through IWAE particles whose normalised weights are tiny,
    and cost x86 CPUs dozens of cycles an operation: flushing them made an
    IWAE-50 step on binarised MNIST 1.6-1.8x faster at initialisation
    (bench/RESULTS.md) and changes values only below that threshold. The
    caller's setting is restored after.
    """
    import torch

    if _flushing(torch) or not torch.set_flush_denormal(True):  # already on, or a CPU without the mode
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _flushing(torch) -> bool:
    """Whether PyTorch's CPU arithmetic flushes subnormals now (it has no getter)."""
    return float(torch.tensor([1e-40], dtype=torch.float32).mul(1.0)) == 0.0


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


class _Stop(Exception):
    diagnosis = None  # why the loss is not finite, when inference.diagnose can say (a message), else None

    def __init__(self, epoch, params, history):
        self.epoch, self.params, self.history = epoch, params, history


def _last_good(step_losses, start, previous_start):
    """The newest parameters whose loss was computed and finite.

    Each step's loss scores the parameters *before* that step, so the start of
    this epoch is known good only if this epoch's first loss (the first
    player's) is finite; otherwise fall back to the start of the previous
    epoch (its first loss was finite, or training would have stopped there).
    """
    return start if step_losses.size and np.isfinite(step_losses[0]) else previous_start


def _record(history: dict, losses: dict) -> None:
    """Adds one epoch's losses to ``history``: the first player's as
    ``step_loss``/``epoch_loss``, each other's as ``{name}_step_loss`` and
    ``{name}_epoch_loss`` (``None`` for an epoch in which it never stepped,
    as a generator in an epoch shorter than ``n_critic`` minibatches)."""
    for i, (name, values) in enumerate(losses.items()):
        prefix = f"{name}_" if i else ""
        history.setdefault(f"{prefix}step_loss", []).extend(values.tolist())
        history.setdefault(f"{prefix}epoch_loss", []).append(float(values.mean()) if values.size else None)


def _postfix(bar, history: dict) -> None:
    """The progress bar's last epoch loss and, once there is one, last validation score."""
    shown = {}
    if history["epoch_loss"][-1] is not None:
        shown["loss"] = f"{history['epoch_loss'][-1]:.4f}"
    if history.get("valid"):
        shown["valid"] = f"{history['valid'][-1]:.4f}"
    if shown:
        bar.set_postfix(**shown)


def _epoch_bar(epochs, progress, desc):
    from tqdm.auto import tqdm

    return tqdm(total=epochs, desc=desc, unit="epoch", disable=(None if progress is None else not progress),
                leave=False, dynamic_ncols=True)


class TorchEngine(Engine):
    """Pyro backend on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""

    def _dtype_spec(self):
        import torch

        device = torch.device(self.device or "cpu")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise GendslError("device='cuda' was asked for, but PyTorch sees no CUDA device here; use device='cpu'")
        return (self.backend.float_dtype(self.dtype), device)

    def _private_rng(self):
        """Seeded queries (sampling, importance weights, population statistics)
        reseed PyTorch's global generator: fork it, so the caller's stream (a
        training run's, say) goes on as if they had not run."""
        import torch

        device = self.lowered.dtype[1]
        return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])

    def _no_grad(self):
        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        stack.enter_context(self._numerics())
        return stack

    def _numerics(self):
        return flush_subnormals()

    def _stepper(self, objective, players, data, missing, seed, params, ema, compile):
        import torch

        torch.manual_seed(seed)
        if compile and len(players) > 1:
            raise GendslError(
                f"compile=True compiles one loss per step, and the {objective.name!r} objective alternates "
                f"{_NUMBERS.get(len(players), len(players))} players' losses; train it with compile=False")
        return _TorchStepper(self, objective, players, data, missing, params, ema, compile)


_NUMBERS = {2: "two", 3: "three", 4: "four"}  # players, in words, for messages


class _Stepper:
    """What both engines' steppers share: the players, which of them are due
    on a minibatch, and their losses kept on the device until :meth:`read`.

    A subclass sets ``players``, ``owned`` (each player's parameter names,
    from :func:`_owned`), ``tags`` (each player's checkpoint prefix) and
    ``t`` (minibatches stepped), and provides ``_batch(idx)``,
    ``_update(j, t, batch)`` (one step of player ``j``, returning its loss)
    and ``_host(losses)`` (a list of device scalars as one NumPy array).
    """

    def step(self, idx):
        """One minibatch: each player due on it takes its step, in order.

        Returns:
            The first player's loss (a device scalar), ``None`` when it was not due.
        """
        batch = self._batch(idx)
        t = self.t + 1
        for j, player in enumerate(self.players):
            if player.steps_at(t):
                self.losses[player.name].append(self._update(j, t, batch))
        self.t = t
        first = self.players[0]
        return self.losses[first.name][-1] if first.steps_at(t) else None

    def read(self) -> dict:
        """Each player's losses since the last read, as NumPy arrays (read back from the device here)."""
        out = {name: self._host(values) if values else np.zeros(0) for name, values in self.losses.items()}
        self.losses = {name: [] for name in self.losses}
        return out

    def _players(self, objective, players, names) -> None:
        self.players, self.owned, self.tags = players, _owned(objective, players, names), _tags(players)
        self.t, self.losses = 0, {p.name: [] for p in players}


def _owned(objective, players, names) -> list:
    """Each player's parameter names, in the order of ``names``; refuses
    players whose names repeat, and parameters claimed twice."""
    label, who = objective.name or type(objective).__name__, [p.name for p in players]
    if len(set(who)) != len(who):
        raise GendslError(f"objective {label!r} names its players {who}: each name must be unique, since it "
                          f"names the player's history entries and its optimiser's checkpointed state")
    owned = [tuple(k for k in names if p.owns(k)) for p in players]
    shared = [k for k in names if sum(k in part for part in owned) > 1]
    if shared:
        raise GendslError(f"objective {label!r}: parameters {shared} belong to more than one of its players "
                          f"{who}; each parameter is updated by one player's optimiser (Player.params)")
    empty = [p.name for p, part in zip(players, owned) if not part]
    if empty and len(players) > 1:
        raise GendslError(f"objective {label!r}: players {empty} own none of the model's parameters "
                          f"({len(names)}, e.g. {names[:3]}); check their Player.params")
    return owned


def _tags(players) -> list:
    """The checkpoint prefix of each player's optimiser state: ``opt`` for
    the first (as a one-player run has always written it), ``opt_{name}``."""
    return ["opt"] + [f"opt_{p.name}" for p in players[1:]]


# checkpoints from before the players (a two-player stepper of their own) kept the critic
# steps under game/steps and the players' optimisers under opt_d/ (JAX) or opt/ and opt_g/
_RENAMED = (("opt_d/", "opt/"), ("opt_g/", "opt_generator/"), ("game/steps", "sched/$t"))


def _current_keys(arrays: dict) -> dict:
    """A checkpoint's arrays under today's names (renaming an older game checkpoint's)."""
    if "game/steps" not in arrays:
        return arrays
    out = {}
    for key, value in arrays.items():
        if key == "sched/$t":  # the old game's base class wrote an unused 0 here
            continue
        old, new = next(((o, n) for o, n in _RENAMED if key.startswith(o)), ("", ""))
        out[new + key[len(old):]] = value
    return out


class _TorchStepper(_Stepper):
    """Eager PyTorch over the objective's players: unconstrained leaves, and
    per player a ``torch.optim.Adam`` (``AdamW`` with weight decay) over the
    parameters it owns, whose schedule counts that player's steps; ``self.t``
    counts minibatches.

    With ``compile`` (a one-player objective), the loss (model, guide and
    objective: everything the interpreter does in Python each step) is
    compiled by ``torch.compile`` into one graph, as a hand-written
    ``torch.compile`` loop would be. The first step's batch size is the
    compiled one; before compiling, one untracked pass (no gradient,
    PyTorch's random state forked) fills the lowered program's caches of
    constants, so the graph reads them instead of building them. A step of
    another size (an epoch's last, shorter batch) runs eagerly rather than
    recompiling. ``compiled_steps`` counts the compiled ones.
    """

    def __init__(self, engine, objective, players, data, missing, params, ema=None, compile=False):
        import torch

        self.torch, self.engine, self.objective = torch, engine, objective
        self.lowered = lowered = engine.lowered
        device = lowered.dtype[1]
        self.u = {k: v.detach().clone().requires_grad_(True)
                  for k, v in lowered.unconstrain(engine.params_in(params)).items()}
        self._players(objective, players, list(self.u))
        self.opts = [p.optim.torch([self.u[k] for k in names]) for p, names in zip(players, self.owned)]
        # the others' leaves, taken out of autograd while a player steps
        self.held = [[v for k, v in self.u.items() if k not in names] for names in self.owned]
        self.full = engine.put_data(data)
        self.masks = {k: torch.as_tensor(m, device=device) for k, m in missing.items()}
        self.n, self.device, self.rng = _rows(data, lowered), device, engine.backend.rng(None)
        self.decay, self.count = ema, 0
        self.avg = None if ema is None else {k: v.detach().clone() for k, v in self.u.items()}
        self.compile, self.compiled, self.compiled_rows, self.compiled_steps = bool(compile), None, None, 0

    def _batch(self, idx):
        idx = self.torch.as_tensor(idx, device=self.device)
        return ({k: v[idx] for k, v in self.full.items()}, {k: m[idx] for k, m in self.masks.items()},
                idx.shape[0])

    def _update(self, j, t, batch):
        """One step of player ``j`` on its own parameters; its detached loss."""
        player, opt = self.players[j], self.opts[j]
        for v in self.held[j]:
            v.requires_grad_(False)
        try:
            loss = self._player_loss(player, *batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            player.optim.torch_step(opt, player.schedule_step(t))
        finally:
            for v in self.held[j]:
                v.requires_grad_(True)
        if player.project is not None:
            ops = self.engine.backend.ops
            with self.torch.no_grad():
                for k in self.owned[j]:
                    self.u[k].copy_(player.project(ops, self.u[k]))
        if player.averages:
            self._average()
        return loss.detach()

    def _player_loss(self, player, batch, masks, rows):
        loss = self._compiled_loss(rows, batch, masks) if self.compile else None
        if loss is None:
            loss = player.loss(self.lowered, self.lowered.constrain(self.u), batch, masks, self.n, self.rng)
        return loss

    def _loss(self, u, batch, masks):
        """The (only) player's loss, the function ``compile`` compiles."""
        return self.players[0].loss(self.lowered, self.lowered.constrain(u), batch, masks, self.n, self.rng)

    def _own_loss(self):
        """``self._loss`` on a code object of its own: ``torch.compile`` keeps its
        graphs per code object, at most ``recompile_limit`` (8) of them, so one
        code object shared by every model a process trains would leave the
        ninth to run eagerly."""
        fn = _TorchStepper._loss
        own = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__,
                                 fn.__closure__)
        return types.MethodType(own, self)

    def _compiled_loss(self, rows, batch, masks):
        """The loss through the compiled graph, or ``None`` where this step runs eagerly."""
        torch = self.torch
        if self.compiled_rows is None:
            self.compiled_rows = rows
        if rows != self.compiled_rows:
            return None
        if self.compiled is not None:
            loss = self._run_compiled(batch, masks)
        else:
            with torch.no_grad(), torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                self._loss(self.u, batch, masks)
            self.compiled = torch.compile(self._own_loss(), dynamic=False)
            try:
                loss = self._run_compiled(batch, masks)
            except Exception as err:  # nothing was updated yet: the run is intact
                raise GendslError(
                    f"compile=True: torch.compile could not compile the {self.objective.name!r} loss of model "
                    f"{self.engine.model.name!r} ({type(err).__name__}: {str(err).strip().splitlines()[0][:300]}); "
                    f"train it with compile=False (on the CPU, torch.compile also needs a C++ compiler such "
                    f"as gcc)") from err
        self.compiled_steps += 1
        return loss

    def _run_compiled(self, batch, masks):
        with warnings.catch_warnings():
            # where the graph breaks, torch.compile reads .grad of the intermediate tensors
            # it is handed (and PyTorch warns that non-leaf tensors have none)
            warnings.filterwarnings("ignore", message="The .grad attribute of a Tensor that is not a leaf")
            return self.compiled(self.u, batch, masks)

    def _average(self):
        """One step of the parameters' moving average (warmed up), when one is kept."""
        if self.avg is not None:
            self.count += 1
            weight = 1.0 - min(self.decay, (1.0 + self.count) / (10.0 + self.count))
            with self.torch.no_grad():
                self.torch._foreach_lerp_(list(self.avg.values()), list(self.u.values()), weight)

    def _host(self, losses):
        return self.torch.stack(losses).cpu().numpy()

    def snapshot(self):
        return {k: v.detach().clone() for k, v in (self.u if self.avg is None else self.avg).items()}

    def params(self, state):
        with self.torch.no_grad():
            return self.engine.params_out(self.lowered.constrain(state))

    def state(self) -> dict:
        """Every array needed to continue exactly: parameters, each player's Adam moments, counters, RNG."""
        out = {f"u/{k}": v.detach().cpu().numpy() for k, v in self.u.items()}
        for tag, opt in zip(self.tags, self.opts):
            for i, st in opt.state_dict()["state"].items():
                for key, value in st.items():
                    out[f"{tag}/{i}/{key}"] = value.detach().cpu().numpy()
        if self.avg is not None:
            out.update({f"ema/{k}": v.detach().cpu().numpy() for k, v in self.avg.items()})
            out["ema/$count"] = np.asarray(self.count)
        out["sched/$t"] = np.asarray(self.t)
        out["rng/torch"] = self.torch.get_rng_state().numpy()
        if self.device.type == "cuda":
            out["rng/cuda"] = self.torch.cuda.get_rng_state(self.device).numpy()
        return out

    def restore(self, arrays: dict) -> None:
        torch, arrays = self.torch, _current_keys(arrays)
        with torch.no_grad():
            for k, v in self.u.items():
                v.copy_(torch.as_tensor(arrays[f"u/{k}"]))
            if self.avg is not None:
                for k, v in self.avg.items():
                    v.copy_(torch.as_tensor(arrays[f"ema/{k}"]))
                self.count = int(arrays["ema/$count"])
        self.t = int(arrays.get("sched/$t", 0))
        for tag, opt in zip(self.tags, self.opts):
            self._restore_moments(opt, arrays, tag)
        torch.set_rng_state(torch.as_tensor(arrays["rng/torch"]))
        if "rng/cuda" in arrays:
            torch.cuda.set_rng_state(torch.as_tensor(arrays["rng/cuda"]), self.device)

    def _restore_moments(self, opt, arrays: dict, tag: str) -> None:
        state, moments = opt.state_dict(), {}
        for name, value in arrays.items():
            if name.startswith(f"{tag}/"):
                _, i, key = name.split("/")
                moments.setdefault(int(i), {})[key] = self.torch.as_tensor(value, device=self.device)
        state["state"] = moments
        opt.load_state_dict(state)


class JaxEngine(Engine):
    """NumPyro backend on JAX's default device (or ``device="cpu"``/``"gpu"``)."""

    def _dtype_spec(self):
        return self.backend.float_dtype(self.dtype)

    def _device(self):
        import jax

        if self.device in (None, "default"):
            return None
        platform = {"cuda": "gpu"}.get(str(self.device).split(":")[0], str(self.device).split(":")[0])
        try:
            return jax.devices(platform)[0]
        except RuntimeError:
            raise GendslError(
                f"device={self.device!r} was asked for, but JAX has no {platform!r} device here "
                f"(it has {[d.platform for d in jax.devices()]}); leave device unset for JAX's default"
            ) from None

    @functools.cached_property
    def _jitted(self):
        import jax

        lowered = self.lowered
        return {
            "log_prob_rows": jax.jit(lowered.log_prob_rows, static_argnames=("keep",)),
            "expected_value": jax.jit(lowered.expected_value, static_argnames=("site",)),
            "sample": jax.jit(lambda params, n, key, options, given: lowered.sample(
                params, n, self.backend.rng(key), data=given or None, options=dict(options)),
                static_argnames=("n", "options")),
            "log_weights": jax.jit(lambda params, data, missing, k, key: lowered.log_weights(
                params, data, k, self.backend.rng(key), missing)[0], static_argnames=("k",)),
            "guide_log_probs": jax.jit(lowered.guide_log_probs, static_argnames=("site",)),
            "encode": jax.jit(lowered.encode),
            "decode": jax.jit(lowered.decode, static_argnames=("n",)),
            "hidden_states": jax.jit(functools.partial(Engine.hidden_states, self), static_argnames=("site", "method")),
        }

    def log_prob_rows(self, params, data, missing, keep=()):
        return self._jitted["log_prob_rows"](params, data, missing, keep=tuple(keep))

    def expected_value(self, params, data, missing, site):
        return self._jitted["expected_value"](params, data, missing, site=site)

    def sample(self, params, n, seed, options=None, given=None):
        import jax

        return self._jitted["sample"](params, n=int(n), key=jax.random.PRNGKey(seed),
                                      options=tuple(sorted((options or {}).items())), given=given or {})

    def log_weights(self, params, data, missing, k, seed):
        import jax

        return self._jitted["log_weights"](params, data, missing, k=int(k), key=jax.random.PRNGKey(seed))

    def guide_log_probs(self, params, data, site):
        return self._jitted["guide_log_probs"](params, data, site=site)

    def elbo_rows(self, objective, params, data, missing, seed):
        import jax

        cache = self.__dict__.setdefault("_elbo_jit", {})
        which = (type(objective), tuple(sorted(objective.options().items())))
        if which not in cache:  # compiled once per objective, not once per batch
            cache[which] = jax.jit(lambda p, d, m, key: objective.rows(self.lowered, p, d, m,
                                                                      self.backend.rng(key))[0])
        return cache[which](params, data, missing, jax.random.PRNGKey(seed))

    def held_out_loss(self, player, params, data, missing, n_total, seed):
        import jax

        cache = self.__dict__.setdefault("_held_out_jit", {})
        if id(player) not in cache:  # compiled once per player, not once per round
            cache[id(player)] = (player, jax.jit(lambda p, d, m, key, n: player.loss(
                self.lowered, p, d, m, n, self.backend.rng(key)), static_argnames=("n",)))
        return cache[id(player)][1](params, data, missing, jax.random.PRNGKey(seed), n=int(n_total))

    def hidden_states(self, params, data, site, method):
        return self._jitted["hidden_states"](params, data, site=site, method=method)

    def encode(self, params, data):
        return self._jitted["encode"](params, data)

    def decode(self, params, latents, n):
        return self._jitted["decode"](params, latents, n=int(n))

    def put(self, x, kind="real"):
        import jax

        arr = super().put(x, kind)
        dev = self._device()
        return arr if dev is None else jax.device_put(arr, dev)

    def _stepper(self, objective, players, data, missing, seed, params, ema, compile):
        # every JAX step is compiled (jax.jit): compile changes nothing here
        return _JaxStepper(self, objective, players, data, missing, seed, params, ema)


class _JaxStepper(_Stepper):
    """One ``jax.jit``-compiled update per player (gather, loss, gradient,
    optax Adam, projection, moving average), each player with its own optax
    state; a Python counter picks the players due on a minibatch, so no step
    reads anything back from the device."""

    def __init__(self, engine, objective, players, data, missing, seed, params, ema=None):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp, self.engine = jax, jnp, engine
        self.lowered = lowered = engine.lowered
        self.u = lowered.unconstrain(engine.params_in(params))
        self._players(objective, players, list(self.u))
        opts = [p.optim.optax() for p in players]
        self.opt_states = [opt.init({k: self.u[k] for k in names}) for opt, names in zip(opts, self.owned)]
        full = engine.put_data(data)
        masks = {k: jnp.asarray(m) for k, m in missing.items()}
        n = _rows(data, lowered)
        self._updates = [jax.jit(_jax_update(lowered, p, opt, names, full, masks, n, ema))
                         for p, opt, names in zip(players, opts, self.owned)]
        self.avg = None if ema is None else {**self.u, "$count": jnp.zeros((), jnp.float32)}
        self.key = jax.random.PRNGKey(seed)

    def _batch(self, idx):
        return self.jnp.asarray(idx)

    def _update(self, j, t, idx):
        """One step of player ``j`` (a key of its own, split off in player order); its loss."""
        averages = self.players[j].averages
        self.key, sub = self.jax.random.split(self.key)
        own, self.opt_states[j], avg, loss = self._updates[j](self.u, self.opt_states[j],
                                                              self.avg if averages else None, idx, sub)
        self.u = {**self.u, **own}
        if averages:
            self.avg = avg
        return loss

    def _host(self, losses):
        return np.asarray(self.jnp.stack(losses))

    def snapshot(self):  # immutable arrays: no copy needed
        return self.u if self.avg is None else {k: v for k, v in self.avg.items() if k != "$count"}

    def params(self, state):
        return self.engine.params_out(self.lowered.constrain(state))

    def state(self) -> dict:
        """Every array needed to continue exactly: parameters, each player's optax state, counter, key."""
        out = {f"u/{k}": np.asarray(v) for k, v in self.u.items()}
        for tag, opt_state in zip(self.tags, self.opt_states):
            for i, leaf in enumerate(self.jax.tree_util.tree_leaves(opt_state)):
                out[f"{tag}/{i}"] = np.asarray(leaf)
        if self.avg is not None:
            out.update({f"ema/{k}": np.asarray(v) for k, v in self.avg.items()})
        out["rng/key"] = np.asarray(self.key)
        out["sched/$t"] = np.asarray(self.t)
        return out

    def restore(self, arrays: dict) -> None:
        jnp, tree, arrays = self.jnp, self.jax.tree_util, _current_keys(arrays)
        self.u = {k: jnp.asarray(arrays[f"u/{k}"]) for k in self.u}
        if self.avg is not None:
            self.avg = {k: jnp.asarray(arrays[f"ema/{k}"], dtype=v.dtype) for k, v in self.avg.items()}
        for j, (tag, current) in enumerate(zip(self.tags, self.opt_states)):
            leaves = tree.tree_leaves(current)
            restored = [jnp.asarray(arrays[f"{tag}/{i}"], dtype=leaf.dtype) for i, leaf in enumerate(leaves)]
            self.opt_states[j] = tree.tree_unflatten(tree.tree_structure(current), restored)
        self.key = jnp.asarray(arrays["rng/key"])
        self.t = int(arrays.get("sched/$t", 0))  # (absent from one-player checkpoints written before it)


def _jax_update(lowered, player, opt, names, full, masks, n, ema):
    """The body of one step of ``player`` over its parameters ``names``:
    ``(u, opt_state, avg, idx, key) -> (its new parameters, opt_state, avg,
    loss)``, where ``avg`` is the moving average or ``None``."""
    import jax
    import optax

    backend = lowered.backend

    def update(u, opt_state, avg, idx, key):
        batch = {k: v[idx] for k, v in full.items()}
        mbatch = {k: m[idx] for k, m in masks.items()}

        def loss_fn(own):  # the others' parameters are constants here
            return player.loss(lowered, lowered.constrain({**u, **own}), batch, mbatch, n, backend.rng(key))

        own = {k: u[k] for k in names}
        loss, grads = jax.value_and_grad(loss_fn)(own)
        updates, opt_state = opt.update(grads, opt_state, own)
        own = optax.apply_updates(own, updates)
        if player.project is not None:
            own = {k: player.project(backend.ops, v) for k, v in own.items()}
        if avg is not None:
            avg = _averaged(avg, {**u, **own}, ema)
        return own, opt_state, avg, loss

    return update


def _averaged(avg: dict, current: dict, decay: float) -> dict:
    """One step of a JAX moving average ``avg`` (with its step count under ``"$count"``) towards ``current``."""
    import jax.numpy as jnp

    count = avg["$count"] + 1
    weight = 1.0 - jnp.minimum(decay, (1.0 + count) / (10.0 + count))
    return {k: (v + weight * (current[k] - v) if k != "$count" else count) for k, v in avg.items()}


def _rows(data: dict, lowered) -> int:
    sizes = lowered.sizes({k: np.empty(v.shape) for k, v in data.items()})
    if lowered.row is None:
        raise DataError(
            f"model {lowered.model.name!r} has no plate sized by the data, so there are no rows to "
            f"batch; wrap its observations in gd.plate('data')"
        )
    return sizes[lowered.row]


# array library (``Backend.arrays``) -> the engine that trains on it; a backend is looked up in the
# one registry, gendsl.backends.BACKENDS, so a registered backend over either library trains
ENGINES = {"torch": TorchEngine, "jax": JaxEngine}


def make_engine(model, backend: str, dtype: str = "float32", device=None) -> Engine:
    arrays = get_backend(backend).arrays  # an unknown name lists the registered backends
    if arrays not in ENGINES:
        raise GendslError(f"backend {backend!r} computes with {arrays!r} arrays, and no engine trains on those; "
                          f"the engines are for {sorted(ENGINES)}")
    return ENGINES[arrays](model, backend, dtype, device)
