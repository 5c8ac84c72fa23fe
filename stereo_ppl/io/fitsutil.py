"""Helpers shared by the survey-file readers: opening, HDUs, headers, pixels.

Every function here turns a problem with the file into
:class:`~stereo_ppl.io.errors.SurveyFileError` naming the file and the place in
it; nothing else is meant to escape a reader.
"""

import contextlib
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyError

from .errors import SurveyFileError, SurveyFileWarning

__all__ = [
    "MAX_HDU_BYTES",
    "READ_ERRORS",
    "check_not_truncated",
    "count_hdus",
    "finish_pixels",
    "get_hdu",
    "header_meta",
    "header_number",
    "image_data",
    "open_fits",
    "reading",
    "sentinel_to_nan",
    "table_data",
]

#: Exceptions that astropy, numpy, gzip and zlib raise on damaged files. Astropy 8 raises
#: UnboundLocalError (a NameError) on a TDIMn without TFORMn and AssertionError on a
#: column name that does not fit a card.
READ_ERRORS = (OSError, EOFError, ValueError, TypeError, LookupError, ArithmeticError,
               AttributeError, NameError, AssertionError, zlib.error, VerifyError)  # fmt: skip

#: Largest HDU data a spectrum reader will load (a damaged NAXISn or TFORMn can claim
#: gigabytes; the largest real spectrum HDU, an apStar of many visits, is a few MB).
MAX_HDU_BYTES = 64 * 2**20

#: HDU classes astropy gives for parsable headers (else a private "_CorruptedHDU").
_KNOWN_HDUS = (fits.PrimaryHDU, fits.ImageHDU, fits.BinTableHDU, fits.TableHDU, fits.CompImageHDU)
#: Header keywords that describe the FITS structure, not the star.
_STRUCTURAL = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "TFIELDS")
_STRUCTURAL_PREFIXES = ("NAXIS", "TTYPE", "TFORM", "TUNIT", "TDIM", "TNULL", "TSCAL", "TZERO")
_COMMENTARY = ("COMMENT", "HISTORY", "")


@contextlib.contextmanager
def reading(
    path: str | Path, *, hdu: int | str | None = None, column: str | None = None
) -> Iterator[None]:
    """Turn any read error inside the block into a :class:`SurveyFileError`.

    Parameters
    ----------
    path : str or Path
        The file being read (named in the message).
    hdu, column : optional
        Where in the file the block reads.
    """
    try:
        yield
    except SurveyFileError:
        raise
    except MemoryError as exc:
        raise SurveyFileError("claims more data than fits in memory", path=path, hdu=hdu) from exc
    except READ_ERRORS as exc:
        problem = f"cannot be read ({type(exc).__name__}: {exc})"
        raise SurveyFileError(problem, path=path, hdu=hdu, column=column) from exc


@contextlib.contextmanager
def open_fits(path: str | Path, *, memmap: bool = False) -> Iterator[fits.HDUList]:
    """Open FITS file ``path`` (``.gz`` too), yield its HDUList, convert every read error.

    ``memmap`` maps uncompressed data (large catalogues); spectra are read into
    memory, which is safer for truncated files. Raises :class:`SurveyFileError`
    if the file is missing, empty, not FITS, or fails to read inside the block.
    """
    path = Path(path)
    if not path.is_file():
        raise SurveyFileError("no such file", path=path)
    # Own the file handle: astropy can leave its file open when parsing fails.
    with reading(path), open(path, "rb") as handle:
        with reading(path):
            hdul = fits.open(handle, memmap=memmap, lazy_load_hdus=True)
        try:
            with reading(path):
                yield hdul
        finally:
            with contextlib.suppress(*READ_ERRORS):
                hdul.close()


def get_hdu(hdul: fits.HDUList, index: int | str, path: str | Path):
    """HDU ``index`` (number or ``EXTNAME``) of the open file ``path``, or an error naming it.

    A header astropy cannot parse (it returns a "corrupted" HDU) is an error too.
    """
    with reading(path, hdu=index):
        try:
            hdu = hdul[index]
        except (IndexError, KeyError):
            hdu, count = None, len(hdul)
    if hdu is None:
        raise SurveyFileError(f"has no HDU {index!r} (the file has {count})", path=path)
    if not isinstance(hdu, _KNOWN_HDUS):
        raise SurveyFileError(f"header is corrupt ({type(hdu).__name__})", path=path, hdu=index)
    return hdu


