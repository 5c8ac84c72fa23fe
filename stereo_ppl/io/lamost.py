"""Reader for LAMOST (survey 2) low-resolution 1-D spectra, every layout DR1 to DR13+.

* Image layout (DR1-DR8): a primary (5, N) float32 image whose rows the
  ``EXTEN0`` card names: ``'Flux, Inverse, Wavelength, Andmask, Ormask'`` (DR3
  on; the default where the card is absent) or, in DR1-DR2,
  ``'Flux Inverse Subcontinuum Andmask Ormask'``, whose row 2 is the
  continuum-normalised flux and whose wavelengths come from the header grid.
* Table layout (DR9 and later): HDU 1 ``COADD``, one row, vector columns
  ``FLUX``, ``IVAR``, ``WAVELENGTH``, ``ANDMASK``, ``ORMASK``, ``NORMALIZATION``.

N varies (3,904 in DR1, 3,909 in most years, 3,908 in the 2011 pilot survey); it
is read from the file. Wavelengths are observed-frame vacuum Angstrom; shift them
with :func:`stereo_ppl.preprocess.to_rest_frame` and the header ``Z``. Medium-
resolution files (``med-*``) are read by :mod:`stereo_ppl.io.lamost_mrs`; this
reader refuses them in one line saying what they are.
"""

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from astropy.io import fits

