"""Reading survey files in ``prepare``: files per second against raw ``astropy.io.fits``.

Writes the built-in survey (``--num-pairs`` stars) as aspcapStar and LAMOST
DR4-layout files. By default (``--lamost-grid observed``) every LAMOST file is
then put on the survey's one observed-frame grid (``COEFF0 = 3.5682``), as real
DR4-DR8 files are, so each star's rest-frame grid differs, as in real data;
``--lamost-grid builtin`` keeps the built-in files' per-star grids (the
rest-frame grids then agree to rounding, the cheaper case for the continuum).
Every file is read once to warm the page cache; then, for each number of
worker processes (a pool started and warmed before the clock starts, the same
files split the same way; the methods take turns over ``--rounds`` parts of
the pairs, so that a change of load falls on all alike), the benchmark times:

* ``raw astropy``: ``fits.open`` and the data of every HDU, nothing else;
* ``raw fitsio`` (with ``--fitsio``, where the ``fitsio`` package is
  installed): the same with ``fitsio`` (a C reader, cfitsio), to tell whether
  it would open many small files faster than astropy;
* ``prepare reading``: the survey readers as ``prepare`` calls them
  (:func:`~stereo_ppl.io.read_aspcapstar` without the results table unless the
  primary header lacks the id, :func:`~stereo_ppl.io.read_lamost` with only
  the keywords it checks), the id checks and the APOGEE chip gaps: all of a
  ``prepare`` worker but the LAMOST preprocessing;
* ``full readers`` (with ``--full-readers``): the readers with their
  defaults (every header card, the aspcapStar results table), for reference;
* ``prepare read+preprocess``: :func:`~stereo_ppl.prepare.reading.read_pairs`,
  what a ``prepare`` worker does: the above plus rest frame, continuum and
  resampling of the LAMOST spectra;
* ``prepare_paired`` end to end: catalogue, cross-match, cuts, locating the
  files, starting the pool (each worker imports the package), reading,
  sending the spectra back and building the dataset; then raw astropy once
  more over all files (``raw astropy, after``).

Prints a table: files per second and the fraction of the raw astropy rate with
the same number of workers (end to end: of the mean of the raw rates before
and after it), with the load average (on a shared machine, compare rows of
one run). Run ``python benchmarks/bench_io.py [--num-pairs 10000]
[--workers 1,2] [--lamost-grid observed|builtin] [--full-readers] [--fitsio]``.
"""

import argparse
import importlib.util
import multiprocessing
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from astropy.io import fits

from stereo_ppl.data import lamost_grid
from stereo_ppl.datasets import make_builtin
from stereo_ppl.datasets.files import write_builtin_files
from stereo_ppl.io import read_aspcapstar, read_lamost, read_lamost_catalogue
from stereo_ppl.io.writers import LAMOST_COEFF0, LAMOST_COEFF1
from stereo_ppl.prepare import Cuts, prepare_paired
from stereo_ppl.prepare.pipeline import _MAX_CHUNK, _init_worker, _one_blas_thread
from stereo_ppl.prepare.reading import PairTask, _read_apogee, _read_lamost, read_pairs
from stereo_ppl.preprocess import preprocess_lamost

__all__ = ["main"]

#: Cuts that keep every built-in star, so every pair is read.
KEEP_ALL = Cuts(min_lamost_snr=None, label_sigma_clip=None)


def raw_read(pairs):
    """Open each file and touch every HDU's data, as plainly as astropy allows."""
    total = 0.0
    for pair in pairs:
        for path in pair[:2]:
            with fits.open(path, memmap=False) as hdul:
                for hdu in hdul:
                    data = hdu.data
                    if data is not None:
                        total += float(np.asarray(data).view(np.uint8)[:1].sum())
    return total


def raw_fitsio_read(pairs):
    """As :func:`raw_read`, with ``fitsio`` (cfitsio) instead of astropy."""
    import fitsio

    total = 0.0
    for pair in pairs:
        for path in pair[:2]:
            with fitsio.FITS(path) as hdul:
                for hdu in hdul:
                    if hdu.has_data():
                        data = hdu.read()
                        total += float(np.asarray(data).view(np.uint8)[:1].sum())
    return total


def prepare_read(pairs):
    """The readers, id checks and chip gaps as a prepare worker runs them."""
    tasks = [PairTask(i, *pair) for i, pair in enumerate(pairs)]
    return sum(_read_apogee(t)[2] + _read_lamost(t)[1].size for t in tasks)


