"""``stereo-ppl sweep``: fit a paired file for many ``c``, resumably."""

import os
from pathlib import Path
from typing import Annotated

import typer

from ..errors import StereoPPLError
from .app import X64, BatchSize, Seed, app
from .common import console, enable_x64, error_console, parse_int_list, parse_name_values
from .options import (
    BFPriorMean,
    EvalEvery,
    Guide,
    LearningRate,
    MapSteps,
    MaxIter,
    MethodOption,
    Noise,
    NumParticles,
    NumSamples,
    Patience,
    Prior,
    Rank,
    Steps,
    Workers,
    method_options,
    parse_workers,
)

__all__ = ["parse_workers", "sweep"]

DEFAULT_C = "2,4,6,8,10,20,50,100,200,500"


@app.command("sweep")
def sweep(
    paired: Annotated[Path, typer.Argument(help="Paired dataset (netCDF) to fit.")],
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Directory for the fits, manifest and table.")
    ],
    c: Annotated[
        str, typer.Option("-c", "--num-latent", help="Comma-separated latent sizes c.")
    ] = DEFAULT_C,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="Fitting method: exact (the default for the base model), map, vi or laplace.",
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", help="Fits per c, with different keys and starts.")
    ] = 1,
    workers: Workers = "1",
    seed: Seed = 0,
    holdout_fraction: Annotated[
        float, typer.Option("--holdout-fraction", help="Fraction of stars held out of every fit.")
    ] = 0.2,
    kfold: Annotated[
        int | None,
        typer.Option("--kfold", help="K-fold cross-validation with this many folds instead."),
    ] = None,
    init: Annotated[
        str,
        typer.Option("--init", help="Start of repeats >= 1: jitter, random or default."),
    ] = "jitter",
    init_jitter: Annotated[
        float, typer.Option("--init-jitter", help="Jitter relative to each parameter's RMS.")
    ] = 0.3,
    steps: Steps = None,
    batch_size: BatchSize = None,
    learning_rate: LearningRate = None,
    eval_every: EvalEvery = None,
    max_iter: MaxIter = None,
    patience: Patience = None,
    map_steps: MapSteps = None,
    num_samples: NumSamples = None,
    guide: Guide = None,
    rank: Rank = None,
    num_particles: NumParticles = None,
    noise: Noise = None,
    prior: Prior = None,
    b_f_prior_mean: BFPriorMean = None,
    option: MethodOption = None,
    model: Annotated[
        str, typer.Option("--model", help="Model: base (default), labels, latent-z, ...")
    ] = "base",
    model_option: Annotated[
        list[str] | None,
        typer.Option("--model-option", help="Model option NAME=VALUE (repeatable)."),
    ] = None,
    x64: X64 = False,
) -> None:
    """Fit PAIRED once per (c, repeat), each fit written to OUT_DIR as it finishes.

    Running the same command again skips finished fits and refits missing or
    unreadable ones.
    """
    if x64:
        os.environ["JAX_ENABLE_X64"] = "1"  # worker processes inherit it
    enable_x64(x64)
    import jax

    from ..inference import default_method
    from ..models import get_model
    from ..sweep import SweepConfig, run_sweep

    model_options = parse_name_values(model_option or [], flag="--model-option")
    variant = get_model(model).configured(model_options)
    if method is None:
        method = default_method(variant)
    options = method_options(
        method,
        option,
        base=variant.is_base,
        num_steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        eval_every=eval_every,
        max_iter=max_iter,
        patience=patience,
        map_steps=map_steps,
        num_samples=num_samples,
        guide=guide,
        rank=rank,
        num_particles=num_particles,
        b_F_prior_mean=b_f_prior_mean,
        noise=noise,
        prior=prior,
    )
    config = SweepConfig(
        method=method,
        heldout_fraction=holdout_fraction,
        num_folds=kfold,
        init=init,
        init_jitter=init_jitter,
        options=options,
        model=model,
        model_options=model_options,
    )
    try:
        report = run_sweep(
            jax.random.key(seed),
            paired,
            out_dir,
            num_latents=parse_int_list(c, what="-c"),
            num_repeats=repeats,
            config=config,
            seed=seed,
            workers=parse_workers(workers),
            progress=True,
        )
    except KeyboardInterrupt:
        error_console.print(
            f"interrupted: finished fits are saved in {out_dir}; "
            "run the same command again to continue"
        )
        raise typer.Exit(130) from None
    console.print(
        f"{len(report.jobs)} fits: {len(report.skipped)} already done, "
        f"{len(report.fitted)} fitted now, {len(report.failed)} failed"
    )
    if report.table is not None:
        _print_table(report.table)
        console.print(f"wrote {out_dir / 'summary.nc'}; compare with: stereo-ppl compare {out_dir}")
    if report.failed:
        names = ", ".join(job.name for job in report.failed)
        raise StereoPPLError(f"{len(report.failed)} fits failed ({names}); rerun to retry them")


def _print_table(table) -> None:
    """One row per c: repeats done, held-out scores of the best repeat, seconds."""
    import numpy as np
    from rich.table import Table

    out = Table(title="sweep (best repeat by training log joint)")
    for name in ("c", "repeats", "held-out lpd / star", "held-out log joint / star", "time [s]"):
        out.add_column(name, justify="right")
    sweep_dims = [d for d in ("repeat", "fold") if d in table.dims]
    train = table["train_log_joint"].sum([d for d in sweep_dims if d != "repeat"], skipna=False)
    held = table["heldout_lpd"].sum([d for d in sweep_dims if d != "repeat"], skipna=False)
    joint = table["heldout_log_joint"].sum([d for d in sweep_dims if d != "repeat"], skipna=False)
    per = table.sizes["star"] if "fold" in table.dims else int(table["heldout"].values.sum())
    seconds = table["seconds"].sum([d for d in sweep_dims if d != "repeat"], skipna=False)
    for i, c in enumerate(table["num_latent"].values):
        done = np.flatnonzero(np.isfinite(train.values[i]))
        if done.size == 0:
            out.add_row(str(c), "0", "", "", "")
            continue
        best = done[np.argmax(train.values[i][done])]
        out.add_row(
            str(c),
            str(done.size),
            f"{held.values[i, best] / per:.6g}",
            f"{joint.values[i, best] / per:.6g}",
            f"{np.nanmean(seconds.values[i]):.3g}",
        )
    console.print(out)
