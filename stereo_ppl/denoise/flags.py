"""Artefact codes, calibrated thresholds and the per-pixel detectors (pure JAX).

Every detector works on the *effective* residual of a spectrum,

    r_eff = (F2 - model) / sqrt(1 / ivar + s^2),

where ``s`` (per pixel, flux units) is the decoder's own error estimated from
the fit's stars (:func:`stereo_ppl.denoise.estimate_model_error`), divided by
a robust per-spectrum scale (the RMS of ``r_eff`` clipped at ±4, at least 1),
so the thresholds below are in units of "typical scatter of this spectrum".

Steps are found in two stages: :func:`step_statistic` scans the step range
for a jump in the mean residual *and* the splice glitch at the join, then
:func:`stereo_ppl.denoise.steps.locate_step` fits the side scales, the ramp
and the glitch locally around the best candidate and keeps the step only if
it beats one common scale by ``step_accept`` in chi-square, is at least
``step_min`` in size and has the direction of the scales fitted over the
whole sides.

Calibration: the defaults were chosen on ``make_builtin(2, num_stars=400,
lamost_snr=S)`` and are reported on seeds 1 and 3 (never on the seed they were
chosen on), denoised with an exact fit (c = 10) of ``make_builtin(0,
num_stars=600)``, bad columns found by
:func:`~stereo_ppl.denoise.find_bad_columns`. Per-pixel precision / recall,
seed 1 and seed 3:

====== ============================ ============================
S/N    cosmic rays                  steps
====== ============================ ============================
50     0.99 / 1.00, 0.99 / 0.98     0.99 / 0.95, 0.98 / 0.90
100    0.98 / 0.99, 0.98 / 0.97     0.97 / 0.97, 0.95 / 0.93
250    0.98 / 0.98, 0.98 / 0.96     0.93 / 0.94, 0.86 / 0.88
500    0.97 / 0.95, 0.98 / 0.94     0.80 / 0.84, 0.83 / 0.85
====== ============================ ============================

Steps at high S/N are limited by the injection itself: the join is a ramp
``(1/4, 1/2, 3/4)`` of the jump ``D`` plus a glitch ``g (1/2, 1, 1/2)``, and
for ``g = D/2`` (``-D/2``) this is exactly a clean step centred two pixels to
the blue (red) with the opposite glitch, so the three flagged pixels share only
one with the truth's. The same local fit on the *true* stellar flux with
photon noise only places 0.92-0.93 of the step pixels right at S/N 500 and
0.94-0.96 at S/N 250 (the ``oracle`` column of
``benchmarks/bench_denoise.py``); the rest of the gap is the decoder's own
misfit where the join falls in a line. Cosmic rays missed at S/N 500 sit in
deep lines where the decoder's error is several times the photon noise.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ARTEFACT_CODES",
    "GLITCH_GATE",
    "ArtefactThresholds",
    "classify",
    "robust_scale",
    "step_statistic",
]

#: Chi-square left in the three join pixels of a step after fitting the splice
#: glitch above which the glitch is not credited (a cosmic ray is no glitch).
GLITCH_GATE = 12.0

#: int8 code of each pixel in ``lamost_artefact``.
ARTEFACT_CODES = {
    0: "none",
    1: "cosmic_ray",
    2: "step_discontinuity",
    3: "bad_column",
    4: "other",
}


@dataclass(frozen=True, kw_only=True)
class ArtefactThresholds:
    """Thresholds of the robust re-estimation and of the artefact flags.

    All values are in units of the spectrum's robust residual scale (see the
    module docstring) unless said otherwise.

    Attributes
    ----------
    clip : float
        Pixels with ``|r| > clip`` get weight 0 when ``z`` is re-estimated.
    outlier : float
        Pixels with ``|r| > outlier`` after the last re-estimation are flagged.
    grow : float
        Neighbours (±1 pixel) of a flagged pixel with ``|r| > grow`` and the
        same sign are flagged too (the wings of a cosmic ray).
    max_width : int
        A run of flagged pixels of the same sign up to this long and positive
        is a cosmic ray; longer or negative runs are ``other`` (unless on a bad
        column or sky line).
    step : float
        A step is a candidate where :func:`step_statistic` (jump and glitch
        added in quadrature, in standard errors) exceeds this.
    step_refine : int
        The centre is then found within this many pixels of the candidate by
        the local fit of :func:`~stereo_ppl.denoise.steps.locate_step`.
    step_window : int
        Pixels on each side averaged by the jump filter, and beyond the
        outermost centres in the local fit.
    step_accept : float
        Chi-square by which the local step fit must beat one common scale.
    step_min : float
        Smallest relative step size kept (``|a_red - a_blue|``, flux ratio)
        unless the splice glitch alone is significant.
    step_glitch : float
        A step whose fitted splice glitch alone exceeds this (in standard
        errors) is kept whatever its size (a join with a glitch but hardly a
        jump).
    num_iter : int
        Further re-estimations with outliers clipped and the step fitted at its
        final centre, after the plain solve, one clipped solve without a step
        and one with the step (a solve that clips only isolated spikes in
        spectra with a step, and clips again the others).
    """

    clip: float = 5.0
    outlier: float = 6.0
    grow: float = 3.0
    max_width: int = 3
    step: float = 6.0
    step_refine: int = 12
    step_window: int = 40
    step_accept: float = 25.0
    step_min: float = 0.01
    step_glitch: float = 8.0
    num_iter: int = 1


def robust_scale(r: jax.Array, count: jax.Array) -> jax.Array:
    """RMS of ``r`` clipped at ±4 over good pixels, corrected to σ, at least 1.

    Parameters
    ----------
    r : array, shape (n, m)
        Residuals, 0 at pixels that do not count.
    count : array, shape (n,)
        Number of pixels that count.

    Returns
    -------
    array, shape (n,)
    """
    total = jnp.sum(jnp.minimum(r * r, 16.0), axis=-1)
    # E[min(x^2, 16)] = 0.99955 for x ~ N(0, 1)
    return jnp.maximum(jnp.sqrt(total / (0.99955 * jnp.maximum(count, 1.0))), 1.0)


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


def step_statistic(
    u: jax.Array, good: jax.Array, lo: int, hi: int, window: int, *, level_window: int = 8
) -> tuple[jax.Array, jax.Array]:
    """Evidence for a step between pixels ``k - 1`` and ``k + 1``: jump and splice glitch.

    Two matched filters on the scaled residuals, added in quadrature:

    * the *jump*: difference of the means of ``clip(u, ±5)`` over
      ``k + 2 .. k + 1 + window`` and ``k - 1 - window .. k - 2``, in standard
      errors;
    * the *glitch*: the three pixels at the join minus the linear ramp between
      the local side levels (means over ``level_window`` pixels), fitted with
      the splice shape ``(1/2, 1, 1/2)``, in standard errors. It counts only
      where that shape fits (the remaining chi-square of the three pixels is
      below 12), so a cosmic ray (flat or single-pixel) does not pass for it.

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
    uu = jnp.where(good, u, 0.0)[:, start:stop]
    x = jnp.clip(uu, -5.0, 5.0)
    k = np.arange(lo, hi) - start
    cx, cg = _cumulative(x), _cumulative(g)

    def sides(width):
        """Sums of x and g over ``width`` pixels blue of ``k - 1`` and red of ``k + 1``."""
        a, b = (-1 - width, -1), (2, 2 + width)
        return tuple(_window_sums(cs, k, *ab, size) for ab in (a, b) for cs in (cx, cg))

    left_x, left_n, right_x, right_n = sides(window)
    left_n1, right_n1 = jnp.maximum(left_n, 1.0), jnp.maximum(right_n, 1.0)
    jump = (right_x / right_n1 - left_x / left_n1) / jnp.sqrt(1.0 / left_n1 + 1.0 / right_n1)
    jump = jnp.where((left_n > 0) & (right_n > 0), jump, 0.0)
    # glitch on top of the ramp between the local levels
    w = level_window
    y = jnp.clip(uu, -100.0, 100.0)
    lx, ln, rx, rn = sides(w)
    left, right = lx / jnp.maximum(ln, 1.0), rx / jnp.maximum(rn, 1.0)
    num = jnp.zeros_like(left)
    den = jnp.zeros_like(left)
    sq = jnp.zeros_like(left)
    for offset, frac, q in ((-1, 0.25, 0.5), (0, 0.5, 1.0), (1, 0.75, 0.5)):
        gj = _take(g, k + offset)
        e = gj * (_take(y, k + offset) - left - (right - left) * frac)
        num, den, sq = num + q * e, den + q * q * gj, sq + e * e
    glitch2 = num * num / jnp.maximum(den, 1e-6)
    fits = (sq - glitch2 < GLITCH_GATE) & (ln > 0) & (rn > 0)
    statistic = jump * jump + jnp.where(fits, glitch2, 0.0)
    return statistic, jump


