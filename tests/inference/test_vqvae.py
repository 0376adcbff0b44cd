"""VQ-VAE: dist.VectorQuantized (the point-mass guide) and dist.Codebook (its prior)."""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

import gendsl as gd
import gendsl.models as zoo
from gendsl import data, dist, ops
from gendsl.inference import ELBO, IWAE, Fitted

from .test_variational import _iwae_loss_and_grads

BACKENDS = ["pyro", "numpyro"]


@pytest.fixture(scope="module")
def small():
    """A small VQ-VAE, its initial parameters and binary rows."""
    model = zoo.vqvae(x_dim=12, n_latents=3, code_dim=2, n_codes=5, hidden=(7,), commitment=0.3)
    params = model.init_params(seed=1)
    x = (np.random.default_rng(0).random((40, 12)) < 0.4).astype(np.float64)
    return model, params, x


def _hand_written(params, x, n_latents, code_dim, commitment):
    """VQ-VAE written out in PyTorch (van den Oord et al., eq. 3), float64:
    returns -ELBO (reconstruction + n log K) and the training loss whose
    gradient VQ-VAE follows (reconstruction + codebook + commitment)."""
    p = {k: torch.as_tensor(v, dtype=torch.float64).requires_grad_(True) for k, v in params.items()}
    x = torch.as_tensor(x)
    h = torch.relu(x @ p["encoder.0.weight"].T + p["encoder.0.bias"])
    z_e = (h @ p["encoder.1.weight"].T + p["encoder.1.bias"]).reshape(len(x), n_latents, code_dim)
    book = p["codebook"]
    index = ((z_e[:, :, None, :] - book) ** 2).sum(-1).argmin(-1)
    e = book[index]
    z_q = z_e + (e - z_e).detach()
    h = torch.relu(z_q.reshape(len(x), -1) @ p["decoder.0.weight"].T + p["decoder.0.bias"])
    logits = h @ p["decoder.1.weight"].T + p["decoder.1.bias"]
    recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    codebook_loss = ((z_e.detach() - e) ** 2).sum((-1, -2))
    commitment_loss = ((z_e - e.detach()) ** 2).sum((-1, -2))
    neg_elbo = (recon + n_latents * np.log(len(book))).mean()
    loss = (recon + codebook_loss + commitment * commitment_loss).mean()
    loss.backward()
    return float(neg_elbo.detach()), {k: v.grad.numpy() for k, v in p.items()}, index.numpy()


