"""Whole ``stereo-ppl fit`` runs from the shell: the default against the seed's AdamW.

Writes the built-in survey's paired dataset (``make_builtin(seed,
num_stars=N)``) to a temporary directory, then times, each in a fresh process
(compilation, reading and writing included), one ``stereo-ppl fit`` per row:

* ``default``: ``stereo-ppl fit PAIRED -c C`` (the calibrated model's exact MAP);
* ``seed adamw-es``: the seed study's model by AdamW as it ran it, stopped
  early on the held-out log joint (``--method map --noise reported --prior
  unit --batch-size`` 10% of the training stars ``--patience 20``);
* ``seed exact``: the seed's model by the exact solver (``--noise reported
  --prior unit``).

Prints seconds, peak resident memory of the child process, and the ratio of
each row's seconds to the default's. ``--rows default`` alone is the scale
run (e.g. ``--num-stars 55560 --holdout-fraction 0.1``: 50,004 training
stars). Above ``--chunk-stars`` stars the survey is made (in a child process)
as built-in surveys of consecutive seeds, ``--chunk-stars`` stars each, joined
along ``star``: the same line list and generator, other stars.

Run ``python benchmarks/bench_cli.py [-c 10] [--num-stars 1100]
[--holdout-fraction 0.2] [--rows default,seed-adamw-es,seed-exact]``.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["ROWS", "main", "run"]

_CLI = [sys.executable, "-m", "stereo_ppl"]


def _rows(num_latent: int, batch: int) -> dict[str, list[str]]:
    seed = ["--noise", "reported", "--prior", "unit"]
    return {
        "default": [],
        "seed-adamw-es": [
            "--method",
            "map",
            *seed,
            "--batch-size",
            str(batch),
            "--patience",
            "20",
        ],
        "seed-exact": seed,
    }


ROWS = ("default", "seed-adamw-es", "seed-exact")


def run(args: list[str]) -> tuple[float, float]:
    """Seconds and peak resident memory (GB) of one child process running ``args``."""
    tic = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - tic
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr.read()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024**2


def write_paired(path: str, seed: int, num_stars: int, chunk: int) -> None:
    """The built-in paired dataset of ``num_stars`` stars, made ``chunk`` stars at a time."""
    import numpy as np
    import xarray as xr

    from stereo_ppl.datasets import make_builtin

    sizes = [min(chunk, num_stars - start) for start in range(0, num_stars, chunk)]
    parts = [make_builtin(seed + k, num_stars=size).paired for k, size in enumerate(sizes)]
    paired = xr.concat(parts, dim="star") if len(parts) > 1 else parts[0]
    # identifiers drawn per seed may repeat across seeds: number the stars instead
    index = np.arange(num_stars)
    paired = paired.assign_coords(
        star=index,
        obsid=("star", 100_000_000 + index),
        apogee_id=("star", np.array([f"2M{i:016d}" for i in index])),
    )
    paired.attrs.update(num_stars=num_stars, seeds=f"{seed}-{seed + len(parts) - 1}")
    paired.to_netcdf(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--num-latent", type=int, default=10)
    parser.add_argument("--num-stars", type=int, default=1100)
    parser.add_argument("--holdout-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--chunk-stars", type=int, default=5000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, seed, num, chunk = args.child
        write_paired(path, int(seed), int(num), int(chunk))
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench_cli_"))
    try:
        tic = time.perf_counter()
        paired = tmp / "paired.nc"
        child = [str(paired), str(args.seed), str(args.num_stars), str(args.chunk_stars)]
        made_rss = run([sys.executable, __file__, "--child", *child])[1]
        made = time.perf_counter() - tic
        num_train = round(args.num_stars * (1 - args.holdout_fraction))
        rows = _rows(args.num_latent, max(1, round(0.1 * num_train)))
        print(
            f"{platform.node()} {os.cpu_count()} cpus, {args.num_stars} stars "
            f"({num_train} training), c = {args.num_latent}; paired file "
            f"{paired.stat().st_size / 1e9:.2f} GB written in {made:.0f} s "
            f"(peak {made_rss:.1f} GB)"
        )
        print(f"{'row':>14} {'seconds':>8} {'peak GB':>8} {'/ default':>10}")
        first = None
        for name in args.rows.split(","):
            out = tmp / f"{name}.nc"
            cmd = [
                *_CLI,
                "fit",
                str(paired),
                "-c",
                str(args.num_latent),
                "--out",
                str(out),
                "--seed",
                str(args.seed),
                "--holdout-fraction",
                str(args.holdout_fraction),
                *rows[name],
            ]
            seconds, peak = run(cmd)
            first = seconds if first is None else first
            print(f"{name:>14} {seconds:8.1f} {peak:8.2f} {seconds / first:10.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
