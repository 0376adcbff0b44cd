"""Engines: a lowered model on one device, with its optimiser loop.

Two engines share one interface: :class:`TorchEngine` (Pyro backend, eager
PyTorch with ``torch.optim.Adam``) and :class:`JaxEngine` (NumPyro backend,
one ``jax.jit``-compiled step with ``optax.adam``). Both keep the data on the
device, draw minibatch orders from the same NumPy generator (so a seed gives
the same batches on both) and read the loss back once per epoch, not per
step, so no step waits on the host.
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
        """The optimiser state and one compiled/eager training step (keeping an
        exponential moving average of the parameters when ``ema`` is a decay);
        ``optim`` is an :class:`~gendsl.inference.optim.Adam` or a constant learning rate.
        ``compile``: compile the loss (PyTorch's ``torch.compile``; a JAX step
        is always compiled)."""
        raise NotImplementedError

    def train(self, objective, data, missing, epochs, batch_size, optim, seed, params, progress, callback=None,
              checkpoint=None, checkpoint_every=1, resume=False, run=None, ema=None, compile=False):
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

        Returns:
            ``(params, history)``; raises ``_Stop`` on a non-finite loss.
        """
        with self._numerics():
            return self._train(objective, data, missing, epochs, batch_size, optim, seed, params, progress, callback,
                               checkpoint, checkpoint_every, resume, run, ema, compile)

    def _train(self, objective, data, missing, epochs, batch_size, optim, seed, params, progress, callback,
               checkpoint, checkpoint_every, resume, run, ema, compile=False):
        stepper = self.stepper(objective, data, missing, optim, seed, params, ema, compile)
        rng = np.random.default_rng(seed)
        n = _rows(data, self.lowered)
        history = {"epoch_loss": [], "step_loss": []}
        first = 0
        if resume and checkpoint is not None and os.path.exists(checkpoint):
            header, arrays = load_checkpoint(checkpoint, expect=run)
            stepper.restore(arrays)
            rng.bit_generator.state = header["batch_rng"]
            history, first = header["history"], header["epoch"] + 1
        bar = _epoch_bar(epochs, progress, f"{self.model.name} [{self.backend.name}]")
        bar.update(first)
        start = stepper.snapshot()
        for epoch in range(first, epochs):
            previous_start, start = start, stepper.snapshot()
            step_losses = stepper.read([stepper.step(idx) for idx in _batches(n, batch_size, rng)])
            player = stepper.read_generator() if hasattr(stepper, "read_generator") else None
            if not np.all(np.isfinite(step_losses)) or (player is not None and not np.all(np.isfinite(player))):
                good = _last_good(step_losses, start, previous_start)
                raise _Stop(epoch, stepper.params(good), history)
            history["step_loss"].extend(step_losses.tolist())
            history["epoch_loss"].append(float(step_losses.mean()))
            if player is not None:  # a game: step_loss is the discriminator's
                history.setdefault("generator_step_loss", []).extend(player.tolist())
                # None for an epoch shorter than n_critic steps, where the generator did not move
                history.setdefault("generator_epoch_loss", []).append(float(player.mean()) if player.size
                                                                      else None)
            bar.update(1)
            bar.set_postfix(loss=f"{history['epoch_loss'][-1]:.4f}")
            if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs):
                header = {**(run or {}), "epoch": epoch, "history": history,
                          "batch_rng": rng.bit_generator.state}
                save_checkpoint(checkpoint, header, stepper.state())
            if callback is not None:  # the parameters as a fit would return them (population statistics set)
                callback(epoch, lambda: self.with_population_statistics(stepper.params(stepper.snapshot()), data,
                                                                         seed), history)
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

    def sample(self, params, n, seed, options=None):
        with self._private_rng():
            return self.lowered.sample(params, n, self.backend.rng(seed), options=options)

    def log_weights(self, params, data, missing, k, seed):
        with self._private_rng():
            return self.lowered.log_weights(params, data, k, self.backend.rng(seed), missing)[0]

    def elbo_rows(self, objective, params, data, missing, seed):
        with self._private_rng():
            return objective.rows(self.lowered, params, data, missing, self.backend.rng(seed))[0]

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
    def __init__(self, epoch, params, history):
        self.epoch, self.params, self.history = epoch, params, history


