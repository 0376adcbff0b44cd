"""Plots people expect from a generative model: loss curves and sample grids.

Matplotlib is imported lazily (with the non-interactive Agg backend when
no display is set), so ``import gendsl`` stays light.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["loss_curve", "sample_grid", "scatter_2d", "density_2d", "density_row", "interpolation_strip"]


def _pyplot():
    import matplotlib

    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    if path is not None:
        fig.savefig(os.fspath(path), dpi=120, bbox_inches="tight")
        _pyplot().close(fig)
    return fig


def loss_curve(history: dict, path=None, title: str = "training loss"):
    """Per-step losses (faint) with per-epoch means (bold); beside them, when
    the fit scored held-out rows (``fit(valid=...)``), the validation score of
    each round with the best round marked.

    Args:
        history: a fit's ``history`` (``"step_loss"``, ``"epoch_loss"``; and
            ``"valid"``, ``"valid_epoch"``, ``"best_epoch"``, ``"valid_metric"``
            from a fit with ``valid=``).
        path: where to save (png/svg/pdf); ``None`` returns the figure.
    """
    plt = _pyplot()
    rounds = len(history.get("valid") or ())
    fig, axes = plt.subplots(1, 2 if rounds else 1, figsize=(11, 3.5) if rounds else (6, 3.5), squeeze=False)
    ax = axes[0, 0]
    steps, epochs = np.asarray(history["step_loss"]), np.asarray(history["epoch_loss"], dtype=float)
    if len(steps):
        ax.plot(np.arange(1, len(steps) + 1), steps, color="tab:blue", alpha=0.3, lw=0.8, label="step")
    if len(epochs):
        per_epoch = len(steps) / len(epochs) if len(steps) else 1
        ax.plot(np.arange(1, len(epochs) + 1) * per_epoch, epochs, color="tab:blue", lw=2, label="epoch mean")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per row)")
    ax.set_title(title)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    if rounds:
        _validation_curve(axes[0, 1], history)
    return _save(fig, path)


_VALID_LABELS = {"log_prob": "held-out mean log p(x) (nats per row)",
                 "elbo": "held-out mean ELBO (nats per row)",
                 "loss": "minus the held-out loss"}


def _validation_curve(ax, history: dict) -> None:
    """A fit's validation rounds against their epochs; the best round (whose
    parameters the fit returned) marked, and where patience stopped it."""
    epochs, scores = np.asarray(history["valid_epoch"]), np.asarray(history["valid"], dtype=float)
    ax.plot(epochs, scores, color="tab:orange", lw=2, marker="o" if len(epochs) <= 50 else None, ms=3,
            label="validation")
    best = history.get("best_epoch")
    if best is not None:
        ax.axvline(best, color="tab:green", ls="--", lw=1)
        ax.plot([best], scores[list(epochs).index(best)], "o", color="tab:green", ms=7,
                label=f"best (epoch {best})")
    if history.get("stopped_epoch") is not None:
        ax.axvline(history["stopped_epoch"], color="tab:red", ls=":", lw=1, label="stopped early")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel(_VALID_LABELS.get(history.get("valid_metric"), "held-out score"))
    ax.set_title("validation (higher is better)")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)


def sample_grid(images, path=None, image_shape=None, ncols: int = 8, title: str | None = None, cmap="gray_r"):
    """Shows rows of flattened images as a grid.

    Args:
        images: ``(n, d)`` or ``(n, h, w)`` array.
        image_shape: ``(h, w)``; default: square ``sqrt(d)``.
    """
    plt = _pyplot()
    images = np.asarray(images, dtype=float)
    if image_shape is None and images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"cannot infer a square image shape from {images.shape[1]} pixels; pass image_shape=(h, w)")
        image_shape = (side, side)
    images = images.reshape((len(images),) + tuple(image_shape or images.shape[1:]))
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.9, nrows * 0.9), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img in zip(axes.ravel(), images):
        ax.imshow(img, cmap=cmap, vmin=0.0, vmax=max(1.0, float(img.max())), interpolation="nearest")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def scatter_2d(points: dict, path=None, title: str | None = None, s: float = 2.0):
    """Overlays labelled 2-D point clouds, e.g. ``{"data": x, "samples": y}``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for label, pts in points.items():
        pts = np.asarray(pts)
        ax.scatter(pts[:, 0], pts[:, 1], s=s, alpha=0.5, label=label)
    ax.set_aspect("equal")
    ax.legend(frameon=False, markerscale=4)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def density_2d(log_density, path=None, bounds=(-4.0, 4.0, -4.0, 4.0), grid: int = 200, points=None,
               title: str | None = None):
    """A 2-D density as an image, optionally with data points on top.

    Args:
        log_density: ``(n, 2) array -> (n,)`` log-densities, e.g. ``fit.log_prob``.
        bounds: ``(xmin, xmax, ymin, ymax)``.
        grid: points per axis.
        points: ``(m, 2)`` array to overlay.
    """
    plt = _pyplot()
    xmin, xmax, ymin, ymax = bounds
    xs, ys = np.linspace(xmin, xmax, grid), np.linspace(ymin, ymax, grid)
    xx, yy = np.meshgrid(xs, ys)
    logp = np.asarray(log_density(np.stack([xx.ravel(), yy.ravel()], axis=1))).reshape(grid, grid)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.imshow(np.exp(logp - logp.max()), origin="lower", extent=(xmin, xmax, ymin, ymax), cmap="magma",
              aspect="equal")
    if points is not None:
        pts = np.asarray(points)
        ax.scatter(pts[:, 0], pts[:, 1], s=1, c="white", alpha=0.3)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def density_row(log_densities: dict, path=None, bounds=(-4.0, 4.0, -4.0, 4.0), grid: int = 200,
                title: str | None = None):
    """Several 2-D densities side by side, e.g. ``{"GMM": gmm.score_samples,
    "RealNVP": fit.log_prob}``; a panel given an ``(n, 2)`` array instead of
    a function shows those points (the data)."""
    plt = _pyplot()
    xmin, xmax, ymin, ymax = bounds
    xx, yy = np.meshgrid(np.linspace(xmin, xmax, grid), np.linspace(ymin, ymax, grid))
    fig, axes = plt.subplots(1, len(log_densities), figsize=(3.2 * len(log_densities), 3.4), squeeze=False)
    for ax, (label, fn) in zip(axes[0], log_densities.items()):
        if callable(fn):
            logp = np.asarray(fn(np.stack([xx.ravel(), yy.ravel()], axis=1))).reshape(grid, grid)
            ax.imshow(np.exp(logp - logp.max()), origin="lower", extent=(xmin, xmax, ymin, ymax), cmap="magma")
        else:
            pts = np.asarray(fn)
            ax.hist2d(pts[:, 0], pts[:, 1], bins=grid // 2, range=[[xmin, xmax], [ymin, ymax]], cmap="magma")
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def interpolation_strip(images, path=None, image_shape=None, title: str | None = "latent interpolation"):
    """One row of images, e.g. ``fit.interpolate(x1, x2, steps)``."""
    images = np.asarray(images)
    return sample_grid(images, path, image_shape=image_shape, ncols=len(images), title=title)
