"""Writers of survey files in the real layouts (see ``shared/FORMATS.md``).

The built-in dataset is written with these so that ``stereo-ppl prepare`` reads
it through the same readers as real data. Every writer is atomic
(:func:`~stereo_ppl.io.netcdf.atomic_write`) and stores data big-endian, as
FITS does.

* :func:`write_aspcapstar`: APOGEE aspcapStar (DR13-DR17 layout), HDUs 1-3
  flux, error, model on the 8,575-pixel log-linear grid, HDU 4 the one-row
  ASPCAP results table.
* :func:`write_lamost_dr4`: LAMOST DR4-DR8 image layout, a primary (5, N)
  float32 image (flux, ivar, wavelength, andmask, ormask).
* :func:`write_catalogue`: a FITS binary table (e.g. a joint APOGEE x LAMOST
  catalogue).
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..data.grids import APOGEE_NUM_PIXELS
from .netcdf import atomic_write

__all__ = [
    "APOGEE_GRID_KEYS",
    "LAMOST_COEFF0",
    "LAMOST_COEFF1",
    "lamost_file_name",
    "write_aspcapstar",
    "write_catalogue",
    "write_lamost_dr4",
]

#: Grid keywords of aspcapStar HDUs 1-3: ``lambda_k = 10 ** (4.179 + 6e-6 k)``.
APOGEE_GRID_KEYS = {
    "CRVAL1": 4.179,
    "CDELT1": 6e-06,
    "CRPIX1": 1,
    "CTYPE1": "LOG-LINEAR",
    "DC-FLAG": 1,
}
#: ``log10`` of the first LAMOST pixel's wavelength and the step per pixel.
LAMOST_COEFF0 = 3.5682
LAMOST_COEFF1 = 1e-4


_BLOCK = 2880


def _format_value(value: Any) -> str:
    """A header value in FITS fixed format (numbers right-aligned in 20 characters)."""
    if isinstance(value, bool | np.bool_):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, int | np.integer):
        return f"{int(value):>20d}"
    if isinstance(value, float | np.floating):
        value = float(value) if np.isfinite(value) else -9999.0
        text = repr(value).upper()
        if len(text) > 20:
            text = f"{value:.15G}"
        if "." not in text and "E" not in text:
            text += ".0"
        return f"{text:>20}"
    if isinstance(value, str | np.str_):
        text = str(value).replace("'", "''")
        if len(text) > 68 or not text.isascii():
            raise ValueError(f"header string {value!r} is not short ASCII")
        return f"'{text:<8}'"
    raise TypeError(f"cannot write a {type(value).__name__} in a FITS header")


def _card(key: str, value: Any, comment: str | None = None) -> str:
    """One 80-character header card ``KEY     = value / comment``."""
    if len(key) > 8 or not key.isascii():
        raise ValueError(f"header keyword {key!r} is not at most 8 ASCII characters")
    text = f"{key.upper():<8}= {_format_value(value)}"
    if comment:
        text += f" / {comment}"
    return f"{text[:80]:<80}"


def _header(structure: list[tuple], cards: Mapping[str, Any] | None) -> bytes:
    """Header bytes: the structural cards, then ``cards`` (value or (value, comment))."""
    lines = [_card(*item) for item in structure]
    for key, value in (cards or {}).items():
        lines.append(_card(key, *value) if isinstance(value, tuple) else _card(key, value))
    lines.append(f"{'END':<80}")
    text = "".join(lines)
    return (text + " " * (-len(text) % _BLOCK)).encode("ascii")


def _data(array: np.ndarray) -> bytes:
    raw = np.ascontiguousarray(array).tobytes()
    return raw + b"\0" * (-len(raw) % _BLOCK)


_BITPIX = {">f4": -32, ">f8": -64, ">i2": 16, ">i4": 32, ">i8": 64}
_TFORM = {"f4": "E", "f8": "D", "i2": "I", "i4": "J", "i8": "K", "u1": "B"}


def _image(array: np.ndarray | None, *, primary: bool, cards: Mapping[str, Any] | None) -> bytes:
    """A primary or IMAGE HDU holding ``array`` (big-endian; None: a header only)."""
    first = ("SIMPLE", True, "conforms to FITS standard") if primary else ("XTENSION", "IMAGE")
    if array is None:
        structure = [first, ("BITPIX", 16), ("NAXIS", 0), ("EXTEND", True)]
        return _header(structure, cards)
    axes = [(f"NAXIS{i + 1}", n) for i, n in enumerate(reversed(array.shape))]
    structure = [first, ("BITPIX", _BITPIX[array.dtype.str]), ("NAXIS", array.ndim), *axes]
    structure += [("EXTEND", True)] if primary else [("PCOUNT", 0), ("GCOUNT", 1)]
    return _header(structure, cards) + _data(array)


def _one_row_table(columns: Mapping[str, Any]) -> bytes:
    """A BINTABLE HDU with one row: each column a scalar, a string or a vector."""
    fields, values = [], []
    for name, value in columns.items():
        value = np.asarray(value)
        if value.dtype.kind in "US":
            text = str(value.item()).encode("ascii")
            fields.append((name, f"S{max(len(text), 1)}", ()))
            values.append(text)
            continue
        if value.dtype.kind == "f":
            value = np.where(np.isfinite(value), value, -9999.0).astype(">f4")
        elif value.dtype.kind in "iub":
            value = value.astype(">i8" if np.abs(value).max(initial=0) >= 2**31 else ">i4")
        fields.append((name, value.dtype.str, value.shape))
        values.append(value)
    row = np.zeros(1, dtype=[(n, t, s) for n, t, s in fields])
    structure = [("XTENSION", "BINTABLE"), ("BITPIX", 8), ("NAXIS", 2)]
    structure += [("NAXIS1", row.dtype.itemsize), ("NAXIS2", 1), ("PCOUNT", 0), ("GCOUNT", 1)]
    structure.append(("TFIELDS", len(fields)))
    for i, ((name, kind, shape), value) in enumerate(zip(fields, values, strict=True), 1):
        row[name] = value
        code = "A" if kind.startswith("S") else _TFORM[kind[1:]]
        count = kind[1:] if code == "A" else str(int(np.prod(shape))) if shape else ""
        structure += [(f"TTYPE{i}", name), (f"TFORM{i}", f"{count}{code}")]
    return _header(structure, None) + _data(row)


def _write_bytes(path: str | Path, parts: list[bytes]) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            for part in parts:
                handle.write(part)

    return atomic_write(path, write)


def write_aspcapstar(
    path: str | Path,
    *,
    flux: np.ndarray,
    error: np.ndarray,
    apogee_id: str,
    model: np.ndarray | None = None,
    header: Mapping[str, Any] | None = None,
    results: Mapping[str, Any] | None = None,
) -> Path:
    """Write an APOGEE aspcapStar file (DR13 layout).

    Parameters
    ----------
    path : str or Path
        Destination, e.g. ``aspcapStar-r12-<APOGEE_ID>.fits``.
    flux, error : array, shape (8575,)
        Normalised flux and its error on the aspcapStar grid; the chip gaps
        hold 0 in both (as ASPCAP writes them), bad pixels error >= 10.
    apogee_id : str
        The star's id, written as primary ``OBJ`` and results ``APOGEE_ID``.
    model : array, shape (8575,), optional
        ASPCAP best-fit model (HDU 3); default ``flux``.
    header : mapping, optional
        Further primary-header cards (keyword to value or (value, comment)),
        e.g. ``RA``, ``DEC``, ``SNR``; NaN values are written as -9999.
    results : mapping, optional
        Columns of the one-row results table (HDU 4) besides ``APOGEE_ID``,
        e.g. ``SNR``, ``STARFLAG``, ``ASPCAPFLAG``, ``PARAM`` (9 values); NaN
        becomes -9999 as in DR13-DR16.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If an image does not have shape (8575,).
    """
    images = [np.asarray(flux), np.asarray(error)]
    images.append(images[0] if model is None else np.asarray(model))
    for name, image in zip(("flux", "error", "model"), images, strict=True):
        if image.shape != (APOGEE_NUM_PIXELS,):
            raise ValueError(f"{name} must have shape ({APOGEE_NUM_PIXELS},), got {image.shape}")
    cards = {"OBJ": (apogee_id, "Object ID"), **dict(header or {})}
    parts = [_image(None, primary=True, cards=cards)]
    parts += [
        _image(image.astype(">f4"), primary=False, cards=APOGEE_GRID_KEYS) for image in images
    ]
    parts.append(_one_row_table({"APOGEE_ID": apogee_id, **dict(results or {})}))
    return _write_bytes(path, parts)


def write_lamost_dr4(
    path: str | Path,
    *,
    flux: np.ndarray,
    ivar: np.ndarray,
    obsid: int,
    coeff0: float = LAMOST_COEFF0,
    coeff1: float = LAMOST_COEFF1,
    andmask: np.ndarray | None = None,
    ormask: np.ndarray | None = None,
    header: Mapping[str, Any] | None = None,
) -> Path:
    """Write a LAMOST low-resolution spectrum in the DR4-DR8 image layout.

    Parameters
    ----------
    path : str or Path
        Destination, e.g. ``spec-<LMJD>-<PLANID>_sp<SPID>-<FIBERID>.fits``.
    flux, ivar : array, shape (num_pixels,)
        Observed-frame flux (not normalised) and its inverse variance; 0 marks
        a bad pixel.
    obsid : int
        The LAMOST observation id (header ``OBSID``).
    coeff0, coeff1 : float, optional
        The log-linear observed-frame grid ``10 ** (coeff0 + coeff1 k)``,
        written as ``COEFF0``/``CRVAL1`` and ``COEFF1``/``CD1_1`` and as the
        stored wavelength row (float32).
    andmask, ormask : array of int, shape (num_pixels,), optional
        Pixel masks (stored as floats, as LAMOST does); default 0.
    header : mapping, optional
        Further primary-header cards, e.g. ``Z``, ``Z_ERR``, ``SNRZ``, ``RA``,
        ``DEC``, ``CLASS``; NaN values are written as -9999.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the arrays differ in shape or are not 1-D.
    """
    flux = np.asarray(flux)
    num_pixels = flux.shape[-1] if flux.ndim == 1 else -1
    rows = [flux, np.asarray(ivar)]
    rows.append(10.0 ** (coeff0 + coeff1 * np.arange(max(num_pixels, 0))))
    for mask in (andmask, ormask):
        rows.append(np.zeros(max(num_pixels, 0)) if mask is None else np.asarray(mask))
    if num_pixels < 2 or any(row.shape != (num_pixels,) for row in rows):
        raise ValueError(f"flux, ivar and masks must share one 1-D shape; got {flux.shape}")
    cards = {
        "OBSID": (int(obsid), "Unique number ID of this spectrum"),
        "EXTEN0": "Flux, Inverse, Wavelength, Andmask, Ormask",
        "N_EXTEN": 1,
        "EXTNAME": ("Flux", "The extension name"),
        "VACUUM": (True, "Wavelengths are in vacuum"),
        "NWORDER": 2,
        "WFITTYPE": ("LOG-LINEAR", "Linear-log10 dispersion"),
        "COEFF0": (float(coeff0), "Central wavelength (log10) of first pixel"),
        "COEFF1": (float(coeff1), "Log10 dispersion per pixel"),
        "CRVAL1": float(coeff0),
        "CD1_1": float(coeff1),
        "CRPIX1": 1,
        "CTYPE1": "LINEAR",
        "DC-FLAG": 1,
    }
    image = np.stack(rows).astype(">f4")
    return _write_bytes(path, [_image(image, primary=True, cards={**cards, **dict(header or {})})])


def lamost_file_name(lmjd: int, planid: str, spid: int, fiberid: int) -> str:
    """The LAMOST file name ``spec-<LMJD>-<PLANID>_sp<SPID>-<FIBERID>.fits``.

    Parameters
    ----------
    lmjd : int
        Local modified Julian day of the observation.
    planid : str
        Plan id, e.g. ``"EG014118N254444M01"``.
    spid, fiberid : int
        Spectrograph (1-16) and fibre (1-250).

    Returns
    -------
    str
    """
    return f"spec-{int(lmjd)}-{str(planid).strip()}_sp{int(spid):02d}-{int(fiberid):03d}.fits"


def write_catalogue(path: str | Path, table: Table) -> Path:
    """Write ``table`` as HDU 1 of a FITS file (strings ASCII, NaN floats kept).

    Parameters
    ----------
    path : str or Path
        Destination ``.fits`` file.
    table : astropy.table.Table, shape (num_rows,)
        The catalogue, e.g. a joint APOGEE x LAMOST table with ``APOGEE_ID``,
        ``SNR``, ``STARFLAG``, ``ASPCAPFLAG``, labels, ``obsid`` and ``snrz``.

    Returns
    -------
    Path
        ``path``.
    """
    out = Table()
    for name in table.colnames:
        column = np.asarray(table[name])
        if column.dtype.kind == "U":
            column = np.char.encode(column, "ascii")
        out[name] = column
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(out)])
    return atomic_write(path, lambda tmp: hdul.writeto(tmp, output_verify="exception"))
