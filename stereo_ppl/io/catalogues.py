"""Readers for the survey catalogues: APOGEE allStar/allStarLite and LAMOST, FITS or CSV.

Both return an :class:`astropy.table.Table` in which missing values are NaN
(floating-point columns) or masked (integer and string columns), whatever
sentinel the release used (-9999 up to APOGEE DR16, NaN in DR17, -9999 or
-9999.99 in LAMOST). Column names are matched without regard to case.
"""

import contextlib
import re
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
    "EXTRATARG_DUPLICATE",
    "LAMOST_SENTINELS",
    "STAR_BAD",
    "is_fits",
    "read_allstar",
    "read_lamost_catalogue",
    "read_table",
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
    "EXTRATARG",
    "FILE",
)
#: ``EXTRATARG`` bit marking a duplicate observation of a star (DR14-DR17); the row
#: with the highest S/N of each star has it clear.
EXTRATARG_DUPLICATE = 1 << 4
#: ``ASPCAPFLAG`` bit ``STAR_BAD`` (DR14-DR17): ASPCAP results not to be trusted. The
#: ``aspcapflag`` cut (``ASPCAPFLAG == 0``) removes such stars.
STAR_BAD = 1 << 23
#: Missing-value sentinels of the LAMOST catalogues.
LAMOST_SENTINELS = (-9999.0, -9999.99)

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
#: A LAMOST spectrum file name, as match tables give it (``LAMOST_ID`` of The Cannon's).
_LAMOST_FILE = re.compile(r"^(spec|med)-\d+-.+\.fits?(\.gz)?$", flags=re.IGNORECASE)
#: Columns that may name a LAMOST file in a table without ``obsid``.
_LAMOST_FILE_COLUMNS = ("lamost_file", "lamost_id", "filename")


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
        values = np.char.strip(values)
        return MaskedColumn(values, mask=missing) if missing.any() else values
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


def _delimiter(path: Path) -> str:
    """The delimiter of a text catalogue, from its first line (``|``, tab or comma)."""
    with reading(path), get_readable_fileobj(str(path), encoding="utf-8") as handle:
        first = handle.readline()
    for candidate in ("|", "\t", ","):
        if candidate in first:
            return candidate
    raise SurveyFileError("first line has no '|', tab or comma: not a CSV catalogue", path=path)


