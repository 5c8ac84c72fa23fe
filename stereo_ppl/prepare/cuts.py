"""The seed study's sample cuts, each a named option with the seed's value.

:func:`apply_cuts` applies them in the seed's order to a cross-matched
catalogue and counts the stars each one removes (given the ones before it):

==================== ==================================== =====================
name                 keeps a star when                    option (seed default)
==================== ==================================== =====================
apogee_snr           APOGEE ``SNR`` > threshold           ``min_apogee_snr=300``
lamost_snr           LAMOST ``snrz`` > threshold          ``min_lamost_snr=300``
starflag             ``STARFLAG == 0``                    ``starflag_zero=True``
aspcapflag           ``ASPCAPFLAG == 0``                  ``aspcapflag_zero=True``
files                both files found and readable        (always)
missing_pixels       APOGEE pixels with ivar 0 on the     ``max_missing_apogee_
                     chips <= threshold                   pixels=0``
labels_present       every label finite (no -9999)        ``require_labels=True``
labels_clip          every label within k sigma of the    ``label_sigma_clip=3``
                     mean of the stars kept so far
==================== ==================================== =====================

``files`` and ``missing_pixels`` need the spectra; they are counted only when
their inputs are given. ``missing_pixels`` is optional (``None``, or
``stereo-ppl prepare --skip-cut missing_pixels``): the stars it would remove
are kept with their missing pixels masked (``apogee_ivar == 0``), which every
fit fills (:func:`stereo_ppl.inference.arrays.fill_bad_apogee_pixels`); its
row of the cut table then says how many kept stars have missing pixels.
"""

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
from astropy.table import Table

from ..errors import StereoPPLError

__all__ = [
    "CATALOGUE_CUTS",
    "CUT_NAMES",
    "CatalogueColumnError",
    "CutCount",
    "CutResult",
    "Cuts",
    "apply_cuts",
    "describe_counts",
    "find_column",
]

#: Names of the cuts in the order they are applied.
CUT_NAMES = (
    "apogee_snr",
    "lamost_snr",
    "starflag",
    "aspcapflag",
    "files",
    "missing_pixels",
    "labels_present",
    "labels_clip",
)
#: The cuts that need only the catalogue (applied before any spectrum is read).
CATALOGUE_CUTS = CUT_NAMES[:4]


class CatalogueColumnError(StereoPPLError, KeyError):
    """A catalogue lacks a column that a cut or the cross-match needs."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True, kw_only=True)
class Cuts:
    """Thresholds of the seed study's cuts (defaults: the seed's values).

    Attributes
    ----------
    min_apogee_snr : float or None
        Keep stars with APOGEE ``SNR`` strictly above this (seed: 300).
    min_lamost_snr : float or None
        Keep stars with LAMOST ``snrz`` strictly above this (seed: 300).
    starflag_zero : bool
        Keep only stars with ``STARFLAG == 0`` (seed: yes).
    aspcapflag_zero : bool
        Keep only stars with ``ASPCAPFLAG == 0`` (seed: yes).
    max_missing_apogee_pixels : int or None
        Keep stars with at most this many on-chip APOGEE pixels missing
        (``ivar == 0``: flux 0, NaN, or error >= 10); the chip gaps do not
        count (seed: 0). None keeps every star: its missing pixels stay
        masked by ``apogee_ivar == 0`` and fits fill them with the training
        stars' mean.
    require_labels : bool
        Keep only stars whose every label is present (seed: yes).
    label_sigma_clip : float or None
        Keep stars whose every label lies within this many standard deviations
        (``ddof=0``, one pass) of the mean of the stars kept so far (seed: 3).
    label_columns : tuple of str
        The labels (catalogue columns, any case) of the last two cuts.
    snr_column, snrz_column, starflag_column, aspcapflag_column : str
        Catalogue columns of the first four cuts (any case).

    None (or False) switches a cut off; it is then listed with 0 removed.
    """

    min_apogee_snr: float | None = 300.0
    min_lamost_snr: float | None = 300.0
    starflag_zero: bool = True
    aspcapflag_zero: bool = True
    max_missing_apogee_pixels: int | None = 0
    require_labels: bool = True
    label_sigma_clip: float | None = 3.0
    label_columns: tuple[str, ...] = ("TEFF", "LOGG", "FE_H")
    snr_column: str = "SNR"
    snrz_column: str = "snrz"
    starflag_column: str = "STARFLAG"
    aspcapflag_column: str = "ASPCAPFLAG"

    def describe(self, name: str) -> str:
        """One line saying what cut ``name`` keeps, e.g. ``"APOGEE SNR > 300"``."""
        labels = ", ".join(self.label_columns)
        text = {
            "apogee_snr": f"APOGEE {self.snr_column} > {self.min_apogee_snr:g}"
            if self.min_apogee_snr is not None
            else None,
            "lamost_snr": f"LAMOST {self.snrz_column} > {self.min_lamost_snr:g}"
            if self.min_lamost_snr is not None
            else None,
            "starflag": f"{self.starflag_column} == 0" if self.starflag_zero else None,
            "aspcapflag": f"{self.aspcapflag_column} == 0" if self.aspcapflag_zero else None,
            "files": "both spectrum files found and readable",
            "missing_pixels": "missing APOGEE pixels (beyond the chip gaps) "
            f"<= {self.max_missing_apogee_pixels}"
            if self.max_missing_apogee_pixels is not None
            else None,
            "labels_present": f"labels present ({labels})" if self.require_labels else None,
            "labels_clip": f"labels within {self.label_sigma_clip:g} sigma of the mean ({labels})"
            if self.label_sigma_clip is not None
            else None,
        }[name]
        return text if text is not None else f"{name}: off"

    def as_dict(self) -> dict:
        """The thresholds as a plain dict (for provenance attributes)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class CutCount(NamedTuple):
    """One row of the cut table.

    Attributes
    ----------
    name : str
        The step (a :data:`CUT_NAMES` entry or a pipeline step).
    description : str
        What the step keeps.
    num_removed : int
        Stars it removed, of those that passed every earlier step.
    num_remaining : int
        Stars left after it.
    """

    name: str
    description: str
    num_removed: int
    num_remaining: int


