"""MAP (SVI AutoDelta + AdamW) cost and quality on the built-in dataset.

Prints a table: for each c, seconds per 1,000 steps (full batch and 10 %
minibatches) and the held-out log joint reached. Run with
``python benchmarks/bench_map.py [--num-stars N] [--steps N] [-c 2,10,50]``.
"""

import argparse
import platform
import time

import jax

from stereo_ppl.compare import fit_summary
from stereo_ppl.datasets import make_builtin
from stereo_ppl.inference import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-stars", type=int, default=1100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("-c", default="2,10,50")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    paired = make_builtin(args.seed, num_stars=args.num_stars).paired
    print(
        f"built-in dataset: {args.num_stars} stars in {time.perf_counter() - start:.1f} s; "
        f"{platform.processor() or platform.machine()}, jax {jax.__version__} "
        f"on {jax.devices()[0].platform}, dtype {jax.numpy.zeros(()).dtype}"
    )
    num_train = round(0.8 * args.num_stars)
    header = (
        f"{'c':>4} {'batch':>6} {'steps':>6} {'s/1000 steps':>13} "
        f"{'heldout log joint':>18} {'heldout chi2/px':>16}"
    )
    print(header)
    print("-" * len(header))
    for c in (int(v) for v in args.c.split(",")):
        for batch in (None, max(1, num_train // 10)):
            tree = fit(
                jax.random.key(args.seed),
                paired,
                num_latent=c,
                num_steps=args.steps,
                batch_size=batch,
                eval_every=max(1, args.steps // 20),
                patience=None,
            )
            row = fit_summary(tree)
            trace = tree["log_joint"]  # skip the first interval: it includes compilation
            steps, seconds = trace["step"].values, trace["seconds"].values
            per_1000 = 1000 * (seconds[-1] - seconds[1]) / (steps[-1] - steps[1])
            print(
                f"{c:>4} {batch or 'all':>6} {row['steps']:>6} {per_1000:>13.2f} "
                f"{row['heldout_log_joint']:>18.6g} {row['heldout_chi2_per_pixel']:>16.4f}"
            )


if __name__ == "__main__":
    main()
