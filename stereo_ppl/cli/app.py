"""The ``stereo-ppl`` command line: ``demo`` and ``fit``."""

from pathlib import Path
from typing import Annotated

import typer

from .common import console, enable_x64, parse_int_list, print_summary

__all__ = ["app"]

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
Steps = Annotated[int, typer.Option("--steps", help="Largest number of AdamW steps per fit.")]
BatchSize = Annotated[
    int | None,
    typer.Option("--batch-size", help="Stars per minibatch (default: all training stars)."),
]
Holdout = Annotated[
    float, typer.Option("--holdout-fraction", help="Fraction of stars held out and scored.")
]
X64 = Annotated[bool, typer.Option("--x64", help="Compute in float64 (default float32).")]


@app.command()
def fit(
    paired: Annotated[Path, typer.Argument(help="Paired dataset (netCDF) to fit.")],
    c: Annotated[int, typer.Option("-c", "--num-latent", help="Length c of the latent vector z.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the fit (netCDF).")],
    method: Annotated[str, typer.Option("--method", help="Fitting method: map.")] = "map",
    seed: Seed = 0,
    holdout_fraction: Holdout = 0.2,
    steps: Steps = 20_000,
    batch_size: BatchSize = None,
    learning_rate: Annotated[
        float, typer.Option("--learning-rate", help="AdamW step size.")
    ] = 1e-3,
    eval_every: Annotated[
        int, typer.Option("--eval-every", help="Steps between log-joint records.")
    ] = 100,
    b_f_prior_mean: Annotated[
        float, typer.Option("--b-f-prior-mean", help="Prior mean of b_F (1: flux near 1).")
    ] = 1.0,
    x64: X64 = False,
) -> None:
    """Fit the model with latent size c to PAIRED and write the fit to OUT."""
    enable_x64(x64)
    import jax

    from ..compare import fit_summary
    from ..inference import fit as run_fit
    from ..io import load_paired, save_fit

    data = load_paired(paired)
    tree = run_fit(
        jax.random.key(seed),
        data,
        num_latent=c,
        method=method,
        seed=seed,
        heldout_fraction=holdout_fraction,
        progress=True,
        num_steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        eval_every=eval_every,
        b_F_prior_mean=b_f_prior_mean,
    )
    save_fit(tree, out)
    print_summary([fit_summary(tree)])
    console.print(f"wrote {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory for every output.")] = Path(
        "demo_out"
    ),
    num_stars: Annotated[
        int, typer.Option("--num-stars", help="Stars in the built-in dataset.")
    ] = 1100,
    c: Annotated[str, typer.Option("-c", help="Comma-separated latent sizes to fit.")] = "2,10,50",
    seed: Seed = 0,
    steps: Steps = 2000,
    batch_size: BatchSize = None,
    holdout_fraction: Holdout = 0.2,
    x64: X64 = False,
) -> None:
    """Make the built-in paired survey, fit it for several c, write files and a figure."""
    enable_x64(x64)
    from .demo import run_demo

    run_demo(
        out,
        num_stars=num_stars,
        num_latents=parse_int_list(c, what="-c"),
        seed=seed,
        num_steps=steps,
        batch_size=batch_size,
        heldout_fraction=holdout_fraction,
    )
