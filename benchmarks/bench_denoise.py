"""Benchmark of ``stereo_ppl.denoise``: speed against the GEMM roofline, memory, flags.

Prints three tables:

1. spectra per second for c = 10, 50, 200 in memory (NumPy arrays) and out
   of core (a chunked Zarr store of float32 ``lamost_flux`` and
   ``lamost_ivar`` -> a Zarr output), next to this machine's roofline: the
   GEMM rate measured in the same run divided by the ``2 m c^2`` FLOP per
   spectrum that forming ``B^T W B`` needs (m = 3,909). Beside the robust
   and plain denoiser, the rate of its ``B^T W B`` GEMM alone, and in the
   header the memory bandwidth measured in the same run with the bound it
   sets (82 kB in and out per spectrum);
2. peak resident memory of the out-of-core run (a child process per size) as
   the number of spectra grows (10^4 and 10^5 by default; ``--sizes`` for 10^6);
3. per-pixel precision and recall of each artefact code on the built-in set's
   injected artefacts at several LAMOST S/N levels (``--snr``), for evaluation
   seeds (``--flag-seeds``, default 1 and 3) other than the seed the
   thresholds were calibrated on (2), with the step score of an *oracle*: the
   same local step fit (side scales, ramp, splice glitch) on the true stellar
   flux with photon noise only, which bounds what any centre estimate can reach
   for this injection (a ramp plus a glitch of about half the jump is the same
   data as a clean step two pixels away).

Run: ``.venv/bin/python benchmarks/bench_denoise.py [--quick]``.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

M = 3909
#: Bytes a denoiser must move per spectrum at least: float32 flux and ivar in;
#: float32 denoised flux, its sigma and the residual and int8 artefact codes out.
BYTES_PER_SPECTRUM = (2 * 4 + 3 * 4 + 1) * M


def best_seconds(f, reps: int) -> float:
    """Shortest wall time of ``reps`` calls of ``f`` (after one warm-up call).

    The machine is shared: the best of several runs is the least disturbed
    one, and both the roofline and the denoiser are timed the same way.
    """
    f()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def cpu_pressure() -> str:
    """Linux PSI ``some avg60`` for the CPU (how contended the machine is), if available."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    fields = dict(item.split("=") for item in line.split()[1:])
    return f"{float(fields.get('avg60', 'nan')):.0f}% over the last minute"


