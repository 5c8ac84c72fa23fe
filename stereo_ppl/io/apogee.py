"""Readers for APOGEE (survey 1) spectrum files: aspcapStar and apStar (asStar), DR10-DR17.

Layouts are described in ``shared/FORMATS.md``; the readers follow the file
(lengths, dtypes: float32 and int16 up to DR16, float64 and int64 in DR17; grid
keywords) and check it against the header. The release and its chips come from
:mod:`stereo_ppl.io.apogee_versions`.
"""

from pathlib import Path

import numpy as np
from astropy.io import fits

from .apogee_versions import APOGEE_CHIPS_DR11, APOGEE_CHIPS_DR13, apogee_chips, apogee_release
from .errors import SurveyFileError
from .fitsutil import (
    finish_pixels,
    get_hdu,
    header_meta,
    header_number,
    image_data,
    open_fits,
    reading,
    sentinel_to_nan,
    table_data,
)
from .spectrum import Spectrum
from .wavelength import check_wavelength_range, log_linear_wavelength

__all__ = [
    "APOGEE_CHIPS_DR11",
    "APOGEE_CHIPS_DR13",
    "APOGEE_PIXMASK_BITS",
    "APOGEE_WAVELENGTH_RANGE",
    "APSTAR_BAD_BITS",
    "apogee_chips",
    "apogee_release",
    "read_apstar",
    "read_aspcapstar",
]

#: Bits of the APOGEE pixel mask (apStar HDU 3), name to bit number.
APOGEE_PIXMASK_BITS = {
    "BADPIX": 0,
    "CRPIX": 1,
    "SATPIX": 2,
    "UNFIXABLE": 3,
    "BADDARK": 4,
    "BADFLAT": 5,
    "BADERR": 6,
    "NOSKY": 7,
    "LITTROW_GHOST": 8,
    "PERSIST_HIGH": 9,
    "PERSIST_MED": 10,
    "PERSIST_LOW": 11,
    "SIG_SKYLINE": 12,
    "SIG_TELLURIC": 13,
    "NOT_ENOUGH_PSF": 14,
}

#: Pixel-mask bits that make an apStar pixel bad by default: BADPIX, CRPIX,
#: SATPIX, UNFIXABLE, BADDARK, BADFLAT, BADERR, NOSKY (bits 0-7), the set
#: ``apogee.tools.bitmask.badpixmask`` uses.
APSTAR_BAD_BITS = sum(1 << APOGEE_PIXMASK_BITS[name] for name in list(APOGEE_PIXMASK_BITS)[:8])

#: Plausible range of an APOGEE grid, Angstrom (the grid is 15100.8-16999.8).
APOGEE_WAVELENGTH_RANGE = (15000.0, 17100.0)

_GRID_KEYS = ("CRVAL1", "CDELT1", "CRPIX1")
_RESULTS_OPTIONS = ("always", "if-no-id", "never")


def _grid(hdul: fits.HDUList, num_pixels: int, path: Path, hdus: tuple[int, ...]) -> np.ndarray:
    """The log-linear grid of the first of ``hdus`` that has one, checked against the rest.

    Returns
    -------
    ndarray, shape (num_pixels,), float64
    """
    headers = {}
    for index in hdus:
        with reading(path, hdu=index):
            header = hdul[index].header
        if "CRVAL1" in header or "CDELT1" in header:
            headers[index] = header
    if not headers:
        raise SurveyFileError(f"no HDU of {hdus} has CRVAL1/CDELT1 (no wavelength grid)", path=path)
    first, header = next(iter(headers.items()))
    for key, want in (("DC-FLAG", 1), ("CTYPE1", "LOG-LINEAR")):
        with reading(path, hdu=first):
            value = header.get(key, want)
        if (value.strip().upper() if isinstance(value, str) else value) != want:
            raise SurveyFileError(
                f"is {value!r}, expected {want!r}", path=path, hdu=first, keyword=key
            )
    wavelength = log_linear_wavelength(header, num_pixels, path, hdu=first)
    keys = {index: _grid_keys(other, path, index) for index, other in headers.items()}
    for index, other in headers.items():
        if keys[index] == keys[first]:
            continue  # the same keywords give the same grid
        if not np.allclose(
            log_linear_wavelength(other, num_pixels, path, hdu=index),
            wavelength,
            rtol=1e-9,
            atol=0.0,
        ):
            raise SurveyFileError(
                f"wavelength grid ({', '.join(f'{k}={other.get(k)}' for k in _GRID_KEYS)}) "
                f"disagrees with HDU {first}'s",
                path=path,
                hdu=index,
            )
    nwave = header_number(hdul[0].header, "NWAVE", path, hdu=0, integer=True)
    if nwave is not None and nwave != num_pixels:
        raise SurveyFileError(
            f"NWAVE = {nwave} but the spectrum has {num_pixels} pixels",
            path=path,
            hdu=0,
            keyword="NWAVE",
        )
    check_wavelength_range(wavelength, *APOGEE_WAVELENGTH_RANGE, path, hdu=first)
    return wavelength


