"""Residuals of robustly denoised spectra, batch by batch, for the noise estimates.

Pure NumPy around :func:`~.core.denoise_batch`; no file I/O.
"""

import numpy as np

from .core import DenoiseSetup, denoise_batch

__all__ = ["denoised_batches", "model_flux", "residuals"]


def model_flux(result, shape) -> np.ndarray:
    """The denoised flux times the step scales of each spectrum (float64)."""
    scale = np.asarray(result.step_scale, dtype=np.float64)
    pixel = np.arange(shape[1])[None, :]
    kstar = np.asarray(result.step_pixel)[:, None]
    factor = np.where(pixel < kstar, scale[:, :1], scale[:, 1:])
    factor = np.where(kstar < 0, 1.0, factor)
    return np.asarray(result.flux, dtype=np.float64) * factor


def denoised_batches(setup: DenoiseSetup, flux, ivar, batch_size: int):
    """Per batch of robustly denoised spectra: the batch's slice, its result, the usable
    ivar (finite flux and ivar; else 0) and the pixels typed as cosmic rays, steps or bad
    columns."""
    for start in range(0, flux.shape[0], batch_size):
        part = slice(start, start + batch_size)
        result = denoise_batch(setup, flux[part], ivar[part])
        w = np.where(np.isfinite(ivar[part]) & np.isfinite(flux[part]), ivar[part], 0.0)
        yield part, result, w, np.isin(np.asarray(result.artefact), (1, 2, 3))


def residuals(setup: DenoiseSetup, flux, ivar, batch_size: int):
    """Per batch of robustly denoised spectra: ``F2 - model``, the usable ivar (else 0), and
    the pixels typed as cosmic rays, steps or bad columns."""
    for part, result, w, point in denoised_batches(setup, flux, ivar, batch_size):
        yield flux[part] - model_flux(result, flux[part].shape), w, point