def is_fits(path: str | Path) -> bool:
    """Whether ``path`` is FITS, by suffix or else by its first bytes (gzip'd too)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(_FITS_SUFFIXES):
        return True
    if name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz", ".dat", ".dat.gz")):
        return False
    with reading(path), get_readable_fileobj(str(path), encoding="binary") as handle:
        return handle.read(9) == b"SIMPLE  ="


def _raw_text_table(path: Path) -> Table:
    delimiter = _delimiter(path)
    with reading(path):
        # Read the text ourselves: astropy's fast reader does not un-gzip a path.
        with get_readable_fileobj(str(path), encoding="utf-8") as handle:
            text = handle.read()
        return ascii.read(text, format="basic", delimiter=delimiter, guess=False)


def read_table(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    hdu: int | str = 1,
    sentinels: Sequence[float] = (),
) -> Table:
    """Read a catalogue, FITS (table in ``hdu``) or text (comma, ``|`` or tab separated).

    Parameters
    ----------
    path : str or Path
        ``.fits[.gz]`` or ``.csv[.gz]`` (anything else is told by its first bytes).
    columns : sequence of str, optional
        Columns to keep, matched without regard to case; all by default.
    hdu : int or str, optional
        The table HDU of a FITS catalogue (memory-mapped: only the columns kept
        are copied).
    sentinels : sequence of float, optional
        Values meaning "missing" besides NaN and empty fields.

    Returns
    -------
    astropy.table.Table, shape (num_rows,)
        Columns named as in the file, floats float64 with NaN for missing values,
        integers int64 and strings stripped (both masked where missing).
        ``meta["path"]`` is the file.

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or unreadable, or a column asked for
        is missing (named in the message).
    """
    path = Path(path)
    if not path.is_file():
        raise SurveyFileError("no such file", path=path)
    out = Table()
    fits_file = is_fits(path)
    with contextlib.ExitStack() as stack:
        if fits_file:
            hdul = stack.enter_context(open_fits(path, memmap=True))
            data = table_data(get_hdu(hdul, hdu, path), hdu, path, max_bytes=None)
            names = [] if data is None else list(data.names)
        else:
            raw = _raw_text_table(path)
            data, names = raw, raw.colnames
        lookup = {name.lower(): name for name in names}
        wanted = names if columns is None else list(columns)
        for name in wanted:
            found = name if name in names else lookup.get(name.lower())
            if found is None:
                raise SurveyFileError("is missing", path=path, hdu=hdu if fits_file else None,
                                      column=name)  # fmt: skip
            with reading(path, column=found):
                column = data[found]
                mask = getattr(column, "mask", None)
                out[found] = _clean(np.asarray(column), sentinels, mask=mask)
    out.meta["path"] = str(path)
    return out


def read_allstar(
    path: str | Path,
    *,
    columns: Sequence[str] = (),
    hdu: int | str = 1,
    drop_duplicates: bool = True,
) -> Table:
    """Read the columns this package uses from an APOGEE allStar or allStarLite catalogue.

    Parameters
    ----------
    path : str or Path
        ``allStar-*.fits`` or ``allStarLite-*.fits`` (DR14-DR17; large files are
        memory-mapped and only the wanted columns are copied), or the same as
        CSV.
    columns : sequence of str, optional
        Further columns to return (any case).
    hdu : int or str, optional
        The table HDU of a FITS file (1 in every release).
    drop_duplicates : bool, optional
        Drop the rows flagged as duplicate observations of a star
        (:data:`EXTRATARG_DUPLICATE`, bit 4 of ``EXTRATARG``) where the file
        has that column; ``meta["num_duplicates"]`` counts them.

    Returns
    -------
    astropy.table.Table, shape (num_stars,)
        :data:`ALLSTAR_COLUMNS`, those of :data:`ALLSTAR_OPTIONAL_COLUMNS` the
        file has, and ``columns``; names upper case. Floats are float64 with
        NaN for missing values (-9999 or NaN in the file), integers int64,
        strings stripped (``APOGEE_ID`` is 18 or 30 characters wide; an empty
        ``FILE`` is masked).

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or unreadable, the HDU is not a table,
        or a required column is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise SurveyFileError("no such file", path=path)
    if is_fits(path):
        with open_fits(path, memmap=True) as hdul:
            table = get_hdu(hdul, hdu, path)
            with reading(path, hdu=hdu):
                if not isinstance(table, fits.BinTableHDU):
                    raise SurveyFileError(
                        f"is a {type(table).__name__}, expected a table", path=path, hdu=hdu
                    )
                names = [] if table.data is None else table.data.names
    else:
        names = _raw_text_table(path).colnames
    available = {name.upper() for name in names}
    wanted = [*ALLSTAR_COLUMNS, *(c for c in ALLSTAR_OPTIONAL_COLUMNS if c in available)]
    wanted += [c.upper() for c in columns if c.upper() not in wanted]
    out = read_table(path, columns=wanted, hdu=hdu, sentinels=(-9999.0,))
    out.rename_columns(out.colnames, [name.upper() for name in out.colnames])
    out.meta["num_duplicates"] = 0
    if drop_duplicates and "EXTRATARG" in out.colnames:
        flags = np.ma.filled(np.ma.asarray(out["EXTRATARG"]), 0).astype(np.int64)
        duplicate = (flags & EXTRATARG_DUPLICATE) != 0
        out = out[~duplicate]
        out.meta["num_duplicates"] = int(duplicate.sum())
    return out


