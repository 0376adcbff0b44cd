"""The command line: every subcommand, run in-process."""

import json

import numpy as np
import pytest

from gendsl import cli, plots

USER_MODEL = '''
import gendsl as gd
from gendsl import dist

@gd.model
def coin(x_dim=1, prior=0.5):
    p = gd.param("p", (), init=prior, constraint="unit_interval")
    with gd.plate("data"):
        gd.observe("x", dist.Bernoulli(probs=p))
'''


def test_zoo_lists_every_model(capsys):
    assert cli.main(["zoo"]) == 0
    out = capsys.readouterr().out
    for name in ("naive_bayes", "gmm", "bernoulli_mixture"):
        assert name in out
    assert "[objective: mle]" in out


def test_render_zoo_model_to_svg(tmp_path):
    out = tmp_path / "gmm.svg"
    assert cli.main(["render", "gmm", "-o", str(out), "--set", "k=4", "--set", "covariance='full'"]) == 0
    svg = out.read_text()
    assert "<svg" in svg and "scale_tril" in svg and "(4, 2, 2)" in svg


def test_render_user_model_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(USER_MODEL)
    out = tmp_path / "coin.dot"
    assert cli.main(["render", f"{path}:coin", "-o", str(out), "--set", "prior=0.3"]) == 0
    assert "Bernoulli" in out.read_text()


