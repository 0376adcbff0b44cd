"""The adversarial objective: each named loss, the two-player engine, GAN checks and graphs."""

import numpy as np
import pytest

import gendsl as gd
import gendsl.models as zoo
from gendsl import data, dist, nn
from gendsl.data import EIGHT_GAUSSIANS_CENTRES, EIGHT_GAUSSIANS_STD
from gendsl.errors import ModelError, ObjectiveError, ShapeError
from gendsl.inference import Fitted, metrics, objectives
from gendsl.inference.adversarial import LOSSES
from gendsl.inference.engines import make_engine


def _small():
    return zoo.gan(x_dim=2, z_dim=3, hidden=(16,), critic_hidden=(16,))


def _grads(backend, model, loss_of, seed=0):
    """Gradient norm of ``loss_of(lowered, params, rng)`` w.r.t. every parameter, and the loss."""
    engine = make_engine(model, backend, dtype="float64")
    lowered = engine.lowered
    params = engine.params_in(model.init_params(seed))
    if backend == "pyro":
        import torch

        torch.manual_seed(seed)
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        loss = loss_of(lowered, leaves, engine.backend.rng(None))
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        norms = {k: 0.0 if g is None else float(g.norm()) for k, g in zip(leaves, grads)}
        return float(loss.detach()), norms
    import jax

    def f(p):
        return loss_of(lowered, p, engine.backend.rng(jax.random.PRNGKey(seed)))

    loss, grads = jax.value_and_grad(f)(params)
    return float(loss), {k: float(np.linalg.norm(np.asarray(g))) for k, g in grads.items()}


def _batch(backend, model, n=32):
    engine = make_engine(model, backend, dtype="float64")
    return engine.put_data({"x": data.load("eight_gaussians", n=n, seed=1)})


@pytest.mark.parametrize("loss", LOSSES)
def test_each_loss_is_finite_and_trains_only_its_own_player(backend, loss):
    model = _small()
    objective = objectives.get("adversarial", loss=loss)
    batch = _batch(backend, model)
    d_value, d_grads = _grads(backend, model, lambda low, p, rng: objective.discriminator_loss(low, p, batch, rng))
    g_value, g_grads = _grads(backend, model, lambda low, p, rng: objective.generator_loss(low, p, batch, rng))
    assert np.isfinite(d_value) and np.isfinite(g_value)
    # (the critic's output bias cancels from D(G(z)) - D(x) in the Wasserstein and, near 0, hinge losses)
    critic = [k for k in d_grads if k.startswith("critic.") and k.endswith("weight")]
    generator = [k for k in d_grads if k.startswith("generator.")]
    assert critic and generator
    assert sum(d_grads[k] for k in d_grads if k.startswith("critic.")) > 0
    # the discriminator's loss holds the generator fixed: no gradient reaches it
    assert all(d_grads[k] > 0 for k in critic)
    assert all(d_grads[k] == 0.0 for k in generator)
    # the generator's loss reaches every generator weight (through D, which it does not train)
    assert all(g_grads[k] > 0 for k in generator)


@pytest.mark.parametrize("loss", LOSSES)
def test_each_loss_repeats_with_a_fixed_seed(loss):
    model = _small()
    x = data.load("eight_gaussians", n=256)
    kw = dict(objective="adversarial", loss=loss, epochs=2, batch_size=64, progress=False)
    a, b = model.fit(x, seed=5, **kw), model.fit(x, seed=5, **kw)
    c = model.fit(x, seed=6, **kw)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert a.history == b.history
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)


def test_loss_values_match_their_formulas(backend):
    """Each loss from the same D scores, computed by hand."""
    model = _small()
    batch = _batch(backend, model)
    engine = make_engine(model, backend, dtype="float64")
    lowered, params = engine.lowered, engine.params_in(model.init_params(0))
    d_real = np.asarray(engine.backend.to_numpy(lowered.discriminate(params, batch)))

    def softplus(v):
        return np.logaddexp(0.0, v)

    # the generator held at a point mass: D(G(z)) is known exactly
    fake_at = np.asarray(engine.backend.to_numpy(batch["x"]))[:1]
    d_fake = np.asarray(engine.backend.to_numpy(lowered.discriminate(
        params, {"x": engine.put(np.repeat(fake_at, 32, axis=0))})))
    lowered.generate = lambda p, b, rng: {"x": engine.put(np.repeat(fake_at, 32, axis=0))}
    expected = {
        "minimax": (softplus(-d_real).mean() + softplus(d_fake).mean(), -softplus(d_fake).mean()),
        "non_saturating": (softplus(-d_real).mean() + softplus(d_fake).mean(), softplus(-d_fake).mean()),
        "kl": (softplus(-d_real).mean() + softplus(d_fake).mean(), -d_fake.mean()),
        "wgan": (d_fake.mean() - d_real.mean(), -d_fake.mean()),
        "hinge": (np.maximum(0, 1 - d_real).mean() + np.maximum(0, 1 + d_fake).mean(), -d_fake.mean()),
        "lsgan": (0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake ** 2).mean(), 0.5 * ((d_fake - 1) ** 2).mean()),
    }
    rng = engine.backend.rng(0)
    for loss, (d_loss, g_loss) in expected.items():
        objective = objectives.get("adversarial", loss=loss)
        got_d = float(np.asarray(engine.backend.to_numpy(objective.discriminator_loss(lowered, params, batch, rng))))
        got_g = float(np.asarray(engine.backend.to_numpy(objective.generator_loss(lowered, params, batch, rng))))
        assert got_d == pytest.approx(d_loss, rel=1e-9), loss
        assert got_g == pytest.approx(g_loss, rel=1e-9), loss


