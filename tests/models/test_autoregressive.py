"""Autoregressive chains: exact normalisation, sampling, the chain rule, one pass."""

import itertools

import numpy as np
import pytest
from scipy import stats

import gendsl as gd
import gendsl.models as zoo
from gendsl import dist, nn
from gendsl.backends import get_backend
from gendsl.families import autoregressive
from gendsl.inference import Fitted

BACKENDS = ["pyro", "numpyro"]
D = 10
ALL_STATES = np.array(list(itertools.product([0.0, 1.0], repeat=D)))

CHAINS = {
    "fvsbn": lambda: zoo.fvsbn(x_dim=D, ordering="random", seed=3),
    "nade": lambda: zoo.nade(x_dim=D, hidden=7, ordering="random", seed=3),
    "made": lambda: zoo.made(x_dim=D, hidden=(12, 12), num_masks=4, ordering="random", seed=3, direct=True),
}


def _random_fit(model, backend, seed=0, scale=1.0):
    """A fit whose parameters are random normals (untrained chains are too flat to test)."""
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0.0, scale, v.shape) for k, v in model.init_params(0).items()}
    return Fitted(model, backend, params, dtype="float64")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_all_1024_states_sum_to_one(name, backend):
    fit = _random_fit(CHAINS[name](), backend)
    p = np.exp(fit.log_prob(ALL_STATES))
    assert abs(p.sum() - 1.0) < 1e-6
    assert p.max() > 10.0 / 1024  # far from uniform: the parameters matter


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_ancestral_samples_pass_a_chi_square_test(name, backend):
    d = 4
    model = {"fvsbn": zoo.fvsbn, "nade": zoo.nade, "made": zoo.made}[name]
    hyper = {"nade": dict(hidden=5), "made": dict(hidden=(8,), num_masks=3, ordering="random")}.get(name, {})
    states = np.array(list(itertools.product([0.0, 1.0], repeat=d)))
    fit = _random_fit(model(x_dim=d, **hyper), backend, seed=1, scale=1.5)
    probs = np.exp(fit.log_prob(states))
    x = fit.sample(20000, seed=7)["x"]
    assert set(np.unique(x)) <= {0.0, 1.0}
    counts = np.bincount((x @ 2 ** np.arange(d - 1, -1, -1)).astype(int), minlength=2 ** d)
    assert stats.chisquare(counts, probs * len(x)).pvalue > 1e-3


def test_a_mask_ensemble_is_the_mixture_of_its_masks():
    fit = _random_fit(CHAINS["made"](), "numpyro")
    single = []
    for m in range(4):
        @gd.model
        def one(x_dim=D, m=m):
            net = nn.MADE("made", x_dim, hidden=(12, 12), num_masks=4, ordering="random", seed=3, direct=True)
            with gd.plate("data"):
                gd.observe("x", dist.Autoregressive(net, "Bernoulli", mask=m))
        lp = Fitted(one(), "numpyro", fit.params, dtype="float64").log_prob(ALL_STATES)
        assert abs(np.exp(lp).sum() - 1.0) < 1e-6  # every mask is a normalised chain
        single.append(lp)
    mixture = np.log(np.mean(np.exp(single), axis=0))
    np.testing.assert_allclose(fit.log_prob(ALL_STATES), mixture, rtol=1e-10)
    assert np.std(single, axis=0).max() > 0.1  # the masks really differ


def _unrolled(weights, bias, order):
    """FVSBN written out as a Python loop of scalar sites: the chain rule by hand."""
    @gd.model
    def fvsbn_by_hand():
        with gd.plate("data"):
            xs = {}
            for i, d in enumerate(order):
                logit = float(bias[d])
                for j in order[:i]:
                    logit = logit + float(weights[d, j]) * xs[j]
                xs[d] = gd.observe(f"x{d}", dist.Bernoulli(logits=logit))
    return fvsbn_by_hand()


