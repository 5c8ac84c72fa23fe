"""Reader for LAMOST medium-resolution (MRS) spectra: the blue and red co-added arms.

Layout (``med-<LMJD>-<PLANID>_sp<SP>-<FIBER>.fits[.gz]``, checked on a DR7 file):
a header-only primary (``EXTNAME = 'Information'``); HDU 1 ``COADD_B`` and HDU 2
``COADD_R``, binary tables with one row per pixel and columns ``FLUX``, ``IVAR``,
``LOGLAM`` (log10 vacuum Angstrom; ``WAVELENGTH`` in Angstrom from DR9 v1 on),
``ANDMASK``, ``ORMASK``; then one table per exposure (``B-<n>``, ``R-<n>``), which
this reader leaves alone. The blue arm covers about 4950-5350 Angstrom, the red
about 6300-6800.
"""

from pathlib import Path

import numpy as np
from astropy.io import fits

from .errors import SurveyFileError
from .fitsutil import finish_pixels, get_hdu, header_meta, open_fits, reading, table_data
from .lamost import lamost_release, masks_to_int
from .spectrum import Spectrum
from .wavelength import check_wavelength_range

__all__ = ["LAMOST_MRS_ARMS", "LAMOST_MRS_WAVELENGTH_RANGE", "read_lamost_mrs"]

#: The co-added arms, in wavelength order: (HDU index, EXTNAME, one-letter name).
LAMOST_MRS_ARMS = ((1, "COADD_B", "B"), (2, "COADD_R", "R"))
#: Plausible range of an MRS grid, Angstrom.
LAMOST_MRS_WAVELENGTH_RANGE = (4500.0, 7500.0)


def _column(data, names: dict, name: str, path: Path, index: int) -> np.ndarray:
    """One numeric per-pixel column as float64, shape (num_pixels,)."""
    with reading(path, hdu=index, column=name):
        value = np.asarray(data[names[name]])
    if value.ndim != 1 or not np.issubdtype(value.dtype, np.number):
        raise SurveyFileError(
            f"holds {value.dtype} of shape {value.shape}, expected one number per row",
            path=path,
            hdu=index,
            column=name,
        )
    return value.astype(np.float64)


def _arm(hdul: fits.HDUList, index: int, extname: str, path: Path) -> dict[str, np.ndarray]:
    """Wavelength, flux, ivar, masks of one co-added arm (one row per pixel)."""
    hdu = get_hdu(hdul, index, path)
    with reading(path, hdu=index):
        name = str(hdu.name).upper()
    if name != extname:
        raise SurveyFileError(
            f"is named {name!r}, expected {extname!r} (a LAMOST MRS file)", path=path, hdu=index
        )
    data = table_data(hdu, index, path)
    if data is None or len(data) < 2:
        raise SurveyFileError("has no pixels", path=path, hdu=index)
    names = {n.upper(): n for n in data.names}
    for required in ("FLUX", "IVAR"):
        if required not in names:
            raise SurveyFileError("is missing", path=path, hdu=index, column=required)
    if "WAVELENGTH" in names:
        wavelength = _column(data, names, "WAVELENGTH", path, index)
    elif "LOGLAM" in names:
        wavelength = 10.0 ** _column(data, names, "LOGLAM", path, index)
    else:
        raise SurveyFileError(
            "has neither LOGLAM nor WAVELENGTH", path=path, hdu=index, column="LOGLAM"
        )
    check_wavelength_range(wavelength, *LAMOST_MRS_WAVELENGTH_RANGE, path, hdu=extname)
    arm = {"WAVELENGTH": wavelength}
    for name in ("FLUX", "IVAR", "ANDMASK", "ORMASK"):
        if name in names:
            arm[name] = _column(data, names, name, path, index)
    return arm


def read_lamost_mrs(path: str | Path) -> Spectrum:
    """Read a LAMOST medium-resolution file's co-added blue and red arms as one spectrum.

    Parameters
    ----------
    path : str or Path
        ``med-<LMJD>-<PLANID>_sp<SP>-<FIBER>.fits`` or ``.fits.gz``.

    Returns
    -------
    Spectrum
        ``survey="LAMOST-MRS"``, ``layout="mrs-coadd"``, ``release`` from ``DATA_V``.
        The blue arm's pixels then the red arm's: ``flux`` and ``ivar`` as stored
        (``needs_normalising`` is True), ``wavelength`` vacuum Angstrom (from
        ``LOGLAM`` or ``WAVELENGTH``), ``bitmask`` the ``ORMASK``, ``meta`` the
        primary header plus ``ARM``, an array of shape (num_pixels,) holding
        ``"B"`` or ``"R"`` per pixel. A pixel is bad where ``ivar == 0``, flux is
        0, ``ANDMASK`` is non-zero, or flux or ivar is NaN/inf.

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or not FITS, HDU 1-2 are not the
        ``COADD_B``/``COADD_R`` tables, a column is missing, the wavelengths do
        not increase or the arms overlap, the header says air, or no pixel is
        usable.

    Warns
    -----
    SurveyFileWarning
        Counting pixels whose flux or ivar was NaN/inf (their ivar is set to 0).
    """
    path = Path(path)
    with open_fits(path) as hdul:
        meta = header_meta(get_hdu(hdul, 0, path).header)
        arms = [_arm(hdul, index, extname, path) for index, extname, _ in LAMOST_MRS_ARMS]
    if meta.get("VACUUM", True) is False:
        raise SurveyFileError(
            "says the wavelengths are in air; vacuum is expected", path=path, hdu=0,
            keyword="VACUUM",
        )  # fmt: skip
    if arms[0]["WAVELENGTH"][-1] >= arms[1]["WAVELENGTH"][0]:
        raise SurveyFileError(
            f"blue arm ends at {arms[0]['WAVELENGTH'][-1]:.2f} Angstrom, after the red arm "
            f"starts ({arms[1]['WAVELENGTH'][0]:.2f})",
            path=path,
        )
    joined = {}
    for name in ("WAVELENGTH", "FLUX", "IVAR", "ANDMASK", "ORMASK"):
        parts = [arm.get(name, np.zeros(arm["FLUX"].size)) for arm in arms]
        joined[name] = np.concatenate(parts)
    andmask, and_invalid = masks_to_int(joined["ANDMASK"])
    ormask, or_invalid = masks_to_int(joined["ORMASK"])
    flux, ivar, bad = finish_pixels(
        joined["FLUX"], joined["IVAR"], extra_bad=(andmask != 0) | and_invalid | or_invalid,
        path=path,
    )  # fmt: skip
    letters = [letter for _, _, letter in LAMOST_MRS_ARMS]
    arm_of_pixel = np.concatenate(
        [np.full(arm["FLUX"].size, letter) for arm, letter in zip(arms, letters, strict=True)]
    )
    arm_of_pixel.setflags(write=False)
    meta["ARM"] = arm_of_pixel
    return Spectrum(
        flux=flux,
        ivar=ivar,
        wavelength=joined["WAVELENGTH"],
        bad=bad,
        meta=meta,
        path=path,
        needs_normalising=True,
        survey="LAMOST-MRS",
        release=lamost_release(meta),
        layout="mrs-coadd",
        bitmask=ormask,
    )
