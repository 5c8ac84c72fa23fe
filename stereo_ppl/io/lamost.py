"""Reader for LAMOST (survey 2) low-resolution 1-D spectra, both layouts.

* Image layout (DR <= 8): a primary (5, N) float32 image, rows flux, ivar,
  wavelength, andmask, ormask.
* Table layout (DR9 and later): HDU 1 ``COADD``, one row, vector columns
  ``FLUX``, ``IVAR``, ``WAVELENGTH``, ``ANDMASK``, ``ORMASK``, ``NORMALIZATION``.

N varies (3,909 in most years, 3,908 in the 2011 pilot survey); it is read
from the file. Wavelengths are observed-frame vacuum Angstrom; shift them with
:func:`stereo_ppl.preprocess.to_rest_frame` and the header ``Z``.
"""

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from astropy.io import fits

from .errors import SurveyFileError
from .fitsutil import (
    MAX_HDU_BYTES,
    check_not_truncated,
    finish_pixels,
    get_hdu,
    header_meta,
    header_number,
    open_fits,
    reading,
    sentinel_to_nan,
    table_data,
)
from .spectrum import Spectrum
from .wavelength import check_wavelength_range, log_linear_wavelength

__all__ = ["LAMOST_GRID_RTOL", "LAMOST_WAVELENGTH_RANGE", "read_lamost"]

#: Plausible range of a LAMOST observed-frame grid, Angstrom (3699.99-9099.1).
LAMOST_WAVELENGTH_RANGE = (3000.0, 10000.0)
#: Largest relative difference allowed between the stored wavelength row and
#: the header grid (the stored float32 row agrees within 3.2e-7; a pixel is 2.3e-4).
LAMOST_GRID_RTOL = 1e-5

#: Header keywords that must be numbers where present (sentinel -9999 -> NaN).
_NUMERIC_KEYS = ("Z", "Z_ERR", "SNRU", "SNRG", "SNRR", "SNRI", "SNRZ", "HELIO_RV", "RA", "DEC")
_TABLE_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH")


def _image_layout(hdu, path: Path) -> dict[str, np.ndarray]:
    """Rows of the primary (5, N) image as named 1-D float64 arrays."""
    if hdu.size > MAX_HDU_BYTES:
        raise SurveyFileError(f"header claims {hdu.size} bytes of data", path=path, hdu=0)
    data = np.asarray(hdu.data)
    if data.ndim != 2 or data.shape[0] < 3 or data.shape[1] < 2:
        raise SurveyFileError(
            f"primary image has shape {data.shape}, expected (5, N) rows flux, ivar, "
            "wavelength, andmask, ormask",
            path=path,
            hdu=0,
        )
    if not np.issubdtype(data.dtype, np.floating):
        raise SurveyFileError(
            f"primary image has type {data.dtype}, expected float", path=path, hdu=0
        )
    data = data.astype(np.float64)
    names = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")
    return {name: data[i] for i, name in enumerate(names[: data.shape[0]])}


def _table_layout(hdul: fits.HDUList, path: Path) -> dict[str, np.ndarray]:
    """Vector columns of the one-row ``COADD`` table as named 1-D float64 arrays."""
    index = 1  # named COADD; looking it up by name would scan a damaged file block by block
    hdu = get_hdu(hdul, index, path)
    with reading(path, hdu=index):
        if not isinstance(hdu, fits.BinTableHDU):
            raise SurveyFileError(
                f"is a {type(hdu).__name__}; expected a primary (5, N) image or a COADD table",
                path=path,
                hdu=index,
            )
    data = table_data(hdu, index, path)
    with reading(path, hdu=index):
        if data is None or len(data) != 1:
            count = 0 if data is None else len(data)
            raise SurveyFileError(f"COADD table has {count} rows, expected 1", path=path, hdu=index)
        columns = {}
        available = {name.upper(): name for name in data.names}
        for name in (*_TABLE_COLUMNS, "ANDMASK", "ORMASK"):
            if name not in available:
                if name in _TABLE_COLUMNS:
                    raise SurveyFileError("is missing", path=path, hdu=index, column=name)
                continue
            with reading(path, hdu=index, column=name):
                value = np.asarray(data[available[name]][0])
                if not np.issubdtype(value.dtype, np.number) or value.ndim != 1:
                    raise SurveyFileError(
                        f"holds {value.dtype} of shape {value.shape}, expected a numeric vector",
                        path=path,
                        hdu=index,
                        column=name,
                    )
                columns[name] = value.astype(np.float64)
    size = columns["FLUX"].size
    for name, value in columns.items():
        if value.size != size or size < 2:
            raise SurveyFileError(
                f"has {value.size} pixels, FLUX has {size}", path=path, hdu=index, column=name
            )
    return columns


def _header_grid(header: fits.Header, num_pixels: int, path: Path) -> np.ndarray | None:
    """The grid from ``COEFF0``/``COEFF1`` or ``CRVAL1``/``CD1_1``, or None if neither."""
    if "COEFF0" in header and "COEFF1" in header:
        return log_linear_wavelength(
            header, num_pixels, path, hdu=0, crval="COEFF0", cdelt="COEFF1", crpix=None
        )
    if "CRVAL1" in header:
        step = "CD1_1" if "CD1_1" in header else "CDELT1"
        if step in header:
            return log_linear_wavelength(header, num_pixels, path, hdu=0, cdelt=step)
    return None


