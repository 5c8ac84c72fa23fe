"""Cross-matching APOGEE stars with LAMOST observations.

Two ways, each keeping one best pair per star and per observation and
reporting every row it drops:

* :func:`match_by_id`: a joint catalogue already pairs the ids (the seed
  study's APOGEE x LAMOST table: APOGEE columns plus ``obsid`` and ``snrz``).
  A star listed with several obsids keeps the one with the highest ``snrz``;
  an obsid listed for several stars keeps the star with the highest ``SNR``.
* :func:`match_by_sky`: an APOGEE catalogue (allStar) and a LAMOST catalogue
  matched by position with :mod:`astropy.coordinates` within a radius
  (default 3 arcsec). Among the LAMOST observations within the radius of a
  star the one with the highest ``snrz`` is kept (the nearest without
  ``snrz``); an observation that is the best match of several stars keeps the
  nearest star.
"""

from typing import NamedTuple

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table

from .cuts import find_column

__all__ = [
    "DEFAULT_RADIUS",
    "CrossMatch",
    "DroppedRow",
    "match_by_id",
    "match_by_sky",
]

#: Default cross-match radius.
DEFAULT_RADIUS = 3.0 * u.arcsec
#: Column added to a cross-match: the row of the (APOGEE or joint) catalogue.
ROW_COLUMN = "catalogue_row"


class DroppedRow(NamedTuple):
    """A catalogue row left out of the cross-match.

    Attributes
    ----------
    row : int
        Row of the joint catalogue (:func:`match_by_id`) or of the APOGEE
        catalogue (:func:`match_by_sky`).
    apogee_id : str
    obsid : int
        -1 where the row has no LAMOST match.
    reason : str
        Why, naming the ids and the row kept instead.
    """

    row: int
    apogee_id: str
    obsid: int
    reason: str


class CrossMatch(NamedTuple):
    """Result of a cross-match.

    Attributes
    ----------
    table : astropy.table.Table, shape (num_pairs,)
        One row per kept pair: the APOGEE (or joint) columns, the LAMOST
        columns (a name clashing with an APOGEE one gets ``_lamost``), the row
        it came from (``catalogue_row``) and, by sky, ``separation`` (arcsec).
    dropped : list of DroppedRow
        Duplicates and rows without an id, in catalogue order.
    num_unmatched : int
        APOGEE stars with no LAMOST observation within the radius (by sky; 0
        by id).
    """

    table: Table
    dropped: list[DroppedRow]
    num_unmatched: int


def _ids(table: Table, name: str) -> np.ndarray:
    values = np.asarray(table[find_column(table, name)])
    if values.dtype.kind == "S":
        values = np.char.decode(values, "ascii", "replace")
    return np.char.strip(values.astype(str))


def _obsids(table: Table, name: str) -> np.ndarray:
    """The obsid column as int64, -1 where masked (a table naming LAMOST files instead)."""
    return np.ma.filled(np.ma.asarray(table[find_column(table, name)]), -1).astype(np.int64)


def _observation_keys(table: Table, obsid: np.ndarray) -> np.ndarray:
    """One key per LAMOST observation: the obsid, else the ``lamost_file`` name."""
    keys = obsid.astype(str)
    if (obsid < 0).any() and any(c.lower() == "lamost_file" for c in table.colnames):
        files = np.asarray(table[find_column(table, "lamost_file")]).astype(str)
        keys = np.where(obsid < 0, np.char.add("file:", np.char.strip(files)), keys)
    return keys


def _observation_name(key: str) -> str:
    return f"LAMOST file {key[5:]}" if key.startswith("file:") else f"obsid {key}"


def _score(table: Table, name: str | None) -> np.ndarray:
    """Column ``name`` as float with NaN and masked as -inf (zeros without the column)."""
    if name is None or not any(c.lower() == name.lower() for c in table.colnames):
        return np.zeros(len(table))
    values = np.ma.filled(np.ma.asarray(table[find_column(table, name)]).astype(float), np.nan)
    return np.where(np.isfinite(values), values, -np.inf)


