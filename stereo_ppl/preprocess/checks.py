"""Argument checks shared by the preprocessing functions."""

import astropy.units as u
import numpy as np

from ..errors import StereoPPLError

__all__ = ["PreprocessError", "as_angstrom", "check_spectra", "check_wavelength"]


class PreprocessError(StereoPPLError, ValueError):
    """Spectra, wavelengths or options given to a preprocessing step do not fit together."""


def as_angstrom(value, name: str) -> np.ndarray:
    """A wavelength (or wavelength scale) as a float64 array in Angstrom.

    Parameters
    ----------
    value : Quantity or array_like
        A length (any unit convertible to Angstrom) or plain numbers taken as
        Angstrom.
    name : str
        Argument name (for the message).

    Returns
    -------
    ndarray, float64
        Same shape as ``value``.

    Raises
    ------
    PreprocessError
        If ``value`` has a unit that is not a length.
    """
    if isinstance(value, u.Quantity):
        try:
            return np.asarray(value.to_value(u.AA), dtype=np.float64)
        except u.UnitConversionError as exc:
            raise PreprocessError(f"{name} must be a length, got unit {value.unit}") from exc
    return np.asarray(value, dtype=np.float64)


def check_wavelength(wavelength: np.ndarray, name: str = "wavelength") -> None:
    """Check a grid (or one per row) is finite and strictly increasing.

    Parameters
    ----------
    wavelength : ndarray, shape (num_pixels,) or (num_stars, num_pixels)
        Grid(s) in Angstrom.
    name : str, optional
        Argument name (for the message).

    Raises
    ------
    PreprocessError
        Naming the first offending row and pixel.
    """
    if wavelength.ndim not in (1, 2) or wavelength.shape[-1] < 2:
        raise PreprocessError(
            f"{name} must have shape (P,) or (S, P), P >= 2; got {wavelength.shape}"
        )
    bad = ~np.isfinite(wavelength)
    bad[..., 1:] |= ~(np.diff(wavelength, axis=-1) > 0)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise PreprocessError(
            f"{name} must be finite and strictly increasing; it is not at index {tuple(where)}"
        )


def check_spectra(flux, ivar, num_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Flux and ivar as float64 arrays of the same shape ``(..., num_pixels)``.

    Non-finite flux or ivar, and negative ivar, are returned as a bad pixel
    (``ivar = 0``, flux 0) so later arithmetic never produces NaN.

    Parameters
    ----------
    flux, ivar : array_like, shape (..., num_pixels)
        Spectra and inverse variances.
    num_pixels : int
        Length of the wavelength grid.

    Returns
    -------
    flux, ivar : ndarray, shape (..., num_pixels), float64

    Raises
    ------
    PreprocessError
        If the shapes disagree.
    """
    flux = np.asarray(flux, dtype=np.float64)
    ivar = np.asarray(ivar, dtype=np.float64)
    if flux.shape != ivar.shape or flux.ndim == 0 or flux.shape[-1] != num_pixels:
        raise PreprocessError(
            f"flux {flux.shape} and ivar {ivar.shape} must both have shape (..., {num_pixels})"
        )
    good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    return np.where(good, flux, 0.0), np.where(good, ivar, 0.0)