def count_hdus(hdul: fits.HDUList, path: str | Path, *, at_most: int) -> int:
    """The number of HDUs of the open file ``path``, counting no further than ``at_most``.

    ``len(hdul)`` parses every header of the file; after a damaged one, astropy
    can scan the rest of a gzip'd file block by block for minutes and
    gigabytes. Counting stops once the answer is known to be ``at_most`` or more.
    """
    with reading(path):
        for index in range(at_most):
            try:
                hdul[index]
            except IndexError:
                return index
    return at_most


def image_data(hdul: fits.HDUList, index: int, path: str | Path) -> np.ndarray:
    """The data of image HDU ``index`` of the open file ``path``, in native byte order.

    Returns
    -------
    ndarray, shape (num_pixels,) or (num_rows, num_pixels)
        float64 for floating-point data, int64 for integer data.
    """
    hdu = get_hdu(hdul, index, path)
    with reading(path, hdu=index):
        if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU):
            raise SurveyFileError(
                f"is a {type(hdu).__name__}, expected an image", path=path, hdu=index
            )
        if hdu.size > MAX_HDU_BYTES:
            raise SurveyFileError(f"header claims {hdu.size} bytes of data", path=path, hdu=index)
        check_not_truncated(hdul, index, path)
        data = hdu.data
        if data is None:
            raise SurveyFileError("has no data", path=path, hdu=index)
        data = np.asarray(data)
        if data.ndim not in (1, 2) or data.shape[-1] < 2:
            raise SurveyFileError(f"has image shape {data.shape}", path=path, hdu=index)
        if np.issubdtype(data.dtype, np.floating):
            return data.astype(np.float64)
        if np.issubdtype(data.dtype, np.integer) or data.dtype == bool:
            return data.astype(np.int64)
        raise SurveyFileError(f"has data type {data.dtype}", path=path, hdu=index)


def check_not_truncated(hdul: fits.HDUList, index: int, path: str | Path) -> None:
    """Raise a clear error when the file ends before the data HDU ``index``'s header promises.

    Only uncompressed files are checked (a gzip stream's length is unknown
    until read; astropy's own error then surfaces instead).
    """
    hdu = hdul[index]
    info = hdul.fileinfo(index) if isinstance(index, int) else None
    size = getattr(info["file"], "size", None) if info else None
    if size and info["datLoc"] + hdu.size > size:  # size 0: unknown (gzip)
        raise SurveyFileError(
            f"is truncated: the header promises {hdu.size} bytes of data from byte "
            f"{info['datLoc']}, but the file has {size} bytes",
            path=path,
            hdu=index,
        )


def table_data(hdu, index: int | str, path: str | Path, *, max_bytes: int | None = MAX_HDU_BYTES):
    """The rows of binary-table HDU ``index`` of ``path``, after checking the header.

    The row width implied by the ``TFORMn`` must equal ``NAXIS1`` and the data
    must not exceed ``max_bytes`` (None: no limit), so a damaged header cannot
    make astropy allocate gigabytes.

    Returns
    -------
    astropy.io.fits.FITS_rec, shape (num_rows,), or None when the table has no data
    """
    with reading(path, hdu=index):
        if not isinstance(hdu, fits.BinTableHDU):
            raise SurveyFileError(
                f"is a {type(hdu).__name__}, expected a table", path=path, hdu=index
            )
        width = hdu.columns.dtype.itemsize
        if width != hdu.header["NAXIS1"]:
            raise SurveyFileError(
                f"column formats make rows of {width} bytes but NAXIS1 = {hdu.header['NAXIS1']}",
                path=path,
                hdu=index,
            )
        if max_bytes is not None and width * hdu.header["NAXIS2"] > max_bytes:
            raise SurveyFileError(
                f"header claims {width * hdu.header['NAXIS2']} bytes of data", path=path, hdu=index
            )
        return hdu.data


def sentinel_to_nan(value: Any, *, sentinels=(-9999.0,)) -> Any:
    """Replace floating-point missing-value sentinels (e.g. -9999) by NaN.

    Parameters
    ----------
    value : float, ndarray or other
        A header or table value; only floating-point values are changed.
    sentinels : tuple of float, optional
        Values meaning "missing" (compared with a 1e-3 absolute tolerance).

    Returns
    -------
    The value, with sentinels replaced; arrays are copied.
    """
    if isinstance(value, float | np.floating):
        return float("nan") if any(abs(value - s) < 1e-3 for s in sentinels) else value
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        out = value.astype(np.float64)
        for s in sentinels:
            out[np.abs(out - s) < 1e-3] = np.nan
        return out
    return value


