"""``prepare``: survey files and a catalogue in, a paired dataset out.

Steps, each counted in the output's cut table:

1. read the catalogue (a joint APOGEE x LAMOST table, or an APOGEE and a
   LAMOST catalogue to match by sky position) and cross-match;
2. the catalogue cuts (S/N, flags; :mod:`stereo_ppl.prepare.cuts`);
3. locate and read both files of every remaining star, in worker processes
   (:func:`stereo_ppl.prepare.reading.read_pairs`), with a progress bar; a
   file that cannot be used is rejected and skipped (or stops everything
   when ``strict``);
4. the cuts that need the spectra or the sample (missing APOGEE pixels,
   labels), then :func:`~stereo_ppl.prepare.output.build_paired`.

Reading can be interrupted (Ctrl-C): the pairs read so far are kept and the
result is marked incomplete.
"""

import contextlib
import multiprocessing
import os
import signal
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import NamedTuple

import astropy.units as u
import numpy as np
import xarray as xr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..data.grids import LAMOST_NUM_PIXELS
from ..io import read_allstar, read_lamost_catalogue
from .crossmatch import DEFAULT_RADIUS, match_by_id, match_by_sky
from .cuts import CATALOGUE_CUTS, CutCount, Cuts, apply_cuts
from .output import build_paired
from .reading import NUM_APOGEE_ON_CHIP, PairFailure, PairTask, read_pairs
from .rejections import PrepareError, PrepareWarning, Rejection
from .tasks import lamost_file_hint, locate_pairs, star_ids

__all__ = ["MIN_POOL_PAIRS", "PrepareResult", "prepare_paired"]

#: Largest number of pairs a worker reads per task.
_MAX_CHUNK = 64
#: Fewer pairs than this are read in this process: starting a worker (a fresh
#: interpreter importing this package, JAX included: about 2 s of CPU) costs
#: about as much as reading a couple of hundred pairs (~10 ms each).
MIN_POOL_PAIRS = 256


class PrepareResult(NamedTuple):
    """Result of :func:`prepare_paired`.

    Attributes
    ----------
    paired : xarray.Dataset
        The paired dataset (see :mod:`stereo_ppl.prepare.output`).
    counts : list of CutCount
        The cut table, in order.
    rejected : list of Rejection
        Rows and files skipped, in the order they were found.
    complete : bool
        False when reading was interrupted.
    """

    paired: xr.Dataset
    counts: list[CutCount]
    rejected: list[Rejection]
    complete: bool


def _read_catalogues(catalogue, lamost_catalogue, radius, cuts: Cuts):
    """The cross-match, the first rows of the cut table, and the table rows refer to.

    Returns
    -------
    match : CrossMatch
    counts : list of CutCount
    source : Table or None
        The joint catalogue (its rows are the ``row`` of dropped entries); None by sky.
    """
    joint = None
    if lamost_catalogue is None:
        joint = read_lamost_catalogue(catalogue)
        match = match_by_id(joint, snr_column=cuts.snr_column, snrz_column=cuts.snrz_column)
        first = CutCount("catalogue", f"rows of {Path(catalogue).name}", 0, len(joint))
        step = "duplicates", "one row per APOGEE_ID and per obsid"
    else:
        apogee = read_allstar(catalogue, columns=[c for c in cuts.label_columns])
        lamost = read_lamost_catalogue(lamost_catalogue)
        match = match_by_sky(
            apogee, lamost, radius=radius, snr_column=cuts.snr_column, snrz_column=cuts.snrz_column
        )
        duplicates = apogee.meta.get("num_duplicates", 0)
        dropped = f" ({duplicates} duplicate rows dropped: EXTRATARG bit 4)" if duplicates else ""
        first = CutCount("catalogue", f"stars of {Path(catalogue).name}{dropped}", 0, len(apogee))
        step = "crossmatch", f"one LAMOST observation within {radius:g}"
    second = CutCount(*step, first.num_remaining - len(match.table), len(match.table))
    return match, [first, second], joint


def _one_blas_thread():
    """Limit BLAS to one thread until the returned context exits (or for good, unused).

    Reading is parallel over files; the BLAS products of the continuum are
    small, and a multi-threaded BLAS next to other busy processes spins and
    slows reading several-fold. ``threadpoolctl`` (installed with
    scikit-learn) does this where available; else nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _init_worker() -> None:
    """Worker initialiser: one BLAS thread; Ctrl-C is left to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _one_blas_thread()


