"""The ``stereo-ppl`` application, its shared options and ``demo``; other commands live in
``*_cmd`` modules that register on :data:`app`."""

from pathlib import Path
from typing import Annotated

import typer

from .common import enable_x64, parse_int_list
from .options import Noise, Prior, deprecated, method_options, parse_workers

__all__ = ["X64", "BatchSize", "Holdout", "Seed", "app"]

app = typer.Typer(
    name="stereo-ppl",
    help="Learn how the same stars look to two spectroscopic surveys (APOGEE and LAMOST).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

Seed = Annotated[
    int, typer.Option("--seed", help="Seed of the PRNG key (split, init, minibatches).")
]
BatchSize = Annotated[
    int | None,
    typer.Option("--batch-size", help="Stars per minibatch (default: all training stars)."),
]
Holdout = Annotated[
    float, typer.Option("--holdout-fraction", help="Fraction of stars held out and scored.")
]
X64 = Annotated[bool, typer.Option("--x64", help="Compute in float64 (default float32).")]


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Directory for every output.")] = Path(
        "demo_out"
    ),
    out: Annotated[Path | None, typer.Option("--out", hidden=True)] = None,
    num_stars: Annotated[
        int, typer.Option("--num-stars", help="Stars in the built-in dataset.")
    ] = 1100,
    c: Annotated[
        str, typer.Option("-c", "--num-latent", help="Comma-separated latent sizes to fit.")
    ] = "2,10,50",
    seed: Seed = 0,
    method: Annotated[
        str | None,
        typer.Option("--method", help="Fitting method: exact (default), map, laplace or vi."),
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", help="SVI steps per fit (map, vi).")
    ] = None,
    batch_size: BatchSize = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="Further method option NAME=VALUE (repeatable)."),
    ] = None,
    noise: Noise = None,
    prior: Prior = None,
    holdout_fraction: Holdout = 0.2,
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers", help="Processes reading the survey files (default: CPU cores, at most 8)."
        ),
    ] = None,
    x64: X64 = False,
    pair: Annotated[
        str,
        typer.Option(
            "--pair",
            help="Surveys 1 and 2: apogee-lamost (through survey files and prepare), "
            "galah-lamost or apogee-galah (the built-in pair fitted as generated).",
        ),
    ] = "apogee-lamost",
) -> None:
    """Write the built-in survey as survey files, prepare them, fit several c, plot."""
    if out is not None:
        deprecated("demo --out DIR", "--out-dir DIR")
        out_dir = out
    enable_x64(x64)
    from ..inference import DEFAULT_METHOD
    from .demo import run_demo

    method = method or DEFAULT_METHOD
    run_demo(
        out_dir,
        num_stars=num_stars,
        num_latents=parse_int_list(c, what="-c"),
        seed=seed,
        method=method,
        options=method_options(
            method, option, num_steps=steps, batch_size=batch_size, noise=noise, prior=prior
        ),
        heldout_fraction=holdout_fraction,
        num_workers=None if workers is None else parse_workers(workers, local_only=True),
        pair=pair,
    )
