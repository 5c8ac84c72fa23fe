"""Noiseless pseudo-continuum-normalised spectra computed from stellar labels.

For each star the optical depth is a sum over lines of ``tau_l`` (a
log-linear function of label features, see
:mod:`stereo_ppl.datasets.linelist`) times the line's profile on the survey
grid, and the normalised flux is::

    F = f_floor + (1 - f_floor) exp(-tau)

so strong lines saturate (``f_floor``: the light scattered into line cores
by the instrument). Weak lines have Gaussian profiles at the survey's
resolution; strong lines (Balmer, Ca II, Mg b, Na D, Brackett, ...) add
Lorentzian damping wings whose width grows with gravity and temperature.
"""

from functools import cache

import numpy as np

from ..data.grids import apogee_chip_mask, apogee_grid, lamost_grid
from .labels import LABEL_NAMES
from .linelist import (
    LineList,
    StrongLines,
    apogee_lines,
    apogee_strong_lines,
    lamost_lines,
    lamost_strong_lines,
)

__all__ = [
    "APOGEE_RESOLUTION",
    "FLUX_FLOOR",
    "LAMOST_RESOLUTION",
    "MAX_LOG_TAU",
    "apogee_pixels",
    "apogee_true_flux",
    "label_features",
    "lamost_true_flux",
    "profile_matrix",
    "strong_line_depth",
]

#: Resolving power ``λ / FWHM`` of each survey.
APOGEE_RESOLUTION = 22_500.0
LAMOST_RESOLUTION = 1_800.0
#: Residual flux of a fully saturated line core, per survey.
FLUX_FLOOR = {"apogee": 0.04, "lamost": 0.08}

_THETA_REF = 5_040.0 / 4_700.0
_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
MAX_LOG_TAU = 4.0
_CHUNK = 512


def label_features(labels: np.ndarray) -> np.ndarray:
    """Features that ``log10 tau`` is linear in.

    Parameters
    ----------
    labels : array, shape (num_stars, 4)
        Teff (K), log g, [Fe/H], [α/Fe] in the order of ``LABEL_NAMES``.

    Returns
    -------
    ndarray, shape (num_stars, 6), float64
        ``1``, [Fe/H], [α/Fe], ``θ - θ_ref`` with ``θ = 5040 K / Teff`` and
        ``θ_ref`` at 4,700 K, ``log g - 2.5``, and the first-dredge-up mixing
        ``m = 1 / (1 + exp((log g - 2.6) / 0.25))`` (1 on the upper giant
        branch, 0 for dwarfs), matching the columns of ``LineList.coeffs``.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != len(LABEL_NAMES):
        raise ValueError(f"labels must have shape (num_stars, 4); got {labels.shape}")
    teff, logg, feh, alpha = labels.T
    mix = 1.0 / (1.0 + np.exp((logg - 2.6) / 0.25))
    return np.stack(
        [np.ones_like(teff), feh, alpha, 5_040.0 / teff - _THETA_REF, logg - 2.5, mix], axis=1
    )


def _sigma_pixels(wavelength: np.ndarray, resolution: float) -> float:
    """Gaussian sigma of the instrumental profile in pixels of a log-linear grid."""
    dlog = np.log(wavelength[-1] / wavelength[0]) / (wavelength.size - 1)
    return _FWHM_TO_SIGMA / resolution / dlog


def profile_matrix(
    wavelength: np.ndarray, centres: np.ndarray, *, resolution: float, half_width: float = 5.0
) -> np.ndarray:
    """Peak-normalised Gaussian line profiles on a log-linear grid.

    Parameters
    ----------
    wavelength : array, shape (num_pixels,)
        Log-linear wavelength grid, Angstrom.
    centres : array, shape (num_lines,)
        Line centres, Angstrom.
    resolution : float
        Resolving power; the profile FWHM is ``λ / resolution``.
    half_width : float
        Window half-width in units of sigma; the profile is 0 beyond it.

    Returns
    -------
    ndarray, shape (num_lines, num_pixels), float32
        Profile of each line, 1 at the line centre.
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    sigma = _sigma_pixels(wavelength, resolution)
    dlog = np.log(wavelength[-1] / wavelength[0]) / (wavelength.size - 1)
    pos = np.log(np.asarray(centres) / wavelength[0]) / dlog
    span = int(np.ceil(half_width * sigma))
    cols = np.floor(pos).astype(np.int64)[:, None] + np.arange(-span, span + 2)[None, :]
    vals = np.exp(-0.5 * ((cols - pos[:, None]) / sigma) ** 2)
    ok = (cols >= 0) & (cols < wavelength.size)
    rows = np.broadcast_to(np.arange(pos.size)[:, None], cols.shape)
    out = np.zeros((pos.size, wavelength.size), dtype=np.float32)
    out[rows[ok], cols[ok]] = vals[ok]
    return out