@pytest.mark.parametrize("backend", BACKENDS)
def test_fvsbn_equals_its_chain_rule_written_by_hand(backend):
    d, order = 5, [2, 0, 4, 1, 3]
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(d, d)), rng.normal(size=d)
    fit = Fitted(zoo.fvsbn(x_dim=d, ordering=order), backend,
                 {"fvsbn.0.weight": weights, "fvsbn.0.bias": bias}, dtype="float64")
    hand = Fitted(_unrolled(weights, bias, order), backend, {}, dtype="float64")
    assert len(hand.model.ir.sites) == d and len(fit.model.ir.sites) == 1
    x = np.array(list(itertools.product([0.0, 1.0], repeat=d)))
    np.testing.assert_allclose(hand.log_prob({f"x{i}": x[:, i] for i in range(d)}), fit.log_prob(x), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nade_equals_its_recursion_in_numpy(backend):
    d, h = 6, 4
    order = np.array([3, 1, 5, 0, 2, 4])
    fit = _random_fit(zoo.nade(x_dim=d, hidden=h, ordering=tuple(order)), backend, seed=2)
    p = fit.params
    x = np.array(list(itertools.product([0.0, 1.0], repeat=d)))
    expected = np.zeros(len(x))
    for n, row in enumerate(x):  # Larochelle & Murray, algorithm 1, one conditional at a time
        a = p["nade.in.bias"].copy()
        for dim in order:
            hid = 1 / (1 + np.exp(-a))
            logit = p["nade.out.bias"][dim] + p["nade.out.weight"][dim] @ hid
            expected[n] += row[dim] * logit - np.logaddexp(0, logit)
            a = a + p["nade.in.weight"][:, dim] * row[dim]
    np.testing.assert_allclose(fit.log_prob(x), expected, rtol=1e-10)


# (model options, levels, ordering) of small NADEs whose every state can be counted
NADE_FAMILIES = {"bernoulli": (dict(), 2, (2, 0, 3, 1)), "categorical": (dict(family="categorical", n_levels=4), 4, (2, 0, 1))}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family, params_per_dim", [("Bernoulli", 1), ("Categorical", 4), ("NormalMixture", 9)])
def test_nade_sampling_recursion_reproduces_the_vectorised_pass(family, params_per_dim, backend):
    """Fed the data position by position, the O(dH) recursion that sampling
    runs gives every conditional's output exactly as the one-pass ``cumsum``."""
    d, order = 6, (4, 0, 5, 2, 1, 3)
    spec = nn.NADE("nade", d, hidden=5, params_per_dim=params_per_dim, ordering=order)
    rng = np.random.default_rng(0)
    be = get_backend(backend)
    f64 = be.float_dtype("float64")
    params = {k: be.asarray(rng.normal(size=shape), like=f64) for k, shape in spec.param_shapes().items()}
    net = autoregressive.forward_for(spec)(be, spec, params, "")
    assert isinstance(net, autoregressive.NADEForward)
    x = rng.normal(size=(7, d)) if family == "NormalMixture" else rng.integers(0, 2, size=(7, d)).astype(float)
    inputs = autoregressive.net_input(be, family, be.asarray(x, like=f64), spec)
    whole = be.to_numpy(net(inputs))
    a = net.start(inputs)
    for i, dim in enumerate(order):
        np.testing.assert_allclose(be.to_numpy(net.output(a, i))[:, 0], whole[:, dim], rtol=1e-10, atol=1e-12)
        a = net.advance(a, i, inputs[:, dim:dim + 1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", sorted(NADE_FAMILIES))
def test_nade_samples_in_a_random_ordering_pass_a_chi_square_test(family, backend):
    options, levels, order = NADE_FAMILIES[family]
    d = len(order)
    fit = _random_fit(zoo.nade(x_dim=d, hidden=5, ordering=order, **options), backend, seed=4, scale=1.5)
    states = np.array(list(itertools.product(range(levels), repeat=d)), dtype=float)
    probs = np.exp(fit.log_prob(states))
    x = fit.sample(20000, seed=11)["x"]
    counts = np.bincount((x @ levels ** np.arange(d - 1, -1, -1)).astype(int), minlength=levels ** d)
    assert stats.chisquare(counts, probs * len(x)).pvalue > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_nade_sampling_of_784_pixels_runs_the_recursion(backend, monkeypatch):
    """Sampling a 784-pixel NADE never runs the whole network (that is O(d^2 H))."""
    calls = []
    monkeypatch.setattr(autoregressive.NADEForward, "__call__", lambda self, x, mask=None: calls.append(x.shape))
    fit = _random_fit(zoo.nade(x_dim=784, hidden=20), backend, scale=0.1)
    x = fit.sample(3, seed=0)["x"]
    assert x.shape == (3, 784) and set(np.unique(x)) <= {0.0, 1.0}
    assert not calls


def test_categorical_and_mixture_chains_normalise():
    levels = np.array(list(itertools.product(range(3), repeat=3)))
    fit = _random_fit(zoo.made(x_dim=3, hidden=(6,), family="categorical", n_levels=3), "pyro")
    assert abs(np.exp(fit.log_prob(levels)).sum() - 1.0) < 1e-6
    sample = fit.sample(50, seed=0)["x"]
    assert sample.dtype.kind == "i" and sample.min() >= 0 and sample.max() <= 2

    grid = np.linspace(-20, 20, 1001)
    points = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    fit = _random_fit(zoo.rnade(x_dim=2, hidden=5, components=3), "numpyro", scale=0.5)
    total = np.exp(fit.log_prob(points)).sum() * (grid[1] - grid[0]) ** 2
    assert abs(total - 1.0) < 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_hot_inputs_keep_the_chain_normalised_and_autoregressive(backend):
    """A categorical MADE reading one-hot levels (nominal categories): its 4^3
    states sum to 1 (a conditional that saw its own or later levels would
    break that), and ancestral samples follow the chain's own probabilities."""
    model = zoo.made(x_dim=3, hidden=(7,), family="categorical", n_levels=4, ordering=[2, 0, 1],
                     direct=True, one_hot_inputs=True)
    net = model.ir.nets[0].spec
    assert net.param_shapes()["0.weight"] == (7, 12) and net.masks()[0].shape == (1, 7, 12)
    states = np.array(list(itertools.product(range(4), repeat=3)))
    fit = _random_fit(model, backend)
    p = np.exp(fit.log_prob(states))
    assert abs(p.sum() - 1.0) < 1e-6
    # the first dimension in the ordering (2) has a marginal that no other level moves
    first = {tuple(row): p_ for row, p_ in zip(states.tolist(), p)}
    marginal = [sum(v for k, v in first.items() if k[2] == level) for level in range(4)]
    sample = fit.sample(20000, seed=3)["x"]
    counts = np.array([(sample[:, 2] == level).sum() for level in range(4)])
    assert stats.chisquare(counts, np.array(marginal) * len(sample)).pvalue > 1e-3
    joint = np.array([np.all(sample == s, axis=1).sum() for s in states])
    keep = p * len(sample) >= 5
    expected = p[keep] / p[keep].sum() * joint[keep].sum()
    assert stats.chisquare(joint[keep], expected).pvalue > 1e-3
    with pytest.raises(gd.ModelError, match="one_hot_inputs needs family='categorical'"):
        zoo.made(x_dim=3, one_hot_inputs=True)


class _Counting:
    def __init__(self, net):
        self.net, self.calls = net, 0

    def __call__(self, *args):
        self.calls += 1
        return self.net(*args)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["fvsbn", "nade", "made"])
def test_log_prob_of_784_pixels_is_one_network_pass(name, backend, monkeypatch):
    """Scoring a batch of MNIST-sized images calls the network once (no loop over pixels)."""
    model = getattr(zoo, name)(x_dim=784, **({"hidden": 16} if name == "nade" else {"hidden": (16,)} if name == "made" else {}))
    x = (np.random.default_rng(0).random((5, 784)) < 0.2).astype(float)
    fit = Fitted(model, backend, model.init_params(0))
    counters = []
    original = autoregressive.chain_log_prob

    def counting(backend_, net, *args):
        counters.append(_Counting(net))
        return original(backend_, counters[-1], *args)

    monkeypatch.setattr(autoregressive, "chain_log_prob", counting)
    lp = fit.log_prob(x)
    assert lp.shape == (5,) and np.isfinite(lp).all()
    assert [c.calls for c in counters] == [1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_prob_scores_rows_in_batches(backend, monkeypatch):
    """A NADE scoring 10,000 MNIST images at once would hold 10,000 x 784 x 500
    hidden units (16 GB): log_prob scores ``batch_size`` rows at a time, to the same numbers."""
    model = zoo.nade(x_dim=20, hidden=8)
    x = (np.random.default_rng(0).random((23, 20)) < 0.3).astype(float)
    fit = Fitted(model, backend, model.init_params(0))
    whole = fit.log_prob(x)
    sizes, original = [], autoregressive.chain_log_prob

    def recording(backend_, net, spec, family, x_, mask):
        sizes.append(x_.shape[0])
        return original(backend_, net, spec, family, x_, mask)

    monkeypatch.setattr(autoregressive, "chain_log_prob", recording)
    np.testing.assert_allclose(fit.log_prob(x, batch_size=10), whole, rtol=1e-6)
    assert set(sizes) == {10, 3}  # (a jitted query traces each size once)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_mask_ensemble_trains(backend):
    x = (np.random.default_rng(0).random((200, 8)) < np.linspace(0.1, 0.9, 8)).astype(float)
    model = zoo.made(x_dim=8, hidden=(16,), num_masks=3, ordering="random")
    start = -Fitted(model, backend, model.init_params(0)).log_prob(x).mean()
    fit = model.fit(x, backend=backend, epochs=30, batch_size=50, lr=1e-2, progress=False)
    independent = -(x * np.log(x.mean(0)) + (1 - x) * np.log(1 - x.mean(0))).sum(1).mean()
    trained = -fit.log_prob(x).mean()
    assert trained < start - 1.0 and trained < independent + 0.1  # learns at least the marginals


def test_bad_input_is_named():
    with pytest.raises(gd.ModelError, match="params_per_dim"):
        @gd.model
        def wrong():
            with gd.plate("data"):
                gd.observe("x", dist.Autoregressive(nn.MADE("m", 4, hidden=[3]), "Categorical"))
        wrong()
    with pytest.raises(gd.ModelError, match="permutation of range"):
        nn.NADE("n", 3, hidden=2, ordering=(0, 0, 1))
    with pytest.raises(gd.ModelError, match="unknown conditional family"):
        @gd.model
        def wrong2():
            with gd.plate("data"):
                gd.observe("x", dist.Autoregressive(nn.FVSBN("f", 3), "Poisson"))
        wrong2()
    with pytest.raises(gd.ModelError, match="autoregressive network"):
        @gd.model
        def wrong3():
            with gd.plate("data"):
                gd.observe("x", dist.Autoregressive(nn.MLP("f", [3, 3]), "Bernoulli"))
        wrong3()
    fit = Fitted(zoo.fvsbn(x_dim=3), "pyro", zoo.fvsbn(x_dim=3).init_params(0))
    with pytest.raises(gd.DataError, match="shape"):
        fit.log_prob(np.zeros((4, 5)))
    with pytest.raises(gd.DataError, match="autoregressive chain with missing values"):
        fit.log_prob(np.array([[0.0, np.nan, 1.0]]))


def test_the_chain_is_one_node_in_the_ir_and_the_graph():
    model = zoo.made(x_dim=784, num_masks=2, ordering="random")
    assert [s.name for s in model.ir.sites] == ["x"]
    node = next(n for n in model.graph_spec()["model"]["nodes"] if n["name"] == "x")
    assert node["kind"] == "chain" and "x_i | x_<i, i = 1..784" in node["label"]
    assert "2 masks, 2 orderings" in node["label"]
    assert "fillcolor" in node["style"]  # observed: shaded
    assert "x_i | x_<i" in model.to_dot()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_training_step_scores_one_random_mask(backend):
    from gendsl.backends import get_backend

    b = get_backend(backend)
    model = CHAINS["made"]()
    spec = model.ir["made"].spec
    like = b.float_dtype("float64")
    params = {k: b.asarray(v, like=like) for k, v in _random_fit(model, backend).params.items()}
    net = b.net(spec, params, "made.")
    x = b.asarray(ALL_STATES[:50], like=like)
    per_mask = [b.to_numpy(b.dists["Autoregressive"](net, spec, "Bernoulli", mask=m).log_prob(x)) for m in range(4)]
    seen = set()
    for seed in range(12):
        lp = b.to_numpy(b.dists["Autoregressive"](net, spec, "Bernoulli", training=b.rng(seed)).log_prob(x))
        match = [m for m in range(4) if np.allclose(lp, per_mask[m], rtol=1e-12)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) > 1  # the mask changes from step to step
