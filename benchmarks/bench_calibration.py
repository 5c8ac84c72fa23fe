"""Held-out predictive coverage of the calibrated model against the seed's.

On eq. 1–2 data (:func:`~stereo_ppl.datasets.make_calibration_data`: 600
stars, c = 5, S/N spread of 4) whose survey-2 errors are reported honestly,
under-reported by 30% or over-reported by 30%, each with lines eq. 2 cannot
fit (quadratic in the star's latent) on 30% of the pixels at 3x the noise,
fits

* ``default``: ``stereo_ppl.fit`` as it runs by default (exact MAP of the
  calibrated model; plug-in predictive);
* ``vi``: the calibrated model by ``method="vi"`` (posterior predictive
  through :func:`stereo_ppl.predict`'s spread over the draws);
* ``seed``: ``noise="reported", prior="unit"`` (the seed study's model, exact MAP)

and prints the fraction of held-out pixels inside the central 50%, 68% and
95% predictive intervals, the learned error scale and the seconds of each
fit, measured in one run.

Run ``python benchmarks/bench_calibration.py [--quick] [--seed 0]``.
"""

import argparse
import platform
import time

import jax

import stereo_ppl
from stereo_ppl.compare import heldout_coverage
from stereo_ppl.datasets import make_calibration_data

__all__ = ["main"]

CASES = {
    "honest": {"error_scale": 1.0},
    "honest+misfit": {"error_scale": 1.0, "misfit_fraction": 0.3},
    "under 30%+misfit": {"error_scale": 1.3, "misfit_fraction": 0.3},
    "over 30%+misfit": {"error_scale": 1 / 1.3, "misfit_fraction": 0.3},
}
FITS = {
    "default": {},
    "vi": {"method": "vi", "num_steps": 1000, "num_samples": 50},
    "seed": {"noise": "reported", "prior": "unit"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 stars, no vi")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    num_stars = 300 if args.quick else 600
    fits = {k: v for k, v in FITS.items() if not (args.quick and k == "vi")}
    print(f"{platform.node()} {platform.processor() or platform.machine()}, {num_stars} stars")
    header = (
        f"{'data':>18} {'fit':>8} {'50%':>6} {'68%':>6} {'95%':>6} {'a':>6} {'true a':>6} "
        f"{'sec':>6}"
    )
    print(header)
    print("-" * len(header))
    for label, case in CASES.items():
        data = make_calibration_data(args.seed, num_stars=num_stars, **case)
        for name, options in fits.items():
            tic = time.perf_counter()
            tree = stereo_ppl.fit(jax.random.key(args.seed), data.paired, num_latent=5, **options)
            seconds = time.perf_counter() - tic
            coverage = heldout_coverage(tree)
            post = tree["posterior"]
            a = float(post["error_scale"].mean()) if "error_scale" in post else 1.0
            print(
                f"{label:>18} {name:>8} "
                + " ".join(f"{coverage[p]:>6.3f}" for p in (0.5, 0.68, 0.95))
                + f" {a:>6.3f} {data.error_scale:>6.3f} {seconds:>6.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
