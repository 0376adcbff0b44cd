"""Every model in the zoo with small data, for suites that run over all of them."""

import numpy as np

import gendsl as gd
import gendsl.models as zoo
from gendsl.errors import ObjectiveError

# (id, factory, hyper-parameters, data maker(rng, n) -> dict)
CASES = [
    ("naive_bayes-bernoulli", zoo.naive_bayes, dict(x_dim=5, n_classes=3),
     lambda r, n: {"x": (r.random((n, 5)) < 0.4).astype(float)}),
    ("naive_bayes-bernoulli-supervised", zoo.naive_bayes, dict(x_dim=5, n_classes=3),
     lambda r, n: {"x": (r.random((n, 5)) < 0.4).astype(float), "y": r.integers(0, 3, n)}),
    ("naive_bayes-gaussian", zoo.naive_bayes, dict(x_dim=4, n_classes=2, features="gaussian"),
     lambda r, n: {"x": r.normal(size=(n, 4))}),
    ("naive_bayes-categorical", zoo.naive_bayes, dict(x_dim=3, n_classes=2, features="categorical", n_levels=4),
     lambda r, n: {"x": r.integers(0, 4, (n, 3))}),
    ("gmm-diag", zoo.gmm, dict(x_dim=2, k=3), lambda r, n: {"x": r.normal(size=(n, 2))}),
    ("gmm-full", zoo.gmm, dict(x_dim=3, k=2, covariance="full"), lambda r, n: {"x": r.normal(size=(n, 3))}),
    ("bernoulli_mixture", zoo.bernoulli_mixture, dict(x_dim=6, k=4),
     lambda r, n: {"x": (r.random((n, 6)) < 0.3).astype(float)}),
    # autoregressive chains
    ("fvsbn", zoo.fvsbn, dict(x_dim=5, ordering="random"),
     lambda r, n: {"x": (r.random((n, 5)) < 0.4).astype(float)}),
    ("nade", zoo.nade, dict(x_dim=5, hidden=6, ordering="random"),
     lambda r, n: {"x": (r.random((n, 5)) < 0.4).astype(float)}),
    ("made-ensemble", zoo.made, dict(x_dim=5, hidden=(8, 8), num_masks=3, ordering="random", direct=True),
     lambda r, n: {"x": (r.random((n, 5)) < 0.4).astype(float)}),
    ("made-categorical", zoo.made, dict(x_dim=4, hidden=(8,), family="categorical", n_levels=5),
     lambda r, n: {"x": r.integers(0, 5, (n, 4))}),
    ("made-one-hot", zoo.made, dict(x_dim=3, hidden=(8,), family="categorical", n_levels=4, one_hot_inputs=True),
     lambda r, n: {"x": r.integers(0, 4, (n, 3))}),
    ("rnade", zoo.rnade, dict(x_dim=3, hidden=6, components=2, ordering="random"),
     lambda r, n: {"x": r.normal(size=(n, 3))}),
    ("char_rnn", zoo.char_rnn, dict(x_dim=6, vocab=5, hidden=7, embed=3),
     lambda r, n: {"x": r.integers(0, 5, (n, 6))}),
    # flows: real vectors, and dequantised integer pixels
    ("nice", zoo.nice, dict(x_dim=4, hidden=(8,), layers=2), lambda r, n: {"x": r.normal(size=(n, 4))}),
    ("realnvp", zoo.realnvp, dict(x_dim=3, hidden=(8,), layers=2), lambda r, n: {"x": r.normal(size=(n, 3))}),
    ("maf", zoo.maf, dict(x_dim=3, hidden=(8,), layers=2), lambda r, n: {"x": r.normal(size=(n, 3))}),
    ("iaf", zoo.iaf, dict(x_dim=3, hidden=(8,), layers=2), lambda r, n: {"x": r.normal(size=(n, 3))}),
    ("glow-pixels", zoo.glow, dict(x_dim=4, hidden=(8,), layers=2, levels=5),
     lambda r, n: {"x": r.integers(0, 5, (n, 4))}),
    # class-conditional flows: a one-hot label in every conditioner (y scored given, or summed out)
    ("realnvp-classes", zoo.realnvp, dict(x_dim=3, hidden=(8,), layers=2, classes=3),
     lambda r, n: {"x": r.normal(size=(n, 3)), "y": r.integers(0, 3, n)}),
    ("maf-classes", zoo.maf, dict(x_dim=3, hidden=(8,), layers=2, classes=3),
     lambda r, n: {"x": r.normal(size=(n, 3)), "y": r.integers(0, 3, n)}),
    ("glow-classes", zoo.glow, dict(x_dim=4, hidden=(8,), layers=2, levels=5, classes=3),
     lambda r, n: {"x": r.integers(0, 5, (n, 4)), "y": r.integers(0, 3, n)}),
    # diffusion chains: real vectors (TimeMLP) and integer images (TimeUNet, discretised decoder)
    ("ddpm", zoo.ddpm, dict(x_dim=3, hidden=(8,), steps=6, time_dim=4), lambda r, n: {"x": r.normal(size=(n, 3))}),
    ("ddpm-pixels", zoo.ddpm, dict(x_dim=16, steps=5, levels=5, image_shape=(4, 4), channels=(2, 4), time_dim=4),
     lambda r, n: {"x": r.integers(0, 5, (n, 16))}),
    ("ddpm-classes", zoo.ddpm, dict(x_dim=3, hidden=(8,), steps=6, time_dim=4, classes=3),
     lambda r, n: {"x": r.normal(size=(n, 3)), "y": r.integers(0, 3, n)}),
    # no density: a denoising autoencoder ('denoising'), an implicit generator and its critic ('adversarial')
    ("dae", zoo.dae, dict(x_dim=6, hidden=(8,), code_dim=3),
     lambda r, n: {"x": (r.random((n, 6)) < 0.3).astype(float)}),
    ("gan", zoo.gan, dict(x_dim=2, z_dim=2, hidden=(8,), critic_hidden=(8,)),
     lambda r, n: {"x": r.normal(size=(n, 2))}),
    ("gan-classes", zoo.gan, dict(x_dim=2, z_dim=2, hidden=(8,), critic_hidden=(8,), classes=3),
     lambda r, n: {"x": r.normal(size=(n, 2)), "y": r.integers(0, 3, n)}),
    # latent-variable models: scored with z given (log p(x, z)); fitted on x alone
    ("vae-bernoulli", zoo.vae, dict(x_dim=6, z_dim=2, hidden=(8,)),
     lambda r, n: {"x": (r.random((n, 6)) < 0.3).astype(float), "z": r.normal(size=(n, 2))}),
    ("vae-gaussian", zoo.vae, dict(x_dim=5, z_dim=2, hidden=(8, 8), likelihood="gaussian", activation="relu"),
     lambda r, n: {"x": r.normal(size=(n, 5)), "z": r.normal(size=(n, 2))}),
    ("vae-classes", zoo.vae, dict(x_dim=6, z_dim=2, hidden=(8,), classes=3),
     lambda r, n: {"x": (r.random((n, 6)) < 0.3).astype(float), "y": r.integers(0, 3, n),
                   "z": r.normal(size=(n, 2))}),
    # M2: y is a guide site (q(y | x)); the suites fit it on x alone, y summed over under q
    ("ssvae", zoo.ssvae, dict(x_dim=6, classes=3, z_dim=2, hidden=(8,)),
     lambda r, n: {"x": (r.random((n, 6)) < 0.3).astype(float), "y": r.integers(0, 3, n),
                   "z": r.normal(size=(n, 2))}),
    ("vae-categorical", zoo.vae, dict(x_dim=4, z_dim=2, hidden=8, likelihood="categorical", n_levels=5),
     lambda r, n: {"x": r.integers(0, 5, (n, 4)), "z": r.normal(size=(n, 2))}),
    ("gmvae", zoo.gmvae, dict(x_dim=6, z_dim=2, k=3, hidden=(8,)),
     lambda r, n: {"x": (r.random((n, 6)) < 0.3).astype(float), "z": r.normal(size=(n, 2))}),
    ("factor_analysis", zoo.factor_analysis, dict(x_dim=5, z_dim=2),
     lambda r, n: {"x": r.normal(size=(n, 5)), "z": r.normal(size=(n, 2))}),
    # VQ-VAE: z is scored by the row of the codebook nearest to it
    ("vqvae", zoo.vqvae, dict(x_dim=6, n_latents=2, code_dim=2, n_codes=3, hidden=(8,)),
     lambda r, n: {"x": (r.random((n, 6)) < 0.3).astype(float), "z": r.normal(size=(n, 2, 2))}),
    # sequences: a hidden Markov model over 5 steps (the states summed out by the forward algorithm)
    ("hmm", zoo.hmm, dict(states=3, x_dim=2, steps=5), lambda r, n: {"x": r.normal(size=(n, 5, 2))}),
    ("hmm-categorical", zoo.hmm, dict(states=2, steps=4, emission="categorical", n_symbols=3),
     lambda r, n: {"x": r.integers(0, 3, (n, 4, 1)).astype(float)}),
]


