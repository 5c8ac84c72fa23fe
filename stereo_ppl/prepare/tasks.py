"""From cross-matched catalogue rows to file pairs to read.

The aspcapStar file of a row is the catalogue's ``apogee_file`` column
(relative to the APOGEE directory) where it has one, else the file under the
directory whose name ends with the APOGEE id. The LAMOST file is the
``lamost_file`` column where present, else the file named from ``lmjd``,
``planid``, ``spid`` and ``fiberid``. A row without exactly one file is
rejected.
"""

from pathlib import Path

import numpy as np
from astropy.table import Table

from ..io.locate import FileIndex, index_apogee_files, index_lamost_files, lamost_key
from .crossmatch import ROW_COLUMN
from .cuts import CatalogueColumnError, find_column
from .reading import PairTask
from .rejections import Rejection

__all__ = ["LAMOST_NAME_COLUMNS", "lamost_file_hint", "locate_pairs", "star_ids"]

#: Catalogue columns that name a LAMOST file (as in the LAMOST catalogues).
LAMOST_NAME_COLUMNS = ("lmjd", "planid", "spid", "fiberid")


def _has(table: Table, name: str) -> bool:
    return any(c.lower() == name.lower() for c in table.colnames)


def _text(value) -> str:
    """A catalogue cell as stripped text; a masked (missing) cell is ``""``."""
    if value is np.ma.masked:
        return ""
    if isinstance(value, bytes | np.bytes_):
        value = bytes(value).decode("ascii", "replace")
    return str(value).strip()


def star_ids(table: Table, apogee_id_column: str, obsid_column: str):
    """APOGEE ids (str), obsids (int64) and catalogue rows of ``table``.

    Returns
    -------
    apogee_id : ndarray, shape (num_rows,), str
    obsid : ndarray, shape (num_rows,), int64
        -1 where the catalogue has none (a table naming the LAMOST files).
    row : ndarray, shape (num_rows,), int64
    """
    ids = np.array([_text(v) for v in table[find_column(table, apogee_id_column)]], dtype=str)
    obsid = np.ma.filled(np.ma.asarray(table[find_column(table, obsid_column)]), -1)
    obsid = obsid.astype(np.int64)
    rows = (
        np.asarray(table[ROW_COLUMN], dtype=np.int64)
        if ROW_COLUMN in table.colnames
        else np.arange(len(table), dtype=np.int64)
    )
    return ids, obsid, rows


def _one(found: list[Path], what: str, where: Path) -> tuple[Path | None, str]:
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"no {what} under {where}"
    return None, f"several files for {what}: " + ", ".join(str(p) for p in found)


def _explicit(directory: Path, name) -> tuple[Path | None, str, str]:
    path = directory / _text(name)
    return (path, "", str(path)) if path.is_file() else (None, "no such file", str(path))


def locate_pairs(
    table: Table,
    positions: np.ndarray,
    *,
    apogee_dir: str | Path,
    lamost_dir: str | Path,
    apogee_id_column: str = "APOGEE_ID",
    obsid_column: str = "obsid",
) -> tuple[list[PairTask], list[Rejection]]:
    """Find both files of the rows ``positions`` of ``table``.

    Parameters
    ----------
    table : astropy.table.Table, shape (num_rows,)
        Cross-matched catalogue.
    positions : array of int, shape (num_wanted,)
        Rows of ``table`` to locate.
    apogee_dir, lamost_dir : str or Path
        Directories searched (recursively).
    apogee_id_column, obsid_column : str, optional
        Id columns.

    Returns
    -------
    tasks : list of PairTask
        One per row whose two files were found (``index`` is the row of ``table``).
    rejections : list of Rejection
        One per row lacking a file (or having several).

    Raises
    ------
    CatalogueColumnError
        If the catalogue gives no way to name the LAMOST files.
    SurveyFileError
        If a directory does not exist.
    """
    apogee_dir, lamost_dir = Path(apogee_dir), Path(lamost_dir)
    ids, obsid, rows = star_ids(table, apogee_id_column, obsid_column)
    apogee_column = "apogee_file" if _has(table, "apogee_file") else None
    lamost_column = "lamost_file" if _has(table, "lamost_file") else None
    if lamost_column is None and not all(_has(table, c) for c in LAMOST_NAME_COLUMNS):
        where = table.meta.get("path", "catalogue")
        raise CatalogueColumnError(
            f"{where}: has neither a 'lamost_file' column nor the columns "
            f"{', '.join(LAMOST_NAME_COLUMNS)} that name the LAMOST files"
        )
    apogee_index: FileIndex | None = None
    lamost_index: FileIndex | None = None
    if apogee_column is None:
        apogee_index = index_apogee_files(apogee_dir)
    if lamost_column is None:
        lamost_index = index_lamost_files(lamost_dir)
        name_columns = [table[find_column(table, c)] for c in LAMOST_NAME_COLUMNS]
    tasks, rejections = [], []
    for position in np.asarray(positions, dtype=np.int64):
        star = (int(rows[position]), str(ids[position]), int(obsid[position]))
        if apogee_column is not None:
            apogee, problem, shown = _explicit(
                apogee_dir, table[find_column(table, apogee_column)][position]
            )
        else:
            what = f"aspcapStar file for APOGEE_ID {ids[position]}"
            apogee, problem = _one(apogee_index.get(str(ids[position])), what, apogee_dir)
            shown = str(apogee_dir / f"aspcapStar-*-{ids[position]}.fits")
        if apogee is None:
            rejections.append(Rejection(shown, *star, problem))
            continue
        if lamost_column is not None:
            lamost, problem, shown = _explicit(
                lamost_dir, table[find_column(table, lamost_column)][position]
            )
        else:
            try:
                key = lamost_key(*(_text(c[position]) for c in name_columns))
            except (TypeError, ValueError):
                values = ", ".join(_text(c[position]) for c in name_columns)
                problem = f"has no valid {', '.join(LAMOST_NAME_COLUMNS)} ({values})"
                rejections.append(Rejection("", *star, f"catalogue row {star[0]} {problem}"))
                continue
            what = f"LAMOST file {key}.fits for obsid {obsid[position]}"
            lamost, problem = _one(lamost_index.get(key), what, lamost_dir)
            shown = str(lamost_dir / f"{key}.fits")
        if lamost is None:
            rejections.append(Rejection(shown, *star, problem))
            continue
        tasks.append(PairTask(int(position), str(apogee), str(lamost), star[1], star[2]))
    return tasks, rejections


def lamost_file_hint(table: Table, position: int, lamost_dir: str | Path) -> str:
    """The LAMOST file row ``position`` of ``table`` names ("" when it names none).

    Used to name the file of a dropped duplicate; the file need not exist.
    """
    if _has(table, "lamost_file"):
        return str(Path(lamost_dir) / _text(table[find_column(table, "lamost_file")][position]))
    if not all(_has(table, c) for c in LAMOST_NAME_COLUMNS):
        return ""
    try:
        key = lamost_key(
            *(_text(table[find_column(table, c)][position]) for c in LAMOST_NAME_COLUMNS)
        )
    except (TypeError, ValueError):
        return ""
    return str(Path(lamost_dir) / f"{key}.fits")
