"""fit(valid=...): held-out scores between epochs, the best parameters kept,
early stopping with patience, and checkpoints that resume all of it exactly."""

import numpy as np
import pytest

import gendsl.models as zoo
from gendsl import data, objectives, plots
from gendsl.errors import DataError
from gendsl.inference.checkpoint import CheckpointError, load_checkpoint
from gendsl.inference.train import validation_metric

X = data.digits(kind="binary")
TRAIN, VALID = X[:40], X[1000:1300]
# a 256-unit MADE on 40 images at lr 1e-2: its held-out log-likelihood rises for
# about a dozen epochs, then falls as it learns the 40 images by heart
OVERFIT = dict(epochs=40, batch_size=20, lr=1e-2, seed=0, progress=False)


def _made():
    return zoo.made(x_dim=64, hidden=(256,))


class _Interrupted(Exception):
    pass


def test_early_stopping_returns_the_best_round(backend):
    model = _made()
    fit = model.fit(TRAIN, backend=backend, valid=VALID, patience=4, **OVERFIT)
    h = fit.history
    stopped, best = h["stopped_epoch"], h["best_epoch"]
    assert h["valid_metric"] == "log_prob"
    assert stopped is not None and stopped < OVERFIT["epochs"] and len(h["epoch_loss"]) == stopped
    assert h["valid_epoch"] == list(range(1, stopped + 1)) and len(h["valid"]) == stopped
    assert stopped - best == 4 and h["valid"][best - 1] == max(h["valid"])
    assert h["valid"][0] < h["valid"][best - 1]  # it peaked ...
    held_out = float(np.mean(fit.log_prob(VALID)))
    assert held_out == pytest.approx(h["valid"][best - 1], rel=1e-6, abs=1e-6)  # the params are the best round's
    assert held_out > h["valid"][-1] + 0.1  # ... and degraded after
    # scoring held-out rows changes nothing in training: same batches, draws and losses
    plain = model.fit(TRAIN, backend=backend, **{**OVERFIT, "epochs": stopped})
    assert plain.history["epoch_loss"] == h["epoch_loss"]
    assert float(np.mean(plain.log_prob(VALID))) == pytest.approx(h["valid"][-1], rel=1e-6, abs=1e-6)


def test_rounds_every_few_epochs_without_patience(backend):
    fit = _made().fit(TRAIN, backend=backend, valid=VALID, valid_every=5, **{**OVERFIT, "epochs": 30})
    h = fit.history
    assert h["valid_epoch"] == [5, 10, 15, 20, 25, 30] and h["stopped_epoch"] is None
    assert len(h["epoch_loss"]) == 30
    assert h["best_epoch"] in (10, 15) and h["valid"][-1] < max(h["valid"])
    assert float(np.mean(fit.log_prob(VALID))) == pytest.approx(max(h["valid"]), rel=1e-6, abs=1e-6)


def test_resume_after_the_best_and_before_the_stop_ends_as_the_uninterrupted_run(backend, tmp_path):
    model = _made()
    kw = dict(backend=backend, valid=VALID, patience=4, **OVERFIT)
    whole = model.fit(TRAIN, checkpoint=tmp_path / "whole.ckpt", **kw)
    best, stopped = whole.history["best_epoch"], whole.history["stopped_epoch"]
    cut = best + 2  # epochs done when the run is killed: after the best round, before patience runs out
    assert cut < stopped

    def kill(epoch, get_params, history):
        if epoch + 1 == cut:
            raise _Interrupted

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(_Interrupted):
        model.fit(TRAIN, checkpoint=ckpt, callback=kill, **kw)
    header, arrays = load_checkpoint(ckpt)
    assert header["epoch"] + 1 == cut
    assert header["valid_state"] == {"best_score": whole.history["valid"][best - 1], "best_epoch": best,
                                     "since": 2, "stopped": False}
    assert {k[len("valid/best/"):] for k in arrays if k.startswith("valid/best/")} == set(whole.params)
    resumed = model.fit(TRAIN, checkpoint=ckpt, resume=True, **kw)
    assert resumed.history == whole.history
    assert set(resumed.params) == set(whole.params)
    for k in whole.params:
        np.testing.assert_array_equal(resumed.params[k], whole.params[k])
    # a run that patience ended resumes to the same result, training nothing more
    epochs_run = []
    again = model.fit(TRAIN, checkpoint=tmp_path / "whole.ckpt", resume=True,
                      callback=lambda epoch, get_params, history: epochs_run.append(epoch), **kw)
    assert epochs_run == [] and again.history == whole.history
    for k in whole.params:
        np.testing.assert_array_equal(again.params[k], whole.params[k])