def _last_good(step_losses, start, previous_start):
    """The newest parameters whose loss was computed and finite.

    Each step's loss scores the parameters *before* that step, so the start of
    this epoch is known good only if this epoch's first loss is finite;
    otherwise fall back to the start of the previous epoch (its first loss was
    finite, or training would have stopped there).
    """
    return start if np.isfinite(step_losses[0]) else previous_start


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

    def stepper(self, objective, data, missing, optim, seed, params, ema=None, compile=False):
        import torch

        torch.manual_seed(seed)
        if getattr(objective, "game", False):
            if compile:
                raise GendslError(
                    f"compile=True compiles one loss per step, and the {objective.name!r} objective alternates "
                    f"two players' losses; train it with compile=False")
            return _TorchGameStepper(self, objective, data, missing, Adam.of(optim), params, ema)
        return _TorchStepper(self, objective, data, missing, Adam.of(optim), params, ema, compile)


class _TorchStepper:
    """Eager PyTorch: unconstrained leaves, ``torch.optim.Adam`` (``AdamW``
    with weight decay); ``self.t`` counts steps for the learning-rate schedule.

    With ``compile``, the loss (model, guide and objective: everything the
    interpreter does in Python each step) is compiled by ``torch.compile``
    into one graph, as a hand-written ``torch.compile`` loop would be. The
    first step's batch size is the compiled one; before compiling, one
    untracked pass (no gradient, PyTorch's random state forked) fills the
    lowered program's caches of constants, so the graph reads them instead
    of building them. A step of another size (an epoch's last, shorter
    batch) runs eagerly rather than recompiling. ``compiled_steps`` counts
    the compiled ones.
    """

    def __init__(self, engine, objective, data, missing, optim, params, ema=None, compile=False):
        import torch

        self.torch, self.engine, self.objective = torch, engine, objective
        self.lowered = lowered = engine.lowered
        device = lowered.dtype[1]
        self.u = {k: v.detach().clone().requires_grad_(True)
                  for k, v in lowered.unconstrain(engine.params_in(params)).items()}
        self.optim, self.t = optim, 0
        self.opt = self._optimisers(optim)
        self.full = engine.put_data(data)
        self.masks = {k: torch.as_tensor(m, device=device) for k, m in missing.items()}
        self.n, self.device, self.rng = _rows(data, lowered), device, engine.backend.rng(None)
        self.decay, self.count = ema, 0
        self.avg = None if ema is None else {k: v.detach().clone() for k, v in self.u.items()}
        self.compile, self.compiled, self.compiled_rows, self.compiled_steps = bool(compile), None, None, 0

    def _optimisers(self, optim):
        return optim.torch(list(self.u.values()))

    def _loss(self, u, batch, masks):
        return self.objective.loss(self.lowered, self.lowered.constrain(u), batch, masks, self.n, self.rng)

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

    def step(self, idx):
        idx = self.torch.as_tensor(idx, device=self.device)
        batch = {k: v[idx] for k, v in self.full.items()}
        masks = {k: m[idx] for k, m in self.masks.items()}
        loss = self._compiled_loss(idx.shape[0], batch, masks) if self.compile else None
        if loss is None:
            loss = self._loss(self.u, batch, masks)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.torch_step(self.opt, self.t)
        self.t += 1
        self._average()
        return loss.detach()

    def _average(self):
        """One step of the parameters' moving average (warmed up), when one is kept."""
        if self.avg is not None:
            self.count += 1
            weight = 1.0 - min(self.decay, (1.0 + self.count) / (10.0 + self.count))
            with self.torch.no_grad():
                self.torch._foreach_lerp_(list(self.avg.values()), list(self.u.values()), weight)

    def read(self, losses):
        return self.torch.stack(losses).cpu().numpy()  # the one host read per epoch

    def snapshot(self):
        return {k: v.detach().clone() for k, v in (self.u if self.avg is None else self.avg).items()}

    def params(self, state):
        with self.torch.no_grad():
            return self.engine.params_out(self.lowered.constrain(state))

    def state(self) -> dict:
        """Every array needed to continue exactly: parameters, Adam moments, RNG."""
        out = {f"u/{k}": v.detach().cpu().numpy() for k, v in self.u.items()}
        for i, st in self.opt.state_dict()["state"].items():
            for key, value in st.items():
                out[f"opt/{i}/{key}"] = value.detach().cpu().numpy()
        if self.avg is not None:
            out.update({f"ema/{k}": v.detach().cpu().numpy() for k, v in self.avg.items()})
            out["ema/$count"] = np.asarray(self.count)
        out["sched/$t"] = np.asarray(self.t)
        out["rng/torch"] = self.torch.get_rng_state().numpy()
        if self.device.type == "cuda":
            out["rng/cuda"] = self.torch.cuda.get_rng_state(self.device).numpy()
        return out

    def restore(self, arrays: dict) -> None:
        torch = self.torch
        with torch.no_grad():
            for k, v in self.u.items():
                v.copy_(torch.as_tensor(arrays[f"u/{k}"]))
            if self.avg is not None:
                for k, v in self.avg.items():
                    v.copy_(torch.as_tensor(arrays[f"ema/{k}"]))
                self.count = int(arrays["ema/$count"])
        self.t = int(arrays.get("sched/$t", 0))
        state = self.opt.state_dict()
        moments = {}
        for name, value in arrays.items():
            if name.startswith("opt/"):
                _, i, key = name.split("/")
                moments.setdefault(int(i), {})[key] = torch.as_tensor(value, device=self.device)
        state["state"] = moments
        self.opt.load_state_dict(state)
        torch.set_rng_state(torch.as_tensor(arrays["rng/torch"]))
        if "rng/cuda" in arrays:
            torch.cuda.set_rng_state(torch.as_tensor(arrays["rng/cuda"]), self.device)


