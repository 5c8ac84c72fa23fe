"""Scatters across spectra that the run and step detectors allow for.

The scatter across the fit's stars of the run detector's boxes
(:func:`estimate_run_scatter`), of the step filter's jump
(:func:`estimate_step_scatter`) and of its splice glitch
(:func:`estimate_glitch_scatter`), where neighbouring pixels' misfits add up;
all three from one denoising (:func:`estimate_flag_scatters`, what
:func:`~stereo_ppl.denoise.make_setup` uses).
Pure NumPy around :func:`~.core.denoise_batch`; no file I/O.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .core import DenoiseSetup
from .flags import ArtefactThresholds
from .residuals import denoised_batches
from .runs import RUN_WIDTHS, box_sums
from .stepfilters import (
    glitch_weight,
    jump_weight,
    searchable_range,
    splice_glitch,
    step_statistic,
)

#: Share of the spectra the run boxes' and the glitch's scatters cover by default.
SCATTER_QUANTILE = 0.98

__all__ = [
    "SCATTER_QUANTILE",
    "FlagScatters",
    "estimate_flag_scatters",
    "estimate_glitch_scatter",
    "estimate_run_scatter",
    "estimate_step_scatter",
]


def _scaled(setup: DenoiseSetup, flux, ivar, batch_size: int):
    """Per batch of robustly denoised spectra: the pixels that count (usable, not typed as
    cosmic rays, steps or bad columns), ``1 / sqrt(a^2 / ivar + s_p^2)`` there (else 0) and
    the effective residual, as JAX arrays."""
    a2 = float(setup.error_scale) ** 2
    s2 = np.asarray(setup.scatter, np.float64) ** 2
    for _, result, w, point in denoised_batches(setup, flux, ivar, batch_size):
        use = ~point & (w > 0)
        inv_sd = np.where(use, 1.0 / np.sqrt(a2 / np.where(use, w, 1.0) + s2), 0.0)
        yield jnp.asarray(use), jnp.asarray(inv_sd), jnp.asarray(result.residual)


class _JoinFilters(NamedTuple):
    """The step filters at candidate centres ``lo <= k < hi`` of every spectrum (n, hi - lo)."""

    lo: int
    hi: int
    jump: np.ndarray
    jump_weight: np.ndarray
    glitch: np.ndarray
    glitch_weight: np.ndarray
    #: Where the glitch's shape fits (:func:`~.stepfilters.splice_glitch`).
    glitch_fits: np.ndarray


def _join_filters(step_range, m: int, batches) -> _JoinFilters | None:
    """:class:`_JoinFilters` of the :func:`_scaled` ``batches`` on a grid of ``m`` pixels;
    None without candidates or spectra."""
    window = ArtefactThresholds().step_window
    lo, hi = searchable_range(step_range, m, window)
    if hi <= lo or not batches:
        return None
    parts = []
    for use, inv_sd, u in batches:
        _, jump = step_statistic(u, use, lo, hi, window)
        glitch, fits = splice_glitch(u, use, lo, hi, window)
        q_jump = jump_weight(use, inv_sd, lo, hi, window)
        q_glitch = glitch_weight(use, inv_sd, lo, hi)
        parts.append([np.asarray(x) for x in (jump, q_jump, glitch, q_glitch, fits)])
    jump, q_jump, glitch, q_glitch, fits = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    as64 = (np.asarray(x, np.float64) for x in (jump, q_jump, glitch, q_glitch))
    return _JoinFilters(lo, hi, *as64, fits)


def _quantile_scale(d2, var, good, *, quantile, floor=0.0) -> np.ndarray:
    """Per column, the smallest ``s >= floor`` with ``d2 <= 2.326^2 (var + s^2)`` at ``quantile``.

    2.326 is the normal 99th percentile, so for Gaussian residuals ``s`` is
    their extra standard deviation (bisection, 40 steps).
    """
    target = 2.326**2
    lo = np.full(d2.shape[1], float(floor))
    hi = np.maximum(np.sqrt(np.max(np.where(good, d2, 0.0), axis=0)), floor) + 1e-12
    count = np.maximum(good.sum(axis=0), 1)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        inside = np.sum(good & (d2 <= target * (var + mid**2)), axis=0) / count
        enough = inside >= quantile
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    return np.where(good.any(axis=0), hi, floor)


def estimate_run_scatter(
    setup: DenoiseSetup,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    quantile: float = SCATTER_QUANTILE,
    batch_size: int = 1024,
) -> np.ndarray:
    """Scatter ``S`` (flux units) of the run detector's boxes across spectra.

    Neighbouring pixels' misfits of a decoder that cannot describe a line add
    up in a box (:mod:`.runs`). For each width and start pixel, ``S`` is the
    smallest value ``>= 0`` with ``|sum u| <= 2.326 sqrt(count + S^2 (sum
    inv_sd)^2)`` at ``quantile`` of the spectra (pixels typed as cosmic rays,
    steps or bad columns left out; a misfit typed as a run or other is what ``S``
    measures), as
    :func:`~.noise.estimate_scatter` does for single pixels.

    Parameters
    ----------
    setup : DenoiseSetup
        With its scatter set.
    flux, ivar : array, shape (n, m)
        Spectra on the fit's grid (e.g. the fit's held-out stars).
    quantile : float
    batch_size : int

    Returns
    -------
    ndarray, shape (len(RUN_WIDTHS), m), float64
    """
    flux = np.asarray(flux)
    batches = list(_scaled(setup, flux, np.asarray(ivar), batch_size))
    return _run_scatter(batches, flux.shape[1], quantile=quantile)


def _run_scatter(batches, m: int, *, quantile: float) -> np.ndarray:
    """:func:`estimate_run_scatter` of the :func:`_scaled` ``batches``."""
    if not batches:
        return np.zeros((len(RUN_WIDTHS), m))
    clip = ArtefactThresholds().clip
    parts = []
    for use, inv_sd, u in batches:
        sums = box_sums(u, inv_sd, use, clip=clip)
        parts.append([np.asarray(x, np.float64) for x in sums])
    total, count, weight = (np.concatenate([p[i] for p in parts], axis=1) for i in range(3))
    good = (count >= 0.5 * np.asarray(RUN_WIDTHS)[:, None, None]) & (weight > 0)
    weight = np.where(good, weight, 1.0)
    out = np.empty((len(RUN_WIDTHS), m))
    for k in range(len(RUN_WIDTHS)):
        d2 = (total[k] / weight[k]) ** 2
        var = count[k] / weight[k] ** 2
        out[k] = _quantile_scale(d2, var, good[k], quantile=quantile)
    return out


def estimate_step_scatter(
    setup: DenoiseSetup,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    batch_size: int = 1024,
) -> np.ndarray:
    """Scatter ``S`` (flux units) of the step filter's jump at each candidate centre.

    A smooth continuum-normalisation residue or a misfit that spans the join
    moves the means on the two sides apart without a step. For each candidate
    centre, ``S`` is the value with ``median(jump^2 / (1 + S^2 q)) = 0.4549``
    (the median of a chi-square with one degree of freedom; ``q`` from
    :func:`~.stepfilters.jump_weight`) over the spectra, 0 where the median is
    below that already: the median is not moved by the real steps some of
    those spectra carry.

    Parameters
    ----------
    setup : DenoiseSetup
        With its scatter set.
    flux, ivar : array, shape (n, m)
        Spectra on the fit's grid (e.g. the fit's held-out stars).
    batch_size : int

    Returns
    -------
    ndarray, shape (m,), float64
        0 outside the step candidates.
    """
    flux = np.asarray(flux)
    batches = list(_scaled(setup, flux, np.asarray(ivar), batch_size))
    return _step_scatter(_join_filters(setup.step_range, flux.shape[1], batches), flux.shape[1])


def _step_scatter(f: _JoinFilters | None, m: int) -> np.ndarray:
    """:func:`estimate_step_scatter` of the filters ``f``."""
    out = np.zeros(m)
    if f is None:
        return out
    lo, hi = f.lo, f.hi
    j2, q = f.jump**2, f.jump_weight
    target = 0.4549
    s2_lo, s2_hi = np.zeros(hi - lo), np.max(j2 / np.maximum(q, 1e-30), axis=0) + 1e-30
    need = np.median(j2, axis=0) > target
    for _ in range(60):
        mid = 0.5 * (s2_lo + s2_hi)
        above = np.median(j2 / (1.0 + mid * q), axis=0) > target
        s2_lo = np.where(above, mid, s2_lo)
        s2_hi = np.where(above, s2_hi, mid)
    out[lo:hi] = np.where(need, np.sqrt(0.5 * (s2_lo + s2_hi)), 0.0)
    return out


def estimate_glitch_scatter(
    setup: DenoiseSetup,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    quantile: float = SCATTER_QUANTILE,
    batch_size: int = 1024,
) -> np.ndarray:
    """Scatter ``G`` (flux units) of the step filter's splice glitch at each candidate centre.

    A line the decoder misses at a candidate centre has the glitch's shape
    (three pixels above or below the local level), and in some stars far
    more than in others. For each candidate, ``G`` is the smallest value
    ``>= 0`` with ``|glitch| <= 2.326 sqrt(1 + G^2 q)`` at ``quantile`` of
    the spectra (:func:`~.stepfilters.splice_glitch`, ``q`` from
    :func:`~.stepfilters.glitch_weight`; pixels typed as cosmic rays, steps or bad
    columns left out), as :func:`estimate_run_scatter` does for its boxes;
    the few spectra with a real step at a given centre do not move it. ``G``
    is 0 where no more spectra lie outside ``2.326`` than chance allows
    (their binomial count at 0.1 %).

    Parameters
    ----------
    setup, flux, ivar, batch_size
        As for :func:`estimate_step_scatter`.
    quantile : float
        Share of the spectra the scatter must cover.

    Returns
    -------
    ndarray, shape (m,), float64
        0 outside the step candidates.
    """
    flux = np.asarray(flux)
    batches = list(_scaled(setup, flux, np.asarray(ivar), batch_size))
    f = _join_filters(setup.step_range, flux.shape[1], batches)
    return _glitch_scatter(f, flux.shape[1], quantile=quantile)


def _glitch_scatter(f: _JoinFilters | None, m: int, *, quantile: float) -> np.ndarray:
    """:func:`estimate_glitch_scatter` of the filters ``f``."""
    out = np.zeros(m)
    if f is None:
        return out
    g, q = f.glitch, f.glitch_weight
    good = f.glitch_fits & (q > 0)
    q = np.where(good, q, 1.0)
    scale = _quantile_scale(g * g / q, 1.0 / q, good, quantile=quantile)
    # only where more spectra lie outside the band than chance allows (normal
    # approximation of the binomial count at 0.1 %): else sampling noise at a
    # high quantile of a few dozen stars would pass for scatter
    num = good.sum(axis=0)
    outside = np.sum(good & (g * g > 2.326**2), axis=0)
    share = 1.0 - quantile
    chance = share * num + 3.09 * np.sqrt(share * (1.0 - share) * num)
    out[f.lo : f.hi] = np.where(outside > chance, scale, 0.0)
    return out


class FlagScatters(NamedTuple):
    """The scatters across spectra that the run and step detectors allow for."""

    #: :func:`estimate_run_scatter`, shape (len(RUN_WIDTHS), m).
    run: np.ndarray
    #: :func:`estimate_step_scatter`, shape (m,).
    step: np.ndarray
    #: :func:`estimate_glitch_scatter`, shape (m,).
    glitch: np.ndarray


def estimate_flag_scatters(
    setup: DenoiseSetup, flux: np.ndarray, ivar: np.ndarray, *, batch_size: int = 1024
) -> FlagScatters:
    """:func:`estimate_run_scatter`, :func:`estimate_step_scatter` and
    :func:`estimate_glitch_scatter` (at :data:`SCATTER_QUANTILE`) from one denoising of the
    spectra.

    Parameters
    ----------
    setup, flux, ivar, batch_size
        As for :func:`estimate_step_scatter`.

    Returns
    -------
    FlagScatters
    """
    flux = np.asarray(flux)
    m = flux.shape[1]
    batches = list(_scaled(setup, flux, np.asarray(ivar), batch_size))
    f = _join_filters(setup.step_range, m, batches)
    return FlagScatters(
        _run_scatter(batches, m, quantile=SCATTER_QUANTILE),
        _step_scatter(f, m),
        _glitch_scatter(f, m, quantile=SCATTER_QUANTILE),
    )
