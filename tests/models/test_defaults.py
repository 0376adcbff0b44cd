"""A factory's declared fit defaults reach fit() and the CLI, under the caller's keywords;
every zoo factory's declared defaults are keywords fit() accepts (issue 26)."""

import inspect
import json

import numpy as np
import pytest

import gendsl as gd
import gendsl.models as zoo
from gendsl import cli, dist
from gendsl.inference import fit as inference_fit
from gendsl.inference.adversarial import LOSSES, Adversarial
from gendsl.inference.optim import Adam
from gendsl.model import UPPER_LAYERS

from ..gendsl.cases import CASES, case_data, fit_data

FIT_KEYWORDS = set(inspect.signature(inference_fit).parameters) - {"model", "data", "objective", "options"}


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


# -- the zoo's declared defaults ----------------------------------------------------------------------

@pytest.fixture
def calls(monkeypatch):
    """Records what Model.fit hands to gendsl.inference.fit, and trains nothing."""
    seen = []
    monkeypatch.setitem(UPPER_LAYERS, "fit", lambda model, data, **kw: seen.append(kw) or kw)
    return seen


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_zoo_defaults_are_fit_keywords(name):
    """Each declared default is a fit() keyword, or an option of the factory's default objective,
    and passes fit's own checks (the optimiser's settings) and the objective's."""
    factory = zoo.ZOO[name]
    for options in ([{"loss": loss} for loss in LOSSES] if name == "gan" else [{}]):
        declared = factory().default_fit_options(**options)
        own = {k: v for k, v in declared.items() if k in FIT_KEYWORDS}
        gd.objectives.get(factory.default_objective, **options, **{k: v for k, v in declared.items() if k not in own})
        Adam(float(own.get("lr", 1e-3)), schedule=own.get("lr_schedule", "constant"), total_steps=10,
             warmup=int(own.get("warmup", 0)))
        assert own.get("ema") is None or 0.0 < own["ema"] < 1.0
        assert int(own.get("batch_size", 1)) >= 1 and int(own.get("epochs", 1)) >= 1


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_zoo_fit_picks_up_the_defaults(case, calls):
    model, data = case_data(case)
    model.fit(fit_data(model, data), epochs=1)
    (passed,) = calls
    assert passed["objective"] == model.factory.default_objective  # the model's own, not always mle
    for key, value in model.default_fit_options().items():
        assert passed[key] == value, key


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_zoo_defaults_train(case):
    """One epoch with what Model.fit merges in: fit() runs with every zoo model's defaults."""
    model, data = case_data(case)
    fit = model.fit(fit_data(model, data), epochs=1, batch_size=20, progress=False)
    assert np.all(np.isfinite(fit.history["epoch_loss"]))


def test_the_callers_keywords_win_over_a_zoo_default(calls):
    model = zoo.maf(x_dim=2, hidden=(8,), layers=2)
    assert model.default_fit_options()["lr_schedule"] == "cosine"
    model.fit(np.zeros((4, 2)), lr=0.5, lr_schedule="constant")
    assert calls[-1]["lr"] == 0.5 and calls[-1]["lr_schedule"] == "constant"
    assert calls[-1]["batch_size"] == zoo.maf.fit_defaults["batch_size"]  # the others still come from the factory
    zoo.ddpm(x_dim=2, hidden=(8,), steps=5).fit(np.zeros((4, 2)), ema=None)  # None given is "no average", kept
    assert calls[-1]["ema"] is None and calls[-1]["batch_size"] == zoo.ddpm.fit_defaults["batch_size"]


def test_gan_defaults_follow_the_loss(calls):
    from gendsl.models.gan import GAN_LR

    toy, digits = zoo.gan(x_dim=2), zoo.gan(x_dim=64)
    assert toy.default_fit_options() == {"lr": GAN_LR["non_saturating"], "batch_size": 256, "ema": 0.999}
    assert toy.default_fit_options(loss="wgan_gp") == {"lr": GAN_LR["wgan_gp"], "batch_size": 256, "ema": 0.999,
                                                       "gp": 0.1}
    assert "gp" not in digits.default_fit_options(loss="wgan_gp")  # the paper's 10 beyond 2-D toys
    assert "ema" not in toy.default_fit_options(loss="wgan")  # the average would unclip the critic
    # an objective instance carries its loss, and takes no further options: no gp is declared for it
    assert toy.default_fit_options(Adversarial(loss="wgan_gp")) == {"lr": GAN_LR["wgan_gp"], "batch_size": 256,
                                                                      "ema": 0.999}
    toy.fit(np.zeros((4, 2)), loss="wgan_gp", gp=5.0)
    assert calls[-1]["gp"] == 5.0 and calls[-1]["objective"] == "adversarial"
