"""Runs of offset pixels in one spectrum: box sums of the residuals (pure JAX).

A run (code 5) is a stretch of adjacent pixels offset the same way, each
perhaps below the single-pixel threshold. The detector sums the scaled
residuals ``u`` (clipped at ``±clip``, cosmic rays and other known flags left
out) over boxes of :data:`RUN_WIDTHS` pixels. Where the decoder cannot
describe a line, neighbouring pixels' misfits add up: with a common offset of
standard deviation ``S`` (flux units, the box's scatter across the fit's
stars, ``run_scatter``) the sum has variance ``count + S^2 (sum inv_sd)^2``
(``inv_sd`` the pixels' inverse effective standard deviations), so

    T = sum(u) / sqrt(count + S^2 (sum inv_sd)^2)

is standard normal without an artefact, at any S/N.
Where it exceeds the threshold, the box's pixels of its sign (at least
``run_join`` each) join the flagged pixels; stretches of at least
``run_width`` same-signed pixels are runs.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["RUN_WIDTHS", "BoxSums", "box_statistics", "box_sums", "run_mask", "window_sum"]

#: Widths (pixels) of the boxes the run detector sums the residuals over.
RUN_WIDTHS = (4, 8, 16)


def _ahead(x: jax.Array, by: int) -> jax.Array:
    """``x[:, i + by]`` for every ``i`` (zeros past the end)."""
    if by == 0:
        return x
    m = x.shape[-1]
    if by >= m:
        return jnp.zeros_like(x)
    return jnp.concatenate([x[:, by:], jnp.zeros((x.shape[0], by), x.dtype)], axis=-1)


def window_sum(x: jax.Array, width: int) -> jax.Array:
    """``sum(x[:, i : i + width])`` for every ``i`` (zeros past the end), shape of ``x``.

    Sums over ``1, 2, 4, ...`` pixels by doubling, then those of ``width``'s
    binary digits added at their offsets: ``O(log width)`` shifted adds, no
    cumulative sum (whose rounding grows along the spectrum and which XLA's
    CPU backend runs slowly).
    """
    width = int(width)
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    powers, block = [], x
    while True:
        # materialised: XLA would otherwise recompute each level inside every shifted view
        block = jax.lax.optimization_barrier(block)
        powers.append(block)
        size = 1 << (len(powers) - 1)
        if 2 * size > width:
            break
        block = block + _ahead(block, size)
    total, offset = None, 0
    for bit in range(len(powers) - 1, -1, -1):
        if width & (1 << bit):
            part = _ahead(powers[bit], offset)
            total = part if total is None else total + part
            offset += 1 << bit
    return total


def _window_sum_back(x: jax.Array, width: int) -> jax.Array:
    """``sum(x[:, i - width + 1 : i + 1])`` for every ``i``."""
    m = x.shape[-1]
    return window_sum(jnp.pad(x, ((0, 0), (width - 1, 0))), width)[:, :m]


class BoxSums(NamedTuple):
    """Sums over boxes of every width of :data:`RUN_WIDTHS`, starting at every pixel.

    Attributes
    ----------
    total : array, shape (len(RUN_WIDTHS), n, m)
        ``sum(clip(u))``.
    count : array, shape (len(RUN_WIDTHS), n, m)
        Pixels that count.
    weight : array, shape (len(RUN_WIDTHS), n, m)
        ``sum(inv_sd)``.
    """

    total: jax.Array
    count: jax.Array
    weight: jax.Array


def box_sums(u: jax.Array, inv_sd: jax.Array, use: jax.Array, *, clip: float) -> BoxSums:
    """The :class:`BoxSums` of scaled residuals ``u`` (n, m) over pixels ``use``."""
    x = jnp.where(use, jnp.clip(u, -clip, clip), 0.0)
    g = use.astype(u.dtype)
    s = jnp.where(use, inv_sd, 0.0)
    parts = [[window_sum(a, width) for width in RUN_WIDTHS] for a in (x, g, s)]
    return BoxSums(*(jnp.stack(p) for p in parts))


def box_statistics(sums: BoxSums, run_scatter: jax.Array) -> jax.Array:
    """``T`` of every box (see the module docstring); 0 where under half its pixels count.

    Parameters
    ----------
    sums : BoxSums
    run_scatter : array, shape (len(RUN_WIDTHS), 1 or n, m)
        ``S`` of each box (flux units; by start pixel).

    Returns
    -------
    array, shape (len(RUN_WIDTHS), n, m)
    """
    widths = jnp.asarray(RUN_WIDTHS, sums.count.dtype)[:, None, None]
    variance = sums.count + (run_scatter * sums.weight) ** 2
    stat = sums.total * jax.lax.rsqrt(jnp.maximum(variance, 1.0))
    return jnp.where(sums.count >= 0.5 * widths, stat, 0.0)


def _stretch(candidate: jax.Array, length: int) -> jax.Array:
    """Pixels inside a stretch of at least ``length`` consecutive candidates."""
    c = candidate.astype(jnp.int32)
    full = (window_sum(c, length) == length).astype(jnp.int32)
    return _window_sum_back(full, length) > 0


def run_mask(
    u: jax.Array,
    inv_sd: jax.Array,
    good: jax.Array,
    core: jax.Array,
    exclude: jax.Array,
    run_scatter: jax.Array,
    thresholds,
) -> jax.Array:
    """Pixels in runs of same-signed offset pixels.

    Parameters
    ----------
    u : array, shape (n, m)
        Scaled residuals.
    inv_sd : array, shape (n, m)
        Inverse effective standard deviation of each pixel (flux units).
    good : array of bool, shape (n, m)
        Usable pixels.
    core : array of bool, shape (n, m)
        Pixels flagged on their own (beyond ``outlier``, or their wings).
    exclude : array of bool, shape (n, m)
        Flagged pixels left out of the box sums (cosmic rays, bad columns,
        sky lines, step joins).
    run_scatter : array, shape (len(RUN_WIDTHS), 1 or n, m)
        ``S`` of each box (0: none).
    thresholds : ~stereo_ppl.denoise.flags.ArtefactThresholds
        Resolved (``run`` and ``run_width`` set).

    Returns
    -------
    array of bool, shape (n, m)
    """
    t = thresholds
    sums = box_sums(u, inv_sd, good & ~exclude, clip=t.clip)
    stats = jax.lax.optimization_barrier(box_statistics(sums, run_scatter))
    up, down = core & (u > 0), core & (u < 0)
    for k, width in enumerate(RUN_WIDTHS):
        for sign, sig in ((1, stats[k] > t.run), (-1, stats[k] < -t.run)):
            covered = _window_sum_back(sig.astype(jnp.int32), width) > 0
            covered = jax.lax.optimization_barrier(covered)
            if sign > 0:
                up = up | (covered & good & (u >= t.run_join))
            else:
                down = down | (covered & good & (u <= -t.run_join))
    return _stretch(up, t.run_width) | _stretch(down, t.run_width)
