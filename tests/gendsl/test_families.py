"""Conformance and contract over the family registry: every family in
``gendsl.dist.FAMILIES`` has a case, and each case runs through the same
suite on both backends (values agree across backends and with the plain
Pyro/NumPyro programs, draws lie in the support, training moves every
parameter). A family registered at test time joins the suite on its own:
the docs' worked example (``docs/examples/kumaraswamy.py``) is registered
here, and its :attr:`Family.example` gives its case."""

import runpy
from pathlib import Path

import numpy as np
import pytest

import gendsl as gd
from gendsl import dist
from gendsl.dist import FAMILIES
from gendsl.inference.fitted import Fitted

from . import test_backends
from .cases import case_data, case_named, fit_data, gradients, players

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "kumaraswamy.py"
runpy.run_path(str(EXAMPLE))  # registers "Kumaraswamy", as a user's `import` of the module would

BACKENDS = ("pyro", "numpyro")


def _one_site(family, params, data, event=True):
    """A model observing ``x`` through ``dist.<family>`` of learnable ``params``
    ``{arg: (init, constraint, shape)}`` (literals as they are), and its data maker."""
    @gd.model
    def story():
        args = {k: gd.param(k, v[2], init=v[0], constraint=v[1]) if isinstance(v, tuple) else v
                for k, v in params.items()}
        d = getattr(dist, family)(**args)
        with gd.plate("data"):
            gd.observe("x", d.to_event(1) if event and d.batch_shape else d)

    story.__name__ = f"{family.lower()}_story"
    return story(), data


def _scalar(family, data, **params):
    return lambda: _one_site(family, {k: (v[0], v[1], (3,)) for k, v in params.items()}, data)


_LOC_SCALE = dict(loc=(0.1, "real"), scale=(1.2, "positive"))
_REAL = lambda r, n: {"x": r.normal(size=(n, 3))}  # noqa: E731
_POSITIVE = lambda r, n: {"x": r.gamma(2.0, size=(n, 3))}  # noqa: E731


def _mixture():
    @gd.model
    def mixture_story(k=2):
        w = gd.param("w", (k,), init=[0.4, 0.6], constraint="simplex")
        locs = gd.param("locs", (k,), init=[-1.0, 1.0])
        scales = gd.param("scales", (k,), init=1.0, constraint="positive")
        with gd.plate("data"):
            gd.observe("x", dist.MixtureSameFamily(dist.Categorical(probs=w), dist.Normal(locs, scales)))

    return mixture_story(), lambda r, n: {"x": r.normal(size=n)}


def _zoo(name):
    def case():
        model, data = case_data(case_named(name), n=2)
        _, _, _, make = case_named(name)
        return model, make
    return case


