"""Dropping the APOGEE chip gaps (pixels that never carry data)."""

from functools import cache

import astropy.units as u
import numpy as np

from ..data.grids import APOGEE_CHIPS, APOGEE_NUM_PIXELS, apogee_grid
from .checks import PreprocessError, as_angstrom

__all__ = ["drop_chip_gaps"]


@cache
def _expected_grid() -> np.ndarray:
    """:func:`~stereo_ppl.data.grids.apogee_grid`, computed once (read-only)."""
    grid = apogee_grid()
    grid.flags.writeable = False
    return grid


def drop_chip_gaps(wavelength, flux, ivar, *, chips=APOGEE_CHIPS, rtol: float = 1e-7):
    """Keep only the APOGEE pixels that lie on a detector chip.

    Parameters
    ----------
    wavelength : Quantity or array_like, shape (8575,)
        The aspcapStar/apStar grid (checked against
        :func:`stereo_ppl.data.grids.apogee_grid` within ``rtol``).
    flux, ivar : array_like, shape (..., 8575)
        Spectra (one star or a batch).
    chips : sequence of (int, int), optional
        Pixel ranges to keep; default :data:`~stereo_ppl.data.grids.APOGEE_CHIPS`
        (7,514 pixels).
    rtol : float, optional
        Relative tolerance of the grid check.

    Returns
    -------
    wavelength : Quantity or ndarray, shape (num_kept,)
        A Quantity in Angstrom if ``wavelength`` was a Quantity.
    flux, ivar : ndarray, shape (..., num_kept), float64

    Raises
    ------
    PreprocessError
        If the grid is not the APOGEE grid or the shapes disagree.
    """
    wl = as_angstrom(wavelength, "wavelength")
    expected = _expected_grid()
    if wl.shape != expected.shape or not np.all(np.abs(wl - expected) <= rtol * expected):
        raise PreprocessError(
            f"wavelength (shape {wl.shape}) is not the {APOGEE_NUM_PIXELS}-pixel APOGEE grid; "
            "chip gaps are defined on that grid only"
        )
    flux = np.asarray(flux, dtype=np.float64)
    ivar = np.asarray(ivar, dtype=np.float64)
    if flux.shape != ivar.shape or flux.ndim == 0 or flux.shape[-1] != APOGEE_NUM_PIXELS:
        raise PreprocessError(
            f"flux {flux.shape} and ivar {ivar.shape} must both have shape "
            f"(..., {APOGEE_NUM_PIXELS})"
        )
    keep = np.zeros(APOGEE_NUM_PIXELS, dtype=bool)
    for start, stop in chips:
        keep[start:stop] = True
    kept_wl = wl[keep] * u.AA if isinstance(wavelength, u.Quantity) else wl[keep]
    return kept_wl, flux[..., keep], ivar[..., keep]