@pytest.mark.parametrize("name", ["vae", "ddpm-ema"])
def test_rounds_leave_the_training_draws_alone_and_resume_exactly(backend, name, tmp_path):
    if name == "vae":  # reparameterised draws in every step; scored by its ELBO
        model, x, valid, kw = zoo.vae(x_dim=64, z_dim=4, hidden=(32,)), X[:300], VALID[:100], {}
    else:  # random chain steps, a moving average of the parameters; scored by the chain's bound
        model, x = zoo.ddpm(x_dim=2, hidden=(16,), steps=20, time_dim=4), data.load("moons", n=300)
        valid, kw = data.load("moons", n=100, seed=7), {"ema": 0.9}
    kw = dict(backend=backend, batch_size=60, lr=0.01, seed=3, progress=False, **kw)
    plain = model.fit(x, epochs=4, **kw)
    whole = model.fit(x, epochs=4, valid=valid, patience=3, **kw)
    assert whole.history["epoch_loss"] == plain.history["epoch_loss"]
    assert whole.history["valid_metric"] == "elbo" and len(whole.history["valid"]) == 4
    ckpt = tmp_path / "run.ckpt"
    model.fit(x, epochs=2, checkpoint=ckpt, valid=valid, patience=3, **kw)
    resumed = model.fit(x, epochs=4, checkpoint=ckpt, resume=True, valid=valid, patience=3, **kw)
    assert resumed.history == whole.history
    for k in whole.params:
        np.testing.assert_array_equal(resumed.params[k], whole.params[k])


def test_resume_refuses_other_held_out_rows(tmp_path):
    model, ckpt = _made(), tmp_path / "run.ckpt"
    model.fit(TRAIN, checkpoint=ckpt, valid=VALID, **{**OVERFIT, "epochs": 1})
    with pytest.raises(CheckpointError, match="belongs to another run: its valid"):
        model.fit(TRAIN, checkpoint=ckpt, resume=True, valid=VALID[:100], **{**OVERFIT, "epochs": 2})
    with pytest.raises(CheckpointError, match="belongs to another run: its valid"):
        model.fit(TRAIN, checkpoint=ckpt, resume=True, **{**OVERFIT, "epochs": 2})


def test_bad_held_out_rows_are_refused_naming_the_site():
    model = _made()
    with pytest.raises(DataError, match=r"valid= rows of site 'x' have shape \(63,\).*shape \(64,\)"):
        model.fit(TRAIN, valid=VALID[:, :63], **OVERFIT)
    with pytest.raises(DataError, match=r"valid=.*it gives \['y'\], which the training data does not"):
        model.fit(TRAIN, valid={"x": VALID, "y": VALID}, **OVERFIT)
    with pytest.raises(DataError, match=r"valid= rows of site 'x' have shape \(64, 1\)"):
        model.fit(TRAIN, valid=VALID[:, :, None], **OVERFIT)
    with pytest.raises(DataError, match="valid= has no rows"):
        model.fit(TRAIN, valid=VALID[:0], **OVERFIT)
    nb = zoo.naive_bayes(x_dim=4, n_classes=2)
    xs, ys = (np.random.default_rng(0).random((20, 4)) < 0.5).astype(float), np.arange(20) % 2
    with pytest.raises(DataError, match=r"valid=.*it lacks \['y'\]"):
        nb.fit({"x": xs, "y": ys}, valid={"x": xs}, **OVERFIT)
    with pytest.raises(DataError, match=r"valid= \(the held-out rows\) data for site 'y' must be integers"):
        nb.fit({"x": xs, "y": ys}, valid={"x": xs, "y": ys + 0.5}, **OVERFIT)
    with pytest.raises(ValueError, match="patience=3 .* pass valid=X_val"):
        model.fit(TRAIN, patience=3, **OVERFIT)
    with pytest.raises(ValueError, match="valid_every .* integer >= 1"):
        model.fit(TRAIN, valid=VALID, valid_every=0, **OVERFIT)
    with pytest.raises(ValueError, match="patience .* integer >= 1"):
        model.fit(TRAIN, valid=VALID, patience=0, **OVERFIT)


