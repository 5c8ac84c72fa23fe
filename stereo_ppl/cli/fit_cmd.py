"""``stereo-ppl fit``: fit one model and c by any method and write the fit."""

from pathlib import Path
from typing import Annotated

import typer

from ..errors import StereoPPLError
from .app import X64, BatchSize, Holdout, Seed, app
from .common import console, enable_x64, parse_name_values, print_summary

__all__ = ["fit"]


_SGD = ("num_steps", "batch_size", "learning_rate", "eval_every")
#: The options of :func:`stereo_ppl.inference.fit` each method takes.
_METHOD_OPTIONS = {
    "map": (*_SGD, "patience"),
    "exact": ("max_iter", "patience"),
    "laplace": ("max_iter", "num_samples"),
    "vi": (*_SGD, "max_iter", "map_steps", "num_samples", "guide", "rank", "num_particles"),
}
#: The method each model is fitted by unless ``--method`` says otherwise.
_DEFAULT_METHOD = {"base": "exact"}
_MODEL_HELP = (
    "Model: base (seed eq. 1-2), labels (eq. 1-3: labels from z; the paired dataset must "
    "carry labels), latent-z (z ~ Normal(beta_z F1, sigma_z), integrated out; "
    "--model-option marginal=false: z per star, fitted by vi with a local guide), errors-in-f1 "
    "(APOGEE errors integrated out; needs apogee_ivar) or mlp (MLP residual decoder). "
    "Models other than base take --method map or vi (latent-z with marginal=false: vi)."
)


def _flag(name: str) -> str:
    return "--steps" if name == "num_steps" else "--" + name.replace("_", "-")


def method_options(method: str, **given) -> dict:
    """The options in ``given`` (keyword names of :func:`stereo_ppl.inference.fit`) to pass.

    Options left ``None`` keep the method's defaults; an option given for a
    method that has no use for it is an error (not silently ignored).
    """
    if method not in _METHOD_OPTIONS:
        return {}  # fit() names the known methods
    given = {name: value for name, value in given.items() if value is not None}
    unused = [_flag(name) for name in given if name not in _METHOD_OPTIONS[method]]
    if unused:
        raise StereoPPLError(f"{', '.join(unused)} does not apply to --method {method}")
    return given


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
            help="exact (deterministic MAP; the default for --model base), map (AdamW SVI; "
            "the default for other models), laplace (MAP + the decoder's exact conditional "
            "posterior) or vi (MAP, then AutoNormal / low-rank SVI).",
        ),
    ] = None,
    seed: Seed = 0,
    holdout_fraction: Holdout = 0.2,
    steps: Annotated[
        int | None,
        typer.Option("--steps", help="SVI steps (map: 20000, vi: 1000 by default)."),
    ] = None,
    batch_size: BatchSize = None,
    learning_rate: Annotated[
        float | None,
        typer.Option("--learning-rate", help="Step size (map: AdamW 1e-3; vi: 0.05 posterior sd)."),
    ] = None,
    eval_every: Annotated[
        int | None, typer.Option("--eval-every", help="SVI steps between records.")
    ] = None,
    max_iter: Annotated[
        int | None, typer.Option("--max-iter", help="Exact solver: largest number of iterations.")
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(
            "--patience",
            help="Stop when the held-out log joint has not improved for N records (map: 20) "
            "or iterations (exact: off) and keep the best.",
        ),
    ] = None,
    map_steps: Annotated[
        int | None,
        typer.Option(
            "--map-steps", help="vi of a model other than base: AdamW steps of its MAP stage."
        ),
    ] = None,
    num_samples: Annotated[
        int | None,
        typer.Option(
            "--num-samples", help="Posterior draws (laplace, vi; 100, fewer at very large c)."
        ),
    ] = None,
    guide: Annotated[
        str | None, typer.Option("--guide", help="VI family: normal (default) or lowrank.")
    ] = None,
    rank: Annotated[
        int | None, typer.Option("--rank", help="Rank of the low-rank VI guide (10).")
    ] = None,
    num_particles: Annotated[
        int | None, typer.Option("--num-particles", help="ELBO samples per VI step (1).")
    ] = None,
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
    from ..models import get_model

    model_options = parse_name_values(model_option or [], flag="--model-option")
    variant = get_model(model).configured(model_options)
    model = variant.name
    if method is None:  # the model's default, or the one method its options allow
        method = _DEFAULT_METHOD.get(model, "map" if "map" in variant.methods else "vi")

    options = method_options(
        method,
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
        b_F_prior_mean=b_f_prior_mean,
        **options,
    )
    save_fit(tree, out)
    print_summary([fit_summary(tree)])
    if "num_iterations" in tree.attrs:
        console.print(
            f"solver: {tree.attrs['num_iterations']} iterations, gradient norm "
            f"{tree.attrs['grad_norm']:.3g} (start {tree.attrs['grad_norm_initial']:.3g}), "
            f"converged: {bool(tree.attrs['converged'])} ({tree.attrs['stop_reason']})"
        )
    console.print(f"wrote {out}")