def _lamost_file_column(raw: Table) -> str | None:
    """The column naming LAMOST spectrum files (``spec-....fits``) in a table, if any."""
    lookup = {name.lower(): name for name in raw.colnames}
    for candidate in _LAMOST_FILE_COLUMNS:
        name = lookup.get(candidate)
        if name is None or np.asarray(raw[name]).dtype.kind not in "US":
            continue
        values = np.char.strip(np.asarray(raw[name]).astype(str))
        if len(values) and all(_LAMOST_FILE.match(v) for v in values):
            return name
    return None


def read_lamost_catalogue(
    path: str | Path, *, columns: Sequence[str] | None = None, hdu: int | str = 1
) -> Table:
    """Read a LAMOST catalogue (or a joint APOGEE x LAMOST table), FITS or CSV.

    Parameters
    ----------
    path : str or Path
        ``.fits[.gz]`` (table in ``hdu``) or ``.csv[.gz]`` (comma, ``|`` or tab
        separated, header line first), e.g. the DR10 LRS stellar catalogue
        (``obsid, class, subclass, snrg, teff, logg, feh, ra, dec, z``).
    columns : sequence of str, optional
        Columns to keep (any case); all by default. ``obsid`` is always kept.
    hdu : int or str, optional
        The table HDU of a FITS catalogue.

    Returns
    -------
    astropy.table.Table, shape (num_rows,)
        Column names as in the file (LAMOST's are lower case: ``obsid``, ``ra``,
        ``dec``, ``snru``..``snrz``, ``teff``, ``logg``, ``feh``...), except that
        the obsid column is named ``obsid``. Floats are float64 with NaN for
        missing values (-9999, -9999.99, empty), integers int64 (masked where
        missing), strings stripped. A match table that names the LAMOST spectra
        by file instead of ``obsid`` (``LAMOST_ID = 'spec-....fits'``, as The
        Cannon's ``thecannon_lamost_labels.fits``) gets that column copied to
        ``lamost_file`` and an ``obsid`` masked in every row.

    Raises
    ------
    SurveyFileError
        If the file is missing, truncated or unreadable, has neither an
        ``obsid`` column nor a column of LAMOST file names, has an ``obsid``
        that is not a whole number in every row, or lacks a requested column.
    """
    path = Path(path)
    raw = read_table(path, hdu=hdu, sentinels=LAMOST_SENTINELS)
    names = {name.lower(): name for name in raw.colnames}
    if "obsid" not in raw.colnames and "obsid" in names:
        raw.rename_column(names["obsid"], "obsid")
    if "obsid" not in raw.colnames:
        files = _lamost_file_column(raw)
        if files is None:
            raise SurveyFileError(
                "is missing (and no column names LAMOST files, as LAMOST_ID = 'spec-....fits')",
                path=path,
                column="obsid",
            )
        if "lamost_file" not in raw.colnames:
            raw["lamost_file"] = raw[files]
        raw["obsid"] = MaskedColumn(np.full(len(raw), -1, np.int64), mask=True)
    keep = raw.colnames if columns is None else ["obsid", *(c for c in columns if c != "obsid")]
    lookup = {name.lower(): name for name in raw.colnames}
    out = Table()
    for name in keep:
        found = name if name in raw.colnames else lookup.get(name.lower())
        if found is None:
            raise SurveyFileError("is missing", path=path, column=name)
        out[found] = raw[found]
    if "lamost_file" in raw.colnames and "lamost_file" not in out.colnames:
        out["lamost_file"] = raw["lamost_file"]
    obsid = out["obsid"]
    by_file = "lamost_file" in out.colnames and np.all(np.ma.getmaskarray(obsid))
    if obsid.dtype.kind not in "iu" or (np.ma.getmaskarray(obsid).any() and not by_file):
        raise SurveyFileError(
            f"must be a whole number in every row (got {obsid.dtype})", path=path, column="obsid"
        )
    out.meta["path"] = str(path)
    return out
