"""Checkpoints: atomic, verified, and resuming gives the uninterrupted result."""

import numpy as np
import pytest

import gendsl.models as zoo
from gendsl import data
from gendsl.inference.checkpoint import CheckpointError, load_checkpoint


def _case(name):
    if name == "vae":  # stochastic gradients: RNG state must resume too
        return zoo.vae(x_dim=64, z_dim=4, hidden=(32,)), data.digits(kind="binary")[:300], {}
    return zoo.gmm(x_dim=2, k=3), data.blobs(n=300, seed=1), {}


@pytest.mark.parametrize("name", ["gmm", "vae"])
def test_resume_equals_an_uninterrupted_run(backend, name, tmp_path):
    model, x, opts = _case(name)
    kw = dict(backend=backend, batch_size=64, lr=0.01, seed=3, progress=False, **opts)
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
