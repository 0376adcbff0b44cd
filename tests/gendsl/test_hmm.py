"""The hidden Markov model (``dist.HiddenMarkov``, ``zoo.hmm``) on both backends, float64:
its forward-algorithm ``log_prob``, forward-backward marginals and Viterbi path against
brute force over every state path and against hmmlearn, its samples against the exact
path distribution, NaN-padded variable-length batches, and recovery by ``mle``."""

import itertools
import time

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import gendsl.models as zoo
from gendsl.inference.fitted import Fitted

BACKENDS = ("pyro", "numpyro")


def _params(rng, k, d, emission="normal", v=None):
    p = {"init": rng.dirichlet(np.ones(k)), "trans": rng.dirichlet(np.ones(k), size=k)}
    if emission == "normal":
        p["loc"], p["scale"] = rng.normal(0.0, 2.0, (k, d)), rng.uniform(0.5, 1.5, (k, d))
    else:
        p["probs"] = rng.dirichlet(np.ones(v), size=k)
    return p


def _emission_log_probs(p, x):
    """``(N, T, K)``: ``log p(x_t | z_t = k)``."""
    if "loc" in p:
        return stats.norm.logpdf(x[:, :, None, :], p["loc"], p["scale"]).sum(-1)
    return np.log(p["probs"])[:, x[..., 0].astype(int)].transpose(1, 2, 0)


def _paths(p, x):
    """Every state path and its joint ``log p(x, z)``, ``(K^T, T)`` and ``(N, K^T)``."""
    k, t = len(p["init"]), x.shape[1]
    paths = np.array(list(itertools.product(range(k), repeat=t)))
    e = _emission_log_probs(p, x)                                          # (N, T, K)
    prior = np.log(p["init"])[paths[:, 0]] + np.log(p["trans"])[paths[:, :-1], paths[:, 1:]].sum(-1)
    joint = prior[None] + e[:, np.arange(t)[None], paths].sum(-1)          # (N, K^T)
    return paths, joint


