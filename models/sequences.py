"""Sequence models: Bayesian networks over time (the hidden Markov model)."""

from __future__ import annotations

import numpy as np

import gendsl as gd
from gendsl import dist, ops

__all__ = ["hmm", "HMM_FIT_DEFAULTS"]

#: ``fit`` defaults of ``hmm`` (``factory.fit_defaults``): Adam at 0.05, as for
#: the mixtures (few parameters, an exact likelihood).
HMM_FIT_DEFAULTS = {"lr": 0.05}


@gd.model
def hmm(states=3, x_dim=1, steps=20, emission="normal", n_symbols=None, stay=0.8):
    """Hidden Markov model: ``z_1 ~ init``, ``z_t | z_{t-1} ~ trans[z_{t-1}]``,
    ``x_t | z_t ~ emission[z_t]``, one ``dist.HiddenMarkov`` node per sequence.

    Data are sequences of shape ``(N, steps, x_dim)``; shorter ones are padded
    with NaN after their end. ``fit.posterior("z", x)`` gives the per-step
    state marginals (forward-backward), ``fit.predict("z", x)`` the Viterbi path.

    Args:
        states: ``K``, the number of hidden states.
        x_dim: the dimension of one step (``1`` for categorical emissions).
        steps: ``T``, the sequence length.
        emission: ``"normal"`` (diagonal Gaussian per state: params ``loc``,
            ``scale`` ``(K, x_dim)``) or ``"categorical"`` (symbols
            ``0..n_symbols-1``: params ``probs`` ``(K, n_symbols)``).
        n_symbols: the alphabet size of categorical emissions.
        stay: the initial probability of staying in a state (``trans``'s diagonal).

    Fitted params: ``init`` ``(K,)`` and ``trans`` ``(K, K)`` (probabilities,
    constraint ``"simplex"``), and the emission's.

    Default objective: ``mle`` (the states summed out by the forward
    algorithm: the exact log-likelihood that Baum-Welch maximises); fit
    defaults :data:`HMM_FIT_DEFAULTS` (``lr=0.05``).

    References:
        Baum & Petrie, "Statistical Inference for Probabilistic Functions of
        Finite State Markov Chains", Ann. Math. Statist. 1966.
        Rabiner, "A Tutorial on Hidden Markov Models and Selected Applications
        in Speech Recognition", Proc. IEEE 1989.
    """
    if emission not in ("normal", "categorical"):
        raise gd.ModelError(f"hmm: emission must be 'normal' or 'categorical', got {emission!r}")
    k = int(states)
    if k < 2:
        raise gd.ModelError(f"hmm: states must be at least 2, got {states!r}")
    off = (1.0 - stay) / (k - 1)
    trans0 = np.full((k, k), off) + np.eye(k) * (stay - off)
    init = gd.param("init", (k,), init=np.full(k, 1.0 / k), constraint="simplex")
    trans = gd.param("trans", (k, k), init=trans0, constraint="simplex")
    if emission == "normal":
        loc = gd.param("loc", (k, x_dim), init="normal")
        scale = gd.param("scale", (k, x_dim), init=1.0, constraint="positive")
        em = dist.Normal(loc, scale).to_event(1)
    else:
        if not n_symbols or int(n_symbols) < 2:
            raise gd.ModelError(f"hmm(emission='categorical') needs n_symbols >= 2 (the alphabet size), "
                                f"got {n_symbols!r}")
        if x_dim != 1:
            raise gd.ModelError(f"hmm(emission='categorical') emits one symbol per step: x_dim must be 1, "
                                f"got {x_dim!r}")
        probs = gd.param("probs", (k, int(n_symbols)), init="normal", constraint="simplex")
        em = dist.Categorical(probs=ops.expand_dims(probs, 1)).to_event(1)   # batch (K,), event (1,)
    with gd.plate("data"):
        gd.observe("x", dist.HiddenMarkov(init, trans, em, steps, states="z"))


hmm.default_objective = "mle"
hmm.fit_defaults = HMM_FIT_DEFAULTS
