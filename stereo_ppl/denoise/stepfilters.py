"""The step filters: a jump between the arms and a splice glitch at the join (pure JAX).

:func:`step_statistic` adds, at each candidate centre ``k``, a matched filter
for a jump in the flux level between ``k - 1`` and ``k + 1`` and one for the
splice glitch of the three join pixels (:func:`splice_glitch`), each divided
by its own scatter across the fit's stars at that centre where one is given
(:func:`jump_weight`, :func:`glitch_weight`; estimated by
:func:`~stereo_ppl.denoise.noise.estimate_step_scatter` and
:func:`~stereo_ppl.denoise.noise.estimate_glitch_scatter`). The thresholds
are :class:`~stereo_ppl.denoise.flags.ArtefactThresholds`'s; the candidate
is then located by :func:`~stereo_ppl.denoise.steps.locate_step`.
"""

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "GLITCH_GATE",
    "GLITCH_SHAPE",
    "glitch_weight",
    "jump_weight",
    "searchable_range",
    "splice_glitch",
    "step_statistic",
]

#: Chi-square left in the three join pixels of a step after fitting the splice
#: glitch above which the glitch is not credited (a cosmic ray is no glitch).
GLITCH_GATE = 12.0


def searchable_range(step_range: tuple[int, int], m: int, window: int) -> tuple[int, int]:
    """The candidate step centres of ``step_range`` with ``window + 2`` pixels on each side.

    Parameters
    ----------
    step_range : (int, int)
        Candidates ``lo <= k < hi`` wanted.
    m : int
        Pixels of the grid.
    window : int
        Pixels each side of a candidate that the step filters need.

    Returns
    -------
    (int, int)
        The candidates that fit in the grid; ``(0, 0)`` where none does.
    """
    lo = max(int(step_range[0]), window + 2)
    hi = min(int(step_range[1]), m - window - 2)
    return (lo, hi) if hi > lo else (0, 0)


def _cumulative(x: jax.Array) -> jax.Array:
    """``[0, x_0, x_0 + x_1, ...]`` along the last axis."""
    zero = jnp.zeros((x.shape[0], 1), x.dtype)
    return jnp.concatenate([zero, jnp.cumsum(x, axis=-1)], axis=-1)


def _take(x: jax.Array, index: np.ndarray) -> jax.Array:
    """``x[:, index]`` for static indices: a slice where they are consecutive."""
    if index.size > 1 and np.all(np.diff(index) == 1):
        return x[:, int(index[0]) : int(index[-1]) + 1]
    return x[:, index]


def _window_sums(c: jax.Array, k: np.ndarray, lo_off: int, hi_off: int, size: int):
    """Sums over pixels ``k + lo_off .. k + hi_off - 1`` from cumulative sums ``c``."""
    return _take(c, np.clip(k + hi_off, 0, size)) - _take(c, np.clip(k + lo_off, 0, size))


def jump_weight(good: jax.Array, inv_sd: jax.Array, lo: int, hi: int, window: int) -> jax.Array:
    """``q`` of each candidate: a flux offset ``D`` between the jump's sides adds ``D sqrt(q)``.

    ``q = i^2 / (1 / n_blue + 1 / n_red)`` with ``i`` the mean ``inv_sd`` over
    both sides' pixels, so an offset of standard deviation ``S`` (flux units)
    widens the jump filter's variance from 1 to ``1 + S^2 q``.

    Parameters
    ----------
    good : array of bool, shape (n, m)
    inv_sd : array, shape (n, m)
        Inverse effective standard deviation of each pixel (flux units).
    lo, hi, window : int
        As for :func:`step_statistic`.

    Returns
    -------
    array, shape (n, hi - lo)
    """
    m = good.shape[-1]
    start = max(lo - window - 1, 0)
    stop = min(hi + window + 2, m)
    g = good[:, start:stop].astype(inv_sd.dtype)
    s = jnp.where(good, inv_sd, 0.0)[:, start:stop]
    k = np.arange(lo, hi) - start
    cs, cg = _cumulative(s), _cumulative(g)
    sums = [
        _window_sums(c, k, a, b, stop - start)
        for a, b in ((-1 - window, -1), (2, 2 + window))
        for c in (cs, cg)
    ]
    left_s, left_n, right_s, right_n = sums
    mean = (left_s + right_s) / jnp.maximum(left_n + right_n, 1.0)
    return mean * mean / (1.0 / jnp.maximum(left_n, 1.0) + 1.0 / jnp.maximum(right_n, 1.0))


