"""Objectives as players: one stepper per engine runs whatever players an
objective lists, each on its own parameters and its own minibatches."""

import numpy as np
import pytest

import gendsl.models as zoo
from gendsl import data
from gendsl.errors import GendslError
from gendsl.inference import MLE, objectives
from gendsl.inference.engines import make_engine
from gendsl.inference.optim import Adam, Player

ROWS, BATCH = 250, 50  # five minibatches an epoch


class TwoGroups(MLE):
    """A user's game: the mixture's means step on every minibatch, its
    weights and scales every third one, both minimising the same likelihood."""

    def __init__(self, means=frozenset({"locs"}), every=3):
        self.means, self.every = means, every

    def players(self, lowered, optim):
        return [Player("means", self.loss, optim, params=self.means),
                Player("shape", self.loss, optim, params=lambda name: name not in self.means, every=self.every)]


def _case():
    return zoo.gmm(x_dim=2, k=3), data.blobs(n=ROWS, seed=1)


def test_each_player_moves_only_its_own_parameters_on_its_own_steps(backend):
    model, x = _case()
    engine = make_engine(model, backend)
    stepper = engine.stepper(TwoGroups(), {"x": x}, {}, 0.05, 0, model.init_params(0))
    before = stepper.params(stepper.snapshot())
    for t in range(1, 7):
        stepper.step(np.arange(BATCH) + BATCH * (t % 5))
        after = stepper.params(stepper.snapshot())
        assert not np.array_equal(after["locs"], before["locs"]), t  # "means" steps every time
        for name in ("weights", "scales"):  # "shape" only on minibatches 3 and 6
            assert np.array_equal(after[name], before[name]) == (t % 3 != 0), (t, name)
        before = after
    losses = stepper.read()
    assert list(losses) == ["means", "shape"] and losses["means"].shape == (6,) and losses["shape"].shape == (2,)


def test_fit_records_each_players_losses_and_resumes_mid_cycle(backend, tmp_path):
    model, x = _case()
    kw = dict(objective=TwoGroups(), backend=backend, batch_size=BATCH, lr=0.05, seed=3, progress=False)
    whole = model.fit(x, epochs=4, **kw)
    assert len(whole.history["step_loss"]) == 20 and len(whole.history["epoch_loss"]) == 4
    assert len(whole.history["shape_step_loss"]) == 6  # minibatches 3, 6, ..., 18 of the 20
    assert [v is None for v in whole.history["shape_epoch_loss"]] == [False] * 4
    ckpt = tmp_path / "run.ckpt"
    model.fit(x, epochs=2, checkpoint=ckpt, **kw)  # stops after minibatch 10, between "shape"'s steps
    resumed = model.fit(x, epochs=4, checkpoint=ckpt, resume=True, **kw)
    assert resumed.history == whole.history
    for name, value in whole.params.items():
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)


def test_an_epoch_in_which_a_player_never_steps_records_none(backend):
    model, x = _case()
    fit = model.fit(x, objective=TwoGroups(every=7), backend=backend, epochs=2, batch_size=BATCH, progress=False)
    assert len(fit.history["shape_step_loss"]) == 1
    assert fit.history["shape_epoch_loss"][0] is None and fit.history["shape_epoch_loss"][1] is not None


def test_the_default_is_one_player_and_a_gan_has_two():
    model, _ = _case()
    lowered = make_engine(model, "pyro").lowered
    (only,) = MLE().players(lowered, Adam(1e-3))
    assert only.every == 1 and only.project is None and only.averages and only.owns("locs")
    gan = zoo.gan(x_dim=2, z_dim=2, hidden=(8,), critic_hidden=(8,))
    lowered = make_engine(gan, "pyro").lowered
    critic, generator = objectives.get("adversarial", loss="wgan").players(lowered, Adam(1e-3))
    assert (critic.name, critic.every, critic.averages) == ("discriminator", 1, False) and critic.project
    assert (generator.name, generator.every, generator.averages) == ("generator", 5, True)
    assert not generator.project
    for name in lowered.discriminator_params:
        assert critic.owns(name) and not generator.owns(name)
    assert not objectives.get("adversarial", loss="hinge").players(lowered, Adam(1e-3))[0].project


class Overlapping(MLE):
    def players(self, lowered, optim):
        return [Player("all", self.loss, optim), Player("means", self.loss, optim, params={"locs"}, every=2)]


def test_players_that_share_a_parameter_are_refused(backend):
    model, x = _case()
    engine = make_engine(model, backend)
    with pytest.raises(GendslError, match=r"parameters \['locs'\] belong to more than one of its players"):
        engine.stepper(Overlapping(), {"x": x}, {}, 0.05, 0, model.init_params(0))


def test_compile_refuses_a_user_game():
    model, x = _case()
    with pytest.raises(GendslError, match="'mle' objective alternates two players.*compile=False"):
        model.fit(x, objective=TwoGroups(), epochs=1, compile=True, progress=False)
