"""Exact MAP solver (:func:`~stereo_ppl.inference.exact.solve_exact`): cost per c.

Prints a table: for each c, wall-clock seconds, outer iterations, CG
iterations, final log joint, final gradient norm (absolute and relative to
the start) and the process's peak resident memory so far. Data are either a
seeded random problem of seed size (default: low-rank latent labels pushed
through saturating absorption lines plus noise, uneven S/N and masked
pixels) or the built-in synthetic survey pair (``--data builtin``).

Run ``python benchmarks/bench_exact.py [--quick] [-c 2,10,50,200,500]``.
"""

import argparse
import platform
import resource
import time

import jax
import numpy as np

from stereo_ppl.inference.exact import solve_exact

__all__ = ["main", "make_problem"]


def make_problem(seed, *, num_stars=1100, num_apogee=7514, num_lamost=3909, num_labels=4):
    """A random seed-size problem: low-rank labels, nonlinear lines, noise, masks.

    Returns
    -------
    apogee_flux : ndarray, shape (num_stars, num_apogee), float32
    lamost_flux : ndarray, shape (num_stars, num_lamost), float32, 0 where masked
    lamost_ivar : ndarray, shape (num_stars, num_lamost), float32, 0 = masked
    """
    rng = np.random.default_rng(seed)
    labels = rng.uniform(-1, 1, size=(num_stars, num_labels))

    def spectra(num_pixels, num_lines):
        centres = rng.uniform(0, num_pixels, num_lines)
        widths = rng.uniform(1.0, 4.0, num_lines)
        slope = 1.5 * rng.normal(size=(num_labels, num_lines))
        curve = 0.5 * rng.normal(size=(num_labels, num_lines))
        depth = 0.6 / (
            1 + np.exp(-(labels @ slope + labels**2 @ curve + rng.normal(size=num_lines) - 1))
        )
        pixels = np.arange(num_pixels)
        profile = np.exp(-0.5 * ((pixels - centres[:, None]) / widths[:, None]) ** 2)
        tilt = 1 + 0.05 * labels[:, :1] * (pixels / num_pixels - 0.5)
        return tilt * (1 - depth @ profile)

    apogee = spectra(num_apogee, 400) + 0.01 * rng.normal(size=(num_stars, num_apogee))
    snr = rng.uniform(20, 150, num_stars)
    throughput = 0.5 + 0.5 * np.sin(np.linspace(0, 3, num_lamost)) ** 2
    ivar = (snr[:, None] * throughput) ** 2 * rng.lognormal(0, 0.3, (num_stars, num_lamost))
    ivar[rng.uniform(size=ivar.shape) < 0.02] = 0.0
    lamost = spectra(num_lamost, 250)
    lamost = lamost + rng.normal(size=lamost.shape) / np.sqrt(np.where(ivar > 0, ivar, 1.0))
    lamost[ivar == 0] = 0.0
    return apogee.astype(np.float32), lamost.astype(np.float32), ivar.astype(np.float32)


def _builtin(seed, num_stars):
    from stereo_ppl.datasets import make_builtin

    paired = make_builtin(seed, num_stars=num_stars).paired
    ivar = paired["lamost_ivar"].values
    flux = np.where(ivar > 0, paired["lamost_flux"].values, 0.0)
    arrays = (paired["apogee_flux"].values, flux, ivar)
    return tuple(np.asarray(a, np.float32) for a in arrays)


def _peak_rss_gb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return peak * (1 if platform.system() == "Darwin" else 1024) / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", default="2,10,50,200,500", help="comma-separated latent sizes")
    parser.add_argument("--num-stars", type=int, default=1100)
    parser.add_argument("--data", choices=("random", "builtin"), default="random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--tol", type=float, default=None)
    parser.add_argument(
        "--quick", action="store_true", help="300 stars, 1000 x 500 pixels, c = 2, 10, 50"
    )
    args = parser.parse_args()

    start = time.perf_counter()
    if args.quick:
        arrays = make_problem(args.seed, num_stars=300, num_apogee=1000, num_lamost=500)
        latents = [2, 10, 50]
    elif args.data == "builtin":
        arrays = _builtin(args.seed, args.num_stars)
        latents = [int(v) for v in args.c.split(",")]
    else:
        arrays = make_problem(args.seed, num_stars=args.num_stars)
        latents = [int(v) for v in args.c.split(",")]
    (n, p1), p2 = arrays[0].shape, arrays[1].shape[1]
    print(
        f"{args.data if not args.quick else 'quick'} data: {n} stars x {p1} x {p2} pixels in "
        f"{time.perf_counter() - start:.1f} s; {platform.processor() or platform.machine()}, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, float32"
    )
    header = (
        f"{'c':>4} {'seconds':>8} {'iters':>6} {'cg':>6} {'log joint':>16} "
        f"{'grad norm':>10} {'grad/start':>10} {'conv':>5} {'peak RSS GB':>11}"
    )
    print(header)
    print("-" * len(header))
    for c in latents:
        tic = time.perf_counter()
        result = solve_exact(
            jax.random.key(args.seed), *arrays, num_latent=c, max_iter=args.max_iter, tol=args.tol
        )
        seconds = time.perf_counter() - tic
        trace = result.trace
        cg = int(trace.cg_iterations.sum())
        print(
            f"{c:>4} {seconds:>8.1f} {result.num_iterations:>6} {cg:>6} "
            f"{result.log_joint:>16.6f} {result.grad_norm:>10.3e} "
            f"{result.grad_norm / trace.grad_norm[0]:>10.2e} {result.converged!s:>5} "
            f"{_peak_rss_gb():>11.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