def strong_line_depth(features, labels, wavelength, lines: StrongLines, resolution, *, dtype):
    """Optical depth of the strong lines, shape (num_stars, num_pixels)."""
    teff, logg = labels[:, 0], labels[:, 1]
    log_tau = np.minimum(features @ lines.coeffs.T, MAX_LOG_TAU)  # (star, line)
    tau0 = 10.0**log_tau
    tau = np.zeros((labels.shape[0], wavelength.size), dtype=dtype)
    for k, centre in enumerate(lines.wavelength):
        gamma = (
            lines.gamma[k]
            * 10.0 ** (lines.gamma_logg[k] * (logg - 2.5))
            * (teff / 4_700.0) ** lines.gamma_teff[k]
        )  # (star,)
        sigma = centre * _FWHM_TO_SIGMA / resolution
        # window: where the widest star's wing can still reach 1e-3 optical depth
        reach = gamma.max() * np.sqrt(max(tau0[:, k].max() * lines.wing[k] / 1e-3, 1.0))
        reach = max(reach, 6.0 * sigma)
        lo, hi = np.searchsorted(wavelength, [centre - reach, centre + reach])
        delta = wavelength[lo:hi] - centre
        core = np.exp(-0.5 * (delta / sigma) ** 2)
        wing = lines.wing[k] * gamma[:, None] ** 2 / (delta[None, :] ** 2 + gamma[:, None] ** 2)
        tau[:, lo:hi] += (tau0[:, k, None] * (core[None, :] + wing)).astype(dtype)
    return tau


@cache
def _profiles(survey: str) -> np.ndarray:
    if survey == "apogee":
        out = profile_matrix(
            apogee_grid()[apogee_pixels()], apogee_lines().wavelength, resolution=APOGEE_RESOLUTION
        )
    else:
        out = profile_matrix(lamost_grid(), lamost_lines().wavelength, resolution=LAMOST_RESOLUTION)
    out.setflags(write=False)
    return out


@cache
def apogee_pixels() -> np.ndarray:
    """Indices of the 7,514 on-chip pixels on the 8,575-pixel APOGEE grid.

    Returns
    -------
    ndarray, shape (7514,), int64
    """
    out = np.flatnonzero(apogee_chip_mask()).astype(np.int64)
    out.setflags(write=False)
    return out


def _flux(labels, survey, wavelength, lines: LineList, strong: StrongLines, resolution):
    labels = np.asarray(labels, dtype=np.float64)
    features = label_features(labels)
    profiles = _profiles(survey)
    floor = FLUX_FLOOR[survey]
    out = np.empty((labels.shape[0], wavelength.size), dtype=np.float64)
    for start in range(0, labels.shape[0], _CHUNK):
        part = slice(start, start + _CHUNK)
        depth = 10.0 ** np.minimum(features[part] @ lines.coeffs.T, MAX_LOG_TAU)
        tau = depth.astype(np.float32) @ profiles
        tau += strong_line_depth(
            features[part], labels[part], wavelength, strong, resolution, dtype=np.float32
        )
        out[part] = floor + (1.0 - floor) * np.exp(-tau)
    return out


def apogee_true_flux(labels: np.ndarray) -> np.ndarray:
    """Noiseless APOGEE flux on the on-chip pixels of the aspcapStar grid.

    Parameters
    ----------
    labels : array, shape (num_stars, 4)
        Teff, log g, [Fe/H], [α/Fe].

    Returns
    -------
    ndarray, shape (num_stars, 7514), float64
        Normalised flux at ``apogee_grid()[apogee_pixels()]``, in ``(0, 1]``.
    """
    return _flux(
        labels,
        "apogee",
        apogee_grid()[apogee_pixels()],
        apogee_lines(),
        apogee_strong_lines(),
        APOGEE_RESOLUTION,
    )


def lamost_true_flux(labels: np.ndarray) -> np.ndarray:
    """Noiseless LAMOST flux on the 3,909-pixel common grid.

    Parameters
    ----------
    labels : array, shape (num_stars, 4)
        Teff, log g, [Fe/H], [α/Fe].

    Returns
    -------
    ndarray, shape (num_stars, 3909), float64
        Normalised flux at ``lamost_grid()``, in ``(0, 1]``.
    """
    return _flux(
        labels, "lamost", lamost_grid(), lamost_lines(), lamost_strong_lines(), LAMOST_RESOLUTION
    )