@pytest.mark.parametrize("backend", BACKENDS)
def test_elbo_is_the_true_bound_and_its_gradient_is_vq_vaes(small, backend):
    """The reported loss is -ELBO (reconstruction + n log K: a point mass has
    log q = 0); its gradient is VQ-VAE's, codebook and commitment losses
    included, for every parameter, against a hand-written PyTorch VQ-VAE."""
    model, params, x = small
    loss, grads = _iwae_loss_and_grads(backend, model, params, x, ELBO(), seed=0)
    want_loss, want_grads, _ = _hand_written(params, x, 3, 2, 0.3)
    assert loss == pytest.approx(want_loss, rel=1e-10)
    assert set(grads) == set(want_grads)
    for name, g in want_grads.items():
        np.testing.assert_allclose(grads[name], g, rtol=1e-8, atol=1e-12, err_msg=name)
    assert np.abs(grads["codebook"]).sum() > 0 and np.abs(grads["encoder.0.weight"]).sum() > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_iwae_equals_the_elbo_for_a_point_mass_guide(small, backend):
    model, params, x = small
    elbo, _ = _iwae_loss_and_grads(backend, model, params, x, ELBO(), seed=0)
    iwae, _ = _iwae_loss_and_grads(backend, model, params, x, IWAE(k=4), seed=0)
    assert iwae == pytest.approx(elbo, rel=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_encode_snaps_to_the_nearest_code_and_decode_reads_it(small, backend):
    model, params, x = small
    fit = Fitted(model, backend, params, dtype="float64")
    z = fit.encode(x)
    _, _, index = _hand_written(params, x, 3, 2, 0.3)
    np.testing.assert_allclose(z, params["codebook"][index], rtol=1e-6)
    assert len(np.unique(index)) > 1
    # decode(z) is the Bernoulli mean; the ELBO per row is its log-likelihood minus n log K
    mean = np.clip(fit.decode(z), 1e-12, 1 - 1e-12)
    ll = (x * np.log(mean) + (1 - x) * np.log1p(-mean)).sum(-1)
    np.testing.assert_allclose(fit.elbo(x), ll - 3 * np.log(5), rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_codebook_prior_samples_rows_with_its_probabilities(backend):
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    book = np.arange(8.0).reshape(4, 2)

    @gd.model
    def prior(k=4):
        with gd.plate("data"):
            gd.sample("z", dist.Codebook(book, logits=logits).expand([3]).to_event(1))

    fit = Fitted(prior(), backend, {}, dtype="float64")
    z = fit.sample(4000, seed=1)["z"]  # (4000, 3, 2)
    assert z.shape == (4000, 3, 2)
    index = (z[..., 0] / 2).round().astype(int)
    np.testing.assert_array_equal(z, book[index])  # every draw is a row
    counts = np.bincount(index.ravel(), minlength=4)
    assert chisquare(counts, 12000 * np.array([0.1, 0.2, 0.3, 0.4])).pvalue > 1e-3
    # log_prob scores the row nearest to the value: log pi_k summed over the three codes
    values = book[[[0, 1, 3]]] + 0.1
    want = np.log([0.1, 0.2, 0.4]).sum()
    np.testing.assert_allclose(fit.log_prob({"z": values}), [want], rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vqvae_trains_on_digits_past_independent_pixels(backend):
    """On 8x8 binary digits a small VQ-VAE's held-out ELBO (a bound, with the
    n log K of its uniform prior) beats the exact log-likelihood of independent
    pixels fitted to the same rows, and uses most of its codebook."""
    x = data.digits(kind="binary")
    train, test = x[:1500], x[1500:]
    model = zoo.vqvae(x_dim=64, n_latents=4, code_dim=4, n_codes=16, hidden=(128,))
    fit = model.fit(train, backend=backend, epochs=40, batch_size=100, lr=2e-3, seed=0, progress=False)
    p = np.clip(train.mean(0), 1e-3, 1 - 1e-3)
    independent = (test * np.log(p) + (1 - test) * np.log1p(-p)).sum(-1).mean()
    elbo = fit.elbo(test).mean()
    assert elbo > independent + 1.5, (elbo, independent)
    z = fit.encode(test)
    index = ((z[:, :, None] - fit.params["codebook"]) ** 2).sum(-1).argmin(-1)
    assert len(np.unique(index)) >= 12


def test_bad_vq_input_names_the_shape_and_the_fix():
    book = np.zeros((6, 3))
    with pytest.raises(gd.ShapeError, match=r"codebook must be a \(K, d\) array"):
        dist.VectorQuantized(np.zeros(3), np.zeros(3))
    with pytest.raises(gd.ShapeError, match="encoder's last axis must be 3"):
        dist.VectorQuantized(np.zeros((2, 4)), book)
    with pytest.raises(gd.ShapeError, match="last axis of logits must be 6"):
        dist.Codebook(book, logits=np.zeros(5))
    with pytest.raises(gd.ModelError, match="commitment must be >= 0"):
        dist.VectorQuantized(np.zeros(3), book, commitment=-1.0)


def test_point_mass_guides_refuse_importance_sampling_and_dreg(small):
    model, params, x = small
    fit = Fitted(model, "numpyro", params, dtype="float64")
    with pytest.raises(gd.ObjectiveError, match=r"point masses \(VectorQuantized\).*fit.elbo"):
        fit.log_likelihood(x, k=10)
    with pytest.raises(gd.ObjectiveError, match="dreg.*point mass"):
        IWAE(k=5, dreg=True).check(model, ["x"])


def test_flatten_merges_trailing_axes_only():
    @gd.model
    def story(n=3, d=2):
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0).expand([n, d]).to_event(2))
            gd.observe("x", dist.Normal(ops.flatten(z, -2), 1.0).to_event(1))

    m = story()
    assert m.ir["x"].shape[1:] == (6,)

    @gd.model
    def bad():
        with gd.plate("data"):
            z = gd.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
            gd.observe("x", dist.Normal(ops.flatten(z, 5), 1.0).to_event(1))

    with pytest.raises(gd.ShapeError, match="ops.flatten: axis 5 is out of range"):
        bad()


@pytest.mark.parametrize("x_dim, latents", [(784, 16), (64, 1), (20, 1), (147, 3)])
def test_the_number_of_codes_follows_the_data(x_dim, latents):
    """``n_latents=None``: one code per 49 values (a 7x7 patch), at least one; given, it is kept."""
    model = zoo.vqvae(x_dim=x_dim, hidden=(8,))
    assert model.ir["z"].event_shape == (latents, 8)
    assert model.guide_ir["z"].event_shape == (latents, 8)
    assert zoo.vqvae(x_dim=x_dim, n_latents=5, hidden=(8,)).ir["z"].event_shape == (5, 8)