def _card_value(card: fits.Card) -> tuple[bool, Any]:
    """``(True, value)`` of a header card, or ``(False, None)`` if it cannot be parsed."""
    try:
        value = card.value
    except VerifyError:
        # Non-standard value (e.g. ``AKWISE = NAN``): let astropy fix it, and warn.
        try:
            card.verify("fix+warn")
            value = card.value
        except (VerifyError, ValueError, TypeError, IndexError):
            return False, None
    except (ValueError, TypeError, IndexError):
        return False, None
    if isinstance(value, fits.card.Undefined):
        value = None
    elif isinstance(value, str):
        value = value.strip()
    return True, value


def header_meta(header: fits.Header, *, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The keywords of a header that describe the star, as a dict.

    Parameters
    ----------
    header : astropy.io.fits.Header
        A header; non-standard cards (e.g. ``AKWISE = NAN``) are kept as astropy
        fixes them (``'NAN'``, a string), and astropy's ``VerifyWarning`` about
        them is let through.
    keys : iterable of str, optional
        Only these keywords (those present). Parsing a card's value costs
        astropy some 20 microseconds, so a reader that needs a few keywords of a
        header of a hundred cards saves most of its time; default: every card.

    Returns
    -------
    dict
        Keyword (upper case) to value; structural keywords (``NAXIS``,
        ``TFORMn``...) and commentary cards are left out; where a keyword is
        repeated the first value wins. Cards whose value cannot be parsed are
        left out.
    """
    meta: dict[str, Any] = {}
    if keys is None:
        cards = header.cards
    else:
        wanted = {key.upper() for key in keys}
        cards = [card for card in header.cards if card.keyword in wanted]
    for card in cards:
        key = card.keyword
        if key in meta or key in _COMMENTARY or key in _STRUCTURAL:
            continue
        if key.startswith(_STRUCTURAL_PREFIXES):
            continue
        ok, value = _card_value(card)
        if ok:
            meta[key] = value
    return meta


def header_number(
    header: fits.Header,
    key: str,
    path: str | Path,
    *,
    hdu: int | str | None = None,
    integer: bool = False,
    default: float | None = None,
) -> float | int | None:
    """The value of ``key`` in ``header`` (of HDU ``hdu`` of ``path``), checked.

    Returns ``default`` if the keyword is absent; raises :class:`SurveyFileError`
    naming the keyword if it is present but not a finite number (an integer
    when ``integer``).
    """
    with reading(path, hdu=hdu):
        if key not in header:
            return default
        value = header[key]
    ok_types = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, ok_types) or not np.isfinite(value):
        kind = "an integer" if integer else "a finite number"
        raise SurveyFileError(f"is {value!r}, expected {kind}", path=path, hdu=hdu, keyword=key)
    return int(value) if integer else float(value)


def finish_pixels(
    flux: np.ndarray, ivar: np.ndarray, *, extra_bad: np.ndarray | None, path: str | Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply The Cannon's bad-pixel convention and count repairs.

    A pixel is bad where ``flux`` is exactly 0, where ``flux`` or ``ivar`` is
    NaN/inf, where ``ivar <= 0``, or where ``extra_bad`` is True; bad pixels get
    ``ivar = 0`` and non-finite flux becomes 0.

    Parameters
    ----------
    flux, ivar : ndarray, shape (num_pixels,), float64
        As read from the file.
    extra_bad : ndarray, shape (num_pixels,), bool, or None
        Pixels the layout marks bad (masks, sentinel errors).
    path : str or Path
        The file (for messages).

    Returns
    -------
    flux, ivar : ndarray, shape (num_pixels,), float64; bad : ndarray, bool

    Warns
    -----
    SurveyFileWarning
        Counting the pixels whose flux or ivar was NaN/inf or ivar negative.

    Raises
    ------
    SurveyFileError
        If no pixel is usable (all-zero, all-NaN or all-masked spectrum).
    """
    finite = np.isfinite(flux) & np.isfinite(ivar)
    repaired = ~finite | (np.isfinite(ivar) & (ivar < 0))
    bad = ~finite | (flux == 0) | ~(ivar > 0)
    if extra_bad is not None:
        bad |= extra_bad
    if repaired.any():
        warnings.warn(
            f"{path}: {int(repaired.sum())} of {flux.size} pixels had NaN/inf flux or ivar "
            "or negative ivar; their ivar was set to 0",
            SurveyFileWarning,
            stacklevel=3,
        )
    if bad.all():
        raise SurveyFileError(
            f"has no usable pixel (all {flux.size} are zero, NaN or masked)", path=path
        )
    flux = np.where(np.isfinite(flux), flux, 0.0)
    ivar = np.where(bad, 0.0, ivar)
    return flux, ivar, bad
