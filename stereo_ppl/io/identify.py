"""Which survey, release and layout a spectrum file is, from its content; and one reader for all.

:func:`identify` looks at the headers and the HDU structure only (no data), so
a renamed file is still recognised; :func:`read_spectrum` then calls the
survey's reader. The rules, in order:

* LAMOST: primary ``TELESCOP = 'LAMOST'``, ``ORIGIN = 'NAOC-LAMOST'`` or
  ``DATA_V = 'LAMOST ...'``. HDU 1 named ``COADD_B``: medium resolution
  (``LAMOST-MRS``, layout ``mrs-coadd``); a primary image: layout ``image``; else
  ``table``.
* GALAH: ``INSTRUME = 'HERMES-2dF'`` (or the AAT as ``TELESCOP``), or a 1-D
  linear-grid image with 4, 5 or 8 HDUs: layout ``ccd``, release from
  ``PIPE_VER`` or the number of HDUs.
* APOGEE: ``TELESCOP`` ``apo25m``/``lco25m``/``apo1m``, an ``OBJ``/``OBJID``
  card, or an HDU 1 on the APOGEE log-linear grid. HDU 4 a 2-D image and HDU 1
  of shape (3, N) without a grid: ``apVisit``; an integer HDU 3 (pixel mask)
  or ``NWAVE``: ``apStar``; else ``aspcapStar``.
"""

import gzip
import re
from pathlib import Path
from typing import NamedTuple

from .apogee import apogee_release, read_apstar, read_aspcapstar
from .apvisit import read_apvisit
from .errors import SurveyFileError
from .fitsutil import check_not_truncated, count_hdus, get_hdu, open_fits, reading
from .galah import GALAH_CCD_RANGES, GALAH_HDU_COUNTS, galah_release, read_galah
from .lamost import is_lamost_mrs, lamost_release, read_lamost
from .lamost_mrs import read_lamost_mrs
from .spectrum import Spectrum

__all__ = ["FileKind", "identify", "read_spectrum"]

_APOGEE_TELESCOPES = ("apo25m", "lco25m", "apo1m")
#: HDUs counted to tell the layouts apart (GALAH DR4 has 8; more is "more than 8").
_MAX_HDUS = 9
_GALAH_NAME = re.compile(r"^(\d+)([1-4])\.fits(\.gz)?$", flags=re.IGNORECASE)


class FileKind(NamedTuple):
    """What a spectrum file is.

    Attributes
    ----------
    survey : str
        ``"APOGEE"``, ``"LAMOST"``, ``"LAMOST-MRS"`` or ``"GALAH"``.
    release : str
        E.g. ``"DR17"`` (``""`` where the headers do not say).
    layout : str
        One of :data:`~stereo_ppl.io.spectrum.LAYOUTS`.
    """

    survey: str
    release: str
    layout: str


def _text(header, key: str) -> str:
    value = header.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _is_lamost(header) -> bool:
    return (
        _text(header, "TELESCOP").upper() == "LAMOST"
        or _text(header, "ORIGIN").upper().startswith("NAOC")
        or _text(header, "DATA_V").upper().startswith("LAMOST")
    )


def _is_galah(header, count: int) -> bool:
    if "HERMES" in _text(header, "INSTRUME").upper():
        return True
    if "ANGLO-AUSTRALIAN" in _text(header, "TELESCOP").upper():
        return True
    if count not in (*GALAH_HDU_COUNTS["DR3"], *GALAH_HDU_COUNTS["DR4"]):
        return False
    start = header.get("CRVAL1")
    low, high = GALAH_CCD_RANGES[1][0], GALAH_CCD_RANGES[4][1]
    return (
        header.get("NAXIS") == 1
        and isinstance(start, int | float)
        and low <= start <= high
        and header.get("DC-FLAG", 0) != 1
    )


def _apogee_layout(hdul, header, count: int, path: Path) -> str | None:
    """``apVisit``, ``apStar``, ``aspcapStar`` or None when the file is not APOGEE's."""
    if count < 4:
        return None
    with reading(path, hdu=1):
        first = hdul[1].header
        third = hdul[3].header
        fourth = hdul[4].header if count > 4 else None
    start = first.get("CRVAL1")
    on_grid = isinstance(start, int | float) and abs(start - 4.179) < 1e-6
    named = _text(header, "TELESCOP").lower() in _APOGEE_TELESCOPES or bool(
        _text(header, "OBJID") or _text(header, "OBJ")
    )
    if not (named or on_grid):
        return None
    if (
        fourth is not None
        and fourth.get("NAXIS") == 2
        and first.get("NAXIS") == 2
        and first.get("NAXIS2") == 3
        and "CRVAL1" not in first
    ):
        return "apVisit"
    if third.get("BITPIX", -32) > 0 or "NWAVE" in header:
        return "apStar"
    return "aspcapStar" if on_grid else None


