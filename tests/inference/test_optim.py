"""Adam's options in fit: learning-rate schedules, warm-up, decoupled weight
decay and gradient clipping, the same recipe on both backends."""

import numpy as np
import pytest

import gendsl.models as zoo
from gendsl import data
from gendsl.inference.checkpoint import CheckpointError
from gendsl.inference.optim import Adam


def test_schedule_factors():
    cosine = Adam(1.0, schedule="cosine", total_steps=110, warmup=10)
    assert [cosine.factor(s) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])  # warm-up ramp
    assert [cosine.factor(s) for s in (10, 60, 110, 500)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    linear = Adam(1.0, schedule="linear", total_steps=100)
    assert [linear.factor(s) for s in (0, 25, 100)] == pytest.approx([1.0, 0.75, 0.0])
    assert Adam(1.0).factor(10**6) == 1.0 and not Adam(1.0).scheduled


def test_optax_schedule_matches_the_factors():
    """The JAX engine's rate at each step is what ``factor`` says (SGD-like
    check: with Adam's first step the update is -lr * sign(g))."""
    import jax.numpy as jnp
    opt = Adam(0.5, schedule="cosine", total_steps=40, warmup=5)
    tx = opt.optax()
    for step in (0, 3, 5, 20, 39):
        state = tx.init({"w": jnp.zeros(3)})
        # (scale_by_adam, scale_by_schedule): move the schedule's count to `step`, keep Adam's
        # fresh, so its update is -lr(step) * sign(grad)
        state = (state[0], state[1]._replace(count=jnp.asarray(step, jnp.int32)))
        updates, _ = tx.update({"w": jnp.ones(3)}, state, {"w": jnp.zeros(3)})
        np.testing.assert_allclose(np.asarray(updates["w"]), -0.5 * opt.factor(step), rtol=1e-5)


def test_game_players_share_the_recipe():
    d, g = Adam(1e-3, schedule="linear", total_steps=100, warmup=10).players(4e-4, (0.5, 0.9), n_critic=5)
    assert (d.lr, d.total_steps, d.warmup, d.betas) == (4e-4, 100, 10, (0.5, 0.9))
    assert (g.lr, g.total_steps, g.warmup, g.betas) == (1e-3, 20, 2, (0.5, 0.9))


RECIPES = [
    {"lr_schedule": "cosine", "warmup": 7},
    {"lr_schedule": "linear"},
    {"weight_decay": 0.1},
    {"clip_norm": 0.5},
    {"lr_schedule": "cosine", "weight_decay": 0.05, "clip_norm": 1.0, "warmup": 3},
]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: "+".join(r))
def test_both_backends_follow_the_same_recipe(recipe):
    """An FVSBN's mle loss is deterministic: in float64 the two engines must
    take the same steps, and the recipe must change them."""
    model, x = zoo.fvsbn(x_dim=16), data.digits(kind="binary")[:300, :16]
    kw = dict(epochs=3, batch_size=50, lr=0.05, seed=1, dtype="float64", progress=False)
    fits = {b: model.fit(x, backend=b, **kw, **recipe) for b in ("pyro", "numpyro")}
    plain = model.fit(x, backend="pyro", **kw)
    for k in plain.params:
        np.testing.assert_allclose(fits["numpyro"].params[k], fits["pyro"].params[k], rtol=1e-5, atol=1e-7)  # Adam's eps sits differently in torch and optax
    changed = max(np.abs(fits["pyro"].params[k] - plain.params[k]).max() for k in plain.params)
    assert changed > 1e-4, f"{recipe} trained exactly as plain Adam"


def test_cosine_schedule_anneals_the_steps(backend):
    """The parameters move less and less as the rate decays to 0."""
    model, x = zoo.gmm(x_dim=2, k=3), data.blobs(n=400, seed=0)
    snapshots = []
    model.fit(x, backend=backend, epochs=8, batch_size=50, lr=0.05, seed=0, progress=False, lr_schedule="cosine",
              callback=lambda epoch, get, history: snapshots.append(get()))
    moves = [max(np.abs(b[k] - a[k]).max() for k in a) for a, b in zip(snapshots, snapshots[1:])]
    assert moves[-1] < 0.2 * moves[0], moves


