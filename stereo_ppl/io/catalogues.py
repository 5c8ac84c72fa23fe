"""Readers for the survey catalogues: APOGEE allStar and LAMOST (FITS or CSV).

Both return an :class:`astropy.table.Table` in which missing values are NaN
(floating-point columns) or masked (integer columns), whatever sentinel the
release used (-9999 up to APOGEE DR16, NaN in DR17, -9999 or -9999.99 in LAMOST).
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import ascii, fits
from astropy.table import MaskedColumn, Table
from astropy.utils.data import get_readable_fileobj

from .errors import SurveyFileError
from .fitsutil import get_hdu, open_fits, reading, table_data

__all__ = [
    "ALLSTAR_COLUMNS",
    "ALLSTAR_OPTIONAL_COLUMNS",
    "LAMOST_SENTINELS",
    "read_allstar",
    "read_lamost_catalogue",
]

#: allStar columns every release has and :func:`read_allstar` always returns.
ALLSTAR_COLUMNS = (
    "APOGEE_ID",
    "RA",
    "DEC",
    "SNR",
    "STARFLAG",
    "ASPCAPFLAG",
    "TEFF",
    "TEFF_ERR",
    "LOGG",
    "LOGG_ERR",
    "FE_H",
    "FE_H_ERR",
    "O_FE",
    "O_FE_ERR",
)
#: allStar columns returned where the release has them.
ALLSTAR_OPTIONAL_COLUMNS = (
    "TELESCOPE",
    "FIELD",
    "LOCATION_ID",
    "ASPCAP_VERSION",
    "RESULTS_VERSION",
)
#: Missing-value sentinels of the LAMOST catalogues.
LAMOST_SENTINELS = (-9999.0, -9999.99)

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")


def _clean(values: np.ndarray, sentinels: Sequence[float], *, mask=None):
    """A column with strings stripped and missing values as NaN (floats) or masked (ints).

    Parameters
    ----------
    values : ndarray, shape (num_rows, ...)
        Column values as read.
    sentinels : sequence of float
        Values meaning "missing".
    mask : ndarray of bool, optional
        Entries already known to be missing (e.g. empty CSV fields).

    Returns
    -------
    ndarray or MaskedColumn
    """
    values = np.array(values)
    missing = np.zeros(values.shape, dtype=bool)
    if mask is not None:
        missing |= np.broadcast_to(np.asarray(mask, dtype=bool), values.shape)
    if values.dtype.kind == "S":
        values = np.char.decode(values, "ascii", "replace")
    if values.dtype.kind == "U":
        return np.char.strip(values)
    if values.dtype.kind == "f":
        out = values.astype(np.float64)
        for s in sentinels:
            missing |= np.abs(out - s) < 1e-3
        out[missing | ~np.isfinite(out)] = np.nan
        return out
    if values.dtype.kind in "iu":
        out = values.astype(np.int64)
        for s in sentinels:
            if float(s).is_integer():
                missing |= out == int(s)
        return MaskedColumn(out, mask=missing) if missing.any() else out
    return values


def read_allstar(path: str | Path, *, columns: Sequence[str] = (), hdu: int | str = 1) -> Table:
    """Read the columns this package uses from an APOGEE allStar catalogue.

    Parameters
    ----------
    path : str or Path
        ``allStar-*.fits`` (DR14-DR17; large files are memory-mapped and only
        the wanted columns are copied).
    columns : sequence of str, optional
        Further columns to return (names as in the file, any case).
    hdu : int or str, optional
        The table HDU (1 in every release).

    Returns
    -------
    astropy.table.Table, shape (num_stars,)
        :data:`ALLSTAR_COLUMNS`, those of :data:`ALLSTAR_OPTIONAL_COLUMNS` the
        file has, and ``columns``; names upper case. Floats are float64 with
        NaN for missing values (-9999 or NaN in the file), integers int64,
        strings stripped (``APOGEE_ID`` is 18 or 30 characters wide).

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or not FITS, the HDU is not a table,
        or a required column is missing.
    """
    path = Path(path)
    out = Table()
    with open_fits(path, memmap=True) as hdul:
        table = get_hdu(hdul, hdu, path)
        with reading(path, hdu=hdu):
            if not isinstance(table, fits.BinTableHDU):
                raise SurveyFileError(
                    f"is a {type(table).__name__}, expected a table", path=path, hdu=hdu
                )
            data = table.data
            available = {} if data is None else {name.upper(): name for name in data.names}
            wanted = [*ALLSTAR_COLUMNS, *(c for c in ALLSTAR_OPTIONAL_COLUMNS if c in available)]
            wanted += [c.upper() for c in columns if c.upper() not in wanted]
            for name in wanted:
                if name not in available:
                    raise SurveyFileError("is missing", path=path, hdu=hdu, column=name)
                with reading(path, hdu=hdu, column=name):
                    out[name] = _clean(data[available[name]], (-9999.0,))
    out.meta["path"] = str(path)
    return out


def _delimiter(path: Path) -> str:
    """The delimiter of a text catalogue, from its first line (``|``, tab or comma)."""
    with reading(path), get_readable_fileobj(str(path), encoding="utf-8") as handle:
        first = handle.readline()
    for candidate in ("|", "\t", ","):
        if candidate in first:
            return candidate
    raise SurveyFileError("first line has no '|', tab or comma: not a CSV catalogue", path=path)


def _is_fits(path: Path) -> bool:
    """Whether ``path`` is FITS, by suffix or else by its first bytes."""
    name = path.name.lower()
    if name.endswith(_FITS_SUFFIXES):
        return True
    if name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz", ".dat", ".dat.gz")):
        return False
    with reading(path), get_readable_fileobj(str(path), encoding="binary") as handle:
        return handle.read(9) == b"SIMPLE  ="


def read_lamost_catalogue(
    path: str | Path, *, columns: Sequence[str] | None = None, hdu: int | str = 1
) -> Table:
    """Read a LAMOST catalogue (or a joint APOGEE x LAMOST table), FITS or CSV.

    Parameters
    ----------
    path : str or Path
        ``.fits[.gz]`` (table in ``hdu``) or ``.csv[.gz]`` (comma, ``|`` or tab
        separated, header line first).
    columns : sequence of str, optional
        Columns to keep (names as in the file); all by default. ``obsid`` is
        always kept.
    hdu : int or str, optional
        The table HDU of a FITS catalogue.

    Returns
    -------
    astropy.table.Table, shape (num_rows,)
        Column names as in the file (LAMOST's are lower case: ``obsid``, ``ra``,
        ``dec``, ``snru``..``snrz``, ``teff``, ``logg``, ``feh``...), except
        that an upper-case ``OBSID`` is renamed ``obsid``. Floats are float64
        with NaN for missing values (-9999, -9999.99, empty), integers int64
        (masked where missing), strings stripped.

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or unreadable, has no ``obsid``
        column, has an ``obsid`` that is not a whole number in every row, or
        lacks a requested column.
    """
    path = Path(path)
    if not path.is_file():
        raise SurveyFileError("no such file", path=path)
    if _is_fits(path):
        with open_fits(path, memmap=True) as hdul:
            data = table_data(get_hdu(hdul, hdu, path), hdu, path, max_bytes=None)
            with reading(path, hdu=hdu):
                raw = Table(data, copy=True) if data is not None else Table()
    else:
        delimiter = _delimiter(path)
        with reading(path):
            # Read the text ourselves: astropy's fast reader does not un-gzip a path.
            with get_readable_fileobj(str(path), encoding="utf-8") as handle:
                text = handle.read()
            raw = ascii.read(text, format="basic", delimiter=delimiter, guess=False)
    names = {name.lower(): name for name in raw.colnames}
    if "obsid" not in raw.colnames and "obsid" in names:
        raw.rename_column(names["obsid"], "obsid")
    if "obsid" not in raw.colnames:
        raise SurveyFileError("is missing", path=path, column="obsid")
    keep = raw.colnames if columns is None else ["obsid", *(c for c in columns if c != "obsid")]
    out = Table()
    for name in keep:
        if name not in raw.colnames:
            raise SurveyFileError("is missing", path=path, column=name)
        column = raw[name]
        mask = getattr(column, "mask", None)
        with reading(path, column=name):
            out[name] = _clean(np.asarray(column), LAMOST_SENTINELS, mask=mask)
    obsid = out["obsid"]
    if obsid.dtype.kind not in "iu" or getattr(obsid, "mask", np.False_).any():
        raise SurveyFileError(
            f"must be a whole number in every row (got {obsid.dtype})", path=path, column="obsid"
        )
    out.meta["path"] = str(path)
    return out
