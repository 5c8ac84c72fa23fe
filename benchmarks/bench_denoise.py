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
3. the artefact flags on two generators, the built-in one and the independent
   one (:mod:`stereo_ppl.datasets.independent`), per S/N bin (30-100,
   100-250, 250-800): event recall per type, pixel precision (a flag within
   2 pixels of a true artefact) per type, and the share of artefact-free
   spectra with any flag and the share of them whose misfit alone is as
   strong as the weakest injected run (:func:`strongest_box`), for a fit
   (c = 10) of each generator's seed 0 and evaluation seeds
   (``--flag-seeds``, default 1 and 3); ``--flag-noise
   reported`` fits without the calibrated noise model (the denoiser then
   estimates the scatter from the fit's held-out stars).

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


def _draw_snr(seed: int, num: int) -> np.ndarray:
    """Per-spectrum survey-2 S/N, log-uniform in 30-800 (the S/N bins' range)."""
    rng = np.random.default_rng([seed, 30_800])
    return np.exp(rng.uniform(np.log(30.0), np.log(800.0), num))


def _flag_fit(generator: str, fit_stars: int, num_latent: int, noise: str | None = None):
    import jax

    from stereo_ppl.datasets import make_builtin
    from stereo_ppl.datasets.independent import make_independent
    from stereo_ppl.inference import fit

    if generator == "builtin":
        train = make_builtin(0, num_stars=fit_stars).paired
    else:
        train = make_independent(0, num_stars=fit_stars).paired
    options = {} if noise is None else {"noise": noise}
    return fit(jax.random.key(0), train, num_latent=num_latent, method="exact", **options)


def _flag_sets(generator: str, seed: int, num: int) -> list[dict]:
    """Test spectra with artefacts, and artefact-free ones, with their truth."""
    from stereo_ppl.datasets import make_builtin
    from stereo_ppl.datasets.independent import make_independent

    def unpack(survey, clean_only=False):
        paired, truth = survey.paired, survey.truth
        code = truth["lamost_artefact"].values
        return {
            "flux": paired["lamost_flux"].values,
            "ivar": paired["lamost_ivar"].values,
            "code": code,
            "step": truth["lamost_step_pixel"].values,
            "snr": truth["lamost_snr"].values,
            "clean": np.ones(code.shape[0], bool) if clean_only else ~np.any(code, axis=1),
        }

    if generator == "builtin":
        # the built-in generator cannot leave artefacts out: its artefact-free spectra
        # are those that happen to have none
        return [unpack(make_builtin(seed, num_stars=num, lamost_snr=_draw_snr(seed, num)))]
    return [
        unpack(make_independent(seed, num_stars=num)),
        unpack(make_independent(seed + 1000, num_stars=num, artefacts=False), clean_only=True),
    ]


def flag_quality(
    generator: str,
    *,
    seeds,
    num_stars: int,
    fit_stars: int,
    num_latent: int,
    noise=None,
    misfit_components: int = 0,
):
    """Event recall, pixel precision and false alarms per S/N bin on one generator.

    The fit is made on the generator's seed-0 paired stars; each evaluation
    seed draws ``num_stars`` test spectra with S/N log-uniform in 30-800
    (``make_builtin``) or the independent survey's own (30-800), denoised as
    ``stereo-ppl denoise --bad-columns auto`` does (a first pass to find bad
    columns, then the denoising).
    """
    import jax.numpy as jnp

    from stereo_ppl.denoise import denoise, find_bad_columns, make_setup
    from stereo_ppl.denoise.scores import SNR_BINS, event_scores

    tree = _flag_fit(generator, fit_stars, num_latent, noise)
    setup = make_setup(tree, misfit_components=misfit_components)
    rows, columns_found = [], []
    for seed in seeds:
        sets = _flag_sets(generator, seed, num_stars)
        first = denoise(setup, sets[0]["flux"], sets[0]["ivar"])
        usable = sets[0]["ivar"] > 0
        columns = find_bad_columns(first.artefact, usable, exclude=np.asarray(setup.sky))
        columns_found.append(columns.tolist())
        mask = np.zeros(setup.decoder.b_F.shape[0], bool)
        mask[columns] = True
        final = setup._replace(bad_column=jnp.asarray(mask))
        outputs = [denoise(final, d["flux"], d["ivar"]) for d in sets]
        results = [np.asarray(o.artefact) for o in outputs]
        boxes = np.concatenate(
            [
                strongest_box(d["flux"], np.asarray(o.flux), d["ivar"])
                for d, o in zip(sets, outputs, strict=True)
            ]
        )
        for lo, hi in SNR_BINS:
            row = {"generator": generator, "seed": seed, "snr": f"{lo:.0f}-{hi:.0f}"}
            d, art = sets[0], results[0]
            rows_in = (d["snr"] >= lo) & (d["snr"] < hi)
            row.update(
                event_scores(art[rows_in], d["code"][rows_in], d["step"][rows_in], usable[rows_in])
            )
            clean = np.concatenate([s["clean"] & (s["snr"] >= lo) & (s["snr"] < hi) for s in sets])
            flagged = np.concatenate([np.any(a != 0, axis=1) for a in results])
            row["num_clean"] = int(clean.sum())
            row["false_alarm"] = float(np.mean(flagged[clean])) if clean.any() else float("nan")
            row["misfit_box"] = (
                float(np.mean(boxes[clean] >= RUN_LEVEL)) if clean.any() else float("nan")
            )
            rows.append(row)
    return rows, columns_found


#: Weakest offset of the independent survey's injected runs, in sigma per pixel.
RUN_LEVEL = 5.0


def strongest_box(flux, model, ivar, widths=range(5, 21)) -> np.ndarray:
    """Largest ``|mean|`` of ``(flux - model) sqrt(ivar)`` over 5-20 adjacent pixels, per spectrum.

    A spectrum whose misfit alone reaches :data:`RUN_LEVEL` there looks, by its
    amplitude, like the weakest injected run.
    """
    r = np.where(ivar > 0, (flux - model) * np.sqrt(np.where(ivar > 0, ivar, 0.0)), 0.0)
    c = np.concatenate([np.zeros((r.shape[0], 1)), np.cumsum(r, axis=1)], axis=1)
    best = np.zeros(r.shape[0])
    for w in widths:
        best = np.maximum(best, np.abs(c[:, w:] - c[:, :-w]).max(axis=1) / w)
    return best


def print_flag_table(rows) -> None:
    cols = (
        ("cr", "recall_cosmic_ray"),
        ("step", "recall_step"),
        ("run", "recall_run"),
        ("badcol", "recall_bad_column"),
        ("other", "recall_other"),
        ("prec", "precision"),
        ("p_cr", "precision_cosmic_ray"),
        ("p_step", "precision_step_discontinuity"),
        ("p_run", "precision_run"),
        ("p_oth", "precision_other"),
        ("FA", "false_alarm"),
        ("misfit", "misfit_box"),
    )
    head = f"{'generator':>11} {'seed':>4} {'S/N':>8} " + " ".join(f"{c:>6}" for c, _ in cols)
    print(head + f" {'events cr/step/run':>18} {'clean':>5}")
    for r in rows:
        values = " ".join(f"{r.get(k, float('nan')):>6.3f}" for _, k in cols)
        events = f"{r['num_cosmic_ray']}/{r['num_step']}/{r['num_run']}"
        print(
            f"{r['generator']:>11} {r['seed']:>4} {r['snr']:>8} {values} {events:>18} "
            f"{r['num_clean']:>5}"
        )


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
    parser.add_argument("--flag-seeds", default="1,3", help="test seeds scored for flags")
    parser.add_argument("--flag-latent", default="10", help="c of the fit scored for flags")
    parser.add_argument(
        "--generators", default="builtin,independent", help="generators scored for flags"
    )
    parser.add_argument(
        "--flag-noise", default=None, help="noise model of the fit (fit's noise=; default its own)"
    )
    parser.add_argument(
        "--misfit-components", type=int, default=0, help="make_setup's misfit_components"
    )
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
        print()
        print("flags: event recall (cosmic ray: any pixel typed 1; step: a 2 within ±1 of the")
        print("jump; run: half its pixels typed 5; bad column, other: share of pixels), pixel")
        print("precision (a flag within 2 pixels of a true artefact; p_*: of that type), FA: share")
        print("of artefact-free spectra with any flag; misfit: share of artefact-free spectra")
        print(f"whose misfit alone has 5-20 pixels offset by >= {RUN_LEVEL:g} reported sigma on")
        print("average (as strong as the weakest injected run); per S/N bin")
        seeds = [int(v) for v in args.flag_seeds.split(",")]
        for generator in args.generators.split(","):
            rows, columns = flag_quality(
                generator,
                seeds=seeds,
                num_stars=150 if args.quick else 400,
                fit_stars=300 if args.quick else 600,
                num_latent=int(args.flag_latent),
                noise=args.flag_noise,
                misfit_components=args.misfit_components,
            )
            print_flag_table(rows)
            print(f"{generator}: bad columns found per seed: {columns}")
    import shutil

    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
