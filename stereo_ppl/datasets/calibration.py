"""Paired data drawn from eq. 1–2 with misreported errors and lines eq. 2 cannot fit.

For testing the calibrated noise model: a known rank-``c`` truth, per-star
S/N, survey-2 errors reported as ``error_factor`` times too small or large,
an intrinsic scatter on chosen pixels, and, on a fraction of pixels, a line
depth that is quadratic in the star's latent (which no linear decoder can
fit) of about ``misfit_amplitude`` times the noise.
"""

from typing import NamedTuple

import numpy as np
import xarray as xr

from ..data import make_paired

__all__ = ["CalibrationData", "make_calibration_data"]


class CalibrationData(NamedTuple):
    """Result of :func:`make_calibration_data`.

    Attributes
    ----------
    paired : xarray.Dataset
        The paired dataset (reported errors in ``lamost_ivar``).
    error_scale : float
        The true ``a``: true error / reported error.
    scatter : ndarray, shape (P2,)
        The true intrinsic Gaussian scatter of each pixel.
    misfit : ndarray of bool, shape (P2,)
        Pixels with a line eq. 2 cannot fit.
    """

    paired: xr.Dataset
    error_scale: float
    scatter: np.ndarray
    misfit: np.ndarray


def make_calibration_data(
    seed: int,
    *,
    num_stars: int = 600,
    num_apogee_pixels: int = 120,
    num_lamost_pixels: int = 100,
    rank: int = 5,
    noise: float = 0.01,
    error_scale: float = 1.0,
    scatter: float = 0.0,
    scatter_fraction: float = 0.0,
    misfit_fraction: float = 0.0,
    misfit_amplitude: float = 3.0,
) -> CalibrationData:
    """Draw a paired dataset from eq. 1–2 with a calibrated noise and misfit lines.

    Parameters
    ----------
    seed : int
        NumPy seed.
    num_stars, num_apogee_pixels, num_lamost_pixels, rank : int
        Sizes and the rank of the truth.
    noise : float
        Median true survey-2 error (flux units); each star's is this times
        ``exp(U(-0.7, 0.7))`` (an S/N range of 4).
    error_scale : float
        True error / reported error (1.3: errors under-reported by 30%).
    scatter, scatter_fraction : float
        Intrinsic Gaussian scatter (flux units) on this fraction of pixels.
    misfit_fraction, misfit_amplitude : float
        Fraction of pixels with a line depth ``amplitude * noise * (u^2 - 1) / sqrt(2)``,
        ``u`` the star's standardised first latent.

    Returns
    -------
    CalibrationData
    """
    rng = np.random.default_rng(seed)
    f1 = 1.0 + 0.1 * rng.normal(size=(num_stars, num_apogee_pixels))
    beta_z = rng.normal(size=(rank, num_apogee_pixels)) / np.sqrt(num_apogee_pixels)
    z = f1 @ beta_z.T
    z = (z - z.mean(0)) / z.std(0)
    beta_F = 5 * noise * rng.normal(size=(num_lamost_pixels, rank))
    truth = z @ beta_F.T + 1.0
    pixels = np.arange(num_lamost_pixels)
    scattered = rng.permutation(pixels)[: round(scatter_fraction * num_lamost_pixels)]
    s = np.zeros(num_lamost_pixels)
    s[scattered] = scatter
    misfit = np.zeros(num_lamost_pixels, bool)
    misfit[rng.permutation(pixels)[: round(misfit_fraction * num_lamost_pixels)]] = True
    depth = misfit_amplitude * noise * (z[:, :1] ** 2 - 1.0) / np.sqrt(2.0)
    truth = truth + np.where(misfit, depth, 0.0)
    sd = noise * np.exp(rng.uniform(-0.7, 0.7, size=(num_stars, 1))) * np.ones(num_lamost_pixels)
    flux = truth + sd * rng.normal(size=truth.shape) + s * rng.normal(size=truth.shape)
    reported = sd / error_scale
    paired = make_paired(
        apogee_flux=f1,
        lamost_flux=flux,
        lamost_ivar=reported**-2,
        apogee_wavelength=np.geomspace(15100.0, 17000.0, num_apogee_pixels),
        lamost_wavelength=np.geomspace(3700.0, 9100.0, num_lamost_pixels),
        apogee_id=[f"2M{i:08d}+0000000" for i in range(num_stars)],
        obsid=100_000_000 + np.arange(num_stars),
    )
    return CalibrationData(paired, float(error_scale), s, misfit)