# family -> () -> (model, data maker(rng, n)); the families with a module of their own are tried
# on the zoo model that uses them
CASES = {
    **{f: _scalar(f, _REAL, **_LOC_SCALE) for f in ("Normal", "Laplace", "Cauchy", "Gumbel", "Logistic")},
    "LogNormal": _scalar("LogNormal", _POSITIVE, **_LOC_SCALE),
    "StudentT": _scalar("StudentT", _REAL, df=(4.0, "positive"), **_LOC_SCALE),
    "HalfNormal": _scalar("HalfNormal", _POSITIVE, scale=(1.5, "positive")),
    "HalfCauchy": _scalar("HalfCauchy", _POSITIVE, scale=(1.5, "positive")),
    "Exponential": _scalar("Exponential", _POSITIVE, rate=(0.7, "positive")),
    "Gamma": _scalar("Gamma", _POSITIVE, concentration=(1.5, "positive"), rate=(0.8, "positive")),
    "InverseGamma": _scalar("InverseGamma", _POSITIVE, concentration=(2.5, "positive"), rate=(1.5, "positive")),
    "Beta": _scalar("Beta", lambda r, n: {"x": r.beta(2.0, 3.0, (n, 3))},
                    concentration1=(1.5, "positive"), concentration0=(2.5, "positive")),
    "Uniform": _scalar("Uniform", lambda r, n: {"x": r.uniform(0.2, 0.8, (n, 3))},
                       low=(-0.5, "real"), high=(1.5, "real")),
    "Poisson": _scalar("Poisson", lambda r, n: {"x": r.poisson(2.0, (n, 3)).astype(float)}, rate=(1.5, "positive")),
    "Bernoulli": _scalar("Bernoulli", lambda r, n: {"x": (r.random((n, 3)) < 0.3).astype(float)},
                         probs=(0.4, "unit_interval")),
    "Binomial": lambda: _one_site("Binomial", {"total_count": 5, "probs": (0.3, "unit_interval", (3,))},
                                  lambda r, n: {"x": r.binomial(5, 0.4, (n, 3)).astype(float)}),
    "Categorical": lambda: _one_site("Categorical", {"probs": ([0.2, 0.3, 0.5], "simplex", (3,))},
                                     lambda r, n: {"x": r.integers(0, 3, n)}),
    "OneHotCategorical": lambda: _one_site("OneHotCategorical", {"probs": ([0.2, 0.3, 0.5], "simplex", (3,))},
                                           lambda r, n: {"x": np.eye(3)[r.integers(0, 3, n)]}),
    "Dirichlet": lambda: _one_site("Dirichlet", {"concentration": (1.5, "positive", (3,))},
                                   lambda r, n: {"x": r.dirichlet([1.0, 2.0, 3.0], n)}),
    "Multinomial": lambda: _one_site("Multinomial", {"total_count": 4, "probs": ([0.2, 0.3, 0.5], "simplex", (3,))},
                                     lambda r, n: {"x": r.multinomial(4, [0.3, 0.3, 0.4], n).astype(float)}),
    "MultivariateNormal": lambda: _one_site(
        "MultivariateNormal", {"loc": (0.1, "real", (2,)), "scale_tril": (np.eye(2), "lower_cholesky", (2, 2))},
        lambda r, n: {"x": r.normal(size=(n, 2))}),
    "MixtureSameFamily": _mixture,
    "Delta": _zoo("gan"),
    "Autoregressive": _zoo("nade"),
    "TransformedDistribution": _zoo("realnvp"),
    "Dequantized": _zoo("glow-pixels"),
    "Diffusion": _zoo("ddpm"),
    "DenoisingAutoencoder": _zoo("dae"),
    "VectorQuantized": _zoo("vqvae"),
    "Codebook": _zoo("vqvae"),
    "HiddenMarkov": _zoo("hmm"),
}


def family_case(name):
    """``(model, make)`` for family ``name``: the table above, else the family's own example."""
    if name in CASES:
        return CASES[name]()
    if FAMILIES[name].example is None:
        pytest.fail(f"family {name!r} has no conformance case: give its Family an example= "
                    f"(() -> (model, data maker)), as docs/examples/kumaraswamy.py does")
    return FAMILIES[name].example()


def _families(spec):
    """Every family in an IR distribution spec, nested ones included (a flow's base, a mixture's parts)."""
    yield spec.family
    for value in spec.args.values():
        if hasattr(value, "family") and hasattr(value, "args"):
            yield from _families(value)


def _uses(model, name) -> bool:
    programs = [p for p in (model.ir, model.guide_ir, model.discriminator_ir) if p is not None]
    return any(name in _families(site.dist) for prog in programs for site in prog.sites)


def _as_case(name, model, make):
    """The ``(id, factory, hyper-parameters, maker)`` form of tests/gendsl/cases.py."""
    return (name, lambda: model, {}, make)


FAMILY_NAMES = sorted(FAMILIES)