#: Pixels of padding on each side of the arrays :func:`classify` looks along.
_PAD = 8


def _padded(x: jax.Array, fill) -> jax.Array:
    """``x`` with ``_PAD`` pixels of ``fill`` on each side of the last axis."""
    return jnp.pad(x, ((0, 0), (_PAD, _PAD)), constant_values=fill)


def _at(x: jax.Array, by: int) -> jax.Array:
    """For ``x`` from :func:`_padded`: the value at pixel ``i + by`` for every pixel ``i``."""
    m = x.shape[-1] - 2 * _PAD
    return jax.lax.slice_in_dim(x, _PAD + by, _PAD + by + m, axis=-1)


def classify(
    u: jax.Array,
    good: jax.Array,
    step_mask: jax.Array,
    bad_column: jax.Array,
    sky: jax.Array,
    thresholds: ArtefactThresholds,
) -> jax.Array:
    """Artefact code of every pixel from the final scaled residuals.

    Parameters
    ----------
    u : array, shape (n, m)
        Scaled effective residuals after the last re-estimation.
    good : array of bool, shape (n, m)
        Usable pixels (``ivar > 0``); others get code 0.
    step_mask : array of bool, shape (n, m)
        Pixels at a detected step (code 2).
    bad_column, sky : array of bool, shape (m,)
        Known bad columns (code 3) and sky-line pixels (code 4).
    thresholds : ArtefactThresholds

    Returns
    -------
    array of int8, shape (n, m)
        :data:`ARTEFACT_CODES`.
    """
    t = thresholds
    # every look at a neighbour is a slice of a padded array materialised once,
    # so XLA fuses each stage into one loop instead of a pass per shift
    u_pad, good_pad = jax.lax.optimization_barrier(
        (_padded(jnp.where(good, u, 0.0), 0.0), _padded(good, False))
    )
    x = _at(u_pad, 0)
    positive = x > 0

    def core_at(by):
        """Above ``outlier`` at pixel ``i + by`` (with the sign of pixel ``i``)."""
        y = _at(u_pad, by)
        return _at(good_pad, by) & (jnp.abs(y) > t.outlier) & ((y > 0) == positive)

    # grown into same-signed neighbours above ``grow`` (the wings of a cosmic ray)
    wing = good & (jnp.abs(x) > t.grow)
    core = core_at(0) | (wing & (core_at(1) | core_at(-1)))
    up = core & positive
    # a positive peak must stand out from the pixels 3-4 away on either side (a
    # misfit line of a spectrum the decoder cannot describe does not)
    away = (-4, -3, 3, 4)
    near_sum = sum(_at(u_pad, by) for by in away)
    near_num = sum(_at(good_pad, by).astype(u.dtype) for by in away)
    peak = up & (x - near_sum / jnp.maximum(near_num, 1.0) > t.outlier)
    up_pad, peak_pad = jax.lax.optimization_barrier((_padded(up, False), _padded(peak, False)))
    # a positive run longer than max_width is not a cosmic ray
    span = t.max_width + 1
    long = jnp.zeros_like(up)
    for first in range(1 - span, 1):
        run = _at(up_pad, first)
        for by in range(first + 1, first + span):
            run = run & _at(up_pad, by)
        long = long | run
    # the peak test passed within two pixels
    near_peak = _at(peak_pad, -2)
    for by in (-1, 0, 1, 2):
        near_peak = near_peak | _at(peak_pad, by)
    cosmic = up & ~long & near_peak
    code = jnp.where(core, 4, 0)
    code = jnp.where(cosmic, 1, code)
    code = jnp.where(core & sky[None, :], 4, code)
    code = jnp.where(core & bad_column[None, :], 3, code)
    code = jnp.where(step_mask & good, 2, code)
    return code.astype(jnp.int8)