def test_unknown_model_is_a_clear_error(capsys):
    assert cli.main(["render", "nope", "-o", "x.svg"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "'gmm'" in err


def test_demo_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["demo", "--out", str(out), "--epochs", "5", "--k", "4"]) == 0
    for name in ("graph.svg", "graph.dot", "samples.png", "components.png", "loss.png", "fit.npz", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert -40 < summary["test_loglik_per_row"] < -15  # 64 binary pixels: uniform would be -44.4
    assert summary["cluster_purity_test"] > 0.3


def test_plots_write_images(tmp_path):
    history = {"step_loss": list(np.linspace(3, 1, 20)), "epoch_loss": [2.5, 1.5]}
    plots.loss_curve(history, tmp_path / "loss.png")
    plots.sample_grid(np.random.default_rng(0).random((10, 64)), tmp_path / "grid.png")
    plots.scatter_2d({"a": np.zeros((5, 2))}, tmp_path / "pts.png")
    plots.density_2d(lambda p: -0.5 * (p**2).sum(1), tmp_path / "density.png", grid=30, points=np.zeros((3, 2)))
    plots.interpolation_strip(np.random.default_rng(1).random((6, 64)), tmp_path / "strip.png")
    for name in ("loss.png", "grid.png", "pts.png", "density.png", "strip.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="image_shape"):
        plots.sample_grid(np.zeros((2, 10)))


def test_fit_sample_eval_round_trip_on_a_zoo_model(tmp_path, capsys):
    run = tmp_path / "gmm_run"
    assert cli.main(["fit", "gmm", "--data", "blobs", "--set", "k=3", "--epochs", "3", "--lr", "0.05",
                     "--out", str(run)]) == 0
    for name in ("config.json", "checkpoint.ckpt", "fit.npz", "history.json", "loss.png", "samples.png"):
        assert (run / name).exists(), name
    assert cli.main(["sample", str(run), "-n", "50", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["sample", str(run), "-n", "20", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (20, 2)
    capsys.readouterr()
    assert cli.main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["method"] == "exact" and -6 < result["log_likelihood"] < -2 and result["rows"] == 1000
    # sampling given a site: every row from component 1, and a value outside the support is refused
    assert cli.main(["sample", str(run), "-n", "30", "--given", "z=1", "-o", str(tmp_path / "given.npz")]) == 0
    with np.load(tmp_path / "given.npz") as drawn:
        assert np.all(drawn["z"] == 1) and drawn["x"].shape == (30, 2)
    capsys.readouterr()
    assert cli.main(["sample", str(run), "-n", "3", "--given", "z=7", "-o", str(tmp_path / "bad.npz")]) == 2
    assert "site 'z' is outside the support of its Categorical" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()


def test_fit_eval_latent_model_and_resume(tmp_path):
    run = tmp_path / "vae_run"
    args = ["fit", "vae", "--data", "digits", "--set", "x_dim=64", "--set", "z_dim=4", "--set", "hidden=(32,)",
            "--objective", "iwae", "--opt", "k=3", "--epochs", "2", "--out", str(run)]
    assert cli.main(args) == 0
    first = json.loads((run / "history.json").read_text())["epoch_loss"]
    assert json.loads((run / "config.json").read_text())["lr_schedule"] == "constant"
    args[args.index("2")] = "3"
    assert cli.main(args + ["--resume"]) == 0
    resumed = json.loads((run / "history.json").read_text())["epoch_loss"]
    assert len(resumed) == 3 and resumed[:2] == first
    assert cli.main(["eval", str(run), "--data", "digits", "-k", "20"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["log_likelihood"] > result["elbo"] and result["bits_per_dim"] > 0


def test_eval_of_a_point_mass_guide_reports_the_elbo(tmp_path):
    run = tmp_path / "vq_run"
    assert cli.main(["fit", "vqvae", "--data", "digits", "--set", "x_dim=64", "--set", "n_latents=2",
                     "--set", "code_dim=2", "--set", "n_codes=8", "--set", "hidden=(16,)", "--epochs", "1",
                     "--out", str(run)]) == 0
    assert cli.main(["eval", str(run), "--data", "digits"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert "log_likelihood" not in result and "point-mass" in result["method"]
    assert result["elbo"] < -2 * np.log(8) and result["bits_per_dim"] == pytest.approx(-result["elbo"] / (64 * np.log(2)))


def test_fit_eval_gan_reports_two_sample_metrics(tmp_path):
    run = tmp_path / "gan_run"
    assert cli.main(["fit", "gan", "--data", "eight_gaussians", "--set", "hidden=(16,)", "--set", "critic_hidden=(16,)",
                     "--opt", "loss=hinge", "--opt", "n_critic=2", "--epochs", "2", "--out", str(run)]) == 0
    history = json.loads((run / "history.json").read_text())
    assert len(history["generator_step_loss"]) == len(history["step_loss"]) // 2
    assert cli.main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["method"].startswith("two-sample") and "log_likelihood" not in result
    assert result["mmd2"] > 0 and result["sliced_wasserstein"] > 0 and 0.5 <= result["c2st_accuracy"] <= 1.0


def test_fit_with_an_optimiser_recipe(tmp_path):
    run = tmp_path / "made_run"
    args = ["fit", "made", "--data", "digits", "--set", "x_dim=64", "--set", "hidden=(32,)", "--epochs", "3",
            "--lr", "0.01", "--lr-schedule", "cosine", "--warmup", "5", "--weight-decay", "0.01",
            "--clip-norm", "5", "--ema", "0.9", "--out", str(run)]
    assert cli.main(args) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["lr_schedule"], config["warmup"], config["weight_decay"], config["clip_norm"], config["ema"]) \
        == ("cosine", 5, 0.01, 5.0, 0.9)
    loss = json.loads((run / "history.json").read_text())["epoch_loss"]
    assert len(loss) == 3 and loss[-1] < loss[0]
    with pytest.raises(SystemExit):  # argparse names the choices
        cli.main(args[:-2] + ["--lr-schedule", "step", "--out", str(run)])


def test_fit_user_model_file(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(USER_MODEL)
    x = (np.random.default_rng(0).random(200) < 0.3).astype(float)
    np.save(tmp_path / "coin.npy", x)
    run = tmp_path / "coin_run"
    assert cli.main(["fit", f"{path}:coin", "--data", str(tmp_path / "coin.npy"), "--epochs", "30",
                     "--lr", "0.1", "--batch-size", "200", "--out", str(run)]) == 0
    assert (run / "samples.npz").exists() and not (run / "samples.png").exists()  # one value per row: numbers
    assert np.load(run / "samples.npz")["x"].shape == (64,)
    assert cli.main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    p = x.mean()
    assert abs(result["log_likelihood"] - (p * np.log(p) + (1 - p) * np.log(1 - p))) < 0.02
    assert cli.main(["sample", str(run), "-n", "5", "-o", str(tmp_path / "c.npy")]) == 0
    assert cli.main(["sample", str(run), "-n", "5", "-o", str(tmp_path / "c.png")]) == 2  # nothing to draw: say so
    assert "neither square images nor 2-D points" in capsys.readouterr().err and not (tmp_path / "c.png").exists()


def test_cli_errors_are_clear(tmp_path, capsys):
    assert cli.main(["fit", "gmm", "--data", "nosuch", "--out", str(tmp_path / "r")]) == 2
    assert "unknown data set 'nosuch'" in capsys.readouterr().err
    assert cli.main(["fit", "gmm", "--data", "blobs", "--objective", "nope", "--out", str(tmp_path / "r")]) == 2
    assert "unknown objective 'nope'" in capsys.readouterr().err
    assert cli.main(["sample", str(tmp_path), "-o", "x.png"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert cli.main(["fit", "gmm", "--data", "moons:levels", "--out", str(tmp_path / "r")]) == 2
    assert "'moons' has no kinds" in capsys.readouterr().err
    assert cli.main(["fit", "gmm", "--data", "binarized_mnist", "--out", str(tmp_path / "r")]) == 2
    assert "reads local files (path)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # found before the run folder was made
    assert cli.main(["render", "gmm", "-o", str(tmp_path / "g.jpg")]) == 2
    assert "'.jpg'" in capsys.readouterr().err
    (tmp_path / "plain.py").write_text("def story(x_dim=2):\n    pass\n")
    assert cli.main(["render", f"{tmp_path / 'plain.py'}:story", "-o", str(tmp_path / "g.svg")]) == 2
    assert "decorate 'story' with @gd.model" in capsys.readouterr().err


def test_data_shaped_hyper_parameters_come_from_the_data():
    from gendsl import data
    from gendsl import models as zoo

    levels = data.digits(kind="levels")
    assert cli.hyper_from_data(zoo.made, levels, {}) == {"x_dim": 64, "n_levels": 17}
    assert cli.hyper_from_data(zoo.realnvp, levels, {"levels": 256}) == {"x_dim": 64}
    assert cli.hyper_from_data(zoo.vae, data.digits(), {}) == {"x_dim": 64}  # binary floats: no levels
    x, y = data.digits(return_labels=True)
    assert cli.hyper_from_data(zoo.naive_bayes, {"x": x, "y": y}, {}) == {"x_dim": 64, "n_classes": 10}
    assert cli.hyper_from_data(zoo.gmm, data.blobs(n=10), {"x_dim": 2}) == {}


def test_fit_takes_x_dim_from_the_data_and_marks_a_failed_run(tmp_path, capsys):
    run = tmp_path / "vae_run"
    tiny = ["--set", "hidden=(8,)", "--set", "z_dim=2", "--epochs", "1", "--out", str(run)]
    assert cli.main(["fit", "vae", "--data", "digits", "--set", "x_dim=784", *tiny]) == 2
    err = capsys.readouterr().err
    assert "has shape (1797, 64)" in err and "--set x_dim=64, or leave x_dim out" in err
    assert sorted(p.name for p in run.iterdir()) == ["FAILED", "config.json"]  # marked, not half a run
    assert (run / "FAILED").read_text().startswith("DataError: data for site 'x' has shape (1797, 64)")
    assert cli.main(["sample", str(run), "-o", str(tmp_path / "s.png")]) == 2
    assert "failed" in capsys.readouterr().err and not (tmp_path / "s.png").exists()
    assert cli.main(["fit", "vae", "--data", "digits", *tiny]) == 0  # the new user's command
    assert "x_dim=64 from the data" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["hyper"]["x_dim"] == 64
    assert not (run / "FAILED").exists()  # the success clears the mark
    assert (run / "samples.png").read_bytes()[:4] == b"\x89PNG"  # 8x8 images: a grid


def test_an_interrupted_fit_says_how_to_resume(tmp_path, monkeypatch):
    from gendsl.model import Model

    def interrupted(self, data, checkpoint=None, **options):  # Ctrl-C after an epoch was checkpointed
        open(checkpoint, "wb").close()
        raise KeyboardInterrupt

    monkeypatch.setattr(Model, "fit", interrupted)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        cli.main(["fit", "gmm", "--data", "blobs", "--out", str(run)])
    assert (run / "FAILED").read_text().splitlines() == [
        "KeyboardInterrupt: interrupted",
        "checkpoint.ckpt holds the last finished epoch: the same command with --resume continues it"]


CVAE = '''
import gendsl as gd
from gendsl import dist, nn, ops


@gd.model
def cvae(x_dim=784, n_classes=2, z_dim=2, hidden=16):
    """Conditional VAE: y, z -> x (the class shifts the decoder's logits)."""
    decoder = nn.MLP("decoder", [z_dim, hidden, x_dim])
    shift = gd.param("shift", (n_classes, x_dim), init=0.0)
    pi = gd.param("pi", (n_classes,), init=[1.0 / n_classes] * n_classes, constraint="simplex")
    with gd.plate("data"):
        y = gd.observe("y", dist.Categorical(probs=pi))
        z = gd.sample("z", dist.Normal(0.0, 1.0).expand([z_dim]).to_event(1))
        gd.observe("x", dist.Bernoulli(logits=decoder(z) + shift[y]).to_event(1))


@cvae.guide
def encoder(x, y, x_dim=784, n_classes=2, z_dim=2, hidden=16):
    net = nn.MLP("encoder", [x_dim + n_classes, hidden, 2 * z_dim])
    loc, log_scale = ops.split(net(ops.concatenate([x, ops.one_hot(y, n_classes)], axis=-1)), 2, axis=-1)
    with gd.plate("data"):
        gd.sample("z", dist.Normal(loc, ops.exp(log_scale)).to_event(1))
'''


def test_two_site_user_model_round_trips_through_an_npz(tmp_path, capsys, monkeypatch):
    from gendsl import data

    (tmp_path / "mine.py").write_text(CVAE)
    x, y = data.digits(return_labels=True)
    np.savez(tmp_path / "digits.npz", x=x[:300], y=y[:300])
    np.save(tmp_path / "x.npy", x[:300])
    monkeypatch.chdir(tmp_path)  # a relative model path, as a user types it
    fit = ["fit", "mine.py:cvae", "--objective", "elbo", "--epochs", "2", "--lr", "0.01"]
    assert cli.main([*fit, "--data", "x.npy", "--out", "one"]) == 2  # one array for two sites: say what works
    err = capsys.readouterr().err
    assert "observes ['y', 'x']" in err and "np.savez('data.npz', y=..., x=...)" in err and "--data data.npz" in err
    assert not (tmp_path / "one").exists()
    assert cli.main([*fit, "--data", "digits.npz", "--out", "run"]) == 0
    assert "x_dim=64, n_classes=10 from the data" in capsys.readouterr().out
    for name in ("config.json", "checkpoint.ckpt", "fit.npz", "history.json", "loss.png", "samples.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0, name
    monkeypatch.chdir(tmp_path / "run")  # the run loads from anywhere: its config holds the model's full path
    assert cli.main(["sample", ".", "-n", "16", "-o", "s.png"]) == 0
    assert "a grid of x, ordered by y" in capsys.readouterr().out
    assert (tmp_path / "run" / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["sample", ".", "-n", "16", "-o", "s.npz"]) == 0
    with np.load(tmp_path / "run" / "s.npz") as drawn:
        assert {k: drawn[k].shape for k in drawn.files} == {"y": (16,), "z": (16, 2), "x": (16, 64)}
    assert cli.main(["sample", ".", "-n", "16", "-o", "s.npy"]) == 2  # one array cannot hold y and x
    assert "-o s.npz" in capsys.readouterr().err and not (tmp_path / "run" / "s.npy").exists()
    assert cli.main(["eval", ".", "--data", str(tmp_path / "x.npy")]) == 2
    assert "observes ['y', 'x']" in capsys.readouterr().err
    assert cli.main(["eval", ".", "-k", "10"]) == 0  # the run's own data, digits.npz from where it was fit
    result = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert result["rows"] == 300 and result["method"] == "importance sampling, k=10"
    assert 0 > result["log_likelihood"] > result["elbo"] - 0.5 > -100


def test_fit_with_a_held_out_fraction_keeps_the_best_epoch_and_stops(tmp_path, capsys):
    """--valid 0.2 --patience 1 with a learning rate that overshoots: the run records the curve,
    keeps the best round's parameters and stops; a bad fraction leaves no folder."""
    out = tmp_path / "run"
    args = ["fit", "made", "--data", "digits", "--set", "hidden=256", "--lr", "0.05", "--epochs", "12",
            "--valid", "0.2", "--patience", "1", "--out", str(out)]
    assert cli.main(args) == 0
    history = json.loads((out / "history.json").read_text())
    assert history["valid_metric"] == "log_prob" and len(history["valid"]) == len(history["epoch_loss"])
    assert history["stopped_epoch"] is not None and history["stopped_epoch"] < 12
    assert history["valid"][history["best_epoch"] - 1] == max(history["valid"])
    assert json.loads((out / "config.json").read_text())["valid"] == "0.2"
    assert cli.main(["fit", "made", "--data", "digits", "--valid", "1.5", "--epochs", "1",
                     "--out", str(tmp_path / "bad")]) == 2
    assert "a fraction of the rows must lie in (0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
