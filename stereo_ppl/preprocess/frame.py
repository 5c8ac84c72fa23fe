"""Doppler shifts: observed frame to rest frame."""

import astropy.units as u
import numpy as np

from .checks import PreprocessError, as_angstrom

__all__ = ["to_rest_frame"]


def to_rest_frame(wavelength, z):
    """Shift observed wavelengths to the rest frame, ``wavelength / (1 + z)``.

    Parameters
    ----------
    wavelength : Quantity or array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Observed wavelengths (plain numbers are taken as Angstrom).
    z : float or array_like, shape (num_stars,)
        Redshift of each star (LAMOST header ``Z``; ``v / c`` for a radial
        velocity ``v``).

    Returns
    -------
    Quantity or ndarray, shape (num_pixels,) or (num_stars, num_pixels)
        Rest-frame wavelengths, a Quantity in Angstrom if ``wavelength`` was a
        Quantity, else float64 Angstrom. A scalar ``z`` keeps the shape of
        ``wavelength``; one ``z`` per star gives one row per star.

    Raises
    ------
    PreprocessError
        If a ``z`` is not finite or is <= -1 (naming the star), or the shapes
        do not broadcast.
    """
    values = as_angstrom(wavelength, "wavelength")
    z = np.asarray(z, dtype=np.float64)
    if z.ndim > 1:
        raise PreprocessError(f"z must be a scalar or shape (num_stars,), got {z.shape}")
    bad = ~np.isfinite(z) | (z <= -1)
    if bad.any():
        index = int(np.flatnonzero(np.atleast_1d(bad))[0])
        value = np.atleast_1d(z)[index]
        raise PreprocessError(f"z must be finite and > -1; star {index} has z = {value}")
    if z.ndim == 1:
        if values.ndim == 2 and values.shape[0] != z.shape[0]:
            raise PreprocessError(f"{z.shape[0]} redshifts for {values.shape[0]} wavelength rows")
        rest = values / (1.0 + z[:, None])
    else:
        rest = values / (1.0 + z)
    return rest * u.AA if isinstance(wavelength, u.Quantity) else rest
