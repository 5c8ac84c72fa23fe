"""Denoise spectra held in memory, and the results as an ``xarray.Dataset``.

Layout of a denoise result (the same in memory, in netCDF and in Zarr):

=========================== ======================= ==================================
name                        dims                    meaning
=========================== ======================= ==================================
lamost_flux_denoised        (star, lamost_pixel)    ``beta_F z_hat + b_F``
lamost_flux_denoised_sigma  (star, lamost_pixel)    its standard deviation (inf: none)
lamost_residual             (star, lamost_pixel)    calibrated residual (see below)
lamost_artefact             (star, lamost_pixel)    int8 artefact code (see attrs)
z                           (star, latent)          ``z_hat`` (named as the fit's ``z``)
z_sigma                     (star, latent)          its standard deviation
chi2_reduced                (star,)                 anomaly score (≈ 1 for a normal star)
anomaly_pvalue              (star,)                 its chi-square tail probability
noise_scale                 (star,)                 the flags' error scale (÷ a, ≤ 1)
misfit_scale                (star,)                 their scatter scale (÷ s_p, ≥ 1)
status                      (star,)                 int8 status code (see attrs)
step_pixel                  (star,)                 centre of a detected step, -1: none
obsid                       (star,) coordinate      LAMOST observation id (-1: unknown)
lamost_wavelength           (lamost_pixel,) coord.  rest-frame vacuum wavelength, Angstrom
=========================== ======================= ==================================

The residual is ``(F2 - F2_hat) / sqrt(a^2 / ivar + s_p^2 + sigma^2)`` under
the calibrated noise model (error scale ``a``, intrinsic scatter ``s_p``, the
prediction's own variance ``sigma^2``), ``F2_hat`` times the step scales where
a step was found; the root attributes ``noise_*`` say where ``a`` and ``s_p``
came from, ``false_alarm`` and ``threshold_*`` what the flags were decided on.

``z`` is not called ``latent`` because a netCDF variable named like a
dimension must be that dimension's 1-D coordinate.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .._version import __version__
from ..dims import LAMOST_PIXEL, LAMOST_WAVELENGTH, LATENT, STAR, WAVELENGTH_UNIT
from ..inference.progress import progress_bar
from .core import DenoiseResult, DenoiseSetup, denoise_batch
from .flags import ARTEFACT_CODES, ArtefactThresholds
from .linalg import STATUS_CODES

__all__ = ["DENOISE_KIND", "denoise", "flag_attrs", "result_dataset"]

#: Root attribute ``kind`` of a denoise result written by stereo-ppl.
DENOISE_KIND = "stereo_ppl.denoise"


def flag_attrs(codes: Mapping[int, str], long_name: str) -> dict[str, Any]:
    """CF-style ``flag_values`` / ``flag_meanings`` attributes for int8 codes."""
    keys = sorted(codes)
    return {
        "long_name": long_name,
        "flag_values": np.array(keys, dtype=np.int8),
        "flag_meanings": " ".join(codes[k] for k in keys),
    }


def denoise(
    setup: DenoiseSetup,
    flux,
    ivar,
    *,
    batch_size: int = 2048,
    thresholds: ArtefactThresholds | None = None,
    robust: bool = True,
    progress: bool = False,
) -> DenoiseResult:
    """Denoise ``n`` spectra in batches; results as NumPy arrays.

    Parameters
    ----------
    setup : DenoiseSetup
    flux, ivar : array, shape (n, m)
    batch_size : int
        Spectra per progress update (the kernel itself runs on blocks of
        :data:`~.core.BLOCK_SIZE` spectra, so one compilation serves all).
    thresholds : ArtefactThresholds, optional
    robust : bool
        As in :func:`~.core.denoise_batch`.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    DenoiseResult
        NumPy arrays, ``n`` rows.
    """
    flux = np.asarray(flux)
    ivar = np.asarray(ivar)
    n = flux.shape[0]
    if n == 0:
        raise ValueError("no spectra to denoise")
    size = max(1, int(batch_size))
    options = {"thresholds": thresholds, "robust": robust}
    with progress_bar(n, enabled=progress, description="denoise") as bar:
        first = denoise_batch(setup, flux[:size], ivar[:size], **options)
        bar.update(min(size, n))
        if n <= size:
            return first
        # the results allocated once and written batch by batch (no concatenation)
        out = DenoiseResult(*(np.empty((n, *a.shape[1:]), a.dtype) for a in first))
        for dest, a in zip(out, first, strict=True):
            dest[:size] = a
        for start in range(size, n, size):
            stop = min(start + size, n)
            rows = DenoiseResult(*(a[start:stop] for a in out))
            denoise_batch(setup, flux[start:stop], ivar[start:stop], out=rows, **options)
            bar.update(stop - start)
    return out


def result_dataset(
    result: DenoiseResult,
    *,
    wavelength: np.ndarray,
    obsid: np.ndarray | None = None,
    lamost_pixel: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Wrap :func:`denoise` results in the documented ``Dataset`` layout.

    Parameters
    ----------
    result : DenoiseResult
        NumPy arrays with ``n`` rows.
    wavelength : array, shape (m,)
        The fit's LAMOST grid, Angstrom.
    obsid : array of int, shape (n,), optional
        Default -1 (unknown).
    lamost_pixel : array of int, shape (m,), optional
        Pixel index on the survey grid (default ``0 .. m - 1``).
    attrs : mapping, optional
        More root attributes (fit file, seed, config...).

    Returns
    -------
    xarray.Dataset
    """
    n, m = np.shape(result.flux)
    c = np.shape(result.latent)[1]
    sd = np.sqrt(np.maximum(np.diagonal(np.asarray(result.latent_cov), axis1=1, axis2=2), 0.0))
    pix = (STAR, LAMOST_PIXEL)
    data = {
        "lamost_flux_denoised": (pix, result.flux, {"long_name": "beta_F z_hat + b_F"}),
        "lamost_flux_denoised_sigma": (
            pix,
            result.sigma,
            {"long_name": "standard deviation of lamost_flux_denoised; inf: undetermined"},
        ),
        "lamost_residual": (
            pix,
            result.residual,
            {
                "long_name": "(lamost_flux - model) / sqrt(a^2 / lamost_ivar + scatter^2 "
                "+ lamost_flux_denoised_sigma^2); model: lamost_flux_denoised times the "
                "step scales"
            },
        ),
        "lamost_artefact": (
            pix,
            np.asarray(result.artefact, dtype=np.int8),
            flag_attrs(ARTEFACT_CODES, "artefact found in lamost_flux"),
        ),
        "z": ((STAR, LATENT), result.latent, {"long_name": "z_hat"}),
        "z_sigma": ((STAR, LATENT), sd, {"long_name": "standard deviation of z_hat"}),
        "chi2_reduced": (
            STAR,
            result.chi2_reduced,
            {
                "long_name": "reduced chi-square of unflagged pixels, model error included; "
                "0 where status != ok"
            },
        ),
        "anomaly_pvalue": (
            STAR,
            result.anomaly_pvalue,
            {
                "long_name": "P(chi-square >= this spectrum's) under the calibrated noise "
                "model, unflagged pixels; 1 where status != ok"
            },
        ),
        "noise_scale": (
            STAR,
            result.noise_scale,
            {
                "long_name": "this spectrum's errors relative to a / sqrt(lamost_ivar) as the "
                "flags took them (<= 1: reported errors larger than the fit's a makes them)"
            },
        ),
        "misfit_scale": (
            STAR,
            result.misfit_scale,
            {
                "long_name": "this spectrum's scatter relative to the calibrated scatter as "
                "the flags took it (>= 1)"
            },
        ),
        "status": (
            STAR,
            np.asarray(result.status, dtype=np.int8),
            flag_attrs(STATUS_CODES, "denoising status"),
        ),
        "step_pixel": (
            STAR,
            np.asarray(result.step_pixel, dtype=np.int32),
            {"long_name": "lamost_pixel index at the centre of a step; -1: none"},
        ),
    }
    coords = {
        STAR: (STAR, np.arange(n, dtype=np.int64)),
        "obsid": (STAR, np.full(n, -1, np.int64) if obsid is None else np.asarray(obsid, np.int64)),
        LAMOST_PIXEL: (
            LAMOST_PIXEL,
            np.arange(m, dtype=np.int64) if lamost_pixel is None else np.asarray(lamost_pixel),
        ),
        LAMOST_WAVELENGTH: (
            LAMOST_PIXEL,
            np.asarray(wavelength, dtype=np.float64),
            {"units": WAVELENGTH_UNIT, "medium": "vacuum"},
        ),
        LATENT: (LATENT, np.arange(c, dtype=np.int64)),
    }
    root = {
        "kind": DENOISE_KIND,
        "stereo_ppl_version": __version__,
        "artefact_flag_values": np.array(sorted(ARTEFACT_CODES), dtype=np.int8),
        "artefact_flag_meanings": " ".join(ARTEFACT_CODES[k] for k in sorted(ARTEFACT_CODES)),
        **dict(attrs or {}),
    }
    return xr.Dataset(data, coords=coords, attrs=root)