def _fitted(backend, p, steps, x_dim=1, emission="normal", v=None):
    model = zoo.hmm(states=len(p["init"]), x_dim=x_dim, steps=steps, emission=emission, n_symbols=v)
    return Fitted(model, backend, p, dtype="float64")


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    p = _params(rng, 3, 2)
    return p, rng.normal(0.0, 2.0, (5, 6, 2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_prob_is_the_sum_over_every_state_path(backend, tiny):
    p, x = tiny
    _, joint = _paths(p, x)
    np.testing.assert_allclose(_fitted(backend, p, 6, 2).log_prob(x), logsumexp(joint, -1), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_categorical_emissions_sum_over_every_state_path(backend):
    rng = np.random.default_rng(1)
    p = _params(rng, 3, 1, "categorical", 4)
    x = rng.integers(0, 4, (5, 6, 1)).astype(float)
    _, joint = _paths(p, x)
    fit = _fitted(backend, p, 6, emission="categorical", v=4)
    np.testing.assert_allclose(fit.log_prob(x), logsumexp(joint, -1), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_marginals_sum_to_one_and_match_brute_force(backend, tiny):
    p, x = tiny
    paths, joint = _paths(p, x)
    post = np.exp(joint - logsumexp(joint, -1, keepdims=True))           # (N, K^T)
    onehot = np.eye(3)[paths]                                             # (K^T, T, K)
    expected = np.einsum("np,ptk->ntk", post, onehot)
    got = _fitted(backend, p, 6, 2).posterior("z", x)
    assert got.shape == (5, 6, 3)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_viterbi_is_the_brute_force_argmax_path(backend, tiny):
    p, x = tiny
    paths, joint = _paths(p, x)
    fit = _fitted(backend, p, 6, 2)
    np.testing.assert_array_equal(fit.predict("z", x), paths[np.argmax(joint, -1)])
    np.testing.assert_array_equal(fit.hidden_states("x", x, method="viterbi"), paths[np.argmax(joint, -1)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_prob_equals_hmmlearn_score(backend):
    from hmmlearn.hmm import GaussianHMM

    rng = np.random.default_rng(2)
    k, d, t = 4, 3, 200
    p = _params(rng, k, d)
    ref = GaussianHMM(n_components=k, covariance_type="diag", init_params="", params="")
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = p["init"], p["trans"], p["loc"], p["scale"] ** 2
    x = np.stack([ref.sample(t, random_state=s)[0] for s in range(4)])
    expected = [ref.score(seq) for seq in x]
    np.testing.assert_allclose(_fitted(backend, p, t, d).log_prob(x), expected, rtol=1e-9)
    # and its Viterbi path and posteriors
    fit = _fitted(backend, p, t, d)
    np.testing.assert_array_equal(fit.predict("z", x[:1])[0], ref.predict(x[0]))
    np.testing.assert_allclose(fit.posterior("z", x[:1])[0], ref.predict_proba(x[0]), atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_samples_follow_the_exact_sequence_distribution(backend):
    rng = np.random.default_rng(3)
    p = _params(rng, 2, 1, "categorical", 2)
    fit = _fitted(backend, p, 3, emission="categorical", v=2)
    seqs = np.array(list(itertools.product(range(2), repeat=3)), dtype=float)[..., None]   # all 8 sequences
    probs = np.exp(fit.log_prob(seqs))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-10)
    n = 4000
    x = fit.sample(n, seed=0)["x"]
    assert x.shape == (n, 3, 1)
    index = (x[..., 0].astype(int) * [4, 2, 1]).sum(-1)
    counts = np.bincount(index, minlength=8)
    assert stats.chisquare(counts, probs * n).pvalue > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_padded_rows_score_as_the_sequences_alone(backend, tiny):
    p, x = tiny
    lengths = [6, 3, 1]
    padded = x[:3].copy()
    for i, n in enumerate(lengths):
        padded[i, n:] = np.nan
    fit = _fitted(backend, p, 6, 2)
    lp, post, path = fit.log_prob(padded), fit.posterior("z", padded), fit.predict("z", padded)
    for i, n in enumerate(lengths):
        alone = _fitted(backend, p, n, 2)
        np.testing.assert_allclose(lp[i], alone.log_prob(x[i:i + 1, :n])[0], rtol=1e-10)
        np.testing.assert_allclose(post[i, :n], alone.posterior("z", x[i:i + 1, :n])[0], atol=1e-10)
        np.testing.assert_array_equal(path[i, :n], alone.predict("z", x[i:i + 1, :n])[0])
        assert np.isnan(post[i, n:]).all() and (path[i, n:] == -1).all()


def test_a_long_chain_is_one_node_and_draws_collapsed():
    model = zoo.hmm(states=3, x_dim=2, steps=1000)
    assert len(model.ir.sites) == 1 and model.ir["x"].shape[1:] == (1000, 2)
    dot = model.to_dot()
    assert dot.count("->") < 60 and "z_1 -> z_2 -> ... -> z_T" in dot.replace("\\n", "\n")


def _generating():
    p = {"init": np.array([0.6, 0.4]), "trans": np.array([[0.9, 0.1], [0.2, 0.8]]),
         "loc": np.array([[-2.0], [2.0]]), "scale": np.array([[1.0], [0.7]])}
    fit = _fitted("numpyro", p, 50)
    return p, fit.sample(300, seed=1)["x"], fit.sample(300, seed=2)["x"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_mle_recovers_the_generating_models_held_out_likelihood(backend):
    p, train, test = _generating()
    start = time.perf_counter()
    fit = zoo.hmm(states=2, x_dim=1, steps=50).fit(train, backend=backend, epochs=60, batch_size=100, seed=0,
                                                   dtype="float64", progress=False)
    elapsed = time.perf_counter() - start
    truth = _fitted(backend, p, 50).log_prob(test).mean() / 50
    got = fit.log_prob(test).mean() / 50
    assert got > truth - 0.01, (got, truth, elapsed)
    np.testing.assert_allclose(fit.params["trans"].sum(-1), 1.0, rtol=1e-10)
    # and no worse than hmmlearn's EM (Baum-Welch) with as many restarts (one), to 0.002 nats per step
    from hmmlearn.hmm import GaussianHMM

    em = GaussianHMM(n_components=2, covariance_type="diag", n_iter=200, tol=1e-6, random_state=0)
    em.fit(train.reshape(-1, 1), [50] * len(train))
    em_per_step = em.score(test.reshape(-1, 1), [50] * len(test)) / test.size
    assert got > em_per_step - 0.002, (got, em_per_step)