class _TorchGameStepper(_TorchStepper):
    """Two players (``objective.game``): the discriminator's parameters and
    the rest (the generator's), each with its own Adam. ``step`` takes one
    discriminator step and, every ``n_critic`` steps, one generator step;
    it returns the discriminator's loss, and the generator's losses are read
    once per epoch by :meth:`read_generator`."""

    def __init__(self, engine, objective, data, missing, optim, params, ema=None):
        super().__init__(engine, objective, data, missing, optim, params, ema)
        self.steps, self.g_losses = 0, []

    def _optimisers(self, optim):
        """The discriminator's Adam (``self.opt`` with settings ``self.optim``,
        so the base class checkpoints it) and the generator's (``self.opt_g``,
        ``self.optim_g``); each player's schedule counts its own steps."""
        objective = self.objective
        names = self.lowered.discriminator_params
        self.d_names = [k for k in self.u if k in names]
        self.g_names = [k for k in self.u if k not in names]
        self.optim, self.optim_g = optim.players(objective.lr_d, objective.betas, objective.n_critic)
        self.opt_g = self.optim_g.torch([self.u[k] for k in self.g_names])
        return self.optim.torch([self.u[k] for k in self.d_names])

    def step(self, idx):
        torch, lowered, objective = self.torch, self.lowered, self.objective
        idx = torch.as_tensor(idx, device=self.device)
        batch = {k: v[idx] for k, v in self.full.items()}
        d_params = [self.u[k] for k in self.d_names]
        loss = objective.discriminator_loss(lowered, lowered.constrain(self.u), batch, self.rng)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.torch_step(self.opt, self.steps)
        if objective.clips:
            with torch.no_grad():
                for p in d_params:
                    p.clamp_(-objective.clip, objective.clip)
        self.steps += 1
        if self.steps % objective.n_critic == 0:
            for p in d_params:  # no gradient for the discriminator during the generator's step
                p.requires_grad_(False)
            try:
                g_loss = objective.generator_loss(lowered, lowered.constrain(self.u), batch, self.rng)
                self.opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                self.optim_g.torch_step(self.opt_g, self.steps // objective.n_critic - 1)
            finally:
                for p in d_params:
                    p.requires_grad_(True)
            self.g_losses.append(g_loss.detach())
            self._average()
        return loss.detach()

    def read_generator(self):
        out = self.torch.stack(self.g_losses).cpu().numpy() if self.g_losses else np.zeros(0)
        self.g_losses = []
        return out

    def state(self) -> dict:
        out = super().state()
        for i, st in self.opt_g.state_dict()["state"].items():
            for key, value in st.items():
                out[f"opt_g/{i}/{key}"] = value.detach().cpu().numpy()
        out["game/steps"] = np.asarray(self.steps)
        return out

    def restore(self, arrays: dict) -> None:
        super().restore({k: v for k, v in arrays.items() if not k.startswith("opt_g/")})
        state = self.opt_g.state_dict()
        moments = {}
        for name, value in arrays.items():
            if name.startswith("opt_g/"):
                _, i, key = name.split("/")
                moments.setdefault(int(i), {})[key] = self.torch.as_tensor(value, device=self.device)
        state["state"] = moments
        self.opt_g.load_state_dict(state)
        self.steps = int(arrays["game/steps"])


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
            "sample": jax.jit(lambda params, n, key, options: lowered.sample(
                params, n, self.backend.rng(key), options=dict(options)), static_argnames=("n", "options")),
            "log_weights": jax.jit(lambda params, data, missing, k, key: lowered.log_weights(
                params, data, k, self.backend.rng(key), missing)[0], static_argnames=("k",)),
            "encode": jax.jit(lowered.encode),
            "decode": jax.jit(lowered.decode, static_argnames=("n",)),
        }

    def log_prob_rows(self, params, data, missing, keep=()):
        return self._jitted["log_prob_rows"](params, data, missing, keep=tuple(keep))

    def expected_value(self, params, data, missing, site):
        return self._jitted["expected_value"](params, data, missing, site=site)

    def sample(self, params, n, seed, options=None):
        import jax

        return self._jitted["sample"](params, n=int(n), key=jax.random.PRNGKey(seed),
                                      options=tuple(sorted((options or {}).items())))

    def log_weights(self, params, data, missing, k, seed):
        import jax

        return self._jitted["log_weights"](params, data, missing, k=int(k), key=jax.random.PRNGKey(seed))

    def elbo_rows(self, objective, params, data, missing, seed):
        import jax

        cache = self.__dict__.setdefault("_elbo_jit", {})
        which = (type(objective), tuple(sorted(objective.options().items())))
        if which not in cache:  # compiled once per objective, not once per batch
            cache[which] = jax.jit(lambda p, d, m, key: objective.rows(self.lowered, p, d, m,
                                                                      self.backend.rng(key))[0])
        return cache[which](params, data, missing, jax.random.PRNGKey(seed))

    def encode(self, params, data):
        return self._jitted["encode"](params, data)

    def decode(self, params, latents, n):
        return self._jitted["decode"](params, latents, n=int(n))

    def put(self, x, kind="real"):
        import jax

        arr = super().put(x, kind)
        dev = self._device()
        return arr if dev is None else jax.device_put(arr, dev)

    def stepper(self, objective, data, missing, optim, seed, params, ema=None, compile=False):
        # every JAX step is compiled (jax.jit): compile changes nothing here
        if getattr(objective, "game", False):
            return _JaxGameStepper(self, objective, data, missing, Adam.of(optim), seed, params, ema)
        return _JaxStepper(self, objective, data, missing, Adam.of(optim), seed, params, ema)