def full_read(pairs):
    """The survey readers with their defaults."""
    return sum(read_aspcapstar(p[0]).num_pixels + read_lamost(p[1]).num_pixels for p in pairs)


def worker_read(pairs):
    """What a prepare worker does."""
    tasks = [PairTask(i, *pair) for i, pair in enumerate(pairs)]
    return len(read_pairs(tasks))


def timed(function, chunks, pool):
    """Seconds to run ``function`` on every chunk (one BLAS thread, as prepare runs)."""
    start = time.perf_counter()
    if pool is None:
        with _one_blas_thread():
            for chunk in chunks:
                function(chunk)
    else:
        list(pool.map(function, chunks))
    return time.perf_counter() - start


def pairs_of(files):
    """(aspcapStar path, LAMOST path, APOGEE_ID, obsid) of every catalogue row."""
    table = read_lamost_catalogue(files.catalogue)
    out = []
    for row in table:
        name = (
            f"spec-{row['lmjd']}-{row['planid']}_sp{int(row['spid']):02d}-"
            f"{int(row['fiberid']):03d}.fits"
        )
        out.append(
            (
                str(files.apogee_dir / f"aspcapStar-r12-{row['APOGEE_ID']}.fits"),
                str(files.lamost_dir / name),
                str(row["APOGEE_ID"]),
                int(row["obsid"]),
            )
        )
    return out


def to_observed_grid(paths):
    """Put LAMOST DR4-layout files on the one observed grid ``10**(3.5682 + 1e-4 k)``.

    The flux, ivar, masks and header (``Z`` included) stay; only the grid
    keywords and the stored wavelength row change, as if every star had been
    observed on the survey's common grid (real files are; the built-in ones
    are written on the rest-frame grid times ``1 + z``).
    """
    for path in paths:
        with fits.open(path, mode="update") as hdul:
            header, data = hdul[0].header, hdul[0].data
            for key in ("COEFF0", "CRVAL1"):
                header[key] = LAMOST_COEFF0
            data[2] = 10.0 ** (LAMOST_COEFF0 + LAMOST_COEFF1 * np.arange(data.shape[1]))


def make_files(num_pairs: int, directory: Path, lamost_grid_kind: str):
    """Write the survey; returns the files, the pairs and a line describing them."""
    start = time.perf_counter()
    survey = make_builtin(0, num_stars=num_pairs)
    made = time.perf_counter() - start
    start = time.perf_counter()
    files = write_builtin_files(survey, directory, failing=False)
    wrote = time.perf_counter() - start
    pairs = pairs_of(files)
    if lamost_grid_kind == "observed":
        to_observed_grid([pair[1] for pair in pairs])
    size = sum(os.path.getsize(p) for pair in pairs for p in pair[:2])
    line = (
        f"{len(pairs)} pairs ({2 * len(pairs)} files, {size / 2**20:.0f} MiB, LAMOST on "
        f"{'one observed grid' if lamost_grid_kind == 'observed' else 'per-star grids'}): "
        f"make_builtin {made:.1f} s, write_builtin_files {wrote:.1f} s"
    )
    return files, pairs, line


