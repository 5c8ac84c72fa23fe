"""Reading and preprocessing one batch of (aspcapStar, LAMOST) file pairs.

:func:`read_pairs` is what a worker process runs: it reads each pair with the
survey readers, checks that the files hold the catalogue's ids, drops the
APOGEE chip gaps, and puts the LAMOST spectra through
:func:`stereo_ppl.preprocess.preprocess_lamost` onto
:func:`stereo_ppl.data.lamost_grid`. A problem with a pair becomes a
:class:`PairFailure` naming the file; nothing else escapes.

The readers are asked for what ``prepare`` uses: the aspcapStar results table
only where the primary header has no id, and of the LAMOST header only the
keywords the reader checks. Both files are still checked in full (every HDU
the spectrum needs, grids, bad pixels): the two skipped parts are astropy's
slowest (a table's column definitions; a header card's value parsed in some
20 microseconds) and ``prepare`` takes the labels and S/N from its catalogue.
"""

import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..data.grids import APOGEE_CHIPS, APOGEE_NUM_PIXELS, lamost_grid
from ..errors import StereoPPLError
from ..io import read_aspcapstar, read_lamost
from ..io.apogee import apogee_chips
from ..io.errors import SurveyFileError
from ..preprocess import drop_chip_gaps, preprocess_lamost

__all__ = ["NUM_APOGEE_ON_CHIP", "PairFailure", "PairSpectra", "PairTask", "read_pairs"]


class PairTask(NamedTuple):
    """One pair to read.

    Attributes
    ----------
    index : int
        Position of the pair in the caller's list (returned with the result).
    apogee_path, lamost_path : str
        The aspcapStar and LAMOST files.
    apogee_id : str
        The catalogue's APOGEE id (checked against the file where it has one).
    obsid : int
        The catalogue's obsid (checked against the LAMOST header ``OBSID``); -1
        where the catalogue names the file instead (DR1-DR2 files have no ``OBSID``).
    """

    index: int
    apogee_path: str
    lamost_path: str
    apogee_id: str
    obsid: int


class PairSpectra(NamedTuple):
    """A pair read and preprocessed.

    Attributes
    ----------
    index : int
    apogee_flux, apogee_ivar : ndarray, shape (7514,), float32
        On-chip aspcapStar pixels; missing pixels have ivar 0 and flux 1.
    lamost_flux, lamost_ivar : ndarray, shape (3909,), float32
        Rest-frame, continuum-normalised, on :func:`stereo_ppl.data.lamost_grid`.
    num_missing : int
        On-chip APOGEE pixels with ivar 0 (on the chips of the file's release).
    z : float
        The LAMOST header redshift used.
    warnings : tuple of (type, str)
        Warnings raised while reading (category, message), to re-emit.
    obsid : int
        The catalogue's obsid, or the file's ``OBSID`` where the catalogue
        named the file instead.
    """

    index: int
    apogee_flux: np.ndarray
    apogee_ivar: np.ndarray
    lamost_flux: np.ndarray
    lamost_ivar: np.ndarray
    num_missing: int
    z: float
    warnings: tuple
    obsid: int


class PairFailure(NamedTuple):
    """A pair that could not be used.

    Attributes
    ----------
    index : int
    file : str
        The file at fault.
    reason : str
        The message, starting with the file name.
    warnings : tuple of (type, str)
    """

    index: int
    file: str
    reason: str
    warnings: tuple


def _recorded(records) -> tuple:
    return tuple((r.category, str(r.message)) for r in records)


def _read_apogee(task: PairTask):
    """On-chip flux, ivar (shape (7514,)) and the number of missing pixels."""
    spectrum = read_aspcapstar(task.apogee_path, results="if-no-id")
    file_id = str(spectrum.meta.get("APOGEE_ID", "")).strip()
    if file_id and file_id != task.apogee_id:
        raise SurveyFileError(
            f"holds APOGEE_ID {file_id!r}, but the catalogue row says {task.apogee_id!r}",
            path=task.apogee_path,
        )
    try:
        _, flux, ivar = drop_chip_gaps(spectrum.wavelength, spectrum.flux, spectrum.ivar)
    except StereoPPLError as exc:
        raise SurveyFileError(str(exc), path=task.apogee_path, hdu=1) from exc
    missing = ivar == 0
    return np.where(missing, 1.0, flux), ivar, int((missing & _own_chips(spectrum.release)).sum())


@lru_cache(maxsize=8)
def _own_chips(release: str) -> np.ndarray:
    """Which of the kept (DR13-DR17 chip) pixels lie on the chips of ``release``.

    DR10-DR12 files have narrower chips (7,214 pixels): the pixels they never
    had stay masked but are not counted as missing.

    Returns
    -------
    ndarray, shape (NUM_APOGEE_ON_CHIP,), bool
        Read-only (cached per release).
    """
    kept = np.zeros(APOGEE_NUM_PIXELS, dtype=bool)
    own = np.zeros(APOGEE_NUM_PIXELS, dtype=bool)
    for (start, stop), (own_start, own_stop) in zip(
        APOGEE_CHIPS, apogee_chips(release), strict=True
    ):
        kept[start:stop], own[own_start:own_stop] = True, True
    own = own[kept]
    own.setflags(write=False)
    return own