class _JaxStepper:
    """One ``jax.jit``-compiled step (gather, loss, gradient, optax Adam)."""

    def __init__(self, engine, objective, data, missing, optim, seed, params, ema=None):
        import jax
        import jax.numpy as jnp
        import optax

        self.jax, self.jnp, self.engine = jax, jnp, engine
        lowered, backend = engine.lowered, engine.backend
        self.lowered = lowered
        self.u = lowered.unconstrain(engine.params_in(params))
        opt = optim.optax()
        self.opt_state = opt.init(self.u)
        full = engine.put_data(data)
        masks = {k: jnp.asarray(m) for k, m in missing.items()}
        n = _rows(data, lowered)

        def step(u, opt_state, idx, key):
            batch = {k: v[idx] for k, v in full.items()}
            mbatch = {k: m[idx] for k, m in masks.items()}

            def loss_fn(u):
                return objective.loss(lowered, lowered.constrain(u), batch, mbatch, n, backend.rng(key))

            loss, grads = jax.value_and_grad(loss_fn)(u)
            updates, opt_state = opt.update(grads, opt_state, u)
            return optax.apply_updates(u, updates), opt_state, loss

        def averaged_step(u, opt_state, avg, idx, key):
            u, opt_state, loss = step(u, opt_state, idx, key)
            return u, opt_state, _averaged(avg, u, ema), loss

        self._step = jax.jit(step if ema is None else averaged_step)
        self.avg = None if ema is None else {**self.u, "$count": jnp.zeros((), jnp.float32)}
        self.key = jax.random.PRNGKey(seed)

    def step(self, idx):
        self.key, sub = self.jax.random.split(self.key)
        if self.avg is None:
            self.u, self.opt_state, loss = self._step(self.u, self.opt_state, self.jnp.asarray(idx), sub)
        else:
            self.u, self.opt_state, self.avg, loss = self._step(self.u, self.opt_state, self.avg,
                                                                self.jnp.asarray(idx), sub)
        return loss

    def read(self, losses):
        return np.asarray(self.jnp.stack(losses))  # the one host read per epoch

    def snapshot(self):  # immutable arrays: no copy needed
        return self.u if self.avg is None else {k: v for k, v in self.avg.items() if k != "$count"}

    def params(self, state):
        return self.engine.params_out(self.lowered.constrain(state))

    def state(self) -> dict:
        """Every array needed to continue exactly: parameters, optax state, key."""
        out = {f"u/{k}": np.asarray(v) for k, v in self.u.items()}
        for i, leaf in enumerate(self.jax.tree_util.tree_leaves(self.opt_state)):
            out[f"opt/{i}"] = np.asarray(leaf)
        if self.avg is not None:
            out.update({f"ema/{k}": np.asarray(v) for k, v in self.avg.items()})
        out["rng/key"] = np.asarray(self.key)
        return out

    def restore(self, arrays: dict) -> None:
        jnp, tree = self.jnp, self.jax.tree_util
        self.u = {k: jnp.asarray(arrays[f"u/{k}"]) for k in self.u}
        if self.avg is not None:
            self.avg = {k: jnp.asarray(arrays[f"ema/{k}"], dtype=v.dtype) for k, v in self.avg.items()}
        leaves = tree.tree_leaves(self.opt_state)
        restored = [jnp.asarray(arrays[f"opt/{i}"], dtype=leaf.dtype) for i, leaf in enumerate(leaves)]
        self.opt_state = tree.tree_unflatten(tree.tree_structure(self.opt_state), restored)
        self.key = jnp.asarray(arrays["rng/key"])


