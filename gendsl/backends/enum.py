"""Exact summation of enumerated discrete latents (variable elimination over plates).

After a :class:`~gendsl.backends.handlers.ScoreHandler` run, each factor is a
log-prob tensor whose axes are enumeration dims (left) and plate dims
(right); a factor varies along the dims of the latents it reads (size 1 on
the others). :func:`eliminate` sums the latents out, innermost plates first.
Within a plate set the latents local to it are eliminated one at a time
(sum-product variable elimination): the factors that vary along the
latent's dim are added and log-sum-exp'd over it into one new factor, the
others wait. The next latent is the one whose new factor is smallest (the
greedy min-size order), so a chain ``z_1 -> z_2 -> ... -> z_T`` costs
``T K^2`` (each step meets ``z_{t-1}`` and ``z_t``), not the ``K^T`` of
enumerating the chain jointly, and a tree costs its largest parent-child
table. Then the plates not shared with the enclosing set are summed (a
product over independent replicates). This is exact when plates nest as a
tree, which ``gd.plate`` guarantees. The row plate (the plate over data
rows) is never summed, so the result is one log-likelihood per row.

References:
    Obermeyer et al., "Tensor Variable Elimination for Plated Factor Graphs", ICML 2019.
"""

from __future__ import annotations

import math

from ..errors import ModelError

__all__ = ["eliminate", "row_plate"]


def row_plate(program) -> str | None:
    """The plate over data rows: the one plate whose size comes from the data."""
    free = [p.name for p in program.plates.values() if p.size is None]
    if len(free) > 1:
        raise ModelError(
            f"model {program.name!r} has several plates sized by the data ({free}); per-row "
            f"log-likelihoods need exactly one (the rows); give the others a size"
        )
    return free[0] if free else None


def _pad(ops, x, rank):
    if x.ndim < rank:
        return ops["reshape"](x, (1,) * (rank - x.ndim) + tuple(x.shape))
    return x


def _plate_sum(ops, f, dim, size):
    # A factor that never varied along a plate (size 1 there) stands for
    # `size` identical replicates.
    if f.shape[dim] == 1:
        return f * size if size != 1 else f
    return ops["sum"](f, axis=dim, keepdims=True)


def eliminate(backend, factors, enum_vars: dict, plates: dict, sizes: dict, target: str | None,
              rank: int, keep: tuple = ()):
    """Sums out enumerated latents.

    Args:
        factors: ``(name, log_prob, plate names)`` triples.
        enum_vars: enumerated site -> ``(dim, plate names)``.
        plates: plate name -> :class:`gendsl.ir.Plate`.
        sizes: plate name -> size in this run.
        target: the plate(s) kept: the row plate (a name), several (a tuple:
            rows and particles), or ``None`` to sum everything.
        rank: total batch rank (``max_plate_nesting`` + number of enum dims).
        keep: enumerated sites not to sum out (posterior queries).

    Returns:
        ``(rows, global_logp)``: ``rows`` a rank-``rank`` tensor varying only
        along the row plate (and kept sites' dims); ``global_logp`` the summed
        factors outside the row plate (a scalar, or ``0.0``).
    """
    ops = backend.ops
    tgt = frozenset(target if isinstance(target, tuple) else [target] if target else [])
    pending: dict[frozenset, list] = {}
    global_logp = 0.0
    for name, lp, site_plates in factors:
        s = frozenset(site_plates)
        if tgt <= s:  # padded once summed (broadcasting aligns the plate axes on the right)
            pending.setdefault(s, []).append(lp)
        else:
            lp = _pad(ops, lp, rank)
            for p in s:
                lp = _plate_sum(ops, lp, plates[p].dim, sizes[p])
            global_logp = global_logp + ops["sum"](lp)
    for name, (dim, var_plates) in enum_vars.items():
        if not tgt <= frozenset(var_plates):
            raise ModelError(
                f"enumerated site {name!r} lies outside the row plate {sorted(tgt)}; exact "
                f"marginalisation per row needs every discrete latent inside it"
            )
    by_set = {s: [v for v, (_, ps) in enum_vars.items() if frozenset(ps) == s] for s in pending}
    for s in sorted(pending, key=len, reverse=True):
        if s == tgt:
            continue
        f = _contract(ops, pending.pop(s), by_set.get(s, ()), enum_vars, keep, rank)
        parents = [p for p in list(pending) + [tgt] if p < s]
        parent = max(parents, key=len)
        for p in s - parent:
            f = _plate_sum(ops, f, plates[p].dim, sizes[p])
        pending.setdefault(parent, []).append(f)
    if tgt not in pending:
        return None, global_logp
    local = [v for v, (_, ps) in enum_vars.items() if frozenset(ps) == tgt]
    return _contract(ops, pending[tgt], local, enum_vars, keep, rank), global_logp


def _add(terms):
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def _contract(ops, terms, names, enum_vars, keep, rank):
    """The sum of ``terms`` with the latents ``names`` (but ``keep``) log-sum-exp'd out,
    one at a time, smallest new factor first (see the module's docstring)."""
    terms = [_pad(ops, t, rank) for t in terms]
    order = [v for v in names if v not in keep]
    while order:
        reading = {v: [t for t in terms if t.shape[enum_vars[v][0]] > 1] for v in order}
        v = min(order, key=lambda v: _broadcast_size(reading[v]))
        order.remove(v)
        if reading[v]:
            dim = enum_vars[v][0]
            terms = [t for t in terms if t.shape[dim] == 1] + [
                ops["logsumexp"](_add(reading[v]), axis=dim, keepdims=True)]
    return _add(terms)


def _broadcast_size(terms) -> int:
    """The size of the terms' broadcast sum (by hand: NumPy's broadcasting stops at 32 axes,
    and every enumerated latent adds one)."""
    if not terms:
        return 0
    rank = max(len(t.shape) for t in terms)
    padded = [(1,) * (rank - len(t.shape)) + tuple(t.shape) for t in terms]
    return math.prod(max(axis) for axis in zip(*padded))