def _grid_keys(header: fits.Header, path: Path, index: int) -> tuple:
    """The values of the grid keywords of one header (numbers, checked)."""
    return tuple(header_number(header, key, path, hdu=index) for key in _GRID_KEYS)


def _row_meta(hdu, path: Path, index: int) -> dict:
    """The first row of a results table as a dict; float -9999 become NaN."""
    data = table_data(hdu, index, path)
    with reading(path, hdu=index):
        if data is None or len(data) == 0:
            raise SurveyFileError("results table has no row", path=path, hdu=index)
        meta = {}
        for name in data.names:
            value = data[name][0]
            if isinstance(value, np.ndarray):
                value = sentinel_to_nan(np.array(value))
            elif isinstance(value, bytes | np.bytes_):
                value = bytes(value).decode("ascii", "replace").strip()
            elif isinstance(value, np.generic):
                value = value.item()
            meta[name.upper()] = sentinel_to_nan(value.strip() if isinstance(value, str) else value)
    return meta


def _error_to_ivar(error: np.ndarray, max_error: float) -> tuple[np.ndarray, np.ndarray]:
    """``ivar = 1 / error**2`` and the pixels whose error marks them bad.

    NaN errors give NaN ivar (counted and repaired later); zero, negative,
    infinite or ``>= max_error`` errors mark the pixel bad.
    """
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ivar = 1.0 / error**2
    bad = ~(error > 0) | (error >= max_error)
    ivar = np.where(np.isnan(error), np.nan, np.where(bad, 0.0, ivar))
    return ivar, bad & ~np.isnan(error)


def _apogee_id(meta: dict) -> None:
    """Fill ``APOGEE_ID`` from ``OBJ``/``OBJID`` where the file has no column for it."""
    if "APOGEE_ID" not in meta:
        for key in ("OBJID", "OBJ"):
            if isinstance(meta.get(key), str) and meta[key]:
                meta["APOGEE_ID"] = meta[key]
                break


def read_aspcapstar(
    path: str | Path, *, max_error: float = 10.0, results: str = "always"
) -> Spectrum:
    """Read an APOGEE aspcapStar file (pseudo-continuum-normalised spectrum).

    Parameters
    ----------
    path : str or Path
        ``aspcapStar-*.fits`` (DR13-DR17), gzip'd or not.
    max_error : float, optional
        Pixels with flux error at or above this are bad (ASPCAP writes 10 for
        pixels it could not use).
    results : {"always", "if-no-id", "never"}, optional
        When to read the HDU 4 results row into ``meta``: always (default);
        only when the primary header has no star id (``OBJ``/``OBJID``; DR17
        files have none); or never. Astropy's parsing of that table's column
        definitions costs more than the rest of the file (some 3 ms for a few
        columns, 30 ms for the 78 of DR13), so ``prepare``, which takes the
        labels from its catalogue, reads it only for the id.

    Returns
    -------
    Spectrum
        ``flux`` (normalised), ``ivar = 1 / error**2`` with 0 in the chip gaps
        (flux = error = 0) and at bad pixels (flux 0 or error >= ``max_error``),
        ``wavelength`` from the HDU 1 log-linear grid (8,575 pixels in
        DR13-DR17), ``model`` the ASPCAP best fit (HDU 3), ``meta`` the primary
        header plus the HDU 4 results row (``APOGEE_ID``, ``SNR``, ``STARFLAG``,
        ``ASPCAPFLAG``, ``PARAM``...; -9999 become NaN) where present and
        read (see ``results``; else ``APOGEE_ID`` is the primary ``OBJ``),
        ``needs_normalising=False``, ``survey="APOGEE"``, ``release`` from
        :func:`apogee_release`, ``layout="aspcapStar"``.

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or not FITS, lacks HDU 1-3, the
        images differ in shape or from the header grid, or no pixel is usable.

    Warns
    -----
    SurveyFileWarning
        If some flux or error values are NaN/inf (their ivar is set to 0).
    """
    if results not in _RESULTS_OPTIONS:
        raise ValueError(f"results must be one of {_RESULTS_OPTIONS}, got {results!r}")
    path = Path(path)
    with open_fits(path) as hdul:
        meta = header_meta(get_hdu(hdul, 0, path).header)
        flux = image_data(hdul, 1, path)
        error = image_data(hdul, 2, path)
        model = image_data(hdul, 3, path)
        for index, array in ((1, flux), (2, error), (3, model)):
            if array.ndim != 1 or array.shape != flux.shape:
                raise SurveyFileError(
                    f"has shape {array.shape}, expected 1-D like HDU 1 {flux.shape}",
                    path=path,
                    hdu=index,
                )
        wavelength = _grid(hdul, flux.size, path, (1, 2, 3))
        has_id = any(isinstance(meta.get(key), str) and meta[key] for key in ("OBJID", "OBJ"))
        has_table = results == "always" or (results == "if-no-id" and not has_id)
        with reading(path, hdu=4):
            try:
                has_table = has_table and hdul[4] is not None
            except IndexError:
                has_table = False
        if has_table:
            meta.update(_row_meta(get_hdu(hdul, 4, path), path, 4))
    meta = {key: sentinel_to_nan(value) for key, value in meta.items()}
    _apogee_id(meta)
    ivar, error_bad = _error_to_ivar(error, max_error)
    flux, ivar, bad = finish_pixels(flux, ivar, extra_bad=error_bad, path=path)
    return Spectrum(
        flux=flux,
        ivar=ivar,
        wavelength=wavelength,
        bad=bad,
        meta=meta,
        path=path,
        needs_normalising=False,
        survey="APOGEE",
        release=apogee_release(meta, path),
        layout="aspcapStar",
        model=np.where(np.isfinite(model), model, 0.0),
    )