def test_gradient_penalty_is_zero_for_a_unit_slope_critic(backend):
    """A linear critic D(x) = w.x with |w| = 1 has gradient norm 1 everywhere: no penalty;
    with |w| = 3 the penalty is (3 - 1)^2 = 4."""

    @gd.model
    def line(x_dim=2):
        generator = nn.MLP("generator", (2, x_dim))
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
            gd.observe("x", dist.Delta(generator(z), event_dim=1))

    @line.discriminator
    def critic(x, x_dim=2):
        return nn.MLP("critic", (x_dim, 1))(x)

    model = line()
    engine = make_engine(model, backend, dtype="float64")
    lowered = engine.lowered
    batch = _batch(backend, model)
    objective = objectives.get("adversarial", loss="wgan_gp")
    for scale, penalty in ((1.0, 0.0), (3.0, 4.0)):
        params = model.init_params(0)
        params["critic.0.weight"] = scale * np.array([[0.6, 0.8]])
        p = engine.params_in(params)
        fake = lowered.generate(p, batch, engine.backend.rng(0))
        got = float(np.asarray(engine.backend.to_numpy(objective.gradient_penalty(lowered, p, batch, fake, engine.backend.rng(0)))))
        assert got == pytest.approx(penalty, abs=1e-9)


def test_n_critic_steps_per_generator_step_and_separate_learning_rates(backend):
    model = _small()
    x = data.load("eight_gaussians", n=320)
    fit = model.fit(x, objective="adversarial", loss="wgan_gp", n_critic=5, epochs=3, batch_size=32,
                    backend=backend, progress=False)
    assert len(fit.history["step_loss"]) == 30  # one discriminator step per minibatch
    assert len(fit.history["generator_step_loss"]) == 6  # one generator step per 5 of them
    # lr_d=0 is refused; a tiny lr_d leaves the critic where it started while the generator moves
    with pytest.raises(ObjectiveError, match="lr_d"):
        objectives.get("adversarial", lr_d=0.0)
    start = model.init_params(0)
    slow = model.fit(x, objective="adversarial", lr_d=1e-12, lr=1e-2, epochs=1, batch_size=32, backend=backend,
                     progress=False)
    assert np.allclose(slow.params["critic.0.weight"], start["critic.0.weight"], atol=1e-9)
    assert not np.allclose(slow.params["generator.0.weight"], start["generator.0.weight"], atol=1e-4)


def test_wgan_clips_the_critic_weights(backend):
    model = _small()
    x = data.load("eight_gaussians", n=256)
    fit = model.fit(x, objective="adversarial", loss="wgan", clip=0.05, epochs=2, batch_size=64, lr=1e-2,
                    backend=backend, progress=False)
    critic = [v for k, v in fit.params.items() if k.startswith("critic.")]
    assert max(np.abs(v).max() for v in critic) <= 0.05 + 1e-7
    generator = [v for k, v in fit.params.items() if k.startswith("generator.")]
    assert max(np.abs(v).max() for v in generator) > 0.05  # the generator is not clipped


def test_implicit_models_refuse_density_objectives_and_queries():
    model = _small()
    x = data.load("eight_gaussians", n=64)
    for name in ("mle", "elbo", "iwae"):
        with pytest.raises(ObjectiveError, match="Delta.*objective='adversarial'"):
            model.fit(x, objective=name, epochs=1, progress=False)
    fit = model.fit(x, objective="adversarial", epochs=1, progress=False)
    with pytest.raises(ObjectiveError, match="implicit.*mmd"):
        fit.log_prob(x)
    scores = fit.discriminate(x)
    assert scores.shape == (64,) and np.all(np.isfinite(scores))
    assert fit.sample(10)["x"].shape == (10, 2)


