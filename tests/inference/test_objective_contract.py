"""One contract test per objective in the registry, on both backends: a step's loss is finite,
gradients reach exactly the parameters the objective trains, a seed repeats the run, and a
model it cannot score is refused before training with a message naming the model and saying
what would work (STYLE 10)."""

import re
from typing import Callable, NamedTuple

import numpy as np
import pytest

import gendsl as gd
import gendsl.models as zoo
from gendsl.inference.engines import make_engine
from gendsl.inference.objectives import OBJECTIVES

from ..gendsl.cases import gradients, players

N = 24  # rows of every case's data


class Works(NamedTuple):
    """A small model an objective must train, and its data."""
    id: str
    factory: Callable
    hyper: dict
    data: Callable  # (rng, n) -> {site: array}
    options: dict = {}  # the objective's options


class Refuses(NamedTuple):
    """A model an objective cannot score; ``instead`` is a pattern of the advice its error gives."""
    factory: Callable
    hyper: dict
    data: Callable
    instead: str


def _binary(d):
    return lambda r, n: {"x": (r.random((n, d)) < 0.4).astype(float)}


def _real(d):
    return lambda r, n: {"x": r.normal(size=(n, d))}


_GMM = (zoo.gmm, dict(x_dim=2, k=2), _real(2))
_VAE = (zoo.vae, dict(x_dim=4, z_dim=2, hidden=(8,)), _binary(4))
_DDPM = (zoo.ddpm, dict(x_dim=2, hidden=(8,), steps=4, time_dim=4), _real(2))
_DAE = (zoo.dae, dict(x_dim=4, hidden=(8,), code_dim=2), _binary(4))
_GAN = (zoo.gan, dict(x_dim=2, z_dim=2, hidden=(8,), critic_hidden=(8,)), _real(2))

# objective -> the models it must train ...
WORKS = {
    "mle": [Works("gmm", *_GMM)],
    "elbo": [Works("vae", *_VAE, {"beta": 2.0}), Works("ddpm", *_DDPM)],  # a guide's bound; a chain's own
    "iwae": [Works("vae", *_VAE, {"k": 3})],
    "adversarial": [Works("gan", *_GAN)],
    "denoising": [Works("ddpm", *_DDPM), Works("dae", *_DAE)],
}
# ... and models it must refuse, with what its error says would work
REFUSES = {
    "mle": [Refuses(*_VAE, r"Use objective='elbo' or 'iwae' with a guide"),
            Refuses(*_DDPM, r"use objective='denoising'"),
            Refuses(*_GAN, r"use objective='adversarial'")],
    "elbo": [Refuses(*_GMM, r"attach one with @gmm\.guide"), Refuses(*_DAE, r"use objective='denoising'")],
    "iwae": [Refuses(*_DDPM, r"use objective='elbo'"), Refuses(*_GAN, r"use objective='adversarial'")],
    "adversarial": [Refuses(*_VAE, r"Models with a density train with 'mle', or 'elbo'/'iwae'")],
    "denoising": [Refuses(*_GMM, r"use 'mle' for exact likelihoods"), Refuses(*_GAN, r"use objective='adversarial'")],
}

# The objectives gendsl registers itself; ones a user (a docs example, a test) registers at run
# time are theirs to test.
BUILT_IN = sorted(name for name, cls in OBJECTIVES.items() if cls.__module__.startswith("gendsl.inference"))
CASES = [(name, case) for name in BUILT_IN for case in WORKS.get(name, [None])]


def _ids(pairs):
    return [f"{name}-{case.id}" if case is not None else f"{name}-missing" for name, case in pairs]


def _model_and_data(case, seed=0):
    return case.factory(**case.hyper), case.data(np.random.default_rng(seed), N)


def _fit(name, case, backend, **kw):
    model, data = _model_and_data(case)
    kw = {"epochs": 2, "batch_size": N // 2, "lr": 0.05, "seed": 0, "dtype": "float64", "progress": False, **kw}
    return model.fit(data, objective=name, backend=backend, **case.options, **kw)


def test_every_registered_objective_has_a_case():
    """An objective registered without cases here fails (and a case for a gone one)."""
    assert {"mle", "elbo", "iwae", "adversarial", "denoising"} <= set(BUILT_IN)
    assert set(WORKS) == set(BUILT_IN), f"no model to train for {sorted(set(BUILT_IN) ^ set(WORKS))}"
    assert set(REFUSES) == set(BUILT_IN), f"no model to refuse for {sorted(set(BUILT_IN) ^ set(REFUSES))}"
    assert all(WORKS[name] and REFUSES[name] for name in BUILT_IN)


@pytest.mark.parametrize("name, case", CASES, ids=_ids(CASES))
def test_gradients_reach_exactly_the_trained_parameters(name, case, backend):
    """Every parameter of model and guide (a game: each player's own) gets a finite, non-zero
    gradient from the loss that trains it; a player's loss leaves the other player's at zero
    where the objective holds that player fixed (the discriminator's step)."""
    model, data = _model_and_data(case)
    objective = gd.objectives.get(name, **case.options)
    eng = make_engine(model, backend, "float64")
    params, batch = eng.params_in(model.init_params(0)), eng.put_data(data)
    everything = set(model.init_params(0))
    trained = []
    for player, loss, names in players(objective, eng.lowered, N):
        value, grads = gradients(eng, loss, params, batch)
        assert np.isfinite(value), player
        assert set(grads) == everything
        for k in sorted(names):
            assert np.all(np.isfinite(grads[k])) and np.any(grads[k] != 0), \
                f"no gradient of player {player!r}'s loss reaches {k!r}"
        if player == "discriminator":  # the generator's samples are held fixed (stop_gradient)
            for k in sorted(everything - names):
                assert np.all(grads[k] == 0), f"the discriminator's loss moves the generator's {k!r}"
        trained.append(set(names))
    assert set().union(*trained) == everything
    assert sum(map(len, trained)) == len(everything)  # no parameter belongs to two players


@pytest.mark.parametrize("name, case", CASES, ids=_ids(CASES))
def test_steps_are_finite_and_the_same_seed_repeats_them(name, case, backend):
    a, b = _fit(name, case, backend, seed=3), _fit(name, case, backend, seed=3)
    assert a.objective.name == name
    assert "step_loss" in a.history
    for key in (k for k in a.history if k.endswith("step_loss")):  # a game's generator too (n_critic=1)
        losses = a.history[key]  # two epochs of two steps
        assert len(losses) == 4 and np.all(np.isfinite(losses)), (key, losses)
    assert a.history == b.history
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)
    assert _fit(name, case, backend, seed=4).history != a.history  # the seed is used
    # through fit alone: a few steps move every parameter from where the seed started it
    start = case.factory(**case.hyper).init_params(3)
    still = [k for k in start if np.array_equal(a.params[k], start[k])]
    assert not still, f"{name!r} left {still} where they started"


REFUSALS = [(name, refusal) for name in BUILT_IN for refusal in REFUSES.get(name, [])]


@pytest.mark.parametrize("name, refusal", REFUSALS,
                         ids=[f"{name}-{r.factory.__name__}" for name, r in REFUSALS])
def test_refuses_a_model_it_cannot_score(name, refusal, backend):
    model = refusal.factory(**refusal.hyper)
    data = refusal.data(np.random.default_rng(0), N)
    with pytest.raises(gd.ObjectiveError) as err:
        model.fit(data, objective=name, backend=backend, epochs=1, progress=False)
    message = str(err.value)
    assert repr(model.name) in message, message
    assert re.search(refusal.instead, message), message