#: The splice glitch's shape over the three join pixels ``k - 1, k, k + 1``.
GLITCH_SHAPE = (0.5, 1.0, 0.5)


def splice_glitch(
    u: jax.Array, good: jax.Array, lo: int, hi: int, window: int, *, level_window: int = 8
) -> tuple[jax.Array, jax.Array]:
    """The splice glitch at each candidate centre, in standard errors, and where it fits.

    The three pixels at the join minus the linear ramp between the local
    side levels (means of ``clip(u, ±5)`` over ``level_window`` pixels beyond
    ``k - 1`` and ``k + 1``), fitted with :data:`GLITCH_SHAPE`.

    Parameters
    ----------
    u : array, shape (n, m)
        Scaled effective residuals.
    good : array of bool, shape (n, m)
    lo, hi, window : int
        As for :func:`step_statistic` (``window`` only bounds the pixels read).
    level_window : int

    Returns
    -------
    glitch : array, shape (n, hi - lo)
        Fitted size over its standard error (signed).
    fits : array of bool, shape (n, hi - lo)
        Both side levels exist and the chi-square left in the three pixels
        after the fit is below :data:`GLITCH_GATE` (a cosmic ray, flat or
        single-pixel, does not pass for a glitch).
    """
    m = u.shape[-1]
    start = max(lo - window - 1, 0)
    stop = min(hi + window + 2, m)
    size = stop - start
    g = good[:, start:stop].astype(u.dtype)
    uu = jnp.where(good, u, 0.0)[:, start:stop]
    y = jnp.clip(uu, -100.0, 100.0)
    k = np.arange(lo, hi) - start
    cx, cg = _cumulative(jnp.clip(uu, -5.0, 5.0)), _cumulative(g)
    a, b = (-1 - level_window, -1), (2, 2 + level_window)
    lx, ln, rx, rn = (_window_sums(c, k, *ab, size) for ab in (a, b) for c in (cx, cg))
    left, right = lx / jnp.maximum(ln, 1.0), rx / jnp.maximum(rn, 1.0)
    num = jnp.zeros_like(left)
    den = jnp.zeros_like(left)
    sq = jnp.zeros_like(left)
    for offset, frac, q in zip((-1, 0, 1), (0.25, 0.5, 0.75), GLITCH_SHAPE, strict=True):
        gj = _take(g, k + offset)
        e = gj * (_take(y, k + offset) - left - (right - left) * frac)
        num, den, sq = num + q * e, den + q * q * gj, sq + e * e
    glitch = num * jax.lax.rsqrt(jnp.maximum(den, 1e-6))
    fits = (sq - glitch * glitch < GLITCH_GATE) & (ln > 0) & (rn > 0)
    return glitch, fits


def glitch_weight(good: jax.Array, inv_sd: jax.Array, lo: int, hi: int) -> jax.Array:
    """``q`` of each candidate: a glitch of size ``A`` (flux units) adds ``A sqrt(q)``.

    ``q = (sum_j s_j^2 i_j)^2 / sum_j s_j^2`` over the three join pixels with
    the :data:`GLITCH_SHAPE` ``s`` and ``inv_sd`` ``i``, so a glitch of
    standard deviation ``G`` (flux units) widens :func:`splice_glitch`'s
    variance from 1 to ``1 + G^2 q``.

    Parameters
    ----------
    good : array of bool, shape (n, m)
    inv_sd : array, shape (n, m)
        Inverse effective standard deviation of each pixel (flux units).
    lo, hi : int
        Candidate centres.

    Returns
    -------
    array, shape (n, hi - lo)
    """
    k = np.arange(lo, hi)
    num = jnp.zeros((good.shape[0], hi - lo), inv_sd.dtype)
    den = jnp.zeros_like(num)
    for offset, q in zip((-1, 0, 1), GLITCH_SHAPE, strict=True):
        gj = _take(good, k + offset).astype(inv_sd.dtype)
        num = num + q * q * gj * _take(inv_sd, k + offset)
        den = den + q * q * gj
    return num * num / jnp.maximum(den, 1e-6)


