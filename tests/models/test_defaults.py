"""A factory's declared fit defaults reach fit() and the CLI, under the caller's keywords."""

import json

import numpy as np

import gendsl as gd
from gendsl import cli, dist


@gd.model
def coin():
    """A coin: x ~ Bernoulli(p)."""
    p = gd.param("p", (), init=0.5, constraint="unit_interval")
    with gd.plate("data"):
        gd.observe("x", dist.Bernoulli(probs=p))


def _x():
    return (np.random.default_rng(0).random(60) < 0.8).astype(float)


def test_declared_defaults_fill_what_the_call_leaves_out(monkeypatch):
    monkeypatch.setattr(coin, "fit_defaults", {"epochs": 3, "batch_size": 20, "lr": 0.05}, raising=False)
    fit = coin().fit(_x(), progress=False)
    assert len(fit.history["epoch_loss"]) == 3 and len(fit.history["step_loss"]) == 9  # 60 rows / 20
    fit = coin().fit(_x(), epochs=1, batch_size=30, progress=False)  # the caller wins
    assert len(fit.history["epoch_loss"]) == 1 and len(fit.history["step_loss"]) == 2


def test_defaults_may_depend_on_the_call(monkeypatch):
    def per_objective(hyper, objective, options):
        return {"lr": 0.2 if objective == "mle" else 0.01}

    monkeypatch.setattr(coin, "fit_defaults", per_objective, raising=False)
    assert coin().default_fit_options() == {"lr": 0.2}
    assert coin().default_fit_options(lr=1.0) == {}


def test_the_cli_uses_the_models_defaults_and_records_them(tmp_path):
    (tmp_path / "mine.py").write_text(
        "import gendsl as gd\nfrom gendsl import dist\n\n@gd.model\ndef coin():\n"
        "    p = gd.param('p', (), init=0.5, constraint='unit_interval')\n"
        "    with gd.plate('data'):\n        gd.observe('x', dist.Bernoulli(probs=p))\n\n"
        "coin.fit_defaults = {'lr': 0.05, 'batch_size': 32}\n")
    np.save(tmp_path / "x.npy", _x())
    out = tmp_path / "run"
    assert cli.main(["fit", f"{tmp_path / 'mine.py'}:coin", "--data", str(tmp_path / "x.npy"), "--epochs", "2",
                     "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["lr"] == 0.05 and config["batch_size"] == 32 and config["lr_schedule"] == "constant"
    assert cli.main(["fit", f"{tmp_path / 'mine.py'}:coin", "--data", str(tmp_path / "x.npy"), "--epochs", "2",
                     "--lr", "0.1", "--out", str(tmp_path / "run2")]) == 0
    assert json.loads((tmp_path / "run2" / "config.json").read_text())["lr"] == 0.1
