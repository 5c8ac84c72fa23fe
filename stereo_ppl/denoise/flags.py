"""Artefact codes, thresholds from a false-alarm rate, and the per-pixel detectors (pure JAX).

Every detector works on the *effective* residual of a spectrum under the
calibrated noise model,

    r_eff = (F2 - model) / sqrt(a^2 / ivar + s_p^2),

with the fit's global error scale ``a`` and per-pixel intrinsic scatter ``s_p``
(:mod:`stereo_ppl.denoise.setup`), ``a^2`` times the spectrum's own error
scale ``alpha <= 1`` (its reported errors may be smaller than ``a`` makes
them) and ``s_p`` times its own misfit scale ``kappa >= 1``
(:func:`stereo_ppl.denoise.stages.misfit_stage`), divided by a robust
per-spectrum scale (the RMS of ``r_eff`` clipped at ±4, at least 1). For a
spectrum the calibrated model describes, ``r_eff`` is standard normal at
every pixel, and all three scales are 1 up to their noise (``alpha``
rounded down, ``kappa`` and the robust scale up). Whole spectra the model
does not describe are scored by the anomaly p-value instead
(:class:`~stereo_ppl.denoise.DenoiseResult`).

The thresholds follow from one number, the false-alarm rate ``false_alarm``
per spectrum: the probability that a spectrum without any artefact gets at
least one flag (:meth:`ArtefactThresholds.resolved`), an upper bound (Šidák is
exact for independent pixels; Bonferroni over correlated boxes and step
candidates is conservative). It is shared equally by the three detectors that
can fire on such a spectrum:

* single pixels: ``|r| > outlier``, with ``outlier`` the Šidák-corrected
  two-sided normal quantile for ``m`` pixels;
* runs: a box of ``w`` pixels (``w`` in :data:`RUN_WIDTHS`) whose residual sum
  over ``sqrt(w)`` exceeds ``run`` (Bonferroni over the ``m`` positions and
  the widths), the box's own scatter across the fit's stars included
  (``run_scatter``, :mod:`.runs`; misfit that recurs at a wavelength is
  scatter, not an artefact);
* steps: :func:`~.stepfilters.step_statistic` (jump and splice glitch in quadrature, each
  with its own scatter across the fit's stars at the candidate centre, a
  chi-square with 2 degrees of freedom without a step) above ``step**2``
  (Bonferroni over the candidate centres), confirmed by the local fit of
  :func:`stereo_ppl.denoise.steps.locate_step` (chi-square gain above
  ``step_accept``, Bonferroni over its candidate centres).

Codes 1-4 keep the meaning they had; 5 is a run of offset pixels in one
spectrum.
"""

import math
import statistics
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp

from .runs import RUN_WIDTHS, run_mask
from .stepfilters import GLITCH_GATE, jump_weight, searchable_range, step_statistic

__all__ = [
    "ARTEFACT_CODES",
    "DEFAULT_FALSE_ALARM",
    "GLITCH_GATE",
    "RUN_WIDTHS",
    "ArtefactThresholds",
    "classify",
    "jump_weight",
    "robust_scale",
    "searchable_range",
    "step_statistic",
]

#: int8 code of each pixel in ``lamost_artefact``.
ARTEFACT_CODES = {
    0: "none",
    1: "cosmic_ray",
    2: "step_discontinuity",
    3: "bad_column",
    4: "other",
    5: "run",
}

#: Probability that a spectrum the calibrated model describes gets any flag.
DEFAULT_FALSE_ALARM = 0.005


def _normal_isf(p: float) -> float:
    """``x`` with ``P(N(0, 1) > x) = p``."""
    return -statistics.NormalDist().inv_cdf(p)


