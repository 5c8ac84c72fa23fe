"""Artefact codes, calibrated thresholds and the per-pixel detectors (pure JAX).

Every detector works on the *effective* residual of a spectrum,

    r_eff = (F2 - model) / sqrt(1 / ivar + s^2),

where ``s`` (per pixel, flux units) is the decoder's own error estimated from
the fit's stars (:func:`stereo_ppl.denoise.estimate_model_error`), divided by
a robust per-spectrum scale (the RMS of ``r_eff`` clipped at ±4, at least 1),
so the thresholds below are in units of "typical scatter of this spectrum".

Calibration: the defaults were checked on ``make_builtin(1, num_stars=400,
lamost_snr=S)`` denoised with an exact MAP fit (c = 10) of
``make_builtin(0, num_stars=600)``, bad columns found by
:func:`~stereo_ppl.denoise.find_bad_columns`. Per-pixel precision / recall:

====== =========== =========== ===========
S/N    cosmic rays steps       bad columns
====== =========== =========== ===========
50     0.95 / 1.00 0.99 / 0.58 1.00 / 1.00
100    0.96 / 0.99 0.95 / 0.82 1.00 / 1.00
250    0.97 / 0.98 0.89 / 0.91 1.00 / 1.00
500    0.95 / 0.95 0.74 / 0.76 0.75 / 1.00
====== =========== =========== ===========

Cosmic rays meet the 0.95 target (but 0.945 precision at S/N 50); steps do
not yet reach 0.9 at every S/N: at low S/N small steps are missed
(``step = 4.5`` finds more at S/N 50-100 but adds false steps at S/N 250),
at high S/N the centre is often found 2 pixels off (the ramp plus a splice
glitch of free size fits almost as well there, given the decoder's own
misfit). ``benchmarks/bench_denoise.py`` prints this table.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

__all__ = [
    "ARTEFACT_CODES",
    "ArtefactThresholds",
    "classify",
    "robust_scale",
    "step_scores",
]

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
        A step is detected where the difference of the means on either side
        (:func:`step_scores`, in standard errors) exceeds this.
    step_refine : int
        The centre is then refined within this many pixels by the local
        chi-square of the fit with the two scales (pixels this close to the
        first guess are left out of that fit).
    step_window : int
        Pixels on each side averaged by the step filter.
    num_iter : int
        Re-estimations with outliers clipped and the step fitted at its
        refined centre (after the plain solve, one clipped solve without a
        step, and, for spectra with a step, one solve to refine it).
    """

    clip: float = 5.0
    outlier: float = 6.0
    grow: float = 3.0
    max_width: int = 3
    step: float = 6.0
    step_refine: int = 12
    step_window: int = 40
    num_iter: int = 1


def robust_scale(r: jax.Array, good: jax.Array) -> jax.Array:
    """RMS of ``r`` clipped at ±4 over good pixels, corrected to σ, at least 1.

    Parameters
    ----------
    r : array, shape (n, m)
    good : array of bool, shape (n, m)

    Returns
    -------
    array, shape (n,)
    """
    clipped = jnp.where(good, jnp.clip(r, -4.0, 4.0), 0.0)
    count = jnp.maximum(jnp.sum(good.astype(r.dtype), axis=-1), 1.0)
    rms = jnp.sqrt(jnp.sum(clipped * clipped, axis=-1) / count)
    # E[min(x^2, 16)] = 0.99955 for x ~ N(0, 1)
    return jnp.maximum(rms / jnp.sqrt(0.99955), 1.0)


def step_scores(u: jax.Array, good: jax.Array, lo: int, hi: int, window: int) -> jax.Array:
    """Matched filter for a step between pixels ``k - 1`` and ``k + 1``.

    Parameters
    ----------
    u : array, shape (n, m)
        Scaled effective residuals.
    good : array of bool, shape (n, m)
        Pixels that count (usable and not flagged as outliers).
    lo, hi : int
        Candidate centres ``k`` are ``lo <= k < hi``.
    window : int
        Pixels averaged on each side.

    Returns
    -------
    array, shape (n, hi - lo)
        Difference of the means of ``clip(u, ±5)`` over ``k + 2 .. k + 1 + window``
        and ``k - 1 - window .. k - 2`` in standard errors.
    """
    m = u.shape[-1]
    start = max(lo - window - 1, 0)
    stop = min(hi + window + 2, m)
    x = jnp.where(good, jnp.clip(u, -5.0, 5.0), 0.0)[:, start:stop]
    g = good[:, start:stop].astype(u.dtype)
    zero = jnp.zeros((u.shape[0], 1), u.dtype)
    cx = jnp.concatenate([zero, jnp.cumsum(x, axis=-1)], axis=-1)
    cg = jnp.concatenate([zero, jnp.cumsum(g, axis=-1)], axis=-1)
    k = jnp.arange(lo, hi) - start
    size = stop - start

    def window_sum(c, a, b):
        a = jnp.clip(a, 0, size)
        b = jnp.clip(b, 0, size)
        return c[:, b] - c[:, a]

    left_x, left_n = window_sum(cx, k - 1 - window, k - 1), window_sum(cg, k - 1 - window, k - 1)
    right_x, right_n = window_sum(cx, k + 2, k + 2 + window), window_sum(cg, k + 2, k + 2 + window)
    left_n1, right_n1 = jnp.maximum(left_n, 1.0), jnp.maximum(right_n, 1.0)
    jump = (right_x / right_n1 - left_x / left_n1) / jnp.sqrt(1.0 / left_n1 + 1.0 / right_n1)
    jump = jnp.where((left_n > 0) & (right_n > 0), jump, 0.0)
    return jump


def _shift(x: jax.Array, by: int, fill) -> jax.Array:
    """``x`` moved right by ``by`` pixels along the last axis (left for by < 0)."""
    pad = jnp.full((*x.shape[:-1], abs(by)), fill, x.dtype)
    if by > 0:
        return jnp.concatenate([pad, x[..., :-by]], axis=-1)
    return jnp.concatenate([x[..., -by:], pad], axis=-1)


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
    core = good & (jnp.abs(u) > t.outlier)
    positive = u > 0
    # grow into same-signed neighbours above ``grow``
    wing = good & (jnp.abs(u) > t.grow)
    for by in (1, -1):
        near = _shift(core, by, False) & (_shift(positive, by, False) == positive)
        core = core | (wing & near)
    # length of the same-signed run through each pixel (capped at max_width + 1)
    width = jnp.ones(u.shape, jnp.int32)
    for direction in (1, -1):
        run = core
        for by in range(1, t.max_width + 1):
            run = run & _shift(core, by * direction, False)
            run = run & (_shift(positive, by * direction, False) == positive)
            width = width + run.astype(jnp.int32)
    cosmic = core & positive & (width <= t.max_width)
    code = jnp.where(core, 4, 0)
    code = jnp.where(cosmic, 1, code)
    code = jnp.where(core & sky[None, :], 4, code)
    code = jnp.where(core & bad_column[None, :], 3, code)
    code = jnp.where(step_mask & good, 2, code)
    return code.astype(jnp.int8)