def _best_per_group(keys, rows, score, tie) -> dict[int, int]:
    """For keys held by several ``rows``: row dropped -> row kept (max score, then min tie)."""
    keys, rows = np.asarray(keys), np.asarray(rows)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    dropped = {}
    for group in np.flatnonzero(counts > 1):
        members = rows[inverse == group]
        order = np.lexsort((tie[members], -score[members]))
        for row in members[order[1:]]:
            dropped[int(row)] = int(members[order[0]])
    return dropped


def match_by_id(
    joint: Table,
    *,
    apogee_id_column: str = "APOGEE_ID",
    obsid_column: str = "obsid",
    snr_column: str = "SNR",
    snrz_column: str = "snrz",
) -> CrossMatch:
    """Pairs from a joint catalogue that carries both ids.

    Parameters
    ----------
    joint : astropy.table.Table, shape (num_rows,)
        One row per (APOGEE star, LAMOST observation) pair, e.g. from
        :func:`stereo_ppl.io.read_lamost_catalogue`.
    apogee_id_column, obsid_column : str, optional
        The id columns (any case).
    snr_column, snrz_column : str, optional
        Columns ranking duplicates (a missing column ranks all rows equal, and
        the first row wins).

    Returns
    -------
    CrossMatch
        The kept rows in catalogue order and the dropped ones: rows without an
        APOGEE id, then duplicates of an APOGEE id (all but the highest
        ``snrz``), then duplicates of an obsid (all but the highest ``SNR``).

    Raises
    ------
    CatalogueColumnError
        If an id column is missing.
    """
    ids = _ids(joint, apogee_id_column)
    obsid = _obsids(joint, obsid_column)
    rows = np.arange(len(joint))
    dropped: dict[int, str] = {}
    for row in rows[ids == ""]:
        dropped[int(row)] = f"catalogue row {row} has no APOGEE_ID"
    alive = rows[ids != ""]
    snrz, snr = _score(joint, snrz_column), _score(joint, snr_column)
    for row, kept in _best_per_group(ids[alive], alive, snrz, rows).items():
        dropped[row] = (
            f"duplicate APOGEE_ID {ids[row]} (obsid {obsid[row]}); kept catalogue row "
            f"{kept} (obsid {obsid[kept]}) with the highest {snrz_column}"
        )
    alive = np.array([r for r in alive if r not in dropped], dtype=np.int64)
    observation = _observation_keys(joint, obsid)
    for row, kept in _best_per_group(observation[alive], alive, snr, rows).items():
        dropped[row] = (
            f"duplicate {_observation_name(observation[row])} (APOGEE_ID {ids[row]}); kept "
            f"catalogue row {kept} (APOGEE_ID {ids[kept]}) with the highest {snr_column}"
        )
    keep = np.array([r not in dropped for r in rows], dtype=bool)
    table = joint[keep]
    table[ROW_COLUMN] = rows[keep]
    out = [DroppedRow(r, str(ids[r]), int(obsid[r]), dropped[r]) for r in sorted(dropped)]
    return CrossMatch(table, out, 0)


def _coords(table: Table, ra: str, dec: str) -> tuple[SkyCoord, np.ndarray]:
    """Sky positions (NaN replaced by 0) and which rows have a finite position."""
    values = [
        np.ma.filled(np.ma.asarray(table[find_column(table, c)]).astype(float), np.nan)
        for c in (ra, dec)
    ]
    finite = np.isfinite(values[0]) & np.isfinite(values[1])
    ra_deg, dec_deg = (np.where(finite, v, 0.0) for v in values)
    return SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg), finite