class _JaxGameStepper:
    """Two players under ``jax.jit``: a compiled discriminator step (with
    weight clipping for ``wgan``) and a compiled generator step (with the
    moving average), each with its own optax Adam; a Python counter picks
    which runs, so no step reads anything back from the device."""

    def __init__(self, engine, objective, data, missing, optim, seed, params, ema=None):
        import jax
        import jax.numpy as jnp
        import optax

        self.jax, self.jnp, self.engine, self.objective = jax, jnp, engine, objective
        lowered, backend = engine.lowered, engine.backend
        self.lowered = lowered
        u = lowered.unconstrain(engine.params_in(params))
        names = lowered.discriminator_params
        self.ud = {k: v for k, v in u.items() if k in names}
        self.ug = {k: v for k, v in u.items() if k not in names}
        optim_d, optim_g = optim.players(objective.lr_d, objective.betas, objective.n_critic)
        opt_d, opt_g = optim_d.optax(), optim_g.optax()
        self.state_d, self.state_g = opt_d.init(self.ud), opt_g.init(self.ug)
        full = engine.put_data(data)

        def d_step(ud, ug, state, idx, key):
            batch = {k: v[idx] for k, v in full.items()}

            def loss_fn(ud):
                return objective.discriminator_loss(lowered, lowered.constrain({**ug, **ud}), batch,
                                                    backend.rng(key))

            loss, grads = jax.value_and_grad(loss_fn)(ud)
            updates, state = opt_d.update(grads, state, ud)
            ud = optax.apply_updates(ud, updates)
            if objective.clips:
                ud = {k: jnp.clip(v, -objective.clip, objective.clip) for k, v in ud.items()}
            return ud, state, loss

        def g_step(ud, ug, state, avg, idx, key):
            batch = {k: v[idx] for k, v in full.items()}

            def loss_fn(ug):
                return objective.generator_loss(lowered, lowered.constrain({**ug, **ud}), batch, backend.rng(key))

            loss, grads = jax.value_and_grad(loss_fn)(ug)
            updates, state = opt_g.update(grads, state, ug)
            ug = optax.apply_updates(ug, updates)
            if avg is not None:
                avg = _averaged(avg, {**ug, **ud}, ema)
            return ug, state, avg, loss

        self._d_step, self._g_step = jax.jit(d_step), jax.jit(g_step)
        self.avg = None if ema is None else {**u, "$count": jnp.zeros((), jnp.float32)}
        self.key = jax.random.PRNGKey(seed)
        self.steps, self.g_losses = 0, []

    @property
    def u(self):
        return {**self.ug, **self.ud}

    def step(self, idx):
        jax, jnp = self.jax, self.jnp
        idx = jnp.asarray(idx)
        self.key, sub = jax.random.split(self.key)
        self.ud, self.state_d, loss = self._d_step(self.ud, self.ug, self.state_d, idx, sub)
        self.steps += 1
        if self.steps % self.objective.n_critic == 0:
            self.key, sub = jax.random.split(self.key)
            self.ug, self.state_g, self.avg, g_loss = self._g_step(self.ud, self.ug, self.state_g, self.avg,
                                                                    idx, sub)
            self.g_losses.append(g_loss)
        return loss

    def read(self, losses):
        return np.asarray(self.jnp.stack(losses))  # the one host read per epoch

    def read_generator(self):
        out = np.asarray(self.jnp.stack(self.g_losses)) if self.g_losses else np.zeros(0)
        self.g_losses = []
        return out

    def snapshot(self):
        return self.u if self.avg is None else {k: v for k, v in self.avg.items() if k != "$count"}

    def params(self, state):
        return self.engine.params_out(self.lowered.constrain(state))

    def state(self) -> dict:
        tree = self.jax.tree_util
        out = {f"u/{k}": np.asarray(v) for k, v in self.u.items()}
        for tag, opt_state in (("opt_d", self.state_d), ("opt_g", self.state_g)):
            for i, leaf in enumerate(tree.tree_leaves(opt_state)):
                out[f"{tag}/{i}"] = np.asarray(leaf)
        if self.avg is not None:
            out.update({f"ema/{k}": np.asarray(v) for k, v in self.avg.items()})
        out["rng/key"] = np.asarray(self.key)
        out["game/steps"] = np.asarray(self.steps)
        return out

    def restore(self, arrays: dict) -> None:
        jnp, tree = self.jnp, self.jax.tree_util
        self.ud = {k: jnp.asarray(arrays[f"u/{k}"]) for k in self.ud}
        self.ug = {k: jnp.asarray(arrays[f"u/{k}"]) for k in self.ug}
        if self.avg is not None:
            self.avg = {k: jnp.asarray(arrays[f"ema/{k}"], dtype=v.dtype) for k, v in self.avg.items()}
        for tag in ("opt_d", "opt_g"):
            current = self.state_d if tag == "opt_d" else self.state_g
            leaves = tree.tree_leaves(current)
            restored = [jnp.asarray(arrays[f"{tag}/{i}"], dtype=leaf.dtype) for i, leaf in enumerate(leaves)]
            restored = tree.tree_unflatten(tree.tree_structure(current), restored)
            if tag == "opt_d":
                self.state_d = restored
            else:
                self.state_g = restored
        self.key = jnp.asarray(arrays["rng/key"])
        self.steps = int(arrays["game/steps"])


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


ENGINES = {"pyro": TorchEngine, "numpyro": JaxEngine}


def make_engine(model, backend: str, dtype: str = "float32", device=None) -> Engine:
    if backend not in ENGINES:
        from gendsl.errors import unknown_name

        raise unknown_name("backend", backend, ENGINES)
    return ENGINES[backend](model, backend, dtype, device)