def test_the_metric_follows_what_the_model_can_score():
    def metric(model, objective, sites=("x",)):
        return validation_metric(model, objectives.get(objective), sites)

    assert metric(_made(), "mle") == "log_prob"
    assert metric(zoo.gmm(x_dim=2, k=3), "mle") == "log_prob"  # discrete latent summed out
    assert metric(zoo.naive_bayes(x_dim=4), "mle", ("x", "y")) == "log_prob"
    assert metric(zoo.vae(x_dim=8, z_dim=2, hidden=(8,)), "iwae") == "elbo"
    assert metric(zoo.ddpm(x_dim=2, hidden=(8,), steps=5, time_dim=4), "denoising") == "elbo"
    assert metric(zoo.dae(x_dim=8, hidden=(8,), code_dim=2), "denoising") == "loss"
    assert metric(zoo.gan(x_dim=2, z_dim=2, hidden=(8,), critic_hidden=(8,)), "adversarial") == "loss"


def test_guided_models_are_scored_by_their_elbo(backend):
    model = zoo.vae(x_dim=64, z_dim=4, hidden=(32,))
    fit = model.fit(X[:300], backend=backend, epochs=3, batch_size=100, lr=1e-2, seed=1, progress=False,
                    valid=VALID[:200], objective="iwae", k=3)
    h = fit.history
    assert h["valid_metric"] == "elbo" and len(h["valid"]) == 3
    best = h["best_epoch"]
    assert float(np.mean(fit.elbo(VALID[:200], seed=1))) == pytest.approx(h["valid"][best - 1], rel=1e-6)


@pytest.mark.parametrize("name", ["dae", "gan"])
def test_models_without_a_density_are_scored_by_minus_their_loss(backend, name):
    if name == "dae":
        model, x, kw = zoo.dae(x_dim=64, hidden=(32,), code_dim=8), X[:300], {}
        valid = VALID[:150]
    else:
        model, x = zoo.gan(x_dim=2, z_dim=2, hidden=(8,), critic_hidden=(8,)), data.load("moons", n=300)
        kw, valid = {"objective": "adversarial", "loss": "wgan_gp", "n_critic": 2}, data.load("moons", n=100, seed=5)
    fit = model.fit(x, backend=backend, epochs=3, batch_size=100, lr=1e-3, seed=0, progress=False, valid=valid,
                    **kw)
    h = fit.history
    assert h["valid_metric"] == "loss" and len(h["valid"]) == 3 and np.all(np.isfinite(h["valid"]))
    if name == "dae":  # minus the corruption-reconstruction loss, of the size of the training loss
        assert -h["valid"][-1] == pytest.approx(h["epoch_loss"][-1], rel=0.3)


def test_the_loss_plot_shows_the_validation_curve(tmp_path):
    fit = _made().fit(TRAIN, valid=VALID, patience=2, **{**OVERFIT, "epochs": 20})
    fig = plots.loss_curve(fit.history)
    assert len(fig.axes) == 2 and fig.axes[1].get_xlabel() == "epoch"
    assert "log p(x)" in fig.axes[1].get_ylabel()
    labels = fig.axes[1].get_legend_handles_labels()[1]
    assert f"best (epoch {fit.history['best_epoch']})" in labels and "stopped early" in labels
    plots.loss_curve(fit.history, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 0
    assert len(plots.loss_curve({"step_loss": [1.0, 0.5], "epoch_loss": [0.75]}).axes) == 1