def case_named(name):
    """The case with id ``name``."""
    for case in CASES:
        if case[0] == name:
            return case
    raise KeyError(f"no case {name!r} in CASES; the ids are {[c[0] for c in CASES]}")


def fit_data(model, data):
    """The part of a case's data a model is trained on: guided latents are left out."""
    guided = {s.name for s in model.guide_ir.sites} if model.guide_ir is not None else set()
    return {k: v for k, v in data.items() if k not in guided}


def case_data(case, n=40, seed=0):
    _, factory, hyper, make = case
    return factory(**hyper), make(np.random.default_rng(seed), n)


def scored_by(case) -> str | None:
    """The per-row query that scores a case's data, as the objectives say: ``"log_prob"`` where
    'mle' can score the model given the case's data (latents given or summed out), ``"elbo"``
    where only the variational bound can (a diffusion chain), and ``None`` for a model with no
    density at all (a denoising autoencoder, a generator seen through a Delta), which both refuse."""
    model, data = case_data(case, n=2)
    for query, objective in (("log_prob", "mle"), ("elbo", "elbo")):
        try:
            gd.objectives.get(objective).check(model, list(data))
        except ObjectiveError:
            continue
        return query
    return None


def is_chain(model) -> bool:
    """Whether the model is a diffusion chain (scored by its bound, not log_prob)."""
    return any(s.dist.family == "Diffusion" for s in model.ir.sites)