@dataclass(frozen=True, kw_only=True)
class ArtefactThresholds:
    """Thresholds of the robust re-estimation and of the artefact flags.

    All values are in units of the spectrum's robust residual scale (see the
    module docstring) unless said otherwise. ``outlier``, ``run``, ``step``
    and ``step_accept`` left None follow from ``false_alarm``
    (:meth:`resolved`); given, they are used as they are (``run = inf``:
    no run detector).

    Attributes
    ----------
    false_alarm : float
        Probability that a spectrum without artefacts gets any flag.
    clip : float
        Pixels with ``|r| > clip`` get weight 0 when ``z`` is re-estimated.
    outlier : float or None
        Pixels with ``|r| > outlier`` after the last re-estimation are flagged.
    grow : float
        Neighbours (±1 pixel) of a flagged pixel with ``|r| > grow`` and the
        same sign are flagged too (the wings of a cosmic ray).
    max_width : int
        A run of flagged pixels of the same sign up to this long and positive
        is a cosmic ray.
    run : float or None
        A box of :data:`RUN_WIDTHS` pixels whose scaled residual sum exceeds
        this is offset; its same-signed pixels joined with the flagged ones in
        a stretch of at least ``run_width`` are a run (code 5).
    run_join : float
        A pixel of a significant box joins its run where its own residual has
        the box's sign and is at least this large (a run's pixels are offset,
        the noise beside them is not).
    run_width : int
        Shortest stretch of same-signed flagged pixels typed as a run (0: no
        run type; longer positive stretches are then ``other``).
    step : float or None
        A step is a candidate where :func:`~.stepfilters.step_statistic` (jump and glitch
        added in quadrature, in standard errors) exceeds this.
    step_refine : int
        The centre is then found within this many pixels of the candidate by
        the local fit of :func:`~stereo_ppl.denoise.steps.locate_step`.
    step_window : int
        Pixels on each side averaged by the jump filter, and beyond the
        outermost centres in the local fit.
    step_accept : float or None
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
        and one with the step.
    """

    false_alarm: float = DEFAULT_FALSE_ALARM
    clip: float = 5.0
    outlier: float | None = None
    grow: float = 3.0
    max_width: int = 3
    run: float | None = None
    run_join: float = 1.0
    run_width: int = 4
    step: float | None = None
    step_refine: int = 12
    step_window: int = 40
    step_accept: float | None = None
    step_min: float = 0.01
    step_glitch: float = 8.0
    num_iter: int = 1

    def __post_init__(self):
        if not 0.0 < self.false_alarm < 1.0:
            raise ValueError(f"false_alarm must be in (0, 1), got {self.false_alarm}")

    def resolved(self, *, num_pixels: int, num_candidates: int) -> "ArtefactThresholds":
        """These thresholds with every None replaced by its value for ``false_alarm``.

        Parameters
        ----------
        num_pixels : int
            Pixels per spectrum ``m``.
        num_candidates : int
            Candidate step centres (0: no step search).

        Returns
        -------
        ArtefactThresholds
        """
        share = self.false_alarm / (3 if num_candidates > 0 else 2)
        m = max(int(num_pixels), 1)
        per_pixel = -math.expm1(math.log1p(-share) / m)  # Šidák
        values = {
            "outlier": _normal_isf(0.5 * per_pixel),
            "run": _normal_isf(0.5 * share / (m * len(RUN_WIDTHS))),
            # chi-square with 2 degrees of freedom: P(X > x) = exp(-x / 2)
            "step": math.sqrt(2.0 * math.log(max(num_candidates, 1) / share)),
            "step_accept": 2.0 * math.log((2 * self.step_refine + 1) / share),
        }
        given = {k: v for k, v in values.items() if getattr(self, k) is None}
        return replace(self, **given)

    def describe(self) -> dict[str, float]:
        """The numbers that decide the flags (after :meth:`resolved`), for file attributes."""
        names = ("false_alarm", "outlier", "run", "step", "step_accept", "step_min")
        return {k: float(getattr(self, k)) for k in names}


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
    inv_sd: jax.Array | None = None,
    run_scatter: jax.Array | None = None,
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
        Resolved (no None left).
    inv_sd : array, shape (n, m), optional
        Inverse effective standard deviation of each pixel (flux units; needed
        with ``run_scatter``).
    run_scatter : array, shape (len(RUN_WIDTHS), 1 or n, m), optional
        Scatter ``S`` of the run detector's boxes (:mod:`.runs`; default 0).

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
    if t.run_width > 0:
        known = core & (sky | bad_column)[None, :]
        if run_scatter is None:
            inv_sd = jnp.ones_like(u)
            run_scatter = jnp.zeros((len(RUN_WIDTHS), 1, u.shape[-1]), u.dtype)
        exclude = cosmic | known | step_mask
        run = run_mask(x, inv_sd, good, core, exclude, run_scatter, t)
        code = jnp.where(run & ~known, 5, code)
    code = jnp.where(core & sky[None, :], 4, code)
    code = jnp.where(core & bad_column[None, :], 3, code)
    code = jnp.where(step_mask & good, 2, code)
    return code.astype(jnp.int8)
