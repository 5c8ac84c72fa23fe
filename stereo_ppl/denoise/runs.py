"""Runs of offset pixels in one spectrum: box sums of the residuals (pure JAX).

A run (code 5) is a stretch of adjacent pixels offset the same way, each
perhaps below the single-pixel threshold. The detector sums the scaled
residuals ``u`` (clipped at ``±clip``, cosmic rays and other known flags left
out) over boxes of :data:`RUN_WIDTHS` pixels; without an artefact
``sum / sqrt(w)`` is standard normal, divided by ``run_scale`` (the box's own
scatter across the fit's stars, where neighbouring pixels' misfits add up).
Where it exceeds the threshold, the box's pixels of its sign join the
flagged pixels; stretches of at least ``run_width`` same-signed pixels are runs.
"""

import jax
import jax.numpy as jnp

__all__ = ["RUN_WIDTHS", "box_statistics", "run_mask", "window_sum"]

#: Widths (pixels) of the boxes the run detector sums the residuals over.
RUN_WIDTHS = (4, 8, 16)


def window_sum(x: jax.Array, width: int) -> jax.Array:
    """``sum(x[:, i : i + width])`` for every ``i`` (zeros past the end), shape of ``x``."""
    m = x.shape[-1]
    c = jnp.cumsum(jnp.pad(x, ((0, 0), (1, width))), axis=-1)
    return c[:, width : width + m] - c[:, :m]


def _window_sum_back(x: jax.Array, width: int) -> jax.Array:
    """``sum(x[:, i - width + 1 : i + 1])`` for every ``i``."""
    m = x.shape[-1]
    return window_sum(jnp.pad(x, ((0, 0), (width - 1, 0))), width)[:, :m]


def box_statistics(u: jax.Array, use: jax.Array, *, clip: float) -> jax.Array:
    """``sum(clip(u)) / sqrt(count)`` over boxes of every width, starting at every pixel.

    Parameters
    ----------
    u : array, shape (n, m)
        Scaled residuals.
    use : array of bool, shape (n, m)
        Pixels that count.
    clip : float

    Returns
    -------
    array, shape (len(RUN_WIDTHS), n, m)
        0 where fewer than half the box's pixels count.
    """
    x = jnp.where(use, jnp.clip(u, -clip, clip), 0.0)
    g = use.astype(u.dtype)
    out = []
    for width in RUN_WIDTHS:
        count = window_sum(g, width)
        stat = window_sum(x, width) * jax.lax.rsqrt(jnp.maximum(count, 1.0))
        out.append(jnp.where(count >= 0.5 * width, stat, 0.0))
    return jnp.stack(out)


def _stretch(candidate: jax.Array, length: int) -> jax.Array:
    """Pixels inside a stretch of at least ``length`` consecutive candidates."""
    c = candidate.astype(jnp.int32)
    full = (window_sum(c, length) == length).astype(jnp.int32)
    return _window_sum_back(full, length) > 0


def run_mask(
    u: jax.Array,
    good: jax.Array,
    core: jax.Array,
    exclude: jax.Array,
    run_scale: jax.Array,
    thresholds,
) -> jax.Array:
    """Pixels in runs of same-signed offset pixels.

    Parameters
    ----------
    u : array, shape (n, m)
        Scaled residuals.
    good : array of bool, shape (n, m)
        Usable pixels.
    core : array of bool, shape (n, m)
        Pixels flagged on their own (beyond ``outlier``, or their wings).
    exclude : array of bool, shape (n, m)
        Flagged pixels left out of the box sums (cosmic rays, bad columns,
        sky lines, step joins).
    run_scale : array, shape (len(RUN_WIDTHS), m)
        Scatter of each box statistic across the fit's stars (1: none).
    thresholds : ~stereo_ppl.denoise.flags.ArtefactThresholds
        Resolved (``run`` and ``run_width`` set).

    Returns
    -------
    array of bool, shape (n, m)
    """
    t = thresholds
    stats = box_statistics(u, good & ~exclude, clip=t.clip) / run_scale[:, None, :]
    up, down = core & (u > 0), core & (u < 0)
    for k, width in enumerate(RUN_WIDTHS):
        for sign, sig in ((1, stats[k] > t.run), (-1, stats[k] < -t.run)):
            covered = _window_sum_back(sig.astype(jnp.int32), width) > 0
            if sign > 0:
                up = up | (covered & good & (u > 0))
            else:
                down = down | (covered & good & (u < 0))
    return _stretch(up, t.run_width) | _stretch(down, t.run_width)
