"""The noise model's per-fit terms, estimated from spectra the decoder should describe.

For a fit without a calibrated ``scatter`` (or to check one on its held-out
stars): the intrinsic scatter ``s_p`` per pixel (:func:`estimate_scatter`),
and the scatter across stars of the run detector's boxes
(:func:`estimate_run_scatter`) and of the step filter's jump
(:func:`estimate_step_scatter`) and splice glitch
(:func:`estimate_glitch_scatter`), where neighbouring pixels' misfits add up;
and the patterns of misfit most common among the fit's stars
(:func:`misfit_basis`).
Pure NumPy around :func:`~.core.denoise_batch`; no file I/O.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..errors import StereoPPLError
from .core import DenoiseSetup, denoise_batch
from .flags import ArtefactThresholds
from .runs import RUN_WIDTHS, box_sums
from .stepfilters import (
    glitch_weight,
    jump_weight,
    searchable_range,
    splice_glitch,
    step_statistic,
)

__all__ = [
    "estimate_glitch_scatter",
    "estimate_run_scatter",
    "estimate_scatter",
    "estimate_step_scatter",
    "misfit_basis",
]


def _model_flux(result, shape) -> np.ndarray:
    """The denoised flux times the step scales of each spectrum (float64)."""
    scale = np.asarray(result.step_scale, dtype=np.float64)
    pixel = np.arange(shape[1])[None, :]
    kstar = np.asarray(result.step_pixel)[:, None]
    factor = np.where(pixel < kstar, scale[:, :1], scale[:, 1:])
    factor = np.where(kstar < 0, 1.0, factor)
    return np.asarray(result.flux, dtype=np.float64) * factor


def _residuals(setup: DenoiseSetup, flux, ivar, batch_size: int):
    """Per batch of robustly denoised spectra: ``F2 - model``, the usable ivar (else 0), and
    the pixels typed as cosmic rays, steps or bad columns."""
    for start in range(0, flux.shape[0], batch_size):
        part = slice(start, start + batch_size)
        result = denoise_batch(setup, flux[part], ivar[part])
        w = np.where(np.isfinite(ivar[part]) & np.isfinite(flux[part]), ivar[part], 0.0)
        point = np.isin(np.asarray(result.artefact), (1, 2, 3))
        yield flux[part] - _model_flux(result, flux[part].shape), w, point


def _scaled(setup: DenoiseSetup, flux, ivar, batch_size: int):
    """Per batch of robustly denoised spectra: the pixels that count (usable, not typed as
    cosmic rays, steps or bad columns), ``1 / sqrt(a^2 / ivar + s_p^2)`` there (else 0) and
    the effective residual, as JAX arrays."""
    a2 = float(setup.error_scale) ** 2
    s2 = np.asarray(setup.scatter, np.float64) ** 2
    for start in range(0, flux.shape[0], batch_size):
        part = slice(start, start + batch_size)
        result = denoise_batch(setup, flux[part], ivar[part])
        w = np.where(np.isfinite(ivar[part]), ivar[part], 0.0)
        use = ~np.isin(np.asarray(result.artefact), (1, 2, 3)) & (w > 0) & np.isfinite(flux[part])
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


def _join_filters(setup: DenoiseSetup, flux, ivar, batch_size: int) -> _JoinFilters | None:
    """:class:`_JoinFilters` of robustly denoised spectra; None without candidates or spectra."""
    window = ArtefactThresholds().step_window
    lo, hi = searchable_range(setup.step_range, flux.shape[1], window)
    if hi <= lo or flux.shape[0] == 0:
        return None
    parts = []
    for use, inv_sd, u in _scaled(setup, flux, ivar, batch_size):
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


def _pooled_ml_scatter(d2, var, good, *, half: int, cap: float = 25.0) -> np.ndarray:
    """Per pixel, the maximum-likelihood ``s`` of ``d ~ Normal(0, var + s^2)`` within ±``half``.

    Each term's ``d^2 / (var + s^2)`` is capped at ``cap`` (a 5-sigma
    winsorisation: a point artefact left in does not inflate ``s``); the score
    is solved by bisection on ``s^2`` (60 steps).
    """
    width = 2 * half + 1
    pad = ((0, 0), (half, half))

    def windows(x, fill):
        return np.lib.stride_tricks.sliding_window_view(
            np.pad(x, pad, constant_values=fill), width, axis=1
        )

    d2w, vw, gw = windows(d2, 0.0), windows(np.where(good, var, 1.0), 1.0), windows(good, False)

    def score(s2):
        total = vw + s2[None, :, None]
        return np.sum(np.where(gw, (np.minimum(d2w / total, cap) - 1.0) / total, 0.0), axis=(0, 2))

    lo = np.zeros(d2.shape[1])
    hi = np.maximum(np.max(np.where(gw, d2w, 0.0), axis=(0, 2)), 1e-30)
    positive = score(lo) > 0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        up = score(mid) > 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    return np.where(positive & gw.any(axis=(0, 2)), np.sqrt(0.5 * (lo + hi)), 0.0)


def estimate_scatter(
    setup: DenoiseSetup,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    halfwidth: int = 2,
    batch_size: int = 1024,
) -> np.ndarray:
    """The intrinsic scatter ``s_p`` per pixel, from spectra the decoder should describe.

    Each spectrum is denoised robustly (steps fitted, outliers
    down-weighted), first with ``s_p = 0``, then with the first estimate; its
    residuals ``d = F2 - model`` are then taken as ``Normal(0, a^2 / ivar +
    s_p^2)``, and ``s_p`` is the maximum-likelihood value pooled over the
    pixels within ``halfwidth`` of ``p`` (a decoder's misfit spans a line's
    width), with the pixels the first pass typed as cosmic rays, steps or bad
    columns left out and each term winsorised at 5 sigma.

    Parameters
    ----------
    setup : DenoiseSetup
    flux, ivar : array, shape (n, m)
        Spectra on the fit's grid (e.g. the fit's held-out stars).
    halfwidth : int
        Pixels pooled on each side.
    batch_size : int

    Returns
    -------
    ndarray, shape (m,), float64
        ``s_p`` in flux units (0 where no spectrum is usable).
    """
    flux = np.asarray(flux)
    ivar = np.asarray(ivar)
    scatter = np.zeros(flux.shape[1])
    # twice: without a scatter a recurring misfit passes for cosmic rays, which
    # are left out; the second pass types the pixels with the first's scatter
    for _ in range(2):
        setup = setup._replace(scatter=jnp.asarray(scatter, setup.scatter.dtype))
        parts, weights = [], []
        for d, w, point in _residuals(setup, flux, ivar, batch_size):
            w = np.where(point, 0.0, w)
            parts.append(np.where(w > 0, d, 0.0) ** 2)
            weights.append(w.astype(np.float64))
        d2 = np.concatenate(parts)
        w = np.concatenate(weights)
        good = w > 0
        var = np.where(good, float(setup.error_scale) ** 2 / np.where(good, w, 1.0), 1.0)
        scatter = _pooled_ml_scatter(d2, var, good, half=halfwidth)
    return scatter


def estimate_run_scatter(
    setup: DenoiseSetup,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    quantile: float = 0.98,
    batch_size: int = 1024,
) -> np.ndarray:
    """Scatter ``S`` (flux units) of the run detector's boxes across spectra.

    Neighbouring pixels' misfits of a decoder that cannot describe a line add
    up in a box (:mod:`.runs`). For each width and start pixel, ``S`` is the
    smallest value ``>= 0`` with ``|sum u| <= 2.326 sqrt(count + S^2 (sum
    inv_sd)^2)`` at ``quantile`` of the spectra (pixels typed as cosmic rays,
    steps or bad columns left out; a misfit typed as a run or other is what ``S``
    measures), as
    :func:`estimate_scatter` does for single pixels.

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
    ivar = np.asarray(ivar)
    m = flux.shape[1]
    if flux.shape[0] == 0:
        return np.zeros((len(RUN_WIDTHS), m))
    clip = ArtefactThresholds().clip
    parts = []
    for use, inv_sd, u in _scaled(setup, flux, ivar, batch_size):
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
    out = np.zeros(np.shape(flux)[1])
    f = _join_filters(setup, np.asarray(flux), np.asarray(ivar), batch_size)
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
    quantile: float = 0.98,
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
    f = _join_filters(setup, np.asarray(flux), np.asarray(ivar), batch_size)
    out = np.zeros(np.shape(flux)[1])
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