class CutResult(NamedTuple):
    """Result of :func:`apply_cuts`.

    Attributes
    ----------
    keep : ndarray, shape (num_rows,), bool
        Rows that pass every cut applied.
    counts : list of CutCount
        One per cut applied, in order.
    """

    keep: np.ndarray
    counts: list[CutCount]


def find_column(table: Table, name: str, *, what: str = "catalogue") -> str:
    """The column of ``table`` called ``name``, exactly or else ignoring case.

    Raises
    ------
    CatalogueColumnError
        If there is none, or several differ only in case; the message names
        the catalogue file (``table.meta["path"]``) and the column.
    """
    if name in table.colnames:
        return name
    matches = [c for c in table.colnames if c.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    where = table.meta.get("path", what)
    problem = "is ambiguous (columns " + ", ".join(matches) + ")" if matches else "is missing"
    raise CatalogueColumnError(f"{where}: column {name!r} {problem}")


def _values(table: Table, name: str, *, cut: str) -> np.ndarray:
    """Column ``name`` as float64 with NaN for masked entries."""
    try:
        column = table[find_column(table, name)]
    except CatalogueColumnError as exc:
        raise CatalogueColumnError(f"{exc} (needed by the {cut!r} cut)") from None
    try:
        values = np.ma.asarray(column).astype(np.float64)
    except (TypeError, ValueError):
        where = table.meta.get("path", "catalogue")
        raise CatalogueColumnError(
            f"{where}: column {column.name!r} is not numeric ({column.dtype}; needed by the "
            f"{cut!r} cut)"
        ) from None
    return np.ma.filled(values, np.nan)


def _catalogue_pass(table: Table, cuts: Cuts, name: str) -> np.ndarray | None:
    """Rows passing catalogue cut ``name``, or None when it is off."""
    if name == "apogee_snr" and cuts.min_apogee_snr is not None:
        return _values(table, cuts.snr_column, cut=name) > cuts.min_apogee_snr
    if name == "lamost_snr" and cuts.min_lamost_snr is not None:
        return _values(table, cuts.snrz_column, cut=name) > cuts.min_lamost_snr
    if name == "starflag" and cuts.starflag_zero:
        return _values(table, cuts.starflag_column, cut=name) == 0
    if name == "aspcapflag" and cuts.aspcapflag_zero:
        return _values(table, cuts.aspcapflag_column, cut=name) == 0
    return None


def _labels(table: Table, cuts: Cuts, cut: str) -> np.ndarray:
    """The label columns, shape (num_rows, num_labels), NaN where missing."""
    if not cuts.label_columns:
        return np.zeros((len(table), 0))
    return np.stack([_values(table, c, cut=cut) for c in cuts.label_columns], axis=1)


def apply_cuts(
    table: Table,
    cuts: Cuts,
    *,
    file_ok: np.ndarray | None = None,
    num_missing_pixels: np.ndarray | None = None,
    until: str | None = None,
) -> CutResult:
    """Apply the seed's cuts in order and count what each removes.

    Parameters
    ----------
    table : astropy.table.Table, shape (num_rows,)
        The cross-matched catalogue (columns named as in ``cuts``).
    cuts : Cuts
        The thresholds.
    file_ok : array of bool, shape (num_rows,), optional
        Whether both spectra of a row were found and read; the ``files`` step
        is skipped when not given.
    num_missing_pixels : array, shape (num_rows,), optional
        Missing on-chip APOGEE pixels of each row (any value where the files
        were not read); the ``missing_pixels`` step is skipped when not given.
    until : str, optional
        Stop after this step (e.g. ``"aspcapflag"`` for the catalogue-only cuts).

    Returns
    -------
    CutResult
        The rows kept and one :class:`CutCount` per step applied.

    Raises
    ------
    CatalogueColumnError
        If a cut that is on needs a column the catalogue lacks.
    """
    if until is not None and until not in CUT_NAMES:
        raise ValueError(f"until must be one of {CUT_NAMES}, got {until!r}")
    keep = np.ones(len(table), dtype=bool)
    counts = []
    for name in CUT_NAMES:
        masked = 0
        if name in CATALOGUE_CUTS:
            passed = _catalogue_pass(table, cuts, name)
        elif name == "files":
            if file_ok is None:
                if name == until:
                    break
                continue
            passed = np.asarray(file_ok, dtype=bool)
        elif name == "missing_pixels":
            if num_missing_pixels is None:
                if name == until:
                    break
                continue
            limit = cuts.max_missing_apogee_pixels
            missing = np.asarray(num_missing_pixels, dtype=np.float64)
            passed = None if limit is None else (missing <= limit)
            # stars kept with missing pixels (masked by apogee_ivar == 0), for the table
            kept = keep if passed is None else keep & passed
            masked = int(np.sum(kept & (missing > 0)))
        elif name == "labels_present":
            passed = (
                np.all(np.isfinite(_labels(table, cuts, name)), axis=1)
                if cuts.require_labels
                else None
            )
        else:
            passed = _clip(_labels(table, cuts, name), keep, cuts.label_sigma_clip)
        before = int(keep.sum())
        if passed is not None:
            keep &= passed
        after = int(keep.sum())
        description = cuts.describe(name)
        if name == "missing_pixels" and masked:
            description += (
                f" ({masked} star{'s' if masked > 1 else ''} kept with missing pixels, "
                "masked by apogee_ivar = 0)"
            )
        counts.append(CutCount(name, description, before - after, after))
        if name == until:
            break
    return CutResult(keep, counts)


def _clip(labels: np.ndarray, keep: np.ndarray, num_sigma: float | None) -> np.ndarray | None:
    """Rows whose labels all lie within ``num_sigma`` std of the kept rows' means.

    Parameters
    ----------
    labels : ndarray, shape (num_rows, num_labels)
        NaN where missing; a missing label fails (its distance is unknown).
    keep : ndarray, shape (num_rows,), bool
        The sample the mean and standard deviation (``ddof=0``) are taken over.
    """
    if num_sigma is None or labels.shape[1] == 0:
        return None
    passed = np.ones(labels.shape[0], dtype=bool)
    for column in labels.T:
        sample = column[keep & np.isfinite(column)]
        if sample.size == 0:
            return np.zeros(labels.shape[0], dtype=bool)
        passed &= np.abs(column - sample.mean()) <= num_sigma * sample.std()
    return passed


def describe_counts(counts: Sequence[CutCount]) -> str:
    """The cut table as text, one ``name: -removed (remaining left)`` per line."""
    return "\n".join(
        f"{c.name}: -{c.num_removed} ({c.num_remaining} left)  {c.description}" for c in counts
    )
