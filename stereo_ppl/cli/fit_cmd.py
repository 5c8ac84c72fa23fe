"""``stereo-ppl fit``: fit one model and c by any method and write the fit."""

from pathlib import Path
from typing import Annotated

import typer

from .app import X64, BatchSize, Holdout, Seed, app
from .common import console, enable_x64, parse_name_values, print_summary
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
    method_options,
)

__all__ = ["fit"]


_MODEL_HELP = (
    "Model: base (seed eq. 1-2), labels (eq. 1-3: labels from z; the paired dataset must "
    "carry labels), latent-z (z ~ Normal(beta_z F1, sigma_z), integrated out; "
    "--model-option marginal=false: z per star, fitted by vi with a local guide), errors-in-f1 "
    "(APOGEE errors integrated out; needs apogee_ivar) or mlp (MLP residual decoder). "
    "Models other than base take --method map or vi (latent-z with marginal=false: vi)."
)


@app.command("fit")
def fit(
    paired: Annotated[Path, typer.Argument(help="Paired dataset (netCDF) to fit.")],
    c: Annotated[int, typer.Option("-c", "--num-latent", help="Length c of the latent vector z.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the fit (netCDF).")],
    model: Annotated[str, typer.Option("--model", help=_MODEL_HELP)] = "base",
    model_option: Annotated[
        list[str] | None,
        typer.Option(
            "--model-option",
            help="NAME=VALUE option of the model function, repeatable "
            "(e.g. --model-option num_hidden=32 --model-option activation=gelu).",
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="exact (deterministic MAP; the default, as for stereo_ppl.fit), map (AdamW "
            "SVI; the default for models other than base), laplace (MAP + the decoder's exact "
            "conditional posterior) or vi (MAP, then AutoNormal / low-rank SVI).",
        ),
    ] = None,
    seed: Seed = 0,
    holdout_fraction: Holdout = 0.2,
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
    include_data: Annotated[
        bool,
        typer.Option(
            "--include-data",
            help="Also write the fit's copies of the paired data (a self-contained file, "
            "about the paired file's size); by default the fit refers to PAIRED instead.",
        ),
    ] = False,
    x64: X64 = False,
) -> None:
    """Fit the model with latent size c to PAIRED and write the fit to OUT.

    OUT holds the fit (parameters, z, log likelihood, traces, held-out stars)
    and refers to PAIRED by path, size and checksum; commands that need the
    spectra read them back from PAIRED.
    """
    enable_x64(x64)
    import jax

    from ..compare import fit_summary
    from ..inference import default_method
    from ..inference import fit as run_fit
    from ..io import load_paired, save_fit
    from ..models import get_model

    model_options = parse_name_values(model_option or [], flag="--model-option")
    variant = get_model(model).configured(model_options)
    model = variant.name
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
    data = load_paired(paired)
    tree = run_fit(
        jax.random.key(seed),
        data,
        num_latent=c,
        model=model,
        model_options=model_options,
        method=method,
        seed=seed,
        heldout_fraction=holdout_fraction,
        progress=True,
        **options,
    )
    save_fit(tree, out, paired=paired, include_data=include_data or None)
    print_summary([fit_summary(tree)])
    if "num_iterations" in tree.attrs:
        console.print(
            f"solver: {tree.attrs['num_iterations']} iterations, gradient norm "
            f"{tree.attrs['grad_norm']:.3g} (start {tree.attrs['grad_norm_initial']:.3g}), "
            f"converged: {bool(tree.attrs['converged'])} ({tree.attrs['stop_reason']})"
        )
    console.print(f"wrote {out}")
