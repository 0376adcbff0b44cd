"""Checkpoints: atomic, verified, and resuming gives the uninterrupted result."""

import numpy as np
import pytest

import gendsl.models as zoo
from gendsl import data
from gendsl.inference.checkpoint import CheckpointError, load_checkpoint


def _case(name):
    if name == "gan":  # two optimisers, the critic-step counter and the generator's average
        model = zoo.gan(z_dim=2, hidden=(16,), critic_hidden=(16,))
        return model, data.load("eight_gaussians", n=300), {"objective": "adversarial", "loss": "wgan_gp",
                                                             "n_critic": 3, "ema": 0.9}
    if name == "ddpm-ema":  # a moving average of the parameters is training state too
        return zoo.ddpm(x_dim=2, hidden=(16,), steps=20, time_dim=4), data.load("moons", n=300), {"ema": 0.9}
    if name == "vae":  # stochastic gradients: RNG state must resume too
        return zoo.vae(x_dim=64, z_dim=4, hidden=(32,)), data.digits(kind="binary")[:300], {}
    return zoo.gmm(x_dim=2, k=3), data.blobs(n=300, seed=1), {}


@pytest.mark.parametrize("name", ["gmm", "vae", "ddpm-ema", "gan"])
def test_resume_equals_an_uninterrupted_run(backend, name, tmp_path):
    model, x, opts = _case(name)
    kw = dict(backend=backend, batch_size=60, lr=0.01, seed=3, progress=False, **opts)  # 5 full batches
    whole = model.fit(x, epochs=4, **kw)
    ckpt = tmp_path / "run.ckpt"
    model.fit(x, epochs=2, checkpoint=ckpt, **kw)  # "stopped" after its second checkpoint
    header, _ = load_checkpoint(ckpt)
    assert header["epoch"] == 1 and len(header["history"]["epoch_loss"]) == 2
    resumed = model.fit(x, epochs=4, checkpoint=ckpt, resume=True, **kw)
    assert resumed.history["epoch_loss"] == pytest.approx(whole.history["epoch_loss"], rel=1e-6)
    for k in whole.params:
        np.testing.assert_allclose(resumed.params[k], whole.params[k], rtol=1e-5, atol=1e-7)


def test_corrupt_checkpoint_is_detected_and_not_loaded(tmp_path):
    model, x, _ = _case("gmm")
    ckpt = tmp_path / "run.ckpt"
    model.fit(x, epochs=1, checkpoint=ckpt, progress=False)
    good = ckpt.read_bytes()
    ckpt.write_bytes(good[: len(good) // 2])  # truncated, as by a crash mid-copy
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        model.fit(x, epochs=2, checkpoint=ckpt, resume=True, progress=False)
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF  # one flipped byte inside the arrays
    ckpt.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError):
        model.fit(x, epochs=2, checkpoint=ckpt, resume=True, progress=False)


def test_interrupted_write_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    model, x, _ = _case("gmm")
    ckpt = tmp_path / "run.ckpt"
    model.fit(x, epochs=1, checkpoint=ckpt, progress=False, seed=0)
    before = ckpt.read_bytes()
    import gendsl.inference.checkpoint as cp

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies mid-write
    monkeypatch.setattr(cp.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, epochs=3, checkpoint=ckpt, resume=True, progress=False, seed=0)
    assert ckpt.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temporary left behind
    header, _ = load_checkpoint(ckpt)
    assert header["epoch"] == 0


def test_resume_refuses_another_runs_checkpoint(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    zoo.gmm(x_dim=2, k=3).fit(data.blobs(n=100), epochs=1, checkpoint=ckpt, progress=False)
    with pytest.raises(CheckpointError, match="belongs to another run"):
        zoo.gmm(x_dim=2, k=4).fit(data.blobs(n=100), epochs=2, checkpoint=ckpt, resume=True, progress=False)


def test_moving_average_of_the_parameters(backend):
    model, x = zoo.gmm(x_dim=2, k=3), data.blobs(n=300, seed=1)
    kw = dict(backend=backend, batch_size=64, lr=0.05, seed=3, epochs=3, progress=False)
    last = model.fit(x, **kw)
    # a vanishing decay averages nothing away: the result is the last iterate
    same = model.fit(x, ema=1e-9, **kw)
    for k in last.params:
        np.testing.assert_allclose(same.params[k], last.params[k], rtol=1e-5, atol=1e-7)
    # a long memory lags behind the iterates: it lies between the start and the last iterate
    avg = model.fit(x, ema=0.99, **kw)
    start = model.init_params(3)["locs"]
    assert np.linalg.norm(avg.params["locs"] - start) < np.linalg.norm(last.params["locs"] - start)
    assert not np.allclose(avg.params["locs"], start)
    assert avg.history == last.history  # the iterates (and their losses) are untouched
    with pytest.raises(ValueError, match="ema is the average's decay"):
        model.fit(x, ema=1.5, **kw)