def test_weight_decay_pulls_the_weights_in(backend):
    model, x = zoo.made(x_dim=16, hidden=(32,)), data.digits(kind="binary")[:300, :16]
    kw = dict(backend=backend, epochs=5, batch_size=50, lr=1e-2, seed=0, progress=False)
    norm = {wd: sum(float(np.sum(v ** 2)) for k, v in model.fit(x, weight_decay=wd, **kw).params.items()
                    if k.endswith("weight")) for wd in (0.0, 1.0)}
    assert norm[1.0] < 0.8 * norm[0.0], norm


def test_gan_trains_with_a_schedule_and_clipping(backend):
    model = zoo.gan(z_dim=2, hidden=(16,), critic_hidden=(16,))
    fit = model.fit(data.load("eight_gaussians", n=256), backend=backend, objective="adversarial", loss="wgan_gp",
                    n_critic=2, epochs=3, batch_size=64, lr=1e-3, seed=0, progress=False,
                    lr_schedule="cosine", warmup=2, weight_decay=1e-4, clip_norm=5.0)
    assert np.all(np.isfinite(fit.history["step_loss"]))
    assert np.all(np.isfinite(fit.history["generator_step_loss"]))


def test_interrupted_scheduled_run_resumes_exactly(backend, tmp_path):
    model, x = zoo.gmm(x_dim=2, k=3), data.blobs(n=320, seed=1)
    kw = dict(backend=backend, epochs=4, batch_size=64, lr=0.05, seed=3, progress=False, lr_schedule="cosine",
              warmup=3, weight_decay=1e-3, clip_norm=10.0)
    whole = model.fit(x, **kw)
    ckpt = tmp_path / "run.ckpt"

    def crash(epoch, get, history):
        if epoch == 1:
            raise KeyboardInterrupt  # killed after the second epoch's checkpoint

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, checkpoint=ckpt, callback=crash, **kw)
    resumed = model.fit(x, checkpoint=ckpt, resume=True, **kw)
    assert resumed.history["epoch_loss"] == pytest.approx(whole.history["epoch_loss"], rel=1e-6)
    for k in whole.params:
        np.testing.assert_allclose(resumed.params[k], whole.params[k], rtol=1e-5, atol=1e-7)
    # a longer run has a longer schedule: it may not silently continue this one
    with pytest.raises(CheckpointError, match="lr_schedule_steps"):
        model.fit(x, checkpoint=ckpt, resume=True, **{**kw, "epochs": 6})


@pytest.mark.parametrize("option, value, words", [
    ("lr_schedule", "exponential", "lr_schedule must be one of"),
    ("weight_decay", -1.0, "weight_decay must be >= 0"),
    ("clip_norm", 0.0, "clip_norm is a maximum gradient norm"),
    ("warmup", -2, "warmup counts steps"),
    ("lr", -1e-3, "lr must be a positive number"),
])
def test_bad_options_are_named(option, value, words):
    with pytest.raises(ValueError, match=words):
        zoo.gmm(x_dim=2, k=2).fit(data.blobs(n=50), epochs=1, progress=False, **{option: value})


def test_torch_adam_is_fused_and_steps_like_the_default():
    """The Pyro engine's Adam (fused: one kernel per parameter) takes the same
    steps as PyTorch's default per-tensor Adam, weight decay included."""
    import torch

    for weight_decay in (0.0, 1e-2):
        recipe = Adam(0.05, weight_decay=weight_decay)
        target = torch.linspace(-1.0, 2.0, 7, dtype=torch.float64)
        ours = torch.zeros(7, dtype=torch.float64, requires_grad=True)
        theirs = ours.detach().clone().requires_grad_(True)
        opt = recipe.torch([ours])
        assert opt.defaults["fused"] is True
        kind = torch.optim.AdamW if weight_decay else torch.optim.Adam
        default = kind([theirs], lr=0.05, betas=recipe.betas, weight_decay=weight_decay)
        for _ in range(30):
            for p, o in ((ours, opt), (theirs, default)):
                o.zero_grad()
                ((p - target) ** 2).sum().backward()
                o.step()
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
        assert not np.allclose(ours.detach().numpy(), 0.0)  # it moved