def rows_of(fitted, data):
    """Per-row log_prob, or a diffusion chain's (deterministic) variational bound."""
    return fitted.elbo(data) if is_chain(fitted.model) else fitted.log_prob(data)


def chain_bound_with_noise(model, backend, params, data, noise):
    """A diffusion chain's bound per row on one backend, with given noise
    ``(T, N, d)`` for its steps (so both backends see the same draws)."""
    from gendsl.inference.engines import make_engine

    eng = make_engine(model, backend, "float64")
    batch = eng.put_data(data)
    chain = eng.backend.implementation(eng.lowered.score(eng.params_in(params), batch).dists["x"]).chain
    prior, terms = chain.bound_terms(batch["x"], lambda shape, i: eng.put(noise[i]))
    return -np.asarray(eng.backend.to_numpy(prior + eng.backend.ops["sum"](terms, axis=0)))


def players(objective, lowered, n_total):
    """The losses that training minimises, each with the parameters its steps move:
    ``[(label, loss(params, batch, rng), names)]``, as the objective's players say
    (``Objective.players``: one that moves every parameter, or a game's discriminator and
    generator, each moving its own)."""
    from gendsl.inference.optim import Adam

    names = frozenset(lowered.constraints)
    return [(p.name, lambda prm, b, rng, p=p: p.loss(lowered, prm, b, {}, n_total, rng),
             frozenset(k for k in names if p.owns(k))) for p in objective.players(lowered, Adam(1e-3))]


def gradients(eng, loss, params, batch, seed=0):
    """``loss(params, batch, rng)`` and its gradient ``{name: NumPy array}`` in every unconstrained
    parameter (zeros where the loss does not depend on one) on engine ``eng``'s backend."""
    lowered = eng.lowered
    if eng.backend.name == "pyro":
        import torch

        torch.manual_seed(seed)
        u = {k: v.detach().clone().requires_grad_(True) for k, v in lowered.unconstrain(params).items()}
        value = loss(lowered.constrain(u), batch, eng.backend.rng(None))
        grads = torch.autograd.grad(value, list(u.values()), allow_unused=True)
        return float(value.detach()), {k: np.zeros(tuple(v.shape)) if g is None else g.numpy()
                                       for (k, v), g in zip(u.items(), grads)}
    import jax

    key = jax.random.PRNGKey(seed)
    value, grads = jax.jit(jax.value_and_grad(
        lambda u: loss(lowered.constrain(u), batch, eng.backend.rng(key))))(lowered.unconstrain(params))
    return float(value), {k: np.asarray(g) for k, g in grads.items()}
