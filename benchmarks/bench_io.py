"""Reading survey files in ``prepare``: files per second against raw ``astropy.io.fits``.

Writes the built-in survey (``--num-pairs`` stars) as aspcapStar and LAMOST
DR4-layout files, reads every file once to warm the page cache, then times,
for each number of worker processes (a pool started and warmed before the
clock starts, the same files split the same way):

* ``raw astropy``: ``fits.open`` and the data of every HDU, nothing else;
* ``prepare readers``: :func:`~stereo_ppl.io.read_aspcapstar` and
  :func:`~stereo_ppl.io.read_lamost` (checks, metadata, bad pixels);
* ``prepare read+preprocess``: :func:`~stereo_ppl.prepare.reading.read_pairs`,
  what a ``prepare`` worker does: the readers, id checks, chip gaps, and the
  LAMOST chain (rest frame, continuum, resampling);
* ``prepare_paired`` end to end (catalogue, cross-match, cuts, pool start,
  reading, building the dataset), for reference.

Prints a table: files per second and the ratio to raw astropy with the same
number of workers. Run ``python benchmarks/bench_io.py [--num-pairs 10000]
[--workers 1,2]``.
"""

import argparse
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
from stereo_ppl.prepare import Cuts, prepare_paired
from stereo_ppl.prepare.pipeline import _init_worker, _one_blas_thread
from stereo_ppl.prepare.reading import PairTask, read_pairs
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


def reader_read(pairs):
    """The survey readers only."""
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-pairs", type=int, default=2000)
    parser.add_argument("--workers", default="1,2", help="comma-separated process counts")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        start = time.perf_counter()
        survey = make_builtin(0, num_stars=args.num_pairs)
        made = time.perf_counter() - start
        start = time.perf_counter()
        files = write_builtin_files(survey, Path(tmp), failing=False)
        wrote = time.perf_counter() - start
        pairs = pairs_of(files)
        size = sum(os.path.getsize(p) for pair in pairs for p in pair[:2])
        raw_read(pairs)  # warm the page cache
        print(
            f"{len(pairs)} pairs ({2 * len(pairs)} files, {size / 2**20:.0f} MiB): "
            f"make_builtin {made:.1f} s, write_builtin_files {wrote:.1f} s "
            f"({2 * len(pairs) / wrote:.0f} files/s)"
        )
        print(
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, page cache warm"
        )
        rows = []
        for num_workers in workers:
            size = max(1, min(32, -(-len(pairs) // (8 * num_workers))))
            chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
            pool = None
            if num_workers > 1:
                context = multiprocessing.get_context("spawn")
                pool = ProcessPoolExecutor(
                    num_workers, mp_context=context, initializer=_init_worker
                )
                list(pool.map(worker_read, [pairs[:1]] * num_workers))  # start and import
            try:
                seconds = {
                    name: timed(function, chunks, pool)
                    for name, function in (
                        ("raw astropy", raw_read),
                        ("prepare readers", reader_read),
                        ("prepare read+preprocess", worker_read),
                    )
                }
            finally:
                if pool is not None:
                    pool.shutdown()
            start = time.perf_counter()
            prepare_paired(
                catalogue=files.catalogue,
                apogee_dir=files.apogee_dir,
                lamost_dir=files.lamost_dir,
                cuts=KEEP_ALL,
                num_workers=num_workers,
            )
            seconds["prepare_paired (end to end)"] = time.perf_counter() - start
            raw = seconds["raw astropy"]
            for name, value in seconds.items():
                rows.append((name, num_workers, 2 * len(pairs) / value, raw / value))
    print(f"{'method':<30} {'workers':>7} {'files/s':>9} {'vs raw':>7}")
    for name, num_workers, rate, ratio in rows:
        print(f"{name:<30} {num_workers:>7d} {rate:>9.0f} {ratio:>7.2f}")
    print()
    print("LAMOST preprocessing (rest frame, continuum, resampling), 32 stars per call, 1 thread:")
    for name, milliseconds in preprocess_cost().items():
        print(f"  {name:<58} {milliseconds:6.1f} ms/star")


def preprocess_cost(num_stars=32, repeats=3):
    """Per-star cost of :func:`preprocess_lamost` on the two kinds of input grid.

    The built-in files put every star on the rest-frame grid times ``1 + z``,
    so the rest-frame grids agree to rounding and share one kernel; real
    LAMOST files share the observed grid, so each star's rest grid differs.
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