def test_adversarial_refuses_what_it_cannot_train():
    x = data.load("eight_gaussians", n=64)
    with pytest.raises(ObjectiveError, match="dist.Delta"):
        zoo.gmm(x_dim=2, k=2).fit(x, objective="adversarial", epochs=1, progress=False)

    @gd.model
    def lonely(x_dim=2):
        g = nn.MLP("g", (2, x_dim))
        with gd.plate("data"):
            gd.observe("x", dist.Delta(g(gd.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))), event_dim=1))

    with pytest.raises(ObjectiveError, match="@lonely.discriminator"):
        lonely().fit(x, objective="adversarial", epochs=1, progress=False)
    with pytest.raises(gd.GendslError, match="hinge"):
        objectives.get("adversarial", loss="hinged")
    with pytest.raises(ObjectiveError, match="n_critic"):
        objectives.get("adversarial", n_critic=0)


def test_discriminator_must_return_one_score_per_row():
    @gd.model
    def wide(x_dim=2):
        g = nn.MLP("g", (2, x_dim))
        with gd.plate("data"):
            gd.observe("x", dist.Delta(g(gd.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))), event_dim=1))

    @wide.discriminator
    def critic(x, x_dim=2):
        return nn.MLP("critic", (x_dim, 3))(x)

    with pytest.raises(ShapeError, match="critic.*one number per row"):
        wide()

    @wide.discriminator
    def stranger(y, x_dim=2):
        return nn.MLP("critic", (x_dim, 1))(y)

    with pytest.raises(gd.SiteError, match="'y' matches no site"):
        wide()
    with pytest.raises(ModelError, match="has no discriminator"):
        Fitted(zoo.gmm(x_dim=2, k=2), "pyro", zoo.gmm(x_dim=2, k=2).init_params()).discriminate(np.zeros((2, 2)))


def test_graph_shows_generator_discriminator_and_each_loss():
    model = zoo.gan()
    plain = model.graph
    assert set(plain.nodes) == {"generator", "z", "x"}  # the model's own graph: the generator only
    spec = model.graph_spec(objective=objectives.get("adversarial", loss="wgan_gp"))
    assert spec["discriminator"]["label"] == "discriminator D(x)"
    assert {n["name"] for n in spec["discriminator"]["nodes"]} == {"x", "critic", "score"}
    losses = {n["name"]: n["label"] for n in spec["objective"]["nodes"]}
    assert "grad D(x^)" in losses["discriminator"] and "-D(G(z))" in losses["generator"]
    assert "wgan_gp, 5 steps" in spec["objective"]["label"]
    trains = {(link["source"], link["target"]) for link in spec["links"] if link["kind"] == "trains"}
    assert trains == {("objective:discriminator", "discriminator:critic"), ("objective:generator", "generator")}
    judged = [link for link in spec["links"] if link["kind"] == "judged by"]
    assert [(link["source"], link["target"]) for link in judged] == [("x", "discriminator:x")]
    dot = model.to_dot()
    assert "cluster_discriminator%3A" in dot and "softplus(-D(G(z)))" in dot  # default: non_saturating
    assert "subgraph objective_part" in model.to_mermaid()
    # the objective's choice changes the objective part, never the model's part
    other = model.graph_spec(objective="adversarial")
    assert other["model"] == spec["model"] and other["discriminator"] == spec["discriminator"]


def test_options_survive_save_and_load(tmp_path):
    fit = _small().fit(data.load("eight_gaussians", n=64), objective="adversarial", loss="hinge", n_critic=2,
                       lr_d=3e-4, epochs=1, progress=False)
    path = fit.save(tmp_path / "gan.npz")
    back = gd.load(path)
    assert back.objective.options() == fit.objective.options()
    np.testing.assert_array_equal(back.sample(5, seed=1)["x"], fit.sample(5, seed=1)["x"])


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["non_saturating", "wgan_gp"])
def test_eight_gaussians_every_mode_covered(backend, loss):
    """Issue 7's criterion: each of the 8 modes gets >= 5% of 10,000 samples
    within 3 std of its centre, and >= 80% of samples are near a mode."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[2] / "bench" / "gan_toys.py"
    spec = importlib.util.spec_from_file_location("gan_toys", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    fit = bench.train(data.load("eight_gaussians", n=20_000, seed=0), backend, loss)
    cov = metrics.mode_coverage(fit.sample(10_000, seed=1)["x"], EIGHT_GAUSSIANS_CENTRES, EIGHT_GAUSSIANS_STD)
    assert cov.covered == 8, cov
    assert cov.high_quality >= 0.8, cov