def run_workers(num_workers, pairs, files, *, methods, rounds):
    """Seconds of every method with ``num_workers`` processes.

    The methods take turns: the pairs are split into ``rounds`` parts and each
    part is read by every method in turn (in reverse order every other round),
    so a change in the machine's load falls on all of them alike. The end to
    end run reads all pairs at once and is followed by one more raw pass
    (``raw astropy, after``), so that its fraction can be taken against the
    raw rate of both before and after it.
    """
    size = max(1, min(_MAX_CHUNK, -(-len(pairs) // (8 * num_workers))))
    parts = np.array_split(np.arange(len(pairs)), rounds)
    pool = None
    if num_workers > 1:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(num_workers, mp_context=context, initializer=_init_worker)
        list(pool.map(worker_read, [pairs[:1]] * num_workers))  # start and import
    seconds = dict.fromkeys(methods, 0.0)
    try:
        for k, part in enumerate(parts):
            chunks = [[pairs[i] for i in part[j : j + size]] for j in range(0, part.size, size)]
            for name in methods if k % 2 == 0 else reversed(methods):
                seconds[name] += timed(methods[name], chunks, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    start = time.perf_counter()
    result = prepare_paired(
        catalogue=files.catalogue,
        apogee_dir=files.apogee_dir,
        lamost_dir=files.lamost_dir,
        cuts=KEEP_ALL,
        num_workers=num_workers,
    )
    seconds["prepare_paired end to end"] = time.perf_counter() - start
    if result.paired.sizes["star"] != len(pairs):
        raise RuntimeError(f"prepare kept {result.paired.sizes['star']} of {len(pairs)} pairs")
    del result
    chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    if num_workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(num_workers, mp_context=context) as pool:
            list(pool.map(raw_read, [pairs[:1]] * num_workers))
            seconds["raw astropy, after"] = timed(raw_read, chunks, pool)
    else:
        seconds["raw astropy, after"] = timed(raw_read, chunks, None)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-pairs", type=int, default=2000)
    parser.add_argument("--workers", default="1,2", help="comma-separated process counts")
    parser.add_argument("--lamost-grid", choices=("observed", "builtin"), default="observed")
    parser.add_argument("--rounds", type=int, default=4, help="turns the methods take")
    parser.add_argument(
        "--full-readers", action="store_true", help="also time the readers' defaults"
    )
    parser.add_argument(
        "--fitsio", action="store_true", help="also time raw reading with fitsio (if installed)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    methods = {
        "raw astropy": raw_read,
        "raw fitsio": raw_fitsio_read,
        "prepare reading": prepare_read,
        "full readers": full_read,
        "prepare read+preprocess": worker_read,
    }
    if not args.full_readers:
        del methods["full readers"]
    if args.fitsio and importlib.util.find_spec("fitsio") is None:
        print("fitsio is not installed: its row is left out")
    if not args.fitsio or importlib.util.find_spec("fitsio") is None:
        del methods["raw fitsio"]

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        files, pairs, line = make_files(args.num_pairs, Path(tmp), args.lamost_grid)
        raw_read(pairs)  # warm the page cache
        print(line)
        print(
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"page cache warm, load average before: {_load()}"
        )
        rows = []
        for num_workers in workers:
            seconds = run_workers(num_workers, pairs, files, methods=methods, rounds=args.rounds)
            raw = seconds["raw astropy"]
            around = 0.5 * (raw + seconds["raw astropy, after"])
            for name, value in seconds.items():
                base = around if name == "prepare_paired end to end" else raw
                rows.append((name, num_workers, 2 * len(pairs) / value, base / value))
            print(f"  {num_workers} worker(s) done, load average: {_load()}", flush=True)
    print(f"{'method':<28} {'workers':>7} {'files/s':>9} {'of raw':>7}")
    for name, num_workers, rate, ratio in rows:
        print(f"{name:<28} {num_workers:>7d} {rate:>9.0f} {ratio:>7.2f}")
    print(
        "(of raw: against the raw rate with the same workers; end to end against the "
        "mean of the raw rates before and after it)"
    )
    print()
    print("LAMOST preprocessing (rest frame, continuum, resampling), 32 stars per call, 1 thread:")
    for name, milliseconds in preprocess_cost().items():
        print(f"  {name:<58} {milliseconds:6.1f} ms/star")
    print(f"load average after: {_load()}")


def _load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def preprocess_cost(num_stars=32, repeats=3):
    """Per-star cost of :func:`preprocess_lamost` on the two kinds of input grid.

    The built-in files put every star on the rest-frame grid times ``1 + z``,
    so the rest-frame grids agree to rounding and share one kernel; real
    LAMOST files share the observed grid, so each star's rest grid differs
    (by a factor ``1 / (1 + z)``: one kernel and a few correction terms).
    """
    grid = lamost_grid()
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 50.0 / 299_792.458, num_stars)
    flux = rng.uniform(900, 1100, (num_stars, grid.size))
    ivar = np.full_like(flux, 1e-3)
    grids = {
        "built-in files (rest grids equal up to rounding)": grid[None, :] * (1 + z[:, None]),
        "real files (one observed grid, a rest grid per star)": np.broadcast_to(grid, flux.shape),
    }
    out = {}
    for name, observed in grids.items():
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            with _one_blas_thread():
                preprocess_lamost(observed, flux, ivar, z, grid=grid)
            best = min(best, time.perf_counter() - start)
        out[name] = 1e3 * best / num_stars
    return out


if __name__ == "__main__":
    main()
