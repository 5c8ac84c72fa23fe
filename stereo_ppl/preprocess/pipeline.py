"""The seed study's LAMOST preprocessing chain, one function shared by every caller.

``stereo-ppl prepare`` (paired datasets) and ``stereo-ppl denoise`` (raw
LAMOST files) both call :func:`preprocess_lamost`, so a spectrum is put onto
the model's grid in exactly one way.
"""

from .continuum import continuum_normalise
from .frame import to_rest_frame
from .resample import resample

__all__ = ["preprocess_lamost"]


def preprocess_lamost(
    wavelength,
    flux,
    ivar,
    z,
    *,
    grid,
    scale=100.0,
    window=300.0,
    method: str = "linear",
):
    """Rest frame, continuum normalisation and resampling onto ``grid``.

    Parameters
    ----------
    wavelength : Quantity or array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Observed (vacuum) wavelengths; plain numbers are Angstrom.
    flux, ivar : array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Spectra and inverse variances; ``ivar == 0`` marks bad pixels.
    z : float or array_like, shape (num_stars,)
        Redshift of each spectrum (LAMOST header ``Z``).
    grid : Quantity or array_like, shape (num_grid,)
        Rest-frame output grid, e.g. :func:`stereo_ppl.data.lamost_grid`.
    scale, window : float or Quantity, optional
        Gaussian continuum kernel width and half-window (default 100 and 300 Angstrom).
    method : {"linear", "flux-conserving"}, optional
        Resampling scheme (the seed study interpolated linearly).

    Returns
    -------
    flux, ivar : ndarray, shape (num_grid,) or (num_stars, num_grid), float64
        Normalised, resampled spectra; ``ivar`` is 0 (never NaN) at bad or
        uncovered pixels, where ``flux`` is 1.

    Raises
    ------
    PreprocessError
        On bad redshifts, grids or shapes (see the individual steps).
    """
    rest = to_rest_frame(wavelength, z)
    norm_flux, norm_ivar = continuum_normalise(rest, flux, ivar, scale=scale, window=window)
    return resample(rest, norm_flux, norm_ivar, grid, method=method, fill=1.0)
