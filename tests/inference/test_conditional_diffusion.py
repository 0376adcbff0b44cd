"""The class-conditional DDPM, ``zoo.ddpm(classes=K)`` (issue 27): the label's
embedding in the noise networks, label dropout in ``denoising``, sampling
given a label with classifier-free guidance, the bound with the label given
or summed out, and the errors a user meets first. Both backends."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from scipy.special import logsumexp, softmax

import gendsl as gd
import gendsl.models as zoo
from gendsl import cli, data, dist, nn
from gendsl.backends import get_backend
from gendsl.families import diffusion
from gendsl.families.diffusion import forward_for, guided
from gendsl.inference.fitted import Fitted

BACKENDS = ["pyro", "numpyro"]
SMALL = dict(x_dim=2, hidden=(16,), steps=8, time_dim=8, classes=3)


def _arr(backend, x):
    return torch.as_tensor(x) if backend == "pyro" else jnp.asarray(x)


def _np(x):
    return x.detach().numpy() if torch.is_tensor(x) else np.asarray(x)


def _toy(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(n, 2)), "y": rng.integers(0, 3, n)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", [nn.TimeMLP("eps", 4, hidden=(6, 5), time_dim=4, fourier=2, classes=3),
                                  nn.TimeUNet("eps", (4, 4), channels=(2, 3), time_dim=4, classes=3)],
                         ids=["TimeMLP", "TimeUNet"])
def test_guided_noise_is_the_classifier_free_formula_on_a_fixed_network(backend, spec):
    b = get_backend(backend)
    params = {k: _arr(backend, v) for k, v in spec.init(seed=1).items()}
    net = forward_for(spec)(b, spec, params, "eps.")
    rng = np.random.default_rng(0)
    x = _arr(backend, rng.normal(size=(5, spec.x_dim)))
    y = _arr(backend, np.array([0, 2, 1, 1, 0]))
    for t in (_arr(backend, np.array([0, 3, 7, 2, 5])), _arr(backend, np.array(4))):  # per row, or one step
        cond, null = _np(net(x, t, y)), _np(net(x, t, None))
        # the "no label" token is the embedding's last row, index K
        np.testing.assert_allclose(null, _np(net(x, t, _arr(backend, np.full(5, 3)))), rtol=1e-12)
        assert not np.allclose(cond, null)
        np.testing.assert_allclose(_np(guided(net, y, 0.0)(x, t)), cond, rtol=1e-12)  # w = 0: the conditional
        for w in (1.0, 3.0, -1.0):
            np.testing.assert_allclose(_np(guided(net, y, w)(x, t)), (1 + w) * cond - w * null, rtol=1e-10,
                                       atol=1e-12)


def test_the_label_embedding_has_a_null_row_and_is_drawn_in_the_graph():
    model = zoo.ddpm(**SMALL)
    spec = model.ir["eps"].spec
    assert spec.classes == 3 and spec.null_label == 3
    assert spec.param_shapes()["label.weight"] == (4, 8)
    assert model.ir["x"].dist.args["labels"] == diffusion.Labels(3, 0.1)
    assert ("y", "x") in model.graph.edges and ("y_logits", "y") in model.graph.edges
    assert "label y of 3 classes, dropout 0.1" in model.graph.nodes["x"]["label"]
    # unconditional models are unchanged: no label weights, no y
    plain = zoo.ddpm(x_dim=2, hidden=(16,), steps=8, time_dim=8)
    assert "label.weight" not in plain.ir["eps"].spec.param_shapes() and "y" not in plain.ir


@pytest.mark.parametrize("backend", BACKENDS)
def test_guidance_threads_through_sample_to_the_chain(backend, monkeypatch):
    model = zoo.ddpm(x_dim=2, hidden=(16,), steps=1, time_dim=8, classes=3)
    fit = Fitted(model, backend, model.init_params(seed=2), dtype="float64")
    seen, real = [], diffusion.guided
    monkeypatch.setattr(diffusion, "guided", lambda net, label, w: seen.append(w) or real(net, label, w))
    draws = {w: fit.sample(40, seed=3, given={"y": 1}, guidance=w)["x"] for w in (0.0, 1.0, 3.0)}
    assert 1.0 in seen and 3.0 in seen
    np.testing.assert_array_equal(fit.sample(40, seed=3, given={"y": 1})["x"], draws[0.0])  # w = 0: the default
    # one step from x_T: x_0 = (x_T - c eps) / sqrt(alpha), linear in the guided noise, so in w
    assert not np.allclose(draws[1.0], draws[0.0])
    np.testing.assert_allclose(draws[3.0] - draws[0.0], 3 * (draws[1.0] - draws[0.0]), rtol=1e-8, atol=1e-10)
    # DDIM takes guidance too
    ddim = fit.sample(40, seed=3, given={"y": 1}, guidance=2.0, sampler="ddim", steps=1)["x"]
    assert ddim.shape == (40, 2) and np.all(np.isfinite(ddim))


def _trained_rows(backend, label_dropout, epochs=3):
    model = zoo.ddpm(**{**SMALL, "label_dropout": label_dropout})
    fit = model.fit(_toy(), backend=backend, epochs=epochs, batch_size=20, progress=False, seed=0, ema=None)
    return model.init_params(seed=0)["eps.label.weight"], fit.params["eps.label.weight"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_label_dropout_reaches_the_null_token(backend):
    # label_dropout=1: every row trains on the null token; the labels' rows never move, so the
    # trained network predicts the same noise for every label it is given only through row K
    def moved(a, b):  # the rows that training changed (beyond the float32 rounding of their initial values)
        return np.abs(a - b).max(axis=-1) > 1e-4

    init, trained = _trained_rows(backend, 1.0)
    np.testing.assert_array_equal(moved(trained, init), [False, False, False, True])
    # label_dropout=0: the null token is never trained (guidance would mix in an untrained prediction)
    init, trained = _trained_rows(backend, 0.0)
    np.testing.assert_array_equal(moved(trained, init), [True, True, True, False])
    # in between, every row
    init, trained = _trained_rows(backend, 0.5)
    assert moved(trained, init).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_trained_without_labels_ignores_y(backend):
    # label_dropout=1 makes the conditional model the unconditional one: given a label or not, the
    # same noise, so the same draws for every label
    model = zoo.ddpm(**{**SMALL, "label_dropout": 1.0})
    fit = model.fit(_toy(), backend=backend, epochs=2, batch_size=20, progress=False, seed=0, ema=None)
    params = dict(fit.params)
    params["eps.label.weight"] = np.repeat(params["eps.label.weight"][3:], 4, axis=0)  # every label is the null
    same = Fitted(model, backend, params)
    a, b = (same.sample(30, seed=1, given={"y": c})["x"] for c in (0, 2))
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(same.sample(30, seed=1, given={"y": 0}, guidance=3.0)["x"], a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_bound_with_the_label_summed_out_is_the_mixture_of_the_labelled_bounds(backend):
    model = zoo.ddpm(**SMALL)
    fit = Fitted(model, backend, model.init_params(seed=4), dtype="float64")
    x = _toy(7)["x"]
    per_class = np.stack([fit.elbo({"x": x, "y": np.full(7, c)}) for c in range(3)])  # log p(y = c) + bound
    summed = fit.elbo({"x": x})  # y enumerated: log sum_c p(c) exp(bound(x | c)), the same draws for every c
    assert summed.shape == (7,) and np.all(np.isfinite(summed))
    np.testing.assert_allclose(summed, logsumexp(per_class, axis=0), rtol=1e-10)
    # posterior("y") is Bayes' rule over those per-class bounds (a bound-based classifier, not an exact one)
    np.testing.assert_allclose(fit.posterior("y", {"x": x}), softmax(per_class, axis=0).T, rtol=1e-8)
    # and training on x alone with 'elbo' sums the label out (the bound of p(x))
    trained = model.fit({"x": x}, objective="elbo", backend=backend, epochs=1, progress=False)
    assert np.isfinite(trained.history["epoch_loss"][-1])


def _mode_hits(fit, c, w, n=300):
    x = fit.sample(n, seed=10 + c, given={"y": c}, guidance=w)["x"]
    nearest = np.linalg.norm(x[:, None] - data.EIGHT_GAUSSIANS_CENTRES, axis=-1).argmin(-1)
    return np.mean(nearest == c)


@pytest.mark.parametrize("backend", BACKENDS)
def test_guidance_draws_nearer_the_mode_of_the_label_on_eight_gaussians(backend):
    # briefly trained, the conditional model still strays to other modes (measured: 82 % near the
    # label's mode on pyro); guidance pulls its draws to the label's mode (98 %)
    x, y = data.eight_gaussians(n=4000, seed=0, return_labels=True)
    model = zoo.ddpm(x_dim=2, hidden=(64, 64), steps=100, time_dim=16, classes=8, fourier=0)
    fit = model.fit({"x": x, "y": y}, backend=backend, epochs=5, progress=False, seed=0)
    plain = np.mean([_mode_hits(fit, c, 0.0) for c in (0, 3, 6)])
    strong = np.mean([_mode_hits(fit, c, 3.0) for c in (0, 3, 6)])
    assert strong > 0.95 and strong > plain + 0.05, (plain, strong)


@pytest.mark.parametrize("backend", BACKENDS)
def test_guidance_on_an_unconditional_chain_is_an_error_naming_the_option(backend):
    model = zoo.ddpm(x_dim=2, hidden=(8,), steps=4, time_dim=4)
    fit = Fitted(model, backend, model.init_params(seed=0))
    with pytest.raises(gd.ModelError, match=r"guidance= is classifier-free guidance.*classes=K"):
        fit.sample(5, guidance=1.0)
    conditional = Fitted(zoo.ddpm(**SMALL), backend, zoo.ddpm(**SMALL).init_params(seed=0))
    with pytest.raises(gd.ModelError, match="guidance must be a number"):
        conditional.sample(5, given={"y": 0}, guidance="strong")
    with pytest.raises(gd.ModelError, match="finite"):
        conditional.sample(5, given={"y": 0}, guidance=float("inf"))
    with pytest.raises(gd.DataError, match="site 'y' is outside the support"):
        conditional.sample(5, given={"y": 3})


def test_denoising_needs_the_labels():
    model = zoo.ddpm(**SMALL)
    with pytest.raises(gd.ObjectiveError, match=r"conditioned on \['y'\].*pass data for \['y'\]"):
        model.fit({"x": _toy()["x"]}, epochs=1, progress=False)
    labels = _toy()["y"].astype(float)
    labels[::5] = np.nan
    with pytest.raises(gd.ObjectiveError, match=r"\['y'\] have missing entries"):
        model.fit({"x": _toy()["x"], "y": labels}, epochs=1, progress=False)


@pytest.mark.parametrize("make, message", [
    (lambda: zoo.ddpm(x_dim=2, classes=1), "classes must be an integer >= 2"),
    (lambda: nn.TimeMLP("eps", 2, classes=1), "classes is the number of labels"),
    (lambda: nn.TimeUNet("eps", (4, 4), classes=True), "classes is the number of labels"),
    (lambda: zoo.ddpm(x_dim=2, classes=3, label_dropout=1.5), "label_dropout is a probability"),
])
def test_declaration_errors(make, message):
    with pytest.raises(gd.ModelError, match=message):
        make()


@gd.model
def _unlabelled_chain_with_a_label():
    eps = nn.TimeMLP("eps", 2, hidden=(4,), time_dim=4)
    with gd.plate("data"):
        y = gd.sample("y", dist.Categorical(logits=np.zeros(3)))
        gd.observe("x", dist.Diffusion(eps, steps=4, label=y))


@gd.model
def _labelled_net_without_a_label():
    eps = nn.TimeMLP("eps", 2, hidden=(4,), time_dim=4, classes=3)
    with gd.plate("data"):
        gd.observe("x", dist.Diffusion(eps, steps=4))


@gd.model
def _real_label():
    eps = nn.TimeMLP("eps", 2, hidden=(4,), time_dim=4, classes=3)
    with gd.plate("data"):
        y = gd.sample("y", dist.Normal(0.0, 1.0))
        gd.observe("x", dist.Diffusion(eps, steps=4, label=y))


@pytest.mark.parametrize("factory, message", [
    (_unlabelled_chain_with_a_label, r"network 'eps' takes no label; build it with classes=K"),
    (_labelled_net_without_a_label, r"is class-conditional \(3 classes\): give the chain each row's label"),
    (_real_label, "label= takes integer labels"),
])
def test_chain_declaration_errors(factory, message):
    with pytest.raises(gd.ModelError, match=message):
        factory()


def test_cli_samples_given_a_label_with_guidance(tmp_path, monkeypatch):
    model = zoo.ddpm(**SMALL)
    fit = Fitted(model, "numpyro", model.init_params(seed=0))
    path, what = cli.write_samples(fit, 12, str(tmp_path / "s.npz"), given={"y": 2}, options={"guidance": 3.0})
    with np.load(path) as drawn:
        assert np.all(drawn["y"] == 2) and drawn["x"].shape == (12, 2)
    np.testing.assert_array_equal(np.load(path)["x"], fit.sample(12, given={"y": 2}, guidance=3.0)["x"])
    args = cli.build_parser().parse_args(["sample", "run", "--given", "y=3", "--guidance", "3", "-o", "s.npz"])
    assert args.guidance == 3.0 and args.given == ["y=3"]