def gemm_rate(size: int = 2048, reps: int = 5) -> float:
    """Measured float32 GEMM rate of this machine (FLOP/s) through JAX."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((size, size), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    return 2.0 * size**3 / best_seconds(lambda: f(a).block_until_ready(), reps)


def copy_rate(rows: int, reps: int = 5) -> float:
    """Measured memory bandwidth (bytes/s) through JAX for a batch of ``rows`` spectra.

    One float32 (rows, m) array read and another written (a STREAM copy):
    an upper bound for any kernel that reads and writes its arrays once.
    """
    import jax
    import jax.numpy as jnp

    a = jnp.ones((rows, M), jnp.float32)
    f = jax.jit(lambda x: x * 2.0)
    return 2.0 * a.nbytes / best_seconds(lambda: f(a).block_until_ready(), reps)


def gram_rate(setup, ivar, reps: int) -> float:
    """Spectra per second of the denoiser's own ``B^T W B`` (the roofline's FLOP) alone."""
    import jax
    import jax.numpy as jnp

    from stereo_ppl.denoise.linalg import normal_matrices

    f = jax.jit(normal_matrices)
    w = jnp.asarray(ivar)
    return ivar.shape[0] / best_seconds(lambda: f(setup.decoder, w).block_until_ready(), reps)


def synthetic_setup(num_latent: int, seed: int = 0):
    """A decoder on the LAMOST grid with smooth random lines (speed tests only)."""
    import jax.numpy as jnp

    from stereo_ppl.data import lamost_grid
    from stereo_ppl.denoise import make_decoder
    from stereo_ppl.denoise.core import DenoiseSetup

    rng = np.random.default_rng(seed)
    wl = lamost_grid()
    centres = rng.uniform(wl[0], wl[-1], 200)
    profiles = np.exp(-0.5 * ((wl[:, None] - centres[None, :]) / 2.0) ** 2)
    b_F = 1.0 - profiles @ rng.uniform(0.05, 0.4, 200)
    beta_F = 0.02 * profiles @ rng.normal(size=(200, num_latent))
    decoder = make_decoder(beta_F, b_F)
    lo, hi = np.searchsorted(wl, (5600.0, 6100.0))
    setup = DenoiseSetup(
        decoder,
        jnp.full(M, 0.003, decoder.b_F.dtype),
        jnp.zeros(M, bool),
        jnp.zeros(M, bool),
        (int(lo), int(hi)),
    )
    return setup, beta_F, b_F


def synthetic_spectra(beta_F, b_F, num: int, seed: int, *, artefacts: bool = True):
    """Noisy spectra from the decoder at S/N about 100, float32 flux and ivar.

    With ``artefacts``, the built-in set's cosmic rays, arm steps, bad columns
    and sky residuals are injected, so the robust path does the work it does
    on real spectra (step fits in ~30% of them, clipped pixels in most).
    """
    from stereo_ppl.data import lamost_grid
    from stereo_ppl.datasets.artefacts import inject_artefacts

    rng = np.random.default_rng(seed)
    z = rng.normal(size=(num, beta_F.shape[1]))
    truth = z @ beta_F.T + b_F
    sigma = np.abs(truth) / 100.0 + 1e-3
    flux = truth + sigma * rng.normal(size=truth.shape)
    if artefacts:
        good = np.ones(flux.shape, bool)
        flux = inject_artefacts(rng, flux, sigma, good, lamost_grid()).flux
    return flux.astype(np.float32), (1.0 / sigma**2).astype(np.float32)


def in_memory_rates(num_latent: int, batch: int, reps: int) -> dict:
    """Spectra per second on ``batch`` spectra in memory: ``robust`` and ``plain``
    :func:`denoise_batch`, and ``gram``, its ``B^T W B`` GEMM alone."""
    from stereo_ppl.denoise import denoise_batch

    setup, beta_F, b_F = synthetic_setup(num_latent)
    flux, ivar = synthetic_spectra(beta_F, b_F, batch, 1)
    rates = {"gram": gram_rate(setup, ivar, reps)}
    for name, robust in (("robust", True), ("plain", False)):
        seconds = best_seconds(lambda r=robust: denoise_batch(setup, flux, ivar, robust=r), reps)
        rates[name] = batch / seconds
    return rates


def write_store(path: Path, num: int, chunk: int) -> None:
    """A Zarr store of ``num`` synthetic spectra, uncompressed, chunked along star."""
    import xarray as xr

    _, beta_F, b_F = synthetic_setup(10)
    flux, ivar = synthetic_spectra(beta_F, b_F, min(num, chunk), 2)
    first = True
    for start in range(0, num, chunk):
        k = min(chunk, num - start)
        ds = xr.Dataset(
            {
                "lamost_flux": (("star", "lamost_pixel"), flux[:k]),
                "lamost_ivar": (("star", "lamost_pixel"), ivar[:k]),
            },
            coords={"obsid": ("star", np.arange(start, start + k, dtype=np.int64))},
        )
        if first:
            enc = {n: {"chunks": (chunk, M), "compressors": None} for n in ds.data_vars}
            ds.to_zarr(path, mode="w", encoding=enc, consolidated=False)
            first = False
        else:
            ds.to_zarr(path, append_dim="star", consolidated=False)


def peak_rss_mib() -> float:
    """This process's own peak resident memory, MiB.

    ``VmHWM`` of the process's memory map where Linux has it: ``ru_maxrss``
    also counts the parent's resident memory at the fork (Linux carries it
    over ``exec``), which made a child of this benchmark report the parent's
    2.8 GB.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(store: str, out: str, num_latent: int, batch: int) -> None:
    """Denoise ``store`` out of core; print seconds and peak RSS as JSON."""
    from stereo_ppl.data import lamost_grid
    from stereo_ppl.denoise import StoreSource, denoise_source

    setup, _, _ = synthetic_setup(num_latent)
    grid = lamost_grid()
    source = StoreSource(Path(store), grid)
    # compile once outside the timing
    from stereo_ppl.denoise import denoise

    denoise(setup, *source.read(0, min(batch, source.num_spectra))[:2], batch_size=batch)
    start = time.perf_counter()
    denoise_source(setup, source, Path(out), wavelength=grid, batch_size=batch, bad_columns=None)
    seconds = time.perf_counter() - start
    rss = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "rss_mib": rss}))