def _check_fits(path: Path) -> None:
    """Raise a one-line error when ``path`` (gzip'd or not) does not start like FITS."""
    if path.is_dir():
        raise SurveyFileError("is a directory, not a spectrum file", path=path)
    if not path.is_file():
        raise SurveyFileError("no such file", path=path)
    with reading(path), open(path, "rb") as handle:
        start = handle.read(6)
        if start[:2] == b"\x1f\x8b":
            handle.seek(0)
            with gzip.open(handle) as unzipped:
                start = unzipped.read(6)
    if start != b"SIMPLE":
        raise SurveyFileError("is not a FITS file (it does not start with SIMPLE)", path=path)


def identify(path: str | Path) -> FileKind:
    """Tell a spectrum file's survey, release and layout from its headers and HDUs.

    Parameters
    ----------
    path : str or Path
        A FITS file (``.gz`` too) of a supported layout.

    Returns
    -------
    FileKind

    Raises
    ------
    SurveyFileError
        If the file is missing, not FITS or truncated (uncompressed files:
        the data of its last HDU, or of HDU 8, ends beyond the file), or is none of the supported
        kinds (the message says what its primary header does say).
    """
    path = Path(path)
    _check_fits(path)
    with open_fits(path) as hdul:
        header = get_hdu(hdul, 0, path).header
        if _is_lamost(header):
            if count_hdus(hdul, path, at_most=2) > 1 and is_lamost_mrs(hdul):
                return FileKind("LAMOST-MRS", lamost_release(header), "mrs-coadd")
            layout = "image" if header.get("NAXIS", 0) >= 2 else "table"
            return FileKind("LAMOST", lamost_release(header), layout)
        count = count_hdus(hdul, path, at_most=_MAX_HDUS)
        check_not_truncated(hdul, count - 1, path)
        if _is_galah(header, count):
            return FileKind("GALAH", galah_release(header, count), "ccd")
        layout = _apogee_layout(hdul, header, count, path)
        if layout is not None:
            return FileKind("APOGEE", apogee_release(header, path), layout)
    said = ", ".join(
        f"{key}={_text(header, key)!r}" for key in ("TELESCOP", "INSTRUME", "ORIGIN")
        if _text(header, key)
    )  # fmt: skip
    raise SurveyFileError(
        f"is not a spectrum file of APOGEE, LAMOST or GALAH "
        f"({count if count < _MAX_HDUS else f'{count} or more'} HDUs"
        + (f"; {said})" if said else ")"),
        path=path,
    )


def read_spectrum(path: str | Path) -> Spectrum:
    """Read any supported spectrum file, whatever its survey, release and layout.

    Parameters
    ----------
    path : str or Path
        An APOGEE aspcapStar, apStar/asStar or apVisit file (DR10-DR17), a LAMOST
        low-resolution (DR1 on, image or table layout) or medium-resolution file,
        or one GALAH DR3/DR4 CCD file (``<sobject_id><ccd>.fits``; this CCD only:
        :func:`~stereo_ppl.io.galah.read_galah` reads all four).

    Returns
    -------
    Spectrum
        With ``survey``, ``release`` and ``layout`` set (see :func:`identify`),
        as the survey's reader gives it with its defaults.

    Raises
    ------
    SurveyFileError
        If the file is not of a supported kind or its reader refuses it.
    """
    path = Path(path)
    kind = identify(path)
    if kind.survey == "LAMOST":
        return read_lamost(path)
    if kind.survey == "LAMOST-MRS":
        return read_lamost_mrs(path)
    if kind.survey == "GALAH":
        match = _GALAH_NAME.match(path.name)
        if match is None:
            raise SurveyFileError(
                "is a GALAH CCD file whose name is not <sobject_id><ccd>.fits[.gz] (ccd 1-4); "
                "the reader finds a star's CCDs by that name",
                path=path,
            )
        return read_galah(path, ccds=(int(match.group(2)),))
    reader = {"aspcapStar": read_aspcapstar, "apStar": read_apstar, "apVisit": read_apvisit}
    return reader[kind.layout](path)
