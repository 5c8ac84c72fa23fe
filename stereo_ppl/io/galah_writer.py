"""Writer of GALAH DR3-layout CCD files (see :mod:`stereo_ppl.io.galah`).

Used by the tests and by the built-in GALAH survey
(:func:`stereo_ppl.datasets.galah.write_galah_files`) so that both go through
:func:`~stereo_ppl.io.galah.read_galah` like real data. Files are written
atomically (:func:`~stereo_ppl.io.netcdf.atomic_write`), big-endian as FITS
stores them, gzip'd when the name ends in ``.gz``.
"""

import gzip
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from .netcdf import atomic_write

__all__ = ["GALAH_EXTNAMES", "write_galah_ccd"]

#: ``EXTNAME`` of HDUs 1-4 (HDU 0 is the primary), after Data Central's DR3 page.
GALAH_EXTNAMES = ("input_sigma", "no_sky_spectrum", "no_sky_sigma", "normalised_spectrum")


def _grid_cards(header: fits.Header, crval1: float, cdelt1: float, crpix1: float) -> None:
    header["CRVAL1"] = (float(crval1), "Air wavelength of CRPIX1 (Angstrom)")
    header["CDELT1"] = (float(cdelt1), "Angstrom per pixel")
    header["CRPIX1"] = (crpix1, "Reference pixel (0 means 1)")
    header["CTYPE1"] = ("WAVE", "Linear wavelength")
    header["CUNIT1"] = ("Angstrom", "Wavelength unit")


def _check(name: str, array, size: int | None) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 1 or array.size < 2 or (size is not None and array.size != size):
        want = "a 1-D array of at least 2 pixels" if size is None else f"shape ({size},)"
        raise ValueError(f"{name} must have {want}; got shape {array.shape}")
    return array


def write_galah_ccd(
    path: str | Path,
    *,
    flux: np.ndarray,
    relative_error: np.ndarray,
    crval1: float,
    cdelt1: float,
    crpix1: float = 1.0,
    normalised: np.ndarray | None = None,
    normalised_offset: int = 0,
    no_sky_flux: np.ndarray | None = None,
    no_sky_error: np.ndarray | None = None,
    header: Mapping[str, Any] | None = None,
    dtype: type | str = np.float32,
) -> Path:
    """Write one CCD of one GALAH spectrum in the DR3 layout.

    Parameters
    ----------
    path : str or Path
        Destination, ``<sobject_id><ccd>.fits`` (``.fits.gz``: gzip'd); see
        :func:`~stereo_ppl.io.galah.galah_file_name`.
    flux : array, shape (num_pixels,)
        Unnormalised sky-subtracted flux (HDU 0).
    relative_error : array, shape (num_pixels,)
        Error divided by flux (HDU 1).
    crval1, cdelt1, crpix1 : float
        The linear grid ``crval1 + (k + 1 - crpix1) cdelt1`` (air Angstrom),
        written to every HDU; ``crpix1 = 0`` is written as is (real files have it).
    normalised : array, shape (num_normalised,), optional
        Normalised flux (HDU 4). None writes the four-HDU layout of releases
        without it.
    normalised_offset : int, optional
        Pixel of HDU 0 where HDU 4 starts (the IR CCD's normalised spectrum is
        cut in DR3); HDU 4's ``CRVAL1`` is shifted to match.
    no_sky_flux, no_sky_error : array, shape (num_pixels,), optional
        HDUs 2 and 3; default ``flux`` and ``relative_error``.
    header : mapping, optional
        Further primary-header cards (keyword to value or (value, comment)).
    dtype : numpy dtype, optional
        float32 (default, as the survey stores its spectra) or float64.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the arrays differ in length, HDU 4 does not fit inside HDU 0, or
        ``dtype`` is not a float type.
    """
    kind = np.dtype(dtype)
    if kind.kind != "f":
        raise ValueError(f"dtype must be float32 or float64, got {kind}")
    big = kind.newbyteorder(">")
    flux = _check("flux", flux, None)
    images = [flux, _check("relative_error", relative_error, flux.size)]
    images.append(flux if no_sky_flux is None else _check("no_sky_flux", no_sky_flux, flux.size))
    images.append(
        images[1] if no_sky_error is None else _check("no_sky_error", no_sky_error, flux.size)
    )
    hdus = [fits.PrimaryHDU(np.asarray(images[0], dtype=big))]
    hdus += [
        fits.ImageHDU(np.asarray(image, dtype=big), name=name)
        for image, name in zip(images[1:], GALAH_EXTNAMES, strict=False)
    ]
    for hdu in hdus:
        _grid_cards(hdu.header, crval1, cdelt1, crpix1)
    if normalised is not None:
        normalised = _check("normalised", normalised, None)
        if not 0 <= normalised_offset <= flux.size - normalised.size:
            raise ValueError(
                f"normalised ({normalised.size} pixels from pixel {normalised_offset}) "
                f"does not fit in flux ({flux.size} pixels)"
            )
        hdu = fits.ImageHDU(np.asarray(normalised, dtype=big), name=GALAH_EXTNAMES[3])
        _grid_cards(hdu.header, crval1 + normalised_offset * cdelt1, cdelt1, crpix1)
        hdus.append(hdu)
    for key, value in (header or {}).items():
        hdus[0].header[key] = value
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer, output_verify="exception")
    raw = buffer.getvalue()
    if Path(path).name.endswith(".gz"):
        raw = gzip.compress(raw, mtime=0)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(raw))