def _chunks(tasks: Sequence[PairTask], num_workers: int) -> list[list[PairTask]]:
    size = max(1, min(_MAX_CHUNK, -(-len(tasks) // (8 * max(num_workers, 1)))))
    return [list(tasks[i : i + size]) for i in range(0, len(tasks), size)]


def _progress(enabled: bool, total: int):
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=Console(stderr=True), disable=not enabled)
    return progress, progress.add_task("reading spectrum pairs", total=total)


def _start_pool(num_workers: int) -> ProcessPoolExecutor:
    """A pool of ``num_workers`` reading processes, started now.

    Each worker is a fresh interpreter importing this package (seconds of
    CPU); started before the files are located, they import while this
    process indexes the directories.
    """
    context = multiprocessing.get_context("spawn")  # a fork of a JAX process can deadlock
    pool = ProcessPoolExecutor(num_workers, mp_context=context, initializer=_init_worker)
    for _ in range(num_workers):
        pool.submit(read_pairs, [])  # a worker is spawned per task while none is idle
    return pool


def _read_all(tasks, *, num_workers: int, progress: bool, on_result: Callable, pool=None) -> bool:
    """Read every task, calling ``on_result`` with each result; False if interrupted.

    ``pool`` (from :func:`_start_pool`, optional) is used and shut down; without
    one, a pool is started when ``num_workers > 1`` and there are at least
    :data:`MIN_POOL_PAIRS` tasks. Once every result is in, the pool is shut
    down without waiting for its processes to exit (they exit while the
    caller builds its output).
    """
    chunks = _chunks(tasks, num_workers)
    bar, bar_task = _progress(progress, len(tasks))
    if pool is not None and len(tasks) < MIN_POOL_PAIRS:
        pool.shutdown(wait=False, cancel_futures=True)
        pool = None
    elif pool is None and num_workers > 1 and len(tasks) >= MIN_POOL_PAIRS:
        pool = _start_pool(num_workers)
    with bar:
        if pool is None:
            try:
                with _one_blas_thread():
                    for chunk in chunks:
                        for result in read_pairs(chunk):
                            on_result(result)
                        bar.advance(bar_task, len(chunk))
            except KeyboardInterrupt:
                return False
            return True
        finished = False
        try:
            pending = {pool.submit(read_pairs, chunk): len(chunk) for chunk in chunks}
            while pending:
                try:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    for future in pending:
                        future.cancel()
                    done, _ = wait(pending)  # the running chunks finish, none starts
                    for future in done:
                        if not future.cancelled():
                            for result in future.result():
                                on_result(result)
                    return False
                for future in done:
                    size = pending.pop(future)
                    for result in future.result():
                        on_result(result)
                    bar.advance(bar_task, size)
            finished = True
        finally:
            pool.shutdown(wait=not finished, cancel_futures=True)
        return True


def prepare_paired(
    *,
    catalogue: str | Path,
    apogee_dir: str | Path,
    lamost_dir: str | Path,
    lamost_catalogue: str | Path | None = None,
    cuts: Cuts | None = None,
    crossmatch_radius: u.Quantity = DEFAULT_RADIUS,
    num_workers: int = 1,
    strict: bool = False,
    progress: bool = False,
    report: Callable[[Rejection], None] | None = None,
) -> PrepareResult:
    """Build a paired dataset from survey files, with the seed study's cuts.

    Parameters
    ----------
    catalogue : str or Path
        A joint APOGEE x LAMOST catalogue (FITS or CSV: APOGEE columns plus
        ``obsid`` and ``snrz``, and ``lmjd``, ``planid``, ``spid``,
        ``fiberid`` or a ``lamost_file`` column), or, with
        ``lamost_catalogue``, an APOGEE allStar catalogue.
    apogee_dir, lamost_dir : str or Path
        Directories holding the aspcapStar and the LAMOST files (searched
        recursively).
    lamost_catalogue : str or Path, optional
        A LAMOST catalogue to match with ``catalogue`` by sky position.
    cuts : Cuts, optional
        Thresholds (default ``Cuts()``: the seed study's).
    crossmatch_radius : Quantity, optional
        Largest separation of a sky match (default 3 arcsec).
    num_workers : int, optional
        Processes reading files (1, or fewer than :data:`MIN_POOL_PAIRS` pairs:
        read in this process).
    strict : bool, optional
        Stop at the first rejected row or file instead of skipping it.
    progress : bool, optional
        Show a progress bar on stderr.
    report : callable, optional
        Called with each :class:`Rejection` as it is found; by default each
        one is a :class:`PrepareWarning`.

    Returns
    -------
    PrepareResult
        The paired dataset, the cut table, the rejections, and whether
        reading finished.

    Raises
    ------
    SurveyFileError
        If a catalogue cannot be read or a directory does not exist.
    CatalogueColumnError
        If a catalogue lacks a column the cross-match or a cut needs.
    PrepareError
        With ``strict``, at the first rejection; or when no star is left.
    """
    cuts = Cuts() if cuts is None else cuts
    radius = u.Quantity(crossmatch_radius, u.arcsec)
    match, counts, joint = _read_catalogues(catalogue, lamost_catalogue, radius, cuts)
    table = match.table
    ids, obsid, rows = star_ids(table, "APOGEE_ID", "obsid")
    rejected: list[Rejection] = []

    def reject(rejection: Rejection) -> None:
        if strict:
            raise PrepareError(rejection.message.removesuffix("; skipped") + " (strict: stopped)")
        rejected.append(rejection)
        if report is not None:
            report(rejection)
        else:
            warnings.warn(rejection.message, PrepareWarning, stacklevel=3)

    for dropped in match.dropped:
        file = "" if joint is None else lamost_file_hint(joint, dropped.row, lamost_dir)
        reject(Rejection(file, dropped.row, dropped.apogee_id, dropped.obsid, dropped.reason))
    first = apply_cuts(table, cuts, until=CATALOGUE_CUTS[-1])
    counts += first.counts
    pool = None
    if num_workers > 1 and np.count_nonzero(first.keep) >= MIN_POOL_PAIRS:
        pool = _start_pool(num_workers)  # the workers import while the files are located
    try:
        tasks, missing = locate_pairs(
            table, np.flatnonzero(first.keep), apogee_dir=apogee_dir, lamost_dir=lamost_dir
        )
        for rejection in missing:
            reject(rejection)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise

    num_rows = len(table)
    slot = {task.index: k for k, task in enumerate(tasks)}  # spectra only for rows read
    apogee_flux = np.ones((len(tasks), NUM_APOGEE_ON_CHIP), dtype=np.float32)
    apogee_ivar = np.zeros_like(apogee_flux)
    lamost_flux = np.ones((len(tasks), LAMOST_NUM_PIXELS), dtype=np.float32)
    lamost_ivar = np.zeros_like(lamost_flux)
    file_ok = np.zeros(num_rows, dtype=bool)
    attempted = first.keep.copy()
    num_missing = np.zeros(num_rows, dtype=np.int64)
    lamost_z = np.full(num_rows, np.nan)
    files = np.full((num_rows, 2), "", dtype=object)
    done = np.zeros(num_rows, dtype=bool)

    def on_result(result) -> None:
        task = tasks[result.index]
        done[task.index] = True
        if isinstance(result, PairFailure):
            # what the reader warned of goes into the rejection, not out beside it
            said = (" ".join(str(message).split()) for _, message in result.warnings)
            reason = "; ".join([result.reason, *said])
            row = int(rows[task.index])
            reject(Rejection(result.file, row, task.apogee_id, task.obsid, reason))
            return
        for category, message in result.warnings:
            warnings.warn(message, category, stacklevel=2)
        i, k = task.index, result.index
        apogee_flux[k], apogee_ivar[k] = result.apogee_flux, result.apogee_ivar
        lamost_flux[k], lamost_ivar[k] = result.lamost_flux, result.lamost_ivar
        num_missing[i], lamost_z[i], file_ok[i] = result.num_missing, result.z, True
        obsid[i] = result.obsid  # the file's OBSID where the catalogue names the file
        files[i] = (
            os.path.relpath(task.apogee_path, apogee_dir),
            os.path.relpath(task.lamost_path, lamost_dir),
        )

    # workers see the position in ``tasks`` as the index (results come back by it)
    queued = [task._replace(index=k) for k, task in enumerate(tasks)]
    complete = _read_all(
        queued, num_workers=num_workers, progress=progress, on_result=on_result, pool=pool
    )
    located = np.zeros(num_rows, dtype=bool)
    located[[task.index for task in tasks]] = True
    if not complete:
        # rows never read leave the sample here, before the file-based cuts
        unread = located & ~done
        attempted &= ~unread
        counts.append(
            CutCount(
                "interrupted",
                "not read before the interruption",
                int(unread.sum()),
                int(attempted.sum()),
            )
        )
    sub = np.flatnonzero(attempted)
    final = apply_cuts(table[sub], cuts, file_ok=file_ok[sub], num_missing_pixels=num_missing[sub])
    counts += [c for c in final.counts if c.name not in CATALOGUE_CUTS]
    kept = sub[final.keep]
    if kept.size == 0:
        lines = "; ".join(f"{c.description}: -{c.num_removed}" for c in counts[1:])
        raise PrepareError(f"no star is left after the cuts ({lines})")
    config = {
        "catalogue": str(catalogue),
        "lamost_catalogue": None if lamost_catalogue is None else str(lamost_catalogue),
        "apogee_dir": str(apogee_dir),
        "lamost_dir": str(lamost_dir),
        "crossmatch_radius_arcsec": float(radius.value),
        "strict": bool(strict),
        "cuts": cuts.as_dict(),
    }
    spectra = [slot[i] for i in kept]
    arrays = {
        "apogee_id": ids[kept],
        "obsid": obsid[kept],
        "apogee_flux": apogee_flux[spectra],
        "apogee_ivar": apogee_ivar[spectra],
        "lamost_flux": lamost_flux[spectra],
        "lamost_ivar": lamost_ivar[spectra],
        "lamost_z": lamost_z[kept],
        "apogee_file": files[kept, 0].astype(str),
        "lamost_file": files[kept, 1].astype(str),
    }
    paired = build_paired(
        table=table[kept],
        arrays=arrays,
        counts=counts,
        rejections=rejected,
        label_columns=cuts.label_columns,
        snr_column=cuts.snr_column,
        snrz_column=cuts.snrz_column,
        config=config,
        complete=complete,
    )
    return PrepareResult(paired, counts, rejected, complete)