def _read_lamost(task: PairTask):
    """Observed wavelength, flux, ivar, the header redshift and the obsid of the LAMOST file."""
    spectrum = read_lamost(task.lamost_path, meta_keys=())
    file_obsid = spectrum.meta.get("OBSID")
    if file_obsid is not None and task.obsid >= 0 and int(file_obsid) != task.obsid:
        raise SurveyFileError(
            f"holds OBSID {file_obsid}, but the catalogue row says {task.obsid}",
            path=task.lamost_path,
            hdu=0,
            keyword="OBSID",
        )
    if file_obsid is None and task.obsid < 0:
        raise SurveyFileError(
            "has no OBSID card (as DR1-DR2 files) and the catalogue names the file without an "
            "obsid; add the obsid column, or use the file as a later release serves it",
            path=task.lamost_path,
            hdu=0,
            keyword="OBSID",
        )
    z = spectrum.meta.get("Z")
    if not isinstance(z, int | float) or not np.isfinite(z) or z <= -1:
        raise SurveyFileError(
            f"has no usable redshift (Z = {z!r})", path=task.lamost_path, hdu=0, keyword="Z"
        )
    obsid = task.obsid if task.obsid >= 0 else int(file_obsid)
    return spectrum.wavelength.value, spectrum.flux, spectrum.ivar, float(z), obsid


def read_pairs(tasks: Sequence[PairTask]) -> list[PairSpectra | PairFailure]:
    """Read, check and preprocess a batch of file pairs.

    Parameters
    ----------
    tasks : sequence of PairTask
        The pairs (a batch: the LAMOST spectra of equal length are
        preprocessed together).

    Returns
    -------
    list of PairSpectra or PairFailure
        One per task, in order.
    """
    results: list = [None] * len(tasks)
    pending = []  # (position, apogee arrays, lamost arrays, warnings)
    for position, task in enumerate(tasks):
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            try:
                apogee = _read_apogee(task)
            except StereoPPLError as exc:
                file, reason = task.apogee_path, str(exc)
            else:
                try:
                    lamost = _read_lamost(task)
                except StereoPPLError as exc:
                    file, reason = task.lamost_path, str(exc)
                else:
                    file = None
        if file is not None:
            results[position] = PairFailure(task.index, file, reason, _recorded(records))
        else:
            pending.append((position, apogee, lamost, _recorded(records)))
    grid = lamost_grid()
    by_length: dict[int, list] = {}
    for item in pending:
        by_length.setdefault(item[2][1].size, []).append(item)
    for group in by_length.values():
        for (position, apogee, lamost, recorded), outcome in zip(
            group, _preprocess(group, grid), strict=True
        ):
            task = tasks[position]
            if isinstance(outcome, str):
                reason = f"{task.lamost_path}: {outcome}"
                results[position] = PairFailure(task.index, task.lamost_path, reason, recorded)
            elif not np.any(outcome[1] > 0):
                reason = (
                    f"{task.lamost_path}: no usable pixel on the rest-frame grid "
                    f"({grid[0]:.1f}-{grid[-1]:.1f} Angstrom) after preprocessing"
                )
                results[position] = PairFailure(task.index, task.lamost_path, reason, recorded)
            else:
                results[position] = PairSpectra(
                    task.index,
                    apogee[0].astype(np.float32),
                    apogee[1].astype(np.float32),
                    outcome[0].astype(np.float32),
                    outcome[1].astype(np.float32),
                    apogee[2],
                    lamost[3],
                    recorded,
                    lamost[4],
                )
    return results


def _preprocess(group: list, grid: np.ndarray) -> list:
    """Preprocess the LAMOST spectra of ``group`` (equal lengths) together.

    Returns
    -------
    list
        Per item, ``(flux, ivar)`` of shape (num_grid,) or the error message;
        a batch that fails is redone one star at a time to find the culprit.
    """
    wavelength = np.stack([item[2][0] for item in group])
    flux = np.stack([item[2][1] for item in group])
    ivar = np.stack([item[2][2] for item in group])
    z = np.array([item[2][3] for item in group])
    try:
        norm_flux, norm_ivar = preprocess_lamost(wavelength, flux, ivar, z, grid=grid)
    except StereoPPLError:
        if len(group) == 1:
            raise
    else:
        return list(zip(norm_flux, norm_ivar, strict=True))
    outcomes = []
    for item in group:
        try:
            outcomes.append(_preprocess([item], grid)[0])
        except StereoPPLError as exc:
            outcomes.append(f"preprocessing failed: {exc}")
    return outcomes


#: Number of on-chip APOGEE pixels (the length of ``PairSpectra.apogee_flux``).
NUM_APOGEE_ON_CHIP = sum(stop - start for start, stop in APOGEE_CHIPS)