def _masks_to_int(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float-stored bit masks as int64, and where a mask value was not a valid integer."""
    valid = np.isfinite(values) & (values >= 0) & (values < 2**62) & (values == np.round(values))
    return np.where(valid, values, 0).astype(np.int64), ~valid


def read_lamost(path: str | Path, *, meta_keys: Iterable[str] | None = None) -> Spectrum:
    """Read a LAMOST low-resolution spectrum file (image or table layout).

    Parameters
    ----------
    path : str or Path
        ``spec-<MJD>-<PLANID>_sp<SPID>-<FIBER>.fits`` or ``.fits.gz``.
    meta_keys : iterable of str, optional
        Primary-header keywords to put in ``meta`` besides those the reader
        checks (``OBSID``, ``VACUUM``, ``Z``, ``SNRU``..``SNRZ``, ``RA``,
        ``DEC``...); default every card. Astropy parses a card's value in some
        20 microseconds, which for the ~130 cards of a real header is several
        times the cost of reading the spectrum; ``prepare`` asks for no more.

    Returns
    -------
    Spectrum
        ``flux`` and ``ivar`` as stored (not normalised: ``needs_normalising``
        is True), ``wavelength`` the header's log-linear grid (observed frame,
        vacuum) after checking the stored wavelength row against it within
        :data:`LAMOST_GRID_RTOL` (the stored row is used where the header has no
        grid), ``bitmask`` the ``ORMASK``, ``meta`` the primary header, or
        the keywords asked for (``OBSID``, ``Z``, ``Z_ERR``, ``SNRU``..``SNRZ``,
        ``RA``, ``DEC``, ``CLASS``...; -9999 in the numeric ones become NaN).
        A pixel is bad where ``ivar == 0``, flux is exactly 0, ``ANDMASK`` is
        non-zero, or flux or ivar is NaN/inf.

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or not FITS, has neither layout, lacks
        a column, the stored wavelengths disagree with the header grid, the
        header says the wavelengths are in air, or no pixel is usable.

    Warns
    -----
    SurveyFileWarning
        Counting pixels whose flux or ivar was NaN/inf (their ivar is set to 0).
    """
    path = Path(path)
    with open_fits(path) as hdul:
        primary = get_hdu(hdul, 0, path)
        header = primary.header
        keys = None if meta_keys is None else (*meta_keys, *_NUMERIC_KEYS, "OBSID", "VACUUM")
        meta = header_meta(header, keys=keys)
        if primary.header.get("NAXIS", 0) >= 2:
            check_not_truncated(hdul, 0, path)
        if primary.header.get("NAXIS", 0) >= 2 and primary.data is not None:
            columns, kind = _image_layout(primary, path), "lamost-image"
        else:
            columns, kind = _table_layout(hdul, path), "lamost-table"
        num_pixels = columns["FLUX"].size
        grid = _header_grid(header, num_pixels, path)
        for key in _NUMERIC_KEYS:
            value = header_number(header, key, path, hdu=0)
            if value is not None:
                meta[key] = sentinel_to_nan(value, sentinels=(-9999.0, -9999.99))
        header_number(header, "OBSID", path, hdu=0, integer=True)
        if meta.get("VACUUM", True) is False:
            raise SurveyFileError(
                "says the wavelengths are in air; vacuum is expected",
                path=path,
                hdu=0,
                keyword="VACUUM",
            )
    stored = columns["WAVELENGTH"]
    check_wavelength_range(
        stored, *LAMOST_WAVELENGTH_RANGE, path, hdu=0 if kind == "lamost-image" else "COADD"
    )
    if grid is not None:
        worst = np.abs(stored / grid - 1.0)
        if not np.all(worst <= LAMOST_GRID_RTOL):
            pixel = int(np.argmax(worst))
            raise SurveyFileError(
                f"stored wavelength {stored[pixel]:.4f} disagrees with the header grid "
                f"{grid[pixel]:.4f} (relative {worst[pixel]:.2g} > {LAMOST_GRID_RTOL:g})",
                path=path,
                pixel=pixel,
            )
    wavelength = stored if grid is None else grid
    extra_bad = np.zeros(num_pixels, dtype=bool)
    bitmask = None
    if "ANDMASK" in columns:
        andmask, invalid = _masks_to_int(columns["ANDMASK"])
        extra_bad |= (andmask != 0) | invalid
    if "ORMASK" in columns:
        bitmask, invalid = _masks_to_int(columns["ORMASK"])
        extra_bad |= invalid
    flux, ivar, bad = finish_pixels(
        columns["FLUX"], columns["IVAR"], extra_bad=extra_bad, path=path
    )
    return Spectrum(
        flux=flux,
        ivar=ivar,
        wavelength=wavelength,
        bad=bad,
        meta=meta,
        path=path,
        needs_normalising=True,
        kind=kind,
        bitmask=bitmask,
    )