def step_statistic(
    u: jax.Array,
    good: jax.Array,
    lo: int,
    hi: int,
    window: int,
    *,
    level_window: int = 8,
    inv_sd: jax.Array | None = None,
    step_scatter: jax.Array | None = None,
    glitch_scatter: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Evidence for a step between pixels ``k - 1`` and ``k + 1``: jump and splice glitch.

    Two matched filters on the scaled residuals, added in quadrature:

    * the *jump*: difference of the means of ``clip(u, ±5)`` over
      ``k + 2 .. k + 1 + window`` and ``k - 1 - window .. k - 2``, in standard
      errors;
    * the *glitch* (:func:`splice_glitch`): the three pixels at the join
      minus the linear ramp between the local side levels, fitted with the
      splice shape ``(1/2, 1, 1/2)``, in standard errors. It counts only where
      that shape fits, so a cosmic ray (flat or single-pixel) does not pass
      for it.

    Parameters
    ----------
    u : array, shape (n, m)
        Scaled effective residuals.
    good : array of bool, shape (n, m)
        Pixels that count (usable).
    lo, hi : int
        Candidate centres ``k`` are ``lo <= k < hi`` (``1 <= lo``, ``hi < m - 1``).
    window : int
        Pixels averaged on each side by the jump filter.
    level_window : int
        Pixels averaged on each side for the glitch's ramp.
    inv_sd : array, shape (n, m), optional
        Inverse effective standard deviation of each pixel (flux units), with
    step_scatter : array, shape (m,), optional
        the scatter ``S`` (flux units) across the fit's stars of the jump at
        each candidate centre (smooth continuum residue and misfit that
        recur there): the jump is divided by ``sqrt(1 + S^2 q)``
        (:func:`jump_weight`).
    glitch_scatter : array, shape (m,), optional
        the scatter ``G`` (flux units) across the fit's stars of the glitch
        at each candidate centre (a line the decoder misses there has the
        glitch's shape): the glitch is divided by ``sqrt(1 + G^2 q)``
        (:func:`glitch_weight`).

    Returns
    -------
    statistic : array, shape (n, hi - lo)
        ``jump**2 + glitch**2``.
    jump : array, shape (n, hi - lo)
        The jump filter alone (signed).
    """
    m = u.shape[-1]
    start = max(lo - window - 1, 0)
    stop = min(hi + window + 2, m)
    size = stop - start
    g = good[:, start:stop].astype(u.dtype)
    x = jnp.clip(jnp.where(good, u, 0.0)[:, start:stop], -5.0, 5.0)
    k = np.arange(lo, hi) - start
    cx, cg = _cumulative(x), _cumulative(g)
    # sums of x and g over ``window`` pixels blue of ``k - 1`` and red of ``k + 1``
    a, b = (-1 - window, -1), (2, 2 + window)
    left_x, left_n, right_x, right_n = (
        _window_sums(c, k, *ab, size) for ab in (a, b) for c in (cx, cg)
    )
    left_n1, right_n1 = jnp.maximum(left_n, 1.0), jnp.maximum(right_n, 1.0)
    jump = (right_x / right_n1 - left_x / left_n1) / jnp.sqrt(1.0 / left_n1 + 1.0 / right_n1)
    jump = jnp.where((left_n > 0) & (right_n > 0), jump, 0.0)
    if step_scatter is not None:
        q = jump_weight(good, inv_sd, lo, hi, window)
        jump = jump * jax.lax.rsqrt(1.0 + step_scatter[None, lo:hi] ** 2 * q)
    glitch, fits = splice_glitch(u, good, lo, hi, window, level_window=level_window)
    glitch2 = glitch * glitch
    if glitch_scatter is not None:
        q = glitch_weight(good, inv_sd, lo, hi)
        glitch2 = glitch2 / (1.0 + glitch_scatter[None, lo:hi] ** 2 * q)
    statistic = jump * jump + jnp.where(fits, glitch2, 0.0)
    return statistic, jump