def match_by_sky(
    apogee: Table,
    lamost: Table,
    *,
    radius: u.Quantity = DEFAULT_RADIUS,
    apogee_columns: tuple[str, str] = ("RA", "DEC"),
    lamost_columns: tuple[str, str] = ("ra", "dec"),
    apogee_id_column: str = "APOGEE_ID",
    obsid_column: str = "obsid",
    snr_column: str = "SNR",
    snrz_column: str = "snrz",
) -> CrossMatch:
    """Pair APOGEE stars with LAMOST observations by sky position.

    Parameters
    ----------
    apogee : astropy.table.Table, shape (num_apogee,)
        APOGEE catalogue (e.g. :func:`stereo_ppl.io.read_allstar`), positions
        in degrees.
    lamost : astropy.table.Table, shape (num_lamost,)
        LAMOST catalogue (e.g. :func:`stereo_ppl.io.read_lamost_catalogue`).
    radius : Quantity, optional
        Largest separation of a match (default 3 arcsec).
    apogee_columns, lamost_columns : (str, str), optional
        Right ascension and declination columns (any case).
    apogee_id_column, obsid_column, snr_column, snrz_column : str, optional
        Id columns and the columns ranking duplicates.

    Returns
    -------
    CrossMatch
        Kept pairs in APOGEE-catalogue order with ``separation`` (arcsec), the
        dropped APOGEE rows (repeated APOGEE ids, stars whose best observation
        went to a nearer star) and the LAMOST observations within the radius
        that lost to a better one (reported with the star's row), and the
        number of stars with no observation within the radius.

    Raises
    ------
    CatalogueColumnError
        If a position or id column is missing.
    """
    radius = u.Quantity(radius, u.arcsec)
    ids = _ids(apogee, apogee_id_column)
    obsid = _obsids(lamost, obsid_column)
    rows = np.arange(len(apogee))
    snr, snrz = _score(apogee, snr_column), _score(lamost, snrz_column)
    dropped: list[DroppedRow] = []
    lost = _best_per_group(ids[ids != ""], rows[ids != ""], snr, rows)
    for row, kept in lost.items():
        reason = f"duplicate APOGEE_ID {ids[row]}; kept catalogue row {kept} with the highest SNR"
        dropped.append(DroppedRow(row, str(ids[row]), -1, reason))
    for row in rows[ids == ""]:
        dropped.append(DroppedRow(int(row), "", -1, f"catalogue row {row} has no APOGEE_ID"))
    alive = (ids != "") & ~np.isin(rows, list(lost))
    apo_coord, apo_ok = _coords(apogee, *apogee_columns)
    lam_coord, lam_ok = _coords(lamost, *lamost_columns)
    best = np.full(len(apogee), -1, dtype=np.int64)
    separation = np.full(len(apogee), np.inf)
    if len(lamost) and len(apogee):
        nearest, sep, _ = apo_coord.match_to_catalog_sky(lam_coord)
        hit = alive & apo_ok & lam_ok[nearest] & (sep <= radius)
        best[hit] = nearest[hit]
        separation[hit] = sep.to_value(u.arcsec)[hit]
        i_apo, i_lam, sep_all, _ = lam_coord.search_around_sky(apo_coord, radius)
        sep_all = sep_all.to_value(u.arcsec)
        usable = hit[i_apo] & lam_ok[i_lam]
        for star in np.unique(i_apo[usable]):
            cands = usable & (i_apo == star)
            if cands.sum() < 2:
                continue
            lam, seps = i_lam[cands], sep_all[cands]
            order = np.lexsort((seps, -snrz[lam]))
            best[star], separation[star] = lam[order[0]], seps[order[0]]
            for other in lam[order[1:]]:
                reason = (
                    f"another LAMOST observation of APOGEE_ID {ids[star]} within "
                    f"{radius.value:g} arcsec; kept obsid {obsid[best[star]]} "
                    f"with the highest {snrz_column}"
                )
                dropped.append(DroppedRow(int(star), str(ids[star]), int(obsid[other]), reason))
    num_unmatched = int((alive & (best < 0)).sum())
    matched = np.flatnonzero(best >= 0)
    for row, kept in _best_per_group(best[matched], matched, -separation, rows).items():
        reason = (
            f"LAMOST obsid {obsid[best[row]]} is also the match of APOGEE_ID {ids[kept]} "
            f"(catalogue row {kept}), which is nearer"
        )
        dropped.append(DroppedRow(row, str(ids[row]), int(obsid[best[row]]), reason))
        best[row] = -1
    keep = best >= 0
    table = apogee[keep]
    lamost_part = lamost[best[keep]]
    for name in lamost_part.colnames:
        target = name if name not in table.colnames else f"{name}_lamost"
        table[target] = lamost_part[name]
    table["separation"] = separation[keep]
    table["separation"].unit = u.arcsec
    table[ROW_COLUMN] = rows[keep]
    return CrossMatch(table, sorted(dropped, key=lambda d: (d.row, d.obsid)), num_unmatched)