def misfit_basis(
    setup: DenoiseSetup,
    flux: np.ndarray,
    ivar: np.ndarray,
    num_components: int,
    *,
    batch_size: int = 1024,
) -> np.ndarray:
    """The ``num_components`` commonest patterns of misfit in spectra the decoder describes.

    A linear decoder of rank ``c`` misses the same lines in many stars, in
    proportions that vary from star to star. Each spectrum is denoised
    robustly with ``setup``; its residuals ``d = F2 - model`` (0 at pixels
    typed as cosmic rays, steps or bad columns) are divided by its median
    reported error, so that every spectrum's noise counts alike and the
    misfit of bright stars stands out. The patterns are the leading right
    singular vectors of that (n, m) matrix.

    Parameters
    ----------
    setup : DenoiseSetup
        With its scatter set.
    flux, ivar : array, shape (n, m)
        Spectra on the fit's grid (the fit's training stars).
    num_components : int
        At most ``min(n, m)``.
    batch_size : int

    Returns
    -------
    ndarray, shape (m, num_components), float64
        Orthonormal columns, in flux units up to a factor.
    """
    flux = np.asarray(flux)
    ivar = np.asarray(ivar)
    n, m = flux.shape
    k = int(num_components)
    if not 0 < k <= min(n, m):
        raise StereoPPLError(
            f"misfit components must be between 1 and {min(n, m)} (the fit's {n} training "
            f"stars), got {k}"
        )
    rows = []
    for d, w, point in _residuals(setup, flux, ivar, batch_size):
        d = np.where((w > 0) & ~point, d, 0.0)
        with np.errstate(divide="ignore"):
            typical = np.median(np.where(w > 0, 1.0 / np.sqrt(w), np.inf), axis=1)
        scale = np.where(np.isfinite(typical) & (typical > 0), 1.0 / typical, 0.0)
        rows.append(d * scale[:, None])
    _, _, vt = np.linalg.svd(np.concatenate(rows), full_matrices=False)
    return np.ascontiguousarray(vt[:k].T)