def out_of_core(num: int, num_latent: int, batch: int, tmp: Path) -> dict:
    store = tmp / f"in_{num}.zarr"
    if not store.exists():
        write_store(store, num, batch)
    out = tmp / f"out_{num}_{num_latent}.zarr"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    cmd = [sys.executable, __file__, "--child", str(store), str(out), str(num_latent), str(batch)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["rate"] = num / result["seconds"]
    return result


def _oracle_chi2(y, mm, ok, k, half):
    """Chi-square of the local step fit centred at ``k`` on scaled data ``y`` and model ``mm``."""
    lo, hi = k - half, k + half + 1
    parts = (slice(lo, k - 1), slice(k + 2, hi))
    chi2, scales = 0.0, []
    for part in parts:
        w = ok[part]
        a = np.sum(w * y[part] * mm[part]) / max(np.sum(w * mm[part] ** 2), 1e-300)
        chi2 += np.sum(w * (y[part] - a * mm[part]) ** 2)
        scales.append(a)
    join = np.arange(k - 1, k + 2)
    ramp = scales[0] + (scales[1] - scales[0]) * np.array([0.25, 0.5, 0.75])
    e = ok[join] * (y[join] - ramp * mm[join])
    shape = ok[join] * np.array([0.5, 1.0, 0.5])
    g = np.sum(shape * e) / max(np.sum(shape**2), 1e-12)
    return chi2 + np.sum((e - g * shape) ** 2)


def oracle_step_score(truth, ivar, *, reach: int = 12, window: int = 40) -> float:
    """Per-pixel step precision (= recall) of the local fit on the true stellar flux.

    For every injected step, the centre within ``reach`` pixels of the truth
    that best fits the observed flux as the *true* stellar flux times a scale
    on each side, the ramp and a splice glitch (photon noise only, other
    artefacts left out); its three pixels are compared with the truth's.
    """
    code = truth["lamost_artefact"].values
    true_flux = truth["lamost_flux_true"].values
    observed = truth["lamost_flux_observed"].values
    hit = total = 0
    half = reach + window + 2
    for star in np.flatnonzero(truth["lamost_step_pixel"].values >= 0):
        k = int(truth["lamost_step_pixel"].values[star])
        s = np.sqrt(np.maximum(ivar[star], 0.0))
        ok = (ivar[star] > 0) & ((code[star] == 0) | (code[star] == 2))
        y, mm = observed[star] * s, true_flux[star] * s
        cands = [c for c in range(k - reach, k + reach + 1) if c - half >= 0 and c + half < M]
        best = min(cands, key=lambda c: _oracle_chi2(y, mm, ok, c, half))
        flagged = set(range(best - 1, best + 2))
        true = set(np.flatnonzero(code[star] == 2).tolist())
        hit += len(flagged & true)
        total += len(true)
    return hit / max(total, 1)


def flag_table(
    snrs, num_stars: int, fit_stars: int, seeds=(1, 3), num_latent: int = 10
) -> list[dict]:
    import jax

    from stereo_ppl.datasets import make_builtin
    from stereo_ppl.denoise import denoise, find_bad_columns, flag_scores, make_setup
    from stereo_ppl.inference import fit

    train = make_builtin(0, num_stars=fit_stars)
    tree = fit(jax.random.key(0), train.paired, num_latent=num_latent, method="exact")
    setup = make_setup(tree)
    rows = []
    for seed, snr in ((seed, snr) for seed in seeds for snr in snrs):
        test = make_builtin(seed, num_stars=num_stars, lamost_snr=snr)
        flux = test.paired["lamost_flux"].values
        ivar = test.paired["lamost_ivar"].values
        truth = test.truth.assign(lamost_flux_observed=test.paired["lamost_flux"])
        oracle = oracle_step_score(truth, ivar)
        first = denoise(setup, flux, ivar)
        columns = find_bad_columns(first.artefact, ivar > 0, exclude=np.asarray(setup.sky))
        mask = np.zeros(M, bool)
        mask[columns] = True
        import jax.numpy as jnp

        result = denoise(setup._replace(bad_column=jnp.asarray(mask)), flux, ivar)
        scores = flag_scores(result.artefact, test.truth["lamost_artefact"].values, ivar > 0)
        for name, s in scores.items():
            extra = oracle if name == "step_discontinuity" else float("nan")
            rows.append({"seed": seed, "snr": snr, "code": name, **s, "oracle": extra})
    return rows


def speed_tables(latents, sizes, tmp: Path, *, quick: bool, disk_too: bool) -> None:
    """Print the spectra/s table against the rooflines and the memory table."""
    from stereo_ppl.denoise.core import BLOCK_SIZE

    rate = gemm_rate()
    bandwidth = copy_rate(2048)
    stream = bandwidth / BYTES_PER_SPECTRUM
    load = os.getloadavg()[0]
    print(f"GEMM rate (float32, 2048^3, JAX, best of 5): {rate / 1e9:.1f} GFLOP/s")
    print(
        f"memory bandwidth (JAX copy of a (2048, {M}) float32 batch): {bandwidth / 1e9:.1f} GB/s;"
        f" {BYTES_PER_SPECTRUM / 1e3:.0f} kB in and out per spectrum -> at most {stream:.0f}/s"
    )
    print(f"load average (1 min) {load:.1f} on {os.cpu_count()} CPUs; kernel block {BLOCK_SIZE}")
    print(f"CPU pressure (share of time some task waited for a CPU): {cpu_pressure()}")
    print("roofline/s: GEMM rate / (2 m c^2); gram/s: the denoiser's B^T W B alone;")
    print("robust/s: denoising with flags; plain/s: one least-squares solve per spectrum,")
    print("flagged from its residuals (robust=False); frac: of the roofline")
    print()
    print(
        f"{'c':>4} {'roofline/s':>11} {'gram/s':>9} {'frac':>6} {'robust/s':>9} {'frac':>6} "
        f"{'plain/s':>9} {'frac':>6} {'disk/s':>9} {'N':>8} {'load':>5}"
    )
    for c in latents:
        roof = rate / (2.0 * M * c * c)
        batch = 2048 if c <= 50 else 256
        r = in_memory_rates(c, batch, 2 if quick else 5)
        n0 = sizes[0] if c == 10 else min(sizes[0], 4 * batch)
        disk = out_of_core(n0, c, batch, tmp)["rate"] if disk_too else float("nan")
        print(
            f"{c:>4} {roof:>11.0f} {r['gram']:>9.0f} {r['gram'] / roof:>6.1%} "
            f"{r['robust']:>9.0f} {r['robust'] / roof:>6.1%} {r['plain']:>9.0f} "
            f"{r['plain'] / roof:>6.1%} {disk:>9.0f} {n0:>8} {os.getloadavg()[0]:>5.1f}"
        )
    if not disk_too:
        return
    print()
    print(f"{'N':>8} {'c':>4} {'seconds':>8} {'spectra/s':>10} {'peak RSS MiB':>13} {'load':>5}")
    for num in sizes:
        r = out_of_core(num, 10, 2048, tmp)
        print(
            f"{num:>8} {10:>4} {r['seconds']:>8.1f} {r['rate']:>10.0f} {r['rss_mib']:>13.0f} "
            f"{os.getloadavg()[0]:>5.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats")
    parser.add_argument("--sizes", default="10000,100000", help="spectra out of core")
    parser.add_argument("--latents", default="10,50,200")
    parser.add_argument("--snr", default="50,100,250,500", help="LAMOST S/N levels for flags")
    parser.add_argument("--flag-seeds", default="1,3", help="built-in seeds scored for flags")
    parser.add_argument("--flag-latents", default="10", help="c of the fits scored for flags")
    parser.add_argument("--no-flags", action="store_true")
    parser.add_argument("--no-speed", action="store_true", help="only the flag table")
    parser.add_argument("--no-disk", action="store_true", help="in memory only (no out of core)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        store, out, c, batch = args.child
        child(store, out, int(c), int(batch))
        return
    latents = [int(v) for v in args.latents.split(",")]
    sizes = [int(float(v)) for v in args.sizes.split(",")]
    if args.quick:
        sizes = [min(s, 4096) for s in sizes[:1]] + [min(s, 16384) for s in sizes[1:2]]
    tmp = Path(tempfile.mkdtemp(prefix="bench_denoise_"))
    if not args.no_speed:
        speed_tables(latents, sizes, tmp, quick=args.quick, disk_too=not args.no_disk)
    if not args.no_flags:
        snrs = [float(v) for v in args.snr.split(",")]
        rows = [
            {"c": c, **row}
            for c in (int(v) for v in args.flag_latents.split(","))
            for row in flag_table(
                snrs,
                num_stars=120 if args.quick else 400,
                fit_stars=300 if args.quick else 600,
                seeds=[int(v) for v in args.flag_seeds.split(",")],
                num_latent=c,
            )
        ]
        print()
        print("flags (thresholds calibrated on seed 2); oracle: step P = R of the local fit")
        print("on the true stellar flux (photon noise only), the ceiling for this injection")
        print(
            f"{'c':>4} {'seed':>4} {'S/N':>5} {'code':>20} {'precision':>10} {'recall':>7} "
            f"{'flagged':>8} {'true':>6} {'oracle':>7}"
        )
        for r in rows:
            print(
                f"{r['c']:>4} {r['seed']:>4} {r['snr']:>5.0f} {r['code']:>20} "
                f"{r['precision']:>10.3f} {r['recall']:>7.3f} {r['flagged']:>8} {r['true']:>6} "
                f"{r['oracle']:>7.3f}"
            )
    import shutil

    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