def test_every_family_has_a_case_that_uses_it():
    assert "Kumaraswamy" in FAMILIES, "the worked example family was not registered"
    for name in FAMILY_NAMES:
        model, _ = family_case(name)
        assert _uses(model, name), f"the case of family {name!r} (model {model.name!r}) does not use it"
    assert set(CASES) <= set(FAMILIES), f"cases for unknown families: {sorted(set(CASES) - set(FAMILIES))}"


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_backends_agree_and_draw_in_the_support(name):
    """Exact densities: the same log_prob on both backends and in both plain programs;
    every family: ``sample`` gives the site's shape and dtype, in its support, on both backends."""
    model, make = family_case(name)
    data = make(np.random.default_rng(0), 24)
    params = model.init_params(seed=3)
    case = _as_case(name, model, make)
    if _objective(model, data) == "mle":  # an exact density
        rows = {b: Fitted(model, b, params, dtype="float64").log_prob(data) for b in BACKENDS}
        assert rows["pyro"].shape == (24,) and np.all(np.isfinite(rows["pyro"]))
        np.testing.assert_allclose(rows["pyro"], rows["numpyro"], rtol=1e-6, err_msg=name)
        test_backends.test_fast_path_agrees_with_plain_pyro_program(case)
        test_backends.test_fast_path_agrees_with_plain_numpyro_program(case)
    site = next(s for s in model.ir.observed if name in _families(s.dist)) if any(
        name in _families(s.dist) for s in model.ir.observed) else None
    for b in BACKENDS:
        draws = Fitted(model, b, params, dtype="float64").sample(5, seed=1)
        if site is None:
            continue
        x = draws[site.name]
        assert x.shape == (5,) + tuple(site.event_shape), (name, b, x.shape)
        kind = dist.value_dtype(site.dist)
        assert np.issubdtype(x.dtype, np.integer if kind == "int" else np.floating) or kind == "real", (name, b)
        assert np.all(np.isfinite(x)), (name, b)
        support = FAMILIES[site.dist.family].support
        if support in ("positive", "unit_interval", "boolean", "nonnegative_integer", "simplex"):
            low = 0.0
            assert np.all(x >= low), (name, b, support)
        if support in ("unit_interval", "boolean", "simplex"):
            assert np.all(x <= 1.0), (name, b, support)


def _objective(model, data):
    for objective in ("mle", "elbo", "denoising", "adversarial"):
        try:
            gd.objectives.get(objective).check(model, list(fit_data(model, data)))
        except gd.ObjectiveError:
            continue
        return objective
    raise AssertionError(f"no objective trains model {model.name!r}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_the_family_trains_and_every_parameter_gets_a_gradient(name, backend):
    model, make = family_case(name)
    data = make(np.random.default_rng(0), 24)
    objective = gd.objectives.get(_objective(model, data))
    fitted = Fitted(model, backend, model.init_params(seed=3), dtype="float64")
    eng = fitted.engine
    batch = eng.put_data(fit_data(model, data))
    params = eng.params_in(fitted.params)
    moved = set()
    for label, loss, names in players(objective, eng.lowered, 24):
        value, grads = gradients(eng, loss, params, batch)
        assert np.isfinite(value), (name, label)
        moved |= {k for k in names if np.any(grads[k] != 0)}
    assert moved == set(eng.lowered.constraints), f"{name}: no gradient reaches {sorted(set(eng.lowered.constraints) - moved)}"
    fit = model.fit(fit_data(model, data), objective=objective.name, backend=backend, epochs=2, batch_size=12,
                    seed=0, progress=False)
    assert np.all(np.isfinite(fit.history["step_loss"]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_worked_example_computes_the_kumaraswamy_density_and_mean(backend):
    """The docs' example is right, not only consistent: its log-density is the closed form and
    its draws have the mean ``b B(1 + 1/a, b)``."""
    from scipy.special import beta as beta_fn

    model, make = FAMILIES["Kumaraswamy"].example()
    x = make(np.random.default_rng(0), 50)["x"]
    fitted = Fitted(model, backend, model.init_params(seed=0), dtype="float64")
    a, b = 2.0, 3.0
    expected = np.sum(np.log(a * b) + (a - 1) * np.log(x) + (b - 1) * np.log1p(-x ** a), axis=1)
    np.testing.assert_allclose(fitted.log_prob({"x": x}), expected, rtol=1e-10)
    draws = fitted.sample(20_000, seed=2)["x"]
    mean, se = draws.mean(axis=0), draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(mean - b * beta_fn(1 + 1 / a, b)) < 4 * se), mean
