"""nn.GRU as the conditioner of dist.Autoregressive (zoo.char_rnn), on both backends."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import gendsl as gd
import gendsl.models as zoo
from gendsl import dist, nn
from gendsl.inference.fitted import Fitted

BACKENDS = ["pyro", "numpyro"]


def _torch_reference(params, x, vocab):
    """``log p(x)`` per row from ``torch.nn.GRU`` with the same weights (teacher forcing, a start token)."""
    p = {k.split(".", 1)[1]: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items()}
    hidden = p["hh.weight"].shape[1]
    gru = torch.nn.GRU(p["ih.weight"].shape[1], hidden, batch_first=True).double()
    with torch.no_grad():
        for ours, theirs in (("ih.weight", "weight_ih_l0"), ("ih.bias", "bias_ih_l0"),
                             ("hh.weight", "weight_hh_l0"), ("hh.bias", "bias_hh_l0")):
            getattr(gru, theirs).copy_(p[ours])
        x = torch.as_tensor(x)
        previous = torch.cat([torch.full((len(x), 1), vocab), x[:, :-1]], dim=1)
        states, _ = gru(p["embed.weight"][previous])                           # (n, T, hidden)
        logits = states @ p["out.weight"].T + p["out.bias"]                     # (n, T, vocab)
        return torch.log_softmax(logits, -1).gather(-1, x[..., None])[..., 0].sum(-1).numpy()


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_prob_is_torch_grus_teacher_forced_chain(backend):
    model = zoo.char_rnn(x_dim=7, vocab=5, hidden=6, embed=3)
    params = model.init_params(0)
    x = np.random.default_rng(0).integers(0, 5, (9, 7))
    got = Fitted(model, backend, params, dtype="float64").log_prob(x)
    np.testing.assert_allclose(got, _torch_reference(params, x, 5), rtol=1e-10)


def test_the_weights_do_not_depend_on_the_length():
    short, long = zoo.char_rnn(x_dim=4, vocab=5, hidden=6), zoo.char_rnn(x_dim=9, vocab=5, hidden=6)
    params = short.init_params(0)
    assert {k: v.shape for k, v in params.items()} == {k: v.shape for k, v in long.init_params(0).items()}
    x = np.random.default_rng(1).integers(0, 5, (3, 9))
    # a prefix scores the same under the short chain: the GRU reads only what came before
    prefix = Fitted(long, "numpyro", params, dtype="float64").log_prob(x)
    np.testing.assert_allclose(Fitted(short, "numpyro", params, dtype="float64").log_prob(x[:, :4]),
                               prefix - _tail(long, params, x, 4), rtol=1e-10)


def _tail(model, params, x, start):
    """The log-probabilities of positions ``start..`` (from the torch reference, position by position)."""
    vocab = params["rnn.out.bias"].shape[0]
    return _torch_reference(params, x, vocab) - _torch_reference(params, x[:, :start], vocab)


@pytest.mark.parametrize("backend", BACKENDS)
def test_samples_follow_the_exact_sequence_distribution(backend):
    model = zoo.char_rnn(x_dim=3, vocab=3, hidden=4, embed=2)
    params = {k: 3.0 * v for k, v in model.init_params(2).items()}    # sharper conditionals than at init
    fitted = Fitted(model, backend, params, dtype="float64")
    every = np.array(list(itertools.product(range(3), repeat=3)))
    probs = np.exp(fitted.log_prob(every))
    assert abs(probs.sum() - 1.0) < 1e-10
    n = 20_000
    x = np.asarray(fitted.sample(n, seed=3)["x"])
    assert x.shape == (n, 3)
    counts = np.bincount((x * [9, 3, 1]).sum(1), minlength=27)
    chi2 = ((counts - n * probs) ** 2 / (n * probs)).sum()
    assert chi2 < 54.0, chi2   # 26 degrees of freedom: the 0.999 quantile is 54.1


def test_graph_shows_one_collapsed_chain():
    model = zoo.char_rnn(x_dim=64, vocab=95, hidden=16)
    node = model.graph.nodes["x"]
    assert node["kind"] == "chain"
    assert "x_i | x_<i, i = 1..64" in node["label"] and "Categorical(95)" in node["label"]
    assert model.graph.nodes["rnn"]["net"] == "GRU 95-16"


def test_bad_sizes_are_refused_with_the_name():
    with pytest.raises(gd.ModelError, match="nn.GRU 'rnn': vocab must be >= 2"):
        nn.GRU("rnn", vocab=1, hidden=4, x_dim=3)
    with pytest.raises(gd.ModelError, match="x_dim and params_per_dim must be >= 1"):
        nn.GRU("rnn", vocab=4, hidden=4, x_dim=0)


def test_a_gru_needs_as_many_levels_as_its_vocabulary():
    with pytest.raises(gd.ModelError, match="Bernoulli conditionals need 1"):
        @gd.model
        def wrong(x_dim=3):
            with gd.plate("data"):
                gd.observe("x", dist.Autoregressive(nn.GRU("rnn", vocab=4, hidden=4, x_dim=x_dim), "Bernoulli"))

        wrong().ir
