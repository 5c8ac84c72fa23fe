"""Peak memory of one fit per method at large c (target: c = 500 in < 4 GB).

Each (method, c) runs in a fresh Python process on the built-in set (1,100
stars), builds the fit's DataTree and writes it to netCDF, then reports its
wall-clock time and peak resident memory (``ru_maxrss``). Prints a table.

Run ``python benchmarks/bench_memory.py [-c 500] [--methods exact,map,laplace,vi]
[--max-iter N] [--num-samples 100]``.
"""

import argparse
import json
import subprocess
import sys
import tempfile

__all__ = ["main"]

_CHILD = """
import json, resource, sys, time, tempfile, os
import jax
import stereo_ppl as sp
from stereo_ppl.inference import fit
args = json.loads(sys.argv[1])
paired = sp.make_builtin(0, num_stars=args["num_stars"]).paired
start = time.perf_counter()
tree = fit(
    jax.random.key(0), paired, num_latent=args["c"], method=args["method"], **args["options"]
)
seconds = time.perf_counter() - start
path = os.path.join(args["tmp"], "fit.nc")
sp.save_fit(tree, path)
print(json.dumps({
    "seconds": seconds,
    "file_gb": os.path.getsize(path) / 2**30,
    "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30,
}))
"""


def _options(method, args):
    exact = {} if args.max_iter is None else {"max_iter": args.max_iter}
    draws = {} if args.num_samples is None else {"num_samples": args.num_samples}
    return {
        "exact": exact,
        "map": {"num_steps": args.steps, "eval_every": args.steps},
        "laplace": {**exact, **draws},
        "vi": {**exact, **draws, "num_steps": args.steps},
    }[method]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", default="500", help="comma-separated latent sizes")
    parser.add_argument("--methods", default="exact,map,laplace,vi")
    parser.add_argument("--num-stars", type=int, default=1100)
    parser.add_argument("--max-iter", type=int, default=None, help="exact-solver iterations")
    parser.add_argument("--steps", type=int, default=200, help="SVI steps (map, vi)")
    parser.add_argument(
        "--num-samples", type=int, default=None, help="posterior draws (default: the method's)"
    )
    args = parser.parse_args()
    print(f"{'method':>8} {'c':>4} {'seconds':>8} {'peak RSS GB':>11} {'file GB':>8}")
    for c in (int(v) for v in args.c.split(",")):
        for method in args.methods.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                child = {
                    "c": c,
                    "method": method,
                    "num_stars": args.num_stars,
                    "options": _options(method, args),
                    "tmp": tmp,
                }
                done = subprocess.run(
                    [sys.executable, "-c", _CHILD, json.dumps(child)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
            if done.returncode:
                print(f"{method:>8} {c:>4} failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{method:>8} {c:>4} {row['seconds']:>8.1f} {row['peak_gb']:>11.2f} "
                f"{row['file_gb']:>8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
