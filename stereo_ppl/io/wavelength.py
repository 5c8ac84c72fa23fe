"""Wavelength grids of survey files: log-linear and linear headers, air and vacuum.

Every function that reads a header turns a problem into
:class:`~stereo_ppl.io.errors.SurveyFileError` naming the file, HDU and keyword.
"""

from functools import lru_cache
from pathlib import Path

import numpy as np
from astropy.io import fits

from .errors import SurveyFileError
from .fitsutil import header_number

__all__ = [
    "air_to_vacuum",
    "check_wavelength_range",
    "linear_wavelength",
    "log_linear_wavelength",
    "vacuum_to_air",
]


def log_linear_wavelength(
    header: fits.Header,
    num_pixels: int,
    path: str | Path,
    *,
    hdu: int | str | None = None,
    crval: str = "CRVAL1",
    cdelt: str = "CDELT1",
    crpix: str | None = "CRPIX1",
) -> np.ndarray:
    """Wavelengths of a log-linear grid described in a header.

    ``lambda_k = 10 ** (crval + cdelt * (k + 1 - crpix))`` for zero-based ``k``.

    Parameters
    ----------
    header : astropy.io.fits.Header
        Header holding the grid keywords.
    num_pixels : int
        Number of pixels.
    path : str or Path
        The file; ``hdu`` (optional) the HDU of the header (for messages).
    crval, cdelt : str, optional
        Keywords of ``log10`` of the reference wavelength and of the step.
    crpix : str or None, optional
        Keyword of the one-based reference pixel (1 if absent or None).

    Returns
    -------
    ndarray, shape (num_pixels,), float64
        Wavelength of each pixel in Angstrom.

    Raises
    ------
    SurveyFileError
        If a keyword is missing or not a number, or the step is not positive.
    """
    start = header_number(header, crval, path, hdu=hdu)
    step = header_number(header, cdelt, path, hdu=hdu)
    ref = 1.0 if crpix is None else header_number(header, crpix, path, hdu=hdu, default=1.0)
    for key, value in ((crval, start), (cdelt, step)):
        if value is None:
            raise SurveyFileError(
                "is missing (no wavelength grid)", path=path, hdu=hdu, keyword=key
            )
    if not 0 < step < 0.01 or not 0 < start < 7:
        raise SurveyFileError(
            f"log-linear grid {crval}={start}, {cdelt}={step} is not plausible", path=path, hdu=hdu
        )
    return _log_linear_grid(start, step, ref, int(num_pixels)).copy()


@lru_cache(maxsize=16)
def _log_linear_grid(start: float, step: float, ref: float, num_pixels: int) -> np.ndarray:
    """``10 ** (start + step * (k + 1 - ref))``, computed once per grid (read-only)."""
    grid = 10.0 ** (start + step * (np.arange(num_pixels, dtype=np.float64) + 1.0 - ref))
    grid.flags.writeable = False
    return grid


def check_wavelength_range(
    wavelength: np.ndarray, lo: float, hi: float, path: str | Path, *, hdu=None
) -> None:
    """Check ``wavelength`` (shape (num_pixels,), Angstrom) is finite, increasing and in
    ``[lo, hi]``; else raise :class:`SurveyFileError` naming ``path``, ``hdu`` and pixel."""
    if not np.all(np.isfinite(wavelength)):
        pixel = int(np.flatnonzero(~np.isfinite(wavelength))[0])
        raise SurveyFileError("wavelength is not finite", path=path, hdu=hdu, pixel=pixel)
    if wavelength.size > 1 and not np.all(np.diff(wavelength) > 0):
        pixel = int(np.flatnonzero(np.diff(wavelength) <= 0)[0])
        raise SurveyFileError("wavelength does not increase", path=path, hdu=hdu, pixel=pixel)
    if wavelength[0] < lo or wavelength[-1] > hi:
        raise SurveyFileError(
            f"wavelength grid {wavelength[0]:.6g}-{wavelength[-1]:.6g} Angstrom lies outside "
            f"the survey's {lo:g}-{hi:g}",
            path=path,
            hdu=hdu,
        )


def linear_wavelength(header, num_pixels: int, path: str | Path, *, hdu: int) -> np.ndarray:
    """Wavelengths of a linear grid ``CRVAL1 + (k + 1 - CRPIX1) CDELT1``, ``k`` zero-based.

    ``CRPIX1`` absent or 0 means 1; ``CD1_1`` stands in for a missing ``CDELT1``.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The HDU's header.
    num_pixels : int
        Number of pixels.
    path : str or Path
        The file; ``hdu`` the HDU of the header (for messages).

    Returns
    -------
    ndarray, shape (num_pixels,), float64
        Wavelength of each pixel, Angstrom (in the file's medium).

    Raises
    ------
    SurveyFileError
        If a keyword is missing or not a number, the grid is log-linear
        (``DC-FLAG = 1``), or the step or start is implausible.
    """
    start = header_number(header, "CRVAL1", path, hdu=hdu)
    step_key = "CDELT1" if "CDELT1" in header or "CD1_1" not in header else "CD1_1"
    step = header_number(header, step_key, path, hdu=hdu)
    ref = header_number(header, "CRPIX1", path, hdu=hdu, default=1.0)
    for key, value in (("CRVAL1", start), (step_key, step)):
        if value is None:
            raise SurveyFileError(
                "is missing (no wavelength grid)", path=path, hdu=hdu, keyword=key
            )
    if header_number(header, "DC-FLAG", path, hdu=hdu, default=0.0) == 1:
        raise SurveyFileError(
            "is 1 (log-linear grid); GALAH grids are linear", path=path, hdu=hdu, keyword="DC-FLAG"
        )
    if not 0 < step < 1.0 or not 1_000.0 < start < 20_000.0:
        raise SurveyFileError(
            f"linear grid CRVAL1={start}, {step_key}={step} is not plausible", path=path, hdu=hdu
        )
    ref = 1.0 if ref == 0 else ref
    return start + (np.arange(num_pixels, dtype=np.float64) + 1.0 - ref) * step


def vacuum_to_air(wavelength) -> np.ndarray:
    """Air wavelengths of vacuum wavelengths (IAU standard, Morton 2000, eq. 3).

    Parameters
    ----------
    wavelength : array, shape (...)
        Vacuum wavelength, Angstrom (above 2,000 Å).

    Returns
    -------
    ndarray, shape (...), float64
        ``wavelength / n`` with ``n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s**2)
        + 1.5998e-4 / (38.9 - s**2)`` and ``s = 10**4 / wavelength`` (1/µm).
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    s2 = (1e4 / wavelength) ** 2
    n = 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)
    return wavelength / n


def air_to_vacuum(wavelength) -> np.ndarray:
    """Vacuum wavelengths of air wavelengths, the exact inverse of :func:`vacuum_to_air`.

    Parameters
    ----------
    wavelength : array, shape (...)
        Air wavelength, Angstrom (above 2,000 Å).

    Returns
    -------
    ndarray, shape (...), float64
        Solved by fixed-point iteration to 1e-13 relative (a few steps); e.g.
        H-alpha 6562.797 Å (air) gives 6564.610 Å.
    """
    air = np.asarray(wavelength, dtype=np.float64)
    vacuum = air.copy()
    for _ in range(20):
        step = air - vacuum_to_air(vacuum)
        vacuum = vacuum + step * (vacuum / np.where(air == 0, 1.0, air))
        if np.all(np.abs(step) <= 1e-13 * np.abs(air)):
            break
    return vacuum