def read_apstar(
    path: str | Path,
    *,
    row: int = 0,
    bad_bits: int = APSTAR_BAD_BITS,
    max_error: float = 1e9,
) -> Spectrum:
    """Read one spectrum of an APOGEE apStar file (not normalised).

    Parameters
    ----------
    path : str or Path
        ``apStar-*.fits``, gzip'd or not.
    row : int, optional
        Image row: 0 the pixel-weighted combination (default), 1 the globally
        weighted one, ``2 + i`` visit ``i``. Files of one visit (NVISITS = 1)
        hold 1-D images with only row 0.
    bad_bits : int, optional
        Pixel-mask bits (HDU 3) that make a pixel bad; default
        :data:`APSTAR_BAD_BITS`. Add ``1 << APOGEE_PIXMASK_BITS["SIG_SKYLINE"]``
        to drop sky lines too.
    max_error : float, optional
        Errors at or above this mark gaps (the pipeline writes 1e10).

    Returns
    -------
    Spectrum
        ``flux`` in 10^-17 erg/s/cm^2/Angstrom, ``ivar`` 0 at gaps, zero flux
        and masked pixels, ``bitmask`` the row of HDU 3, ``wavelength`` from
        the log-linear grid, ``meta`` the primary header (``APOGEE_ID`` from
        ``OBJID``), ``needs_normalising=True``, ``survey="APOGEE"``, ``release``
        from :func:`apogee_release`, ``layout="apStar"`` (also for the LCO
        telescope's ``asStar`` files, the same layout).

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or not FITS, lacks HDU 1-3, the
        images differ in shape, ``row`` is not in the file, the grid disagrees
        with the header, or no pixel is usable.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        meta = header_meta(get_hdu(hdul, 0, path).header)
        flux = image_data(hdul, 1, path)
        error = image_data(hdul, 2, path)
        mask = image_data(hdul, 3, path)
        for index, array in ((2, error), (3, mask)):
            if array.shape != flux.shape:
                raise SurveyFileError(
                    f"has shape {array.shape}, HDU 1 has {flux.shape}", path=path, hdu=index
                )
        if not np.issubdtype(mask.dtype, np.integer):
            raise SurveyFileError(f"pixel mask has type {mask.dtype}", path=path, hdu=3)
        num_rows = 1 if flux.ndim == 1 else flux.shape[0]
        if not 0 <= row < num_rows:
            raise SurveyFileError(
                f"has {num_rows} spectrum row(s) (NVISITS={meta.get('NVISITS')}); "
                f"row={row} is not there",
                path=path,
                hdu=1,
            )
        if flux.ndim == 2:
            flux, error, mask = flux[row], error[row], mask[row]
        wavelength = _grid(hdul, flux.size, path, (1, 2, 3, 0))
        with reading(path, hdu=1):
            unit = hdul[1].header.get("BUNIT")
        if unit is not None:
            meta.setdefault("BUNIT", str(unit).strip())
    _apogee_id(meta)
    ivar, error_bad = _error_to_ivar(error, max_error)
    flux, ivar, bad = finish_pixels(
        flux, ivar, extra_bad=error_bad | ((mask & bad_bits) != 0), path=path
    )
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
        layout="apStar",
        bitmask=mask,
    )