from .errors import SurveyFileError
from .fitsutil import (
    MAX_HDU_BYTES,
    READ_ERRORS,
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

__all__ = [
    "LAMOST_GRID_RTOL",
    "LAMOST_WAVELENGTH_RANGE",
    "is_lamost_mrs",
    "lamost_file_key",
    "lamost_release",
    "read_lamost",
]

#: Plausible range of a LAMOST observed-frame grid, Angstrom (3699.99-9099.1).
LAMOST_WAVELENGTH_RANGE = (3000.0, 10000.0)
#: Largest relative difference allowed between the stored wavelength row and
#: the header grid (the stored float32 row agrees within 3.2e-7; a pixel is 2.3e-4).
LAMOST_GRID_RTOL = 1e-5

#: S/N keywords of DR3 on, and the DR1-DR2 names of the same numbers.
_SNR_KEYS = ("SNRU", "SNRG", "SNRR", "SNRI", "SNRZ")
_OLD_SNR_KEYS = ("SN_U", "SN_G", "SN_R", "SN_I", "SN_Z")
#: Header keywords that must be numbers where present (sentinel -9999 -> NaN).
_NUMERIC_KEYS = ("Z", "Z_ERR", *_SNR_KEYS, *_OLD_SNR_KEYS, "HELIO_RV", "RA", "DEC")
#: Keywords every read puts in ``meta`` (the id, the medium, the release).
_ID_KEYS = ("OBSID", "VACUUM", "DATA_V", "VERSPIPE")
_TABLE_COLUMNS = ("FLUX", "IVAR", "WAVELENGTH")
#: Row names of the image layout (``EXTEN0`` words) and what each holds.
_ROW_NAMES = {
    "FLUX": "FLUX",
    "INVERSE": "IVAR",
    "IVAR": "IVAR",
    "WAVELENGTH": "WAVELENGTH",
    "SUBCONTINUUM": "SUBCONTINUUM",
    "ANDMASK": "ANDMASK",
    "ORMASK": "ORMASK",
}
_DEFAULT_ROWS = ("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK")
#: LAMOST pipeline versions of the releases whose files carry no ``DATA_V``.
_PIPELINE_RELEASES = {"v2.6": "DR1", "v2.7": "DR2"}


def lamost_release(header) -> str:
    """The data release a LAMOST primary header names, e.g. ``"DR9"`` (``""`` if none).

    ``DATA_V`` (``'LAMOST DR9'``) where present; else, for DR1-DR2 files, the
    pipeline version ``VERSPIPE`` (v2.6: DR1, v2.7: DR2).

    Parameters
    ----------
    header : Mapping
        The primary header (or the ``meta`` a reader made of it).
    """
    data_v = header.get("DATA_V")
    if isinstance(data_v, str):
        match = re.search(r"DR\s*(\d+)", data_v, flags=re.IGNORECASE)
        if match:
            return f"DR{int(match.group(1))}"
    pipeline = header.get("VERSPIPE")
    if isinstance(pipeline, str):
        for prefix, release in _PIPELINE_RELEASES.items():
            if pipeline.strip().lower().startswith(prefix):
                return release
    return ""


def lamost_file_key(header) -> str | None:
    """``spec-<LMJD>-<PLANID>_sp<SPID>-<FIBERID>`` from a LAMOST header, or None.

    The name of the file without its suffix, made from the header's own
    ``LMJD``, ``PLANID``, ``SPID`` and ``FIBERID`` (the id of a file without
    ``OBSID``, as in DR1-DR2).
    """
    try:
        lmjd, spid, fiber = (int(header[k]) for k in ("LMJD", "SPID", "FIBERID"))
        planid = str(header["PLANID"]).strip()
    except (KeyError, TypeError, ValueError):
        return None
    return f"spec-{lmjd}-{planid}_sp{spid:02d}-{fiber:03d}" if planid else None


def is_lamost_mrs(hdul: fits.HDUList) -> bool:
    """Whether an open LAMOST file is a medium-resolution one (``COADD_B`` table in HDU 1)."""
    try:
        name = hdul[1].name
    except (IndexError, *READ_ERRORS):
        return False
    return str(name).upper() in ("COADD_B", "COADD_R")


def _row_names(header: fits.Header, num_rows: int, path: Path) -> tuple[str, ...]:
    """What each row of the primary image holds, from ``EXTEN0`` (the DR3+ order if absent)."""
    text = header.get("EXTEN0")
    if text is None:
        return _DEFAULT_ROWS[:num_rows]
    words = [w for w in re.split(r"[\s,;]+", str(text).strip()) if w]
    names = tuple(_ROW_NAMES.get(w.upper(), "") for w in words)
    if "" in names or len(names) != num_rows or not {"FLUX", "IVAR"} <= set(names):
        raise SurveyFileError(
            f"is {text!r}, which does not name the {num_rows} image rows as flux, inverse "
            "variance and optional wavelength, subcontinuum, andmask and ormask",
            path=path,
            hdu=0,
            keyword="EXTEN0",
        )
    return names


def _image_layout(hdu, path: Path) -> dict[str, np.ndarray]:
    """Rows of the primary (5, N) image as named 1-D float64 arrays."""
    if hdu.size > MAX_HDU_BYTES:
        raise SurveyFileError(f"header claims {hdu.size} bytes of data", path=path, hdu=0)
    data = np.asarray(hdu.data)
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 2:
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
    names = _row_names(hdu.header, data.shape[0], path)
    data = data.astype(np.float64)
    return {name: data[i] for i, name in enumerate(names)}


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


def masks_to_int(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float-stored bit masks as int64, and where a mask value was not a valid integer."""
    valid = np.isfinite(values) & (values >= 0) & (values < 2**62) & (values == np.round(values))
    return np.where(valid, values, 0).astype(np.int64), ~valid


def _wavelength(columns: dict, grid: np.ndarray | None, layout: str, path: Path) -> np.ndarray:
    """The header grid, checked against the stored wavelengths where the file has them."""
    stored = columns.get("WAVELENGTH")
    where = 0 if layout == "image" else "COADD"
    if stored is None:
        if grid is None:
            raise SurveyFileError(
                "has no wavelength row (EXTEN0) and no COEFF0/COEFF1 or CRVAL1/CD1_1 grid",
                path=path,
                hdu=0,
            )
        check_wavelength_range(grid, *LAMOST_WAVELENGTH_RANGE, path, hdu=0)
        return grid
    check_wavelength_range(stored, *LAMOST_WAVELENGTH_RANGE, path, hdu=where)
    if grid is None:
        return stored
    worst = np.abs(stored / grid - 1.0)
    if not np.all(worst <= LAMOST_GRID_RTOL):
        pixel = int(np.argmax(worst))
        raise SurveyFileError(
            f"stored wavelength {stored[pixel]:.4f} disagrees with the header grid "
            f"{grid[pixel]:.4f} (relative {worst[pixel]:.2g} > {LAMOST_GRID_RTOL:g})",
            path=path,
            pixel=pixel,
        )
    return grid


def _header_numbers(header: fits.Header, meta: dict, path: Path) -> None:
    """Check the numeric keywords, -9999 to NaN, and the DR1-DR2 S/N cards under DR3 names.

    The values ``meta`` already holds are checked (a card's value is parsed once); a
    card ``meta`` lacks because its value would not parse gets the reader's error.
    """
    for key in (*_NUMERIC_KEYS, "OBSID"):
        if key not in meta:
            if key in header:
                header_number(header, key, path, hdu=0, integer=key == "OBSID")
            continue
        value = meta[key]
        integer = key == "OBSID"
        ok_types = (int, np.integer) if integer else (int, float, np.integer, np.floating)
        if isinstance(value, bool) or not isinstance(value, ok_types) or not np.isfinite(value):
            kind = "an integer" if integer else "a finite number"
            raise SurveyFileError(f"is {value!r}, expected {kind}", path=path, hdu=0, keyword=key)
        if not integer:
            meta[key] = sentinel_to_nan(float(value), sentinels=(-9999.0, -9999.99))
    for new, old in zip(_SNR_KEYS, _OLD_SNR_KEYS, strict=True):
        if new not in meta and old in meta:
            meta[new] = meta[old]
    if meta.get("VACUUM", True) is False:
        raise SurveyFileError(
            "says the wavelengths are in air; vacuum is expected",
            path=path,
            hdu=0,
            keyword="VACUUM",
        )


def read_lamost(path: str | Path, *, meta_keys: Iterable[str] | None = None) -> Spectrum:
    """Read a LAMOST low-resolution spectrum file (image or table layout, DR1 on).

    Parameters
    ----------
    path : str or Path
        ``spec-<MJD>-<PLANID>_sp<SPID>-<FIBER>.fits`` or ``.fits.gz``.
    meta_keys : iterable of str, optional
        Primary-header keywords to put in ``meta`` besides those the reader
        checks (``OBSID``, ``VACUUM``, ``DATA_V``, ``Z``, ``SNRU``..``SNRZ``,
        ``RA``, ``DEC``...); default every card. Astropy parses a card's value in
        some 20 microseconds, which for the ~130 cards of a real header is
        several times the cost of reading the spectrum; ``prepare`` asks for no
        more.

    Returns
    -------
    Spectrum
        ``survey="LAMOST"``, ``release`` from :func:`lamost_release`, ``layout``
        ``"image"`` or ``"table"``. ``flux`` and ``ivar`` as stored (not
        normalised: ``needs_normalising`` is True), ``wavelength`` the header's
        log-linear grid (observed frame, vacuum) after checking the stored
        wavelength row against it within :data:`LAMOST_GRID_RTOL` (the stored row
        is used where the header has no grid; DR1-DR2 files store no row),
        ``bitmask`` the ``ORMASK``, ``meta`` the primary header, or the keywords
        asked for (``OBSID`` where the file has one, ``Z``, ``Z_ERR``,
        ``SNRU``..``SNRZ`` (from ``SN_U``..``SN_Z`` in DR1-DR2), ``RA``,
        ``DEC``...; -9999 in the numeric ones become NaN). A pixel is bad where
        ``ivar == 0``, flux is exactly 0, ``ANDMASK`` is non-zero, or flux or
        ivar is NaN/inf.

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or not FITS, is a medium-resolution
        file, has neither layout, ``EXTEN0`` does not name its rows, lacks a
        column, the stored wavelengths disagree with the header grid, the header
        says the wavelengths are in air, or no pixel is usable.

    Warns
    -----
    SurveyFileWarning
        Counting pixels whose flux or ivar was NaN/inf (their ivar is set to 0).
    """
    path = Path(path)
    with open_fits(path) as hdul:
        primary = get_hdu(hdul, 0, path)
        header = primary.header
        keys = None if meta_keys is None else (*meta_keys, *_NUMERIC_KEYS, *_ID_KEYS)
        meta = header_meta(header, keys=keys)
        image = header.get("NAXIS", 0) >= 2
        if image:
            check_not_truncated(hdul, 0, path)
        if image and primary.data is not None:
            columns, layout = _image_layout(primary, path), "image"
        else:
            if is_lamost_mrs(hdul):
                raise SurveyFileError(
                    "is a LAMOST medium-resolution (MRS) spectrum (COADD_B/COADD_R tables), "
                    "not a low-resolution one; read it with stereo_ppl.io.read_lamost_mrs "
                    "(prepare and denoise take LAMOST low-resolution spectra only)",
                    path=path,
                )
            columns, layout = _table_layout(hdul, path), "table"
        num_pixels = columns["FLUX"].size
        grid = _header_grid(header, num_pixels, path)
        _header_numbers(header, meta, path)
    wavelength = _wavelength(columns, grid, layout, path)
    extra_bad = np.zeros(num_pixels, dtype=bool)
    bitmask = None
    if "ANDMASK" in columns:
        andmask, invalid = masks_to_int(columns["ANDMASK"])
        extra_bad |= (andmask != 0) | invalid
    if "ORMASK" in columns:
        bitmask, invalid = masks_to_int(columns["ORMASK"])
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
        survey="LAMOST",
        release=lamost_release(meta),
        layout=layout,
        bitmask=bitmask,
    )
