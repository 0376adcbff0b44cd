"""``@gd.model``: model factories, bound models and their guides.

A decorated function is a :class:`ModelFactory`; calling it with
hyper-parameters traces the function once and returns a :class:`Model`,
which owns the IR (:attr:`Model.ir`), its graph views, the compilers to Pyro
and NumPyro, and ``fit``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

from . import ir
from .errors import ModelError, ShapeError, SiteError
from .trace import Tracer, tracing

__all__ = ["model", "ModelFactory", "Model"]


def _signature(fn: Callable, role: str, name: str):
    """Splits a function's parameters into data inputs and hyper-parameters."""
    inputs, hyper = [], {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ModelError(f"{role} {name!r}: *args/**kwargs are not supported; name each hyper-parameter")
        if p.default is inspect.Parameter.empty:
            inputs.append(p.name)
        else:
            hyper[p.name] = p.default
    return inputs, hyper


def trace_program(fn: Callable, name: str, role: str, hyper: dict, inputs: dict | None = None,
                  plates=None, doc: str = "", output: Callable | None = None) -> ir.Program:
    """Runs ``fn`` once under a tracer and returns its :class:`gendsl.ir.Program`.

    Args:
        inputs: input name -> ``(shape, dtype, plates)`` for positional arguments.
        output: called (inside the trace) with what ``fn`` returns, to record it.
    """
    tracer = Tracer(name, role, shared_plates=plates)
    args, keywords = [], {}
    optional = {p.name for p in inspect.signature(fn).parameters.values() if p.default is not inspect.Parameter.empty}
    with tracing(tracer):
        for input_name, (shape, dtype, input_plates) in (inputs or {}).items():
            value = tracer.add(ir.Input(name=input_name, shape=shape, plates=input_plates, dtype=dtype))
            if input_name in optional:  # a keyword named after a site the model has (see Model._site_inputs)
                keywords[input_name] = value
            else:
                args.append(value)
        result = fn(*args, **hyper, **keywords)
        if output is not None:
            output(result)
    return tracer.program(inputs=tuple(inputs or ()), hyper=hyper, doc=doc)



# What a Model's conveniences need from the layers above the core: ``"backend"``
# (name -> backend, for to_pyro/to_numpyro), ``"fit"`` (gendsl.inference.fit) and
# ``"objective"`` (name or instance -> objective, for a GAN's drawn losses). The core
# imports neither gendsl.backends, gendsl.inference nor gendsl.models (DESIGN §6);
# gendsl/__init__.py, the top-level conveniences, fills this table with functions
# that import them on first use.
UPPER_LAYERS: dict[str, Callable] = {}


class ModelFactory:
    """What ``@gd.model`` returns: call it with hyper-parameters to get a :class:`Model`."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.name = fn.__name__
        inputs, self.defaults = _signature(fn, "model", self.name)
        if inputs:
            raise ModelError(
                f"model {self.name!r}: parameters {inputs} have no default. A model's arguments are "
                f"hyper-parameters with defaults (def {self.name}(x_dim=64, ...)); data enter "
                f"through gd.observe / gd.sample sites"
            )
        self.guide_fn: Callable | None = None
        self.discriminator_fn: Callable | None = None
        functools.update_wrapper(self, fn)

    def guide(self, fn: Callable) -> Callable:
        """Decorator attaching an amortised guide ``q(latents | data)``.

        The guide's positional arguments are data, named after model sites;
        its keyword arguments are hyper-parameters shared with the model.
        """
        _signature(fn, "guide", fn.__name__)
        self.guide_fn = fn
        return fn

    def discriminator(self, fn: Callable) -> Callable:
        """Decorator attaching a discriminator (critic) ``D(x)`` for the
        ``adversarial`` objective.

        Its positional arguments are data named after model sites (the
        generator's implicit observations, and any labels it is conditioned
        on); its keyword arguments are hyper-parameters shared with the model.
        It returns one real score per row (an event shape ``()`` or ``(1,)``): a logit
        for the classifier losses, a critic value for the Wasserstein ones.
        """
        _signature(fn, "discriminator", fn.__name__)
        self.discriminator_fn = fn
        return fn

    def __call__(self, **hyper) -> "Model":
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise ModelError(
                f"model {self.name!r} has no hyper-parameter(s) {sorted(unknown)}; "
                f"it takes {sorted(self.defaults)}"
            )
        return Model(self, {**self.defaults, **hyper})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"<gendsl model factory {self.name}({args})>"


class Model:
    """A model with its hyper-parameters bound, traced into the IR.

    Attributes:
        name: the model's name.
        hyper: its hyper-parameters.
        ir: the model's :class:`gendsl.ir.Program`.
        guide_ir: the guide's program, or ``None``.
        discriminator_ir: the discriminator's program, or ``None``.
    """

    def __init__(self, factory: ModelFactory, hyper: dict, guide: str | None = None):
        self.factory = factory
        self.name = factory.name
        self.hyper = dict(hyper)
        self.auto_guide = guide
        self.ir = trace_program(factory.fn, self.name, "model", self.hyper, doc=factory.fn.__doc__ or "")
        if guide is not None:
            from .autoguide import auto_guide

            self.guide_ir = self._trace_guide(auto_guide(self.ir, guide))
        else:
            self.guide_ir = self._trace_guide(factory.guide_fn) if factory.guide_fn else None
        self.discriminator_ir = (self._trace_discriminator(factory.discriminator_fn)
                                 if factory.discriminator_fn else None)

    def with_guide(self, kind: str) -> "Model":
        """The same model with an automatic guide: ``"normal"`` (mean-field
        Gaussian) or ``"delta"`` (point mass: MAP) for its global latents."""
        return Model(self.factory, self.hyper, guide=kind)

    def _site_inputs(self, fn: Callable, role: str):
        """``(input specs, hyper)`` for a guide or discriminator whose
        positional arguments are named after model sites.

        A keyword argument named after a site of the model, with default
        ``None``, is that site's data too where the model has the site (a
        class-conditional model's ``y``), and stays ``None`` where it has not:
        one guide serves a factory whose sites depend on its hyper-parameters.
        """
        inputs, defaults = _signature(fn, role, fn.__name__)
        optional = [k for k, v in defaults.items() if v is None and isinstance(self.ir.by_name.get(k), ir.Sample)]
        inputs = [*inputs, *optional]
        defaults = {k: v for k, v in defaults.items() if k not in optional}
        specs = {}
        for name in inputs:
            node = self.ir.by_name.get(name)
            if not isinstance(node, (ir.Sample, ir.Covariate)):
                sites = [s.name for s in self.ir.sites + self.ir.covariates]
                raise SiteError(
                    f"{role} {fn.__name__!r}: argument {name!r} matches no site or covariate of model "
                    f"{self.name!r}; {role} arguments are data named after them: {sites}"
                )
            specs[name] = (node.shape, node.dtype, node.plates)
        return specs, {k: self.hyper.get(k, v) for k, v in defaults.items()}

    def _trace_guide(self, fn: Callable) -> ir.Program:
        specs, hyper = self._site_inputs(fn, "guide")
        guide = trace_program(fn, self.name, "guide", hyper, inputs=specs,
                              plates=self.ir.plates, doc=fn.__doc__ or "")
        self._check_guide(guide)
        return guide

    def _trace_discriminator(self, fn: Callable) -> ir.Program:
        from . import primitives
        from .shapes import format_shape
        from .trace import Value

        specs, hyper = self._site_inputs(fn, "discriminator")
        if not specs:
            raise ModelError(
                f"discriminator {fn.__name__!r} of model {self.name!r} takes no data: name the sites it "
                f"judges as positional arguments, e.g. def {fn.__name__}(x, x_dim=...)"
            )

        def record(score):
            if not isinstance(score, Value):
                raise ModelError(
                    f"discriminator {fn.__name__!r} of model {self.name!r} returned {type(score).__name__}; "
                    f"it must return its score, a traced value (return net(x))"
                )
            rows = self.ir[next(iter(specs))].batch_shape
            if tuple(score.shape) not in (rows, rows + (1,)):
                raise ShapeError(
                    f"discriminator {fn.__name__!r} of model {self.name!r} returns a score of shape "
                    f"{format_shape(score.shape)}; it must be one number per row, shape {format_shape(rows)} "
                    f"or {format_shape(rows + (1,))} (end the network with one output unit)"
                )
            primitives.deterministic(ir.SCORE, score)

        return trace_program(fn, self.name, "discriminator", hyper, inputs=specs, plates=self.ir.plates,
                             doc=fn.__doc__ or "", output=record)

    def _check_guide(self, guide: ir.Program) -> None:
        for site in guide.sites:
            target = self.ir.by_name.get(site.name)
            if not isinstance(target, ir.Sample) or target.observed:
                latent = [s.name for s in self.ir.latent]
                raise SiteError(
                    f"guide site {site.name!r} is not a latent site of model {self.name!r}; "
                    f"a guide samples the model's latent sites: {latent}"
                )
            if site.shape != target.shape:
                from .shapes import format_shape

                raise SiteError(
                    f"guide site {site.name!r} has shape {format_shape(site.shape)} but the model's "
                    f"has {format_shape(target.shape)}; they must match"
                )

    # -- graph views ------------------------------------------------------------
    @functools.cached_property
    def graph(self):
        """The model as a ``networkx.DiGraph`` (see :mod:`gendsl.graph`)."""
        from .graph import to_networkx

        return to_networkx(self.ir)

    @functools.cached_property
    def guide_graph(self):
        """The guide as a ``networkx.DiGraph``, or ``None``."""
        from .graph import to_networkx

        return None if self.guide_ir is None else to_networkx(self.guide_ir)

    @functools.cached_property
    def discriminator_graph(self):
        """The discriminator as a ``networkx.DiGraph``, or ``None``."""
        from .graph import to_networkx

        return None if self.discriminator_ir is None else to_networkx(self.discriminator_ir)

    def graph_spec(self, guide: bool = True, objective=None) -> dict:
        """Plain-data description of the graph (what renderers draw).

        Args:
            guide: include the guide (and a GAN's discriminator).
            objective: for a model with a discriminator, the adversarial
                objective (name or instance, default ``"adversarial"``) whose
                two losses are drawn, each linked to the networks it trains.
        """
        from .graph import graph_spec

        if not guide or self.discriminator_ir is None:
            return graph_spec(self.ir, self.guide_ir if guide else None)
        # the losses' text lives with the objective, in gendsl.inference
        terms = UPPER_LAYERS["objective"](objective or "adversarial").terms()
        return graph_spec(self.ir, self.guide_ir, self.discriminator_ir, terms)

    def render(self, path: str | None = None, guide: bool = True, format: str | None = None, objective=None):
        """Draws the model (and guide, or discriminator) in plate notation with graphviz.

        Args:
            path: output file; its suffix (``.svg``, ``.png``, ``.pdf``,
                ``.dot``) picks the format. ``None`` returns the
                ``graphviz.Digraph``.
            objective: a GAN's adversarial objective, whose losses are drawn
                (see :meth:`graph_spec`).
        """
        from .render import render

        return render(self.graph_spec(guide, objective), path, format=format)

    def to_dot(self, guide: bool = True, objective=None) -> str:
        from .render import to_dot

        return to_dot(self.graph_spec(guide, objective))

    def to_mermaid(self, guide: bool = True, objective=None) -> str:
        from .render import to_mermaid

        return to_mermaid(self.graph_spec(guide, objective))

    def to_json(self, guide: bool = True, objective=None) -> str:
        from .render import to_json

        return to_json(self.graph_spec(guide, objective))

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .render import mimebundle

        return mimebundle(self.graph_spec(), repr(self))

    # -- compilers --------------------------------------------------------------
    def to_pyro(self, **options):
        """A plain Pyro ``(model, guide)`` pair; options (``seed``, ``dtype``,
        ``device``) as :meth:`gendsl.backends.pyro.PyroBackend.compile` takes them."""
        return UPPER_LAYERS["backend"]("pyro").compile(self, **options)

    def to_numpyro(self, **options):
        """A plain NumPyro ``(model, guide)`` pair; options (``seed``, ``dtype``)
        as :meth:`gendsl.backends.numpyro.NumPyroBackend.compile` takes them."""
        return UPPER_LAYERS["backend"]("numpyro").compile(self, **options)

    def init_params(self, seed: int = 0) -> dict:
        """Initial parameter values ``{name: float64 array}`` (constrained), the
        same for every backend."""
        from .params import init_params

        return init_params(self, seed)

    # -- training ---------------------------------------------------------------
    def fit(self, data, objective=None, backend: str = "pyro", **options):
        """Trains the model; see :func:`gendsl.inference.fit` for the options.

        ``objective=None`` uses the factory's ``default_objective`` (``"mle"``
        unless the model says otherwise); the ``fit`` keywords the call leaves
        out come from the factory's declared ``fit_defaults`` (see
        :meth:`default_fit_options`), the caller's keywords winning;
        ``guide="normal"`` or ``"delta"`` trains with an automatic guide (see
        :meth:`with_guide`).
        """
        if objective is None:
            objective = getattr(self.factory, "default_objective", "mle")
        options = {**self.default_fit_options(objective, **options), **options}
        guide = options.pop("guide", None)
        model = self.with_guide(guide) if guide is not None else self
        return UPPER_LAYERS["fit"](model, data, objective=objective, backend=backend, **options)

    def default_fit_options(self, objective=None, **options) -> dict:
        """The ``fit`` keywords this model's factory declares as defaults, for
        a call with ``objective`` and the keywords ``options``; :meth:`fit`
        merges them under the caller's.

        A factory declares them as ``factory.fit_defaults``: a dict of
        :func:`gendsl.inference.fit` keywords (``lr``, ``batch_size``,
        ``ema``, ``lr_schedule``, ...), or a function ``(hyper, objective,
        options) -> dict`` when they depend on the hyper-parameters or the
        call (a GAN's learning rate per ``loss``). No declaration: ``{}``,
        ``fit``'s own defaults. The result omits the keywords ``options``
        already gives.

        Example:
            >>> import gendsl as gd
            >>> from gendsl import dist
            >>> @gd.model
            ... def coin():
            ...     p = gd.param("p", (), init=0.5, constraint="unit_interval")
            ...     with gd.plate("data"):
            ...         gd.observe("x", dist.Bernoulli(probs=p))
            >>> coin.fit_defaults = {"lr": 0.05, "batch_size": 64}
            >>> coin().default_fit_options(lr=0.1)
            {'batch_size': 64}
        """
        if objective is None:
            objective = getattr(self.factory, "default_objective", "mle")
        declared = getattr(self.factory, "fit_defaults", None) or {}
        if callable(declared):
            declared = declared(dict(self.hyper), objective, dict(options))
        return {k: v for k, v in declared.items() if k not in options}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"<gendsl model {self.name}({args})>"


def model(fn: Callable) -> ModelFactory:
    """Turns a generative story into a model factory.

    Example:
        >>> import gendsl as gd
        >>> from gendsl import dist
        >>> @gd.model
        ... def coin(n_flips=10):
        ...     p = gd.param("p", (), init=0.5, constraint="unit_interval")
        ...     with gd.plate("data"):
        ...         gd.observe("x", dist.Bernoulli(probs=p))
        >>> [n for n in coin().graph.nodes]
        ['p', 'x']
    """
    return ModelFactory(fn)
