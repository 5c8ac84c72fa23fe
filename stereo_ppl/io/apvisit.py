"""Reader for APOGEE apVisit files: one visit's three chips, not normalised.

Layout (DR11-DR17 data model): HDU 1 flux, HDU 2 error, HDU 3 pixel bitmask,
HDU 4 wavelength (vacuum Angstrom, float64), each of shape (3, num_chip_pixels)
(4,096 per chip): chip ``a`` (red) first, every chip's wavelengths stored from
high to low; no ``CRVAL1`` grid. HDU 0 holds the visit's header (``OBJID``,
``SNR``, ``TELESCOP``...). The reader returns the pixels in increasing
wavelength.
"""

from pathlib import Path

import numpy as np

from .apogee import (
    APOGEE_WAVELENGTH_RANGE,
    APSTAR_BAD_BITS,
    _apogee_id,
    _error_to_ivar,
    apogee_release,
)
from .errors import SurveyFileError
from .fitsutil import finish_pixels, get_hdu, header_meta, image_data, open_fits, reading
from .spectrum import Spectrum
from .wavelength import check_wavelength_range

__all__ = ["read_apvisit"]


def read_apvisit(
    path: str | Path, *, bad_bits: int = APSTAR_BAD_BITS, max_error: float = 1e9
) -> Spectrum:
    """Read an APOGEE apVisit file's three chips as one spectrum.

    Parameters
    ----------
    path : str or Path
        ``apVisit-<apred>-<plate>-<mjd>-<fiber>.fits`` (``asVisit`` for LCO),
        gzip'd or not.
    bad_bits : int, optional
        Pixel-mask bits (HDU 3) that make a pixel bad; default
        :data:`~stereo_ppl.io.apogee.APSTAR_BAD_BITS`.
    max_error : float, optional
        Errors at or above this mark unusable pixels.

    Returns
    -------
    Spectrum
        All chips' pixels sorted by wavelength (shape (3 * num_chip_pixels,)):
        ``flux`` as stored (``needs_normalising=True``), ``ivar = 1 / error**2``
        (0 at masked, zero-flux and huge-error pixels), ``wavelength`` from HDU 4,
        ``bitmask`` from HDU 3, ``meta`` the primary header (``APOGEE_ID`` from
        ``OBJID``) plus ``CHIP``, an int8 array of shape (num_pixels,) giving
        each pixel's chip (0 a/red, 1 b/green, 2 c/blue, as stored).
        ``survey="APOGEE"``, ``layout="apVisit"``, ``release`` from
        :func:`~stereo_ppl.io.apogee.apogee_release`.

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or not FITS, lacks HDU 1-4, the images
        differ in shape or are not (num_chips, num_chip_pixels), the wavelengths
        are not finite, overlap between chips or lie outside the APOGEE range,
        or no pixel is usable.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        meta = header_meta(get_hdu(hdul, 0, path).header)
        flux = image_data(hdul, 1, path)
        error = image_data(hdul, 2, path)
        mask = image_data(hdul, 3, path)
        wavelength = image_data(hdul, 4, path)
    if flux.ndim != 2 or flux.shape[1] < 2:
        raise SurveyFileError(
            f"has shape {flux.shape}, expected (num_chips, num_chip_pixels)", path=path, hdu=1
        )
    for index, array in ((2, error), (3, mask), (4, wavelength)):
        if array.shape != flux.shape:
            raise SurveyFileError(
                f"has shape {array.shape}, HDU 1 has {flux.shape}", path=path, hdu=index
            )
    if not np.issubdtype(mask.dtype, np.integer):
        raise SurveyFileError(f"pixel mask has type {mask.dtype}", path=path, hdu=3)
    with reading(path, hdu=4):
        order = np.argsort(wavelength, axis=None, kind="stable")
    chip = np.repeat(np.arange(flux.shape[0], dtype=np.int8), flux.shape[1])[order]
    flux, error, mask, wavelength = (a.reshape(-1)[order] for a in (flux, error, mask, wavelength))
    check_wavelength_range(wavelength, *APOGEE_WAVELENGTH_RANGE, path, hdu=4)
    _apogee_id(meta)
    ivar, error_bad = _error_to_ivar(error, max_error)
    flux, ivar, bad = finish_pixels(
        flux, ivar, extra_bad=error_bad | ((mask & bad_bits) != 0), path=path
    )
    chip.setflags(write=False)
    meta["CHIP"] = chip
    return Spectrum(
        flux=flux,
        ivar=ivar,
        wavelength=wavelength,
        bad=bad,
        meta=meta,
        path=path,
        needs_normalising=True,
        survey="APOGEE",
        release=apogee_release(meta, path),
        layout="apVisit",
        bitmask=mask,
    )
