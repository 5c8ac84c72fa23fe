"""The per-pixel scatter and the misfit patterns, from spectra the decoder should describe.

For a fit without a calibrated ``scatter`` (or to check one on its held-out
stars): the intrinsic scatter ``s_p`` per pixel (:func:`estimate_scatter`),
and the patterns of misfit most common among the fit's stars
(:func:`misfit_basis`). The scatters of the run and step detectors are in
:mod:`.flagscatter`.
Pure NumPy around :func:`~.core.denoise_batch`; no file I/O.
"""

import jax.numpy as jnp
import numpy as np

from ..errors import StereoPPLError
from .core import DenoiseSetup
from .flagscatter import estimate_run_scatter, estimate_step_scatter
from .residuals import residuals

__all__ = [
    "estimate_run_scatter",
    "estimate_scatter",
    "estimate_step_scatter",
    "misfit_basis",
]


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
        for d, w, point in residuals(setup, flux, ivar, batch_size):
            w = np.where(point, 0.0, w)
            parts.append(np.where(w > 0, d, 0.0) ** 2)
            weights.append(w.astype(np.float64))
        d2 = np.concatenate(parts)
        w = np.concatenate(weights)
        good = w > 0
        var = np.where(good, float(setup.error_scale) ** 2 / np.where(good, w, 1.0), 1.0)
        scatter = _pooled_ml_scatter(d2, var, good, half=halfwidth)
    return scatter


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
    for d, w, point in residuals(setup, flux, ivar, batch_size):
        d = np.where((w > 0) & ~point, d, 0.0)
        with np.errstate(divide="ignore"):
            typical = np.median(np.where(w > 0, 1.0 / np.sqrt(w), np.inf), axis=1)
        scale = np.where(np.isfinite(typical) & (typical > 0), 1.0 / typical, 0.0)
        rows.append(d * scale[:, None])
    _, _, vt = np.linalg.svd(np.concatenate(rows), full_matrices=False)
    return np.ascontiguousarray(vt[:k].T)
