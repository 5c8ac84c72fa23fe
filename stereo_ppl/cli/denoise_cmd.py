"""``stereo-ppl denoise`` and ``stereo-ppl plot-residuals``."""

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from ..errors import StereoPPLError
from .app import X64, app
from .common import console, enable_x64, error_console, load_fit_with_data, parse_int_list
from .options import Workers, deprecated, parse_workers

__all__ = ["denoise", "plot_residuals_cmd"]


def _bad_columns(text: str):
    if text == "auto":
        return "auto"
    if text == "none":
        return []
    return parse_int_list(text, what="--bad-columns")


@app.command("denoise")
def denoise(
    fit: Annotated[Path, typer.Argument(help="A fit (netCDF) written by `stereo-ppl fit`.")],
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="LAMOST spectrum files (.fits or .fits.gz, either layout), directories of "
            "them, or one netCDF/Zarr store with lamost_flux and lamost_ivar (star, "
            "lamost_pixel) on the fit's grid."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output: OUT.nc (netCDF) or OUT.zarr (Zarr store).")
    ],
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Spectra per chunk and per batched solve.")
    ] = 2048,
    workers: Workers = "1",
    scheduler: Annotated[str | None, typer.Option("--scheduler", hidden=True)] = None,
    paired: Annotated[
        Path | None,
        typer.Option(
            "--paired",
            help="The fit's paired dataset, whose spectra give the model error (default: the "
            "file the fit refers to).",
        ),
    ] = None,
    prior: Annotated[
        str,
        typer.Option("--prior", help="Prior on z: none (least squares) or empirical (MAP)."),
    ] = "none",
    bad_columns: Annotated[
        str,
        typer.Option(
            "--bad-columns",
            help="Known bad pixel columns: auto (found in the first 2,048 spectra), none, "
            "or comma-separated lamost_pixel indices.",
        ),
    ] = "auto",
    misfit_components: Annotated[
        int,
        typer.Option(
            "--misfit-components",
            help="Patterns of misfit that recur among the fit's training stars, fitted to "
            "each spectrum with z so that a line the decoder misses is not flagged (0: none).",
        ),
    ] = 0,
    x64: X64 = False,
) -> None:
    """Denoise LAMOST spectra with FIT's decoder, flag artefacts, write OUT.

    An interrupted run resumes chunk by chunk when the same command is run again.
    """
    enable_x64(x64)
    import json

    import numpy as np

    from ..denoise import STATUS_CODES, denoise_source, make_setup, open_source
    from ..dims import LAMOST_WAVELENGTH

    if batch_size < 1:
        raise StereoPPLError(f"--batch-size must be at least 1, got {batch_size}")
    if scheduler is not None:
        deprecated("denoise --scheduler ADDRESS", "--workers ADDRESS")
        workers = scheduler
    where = parse_workers(workers)
    tree = load_fit_with_data(
        fit, paired=paired, command="denoise", hint="give it with --paired PAIRED.nc"
    )
    wavelength = np.asarray(tree["posterior"][LAMOST_WAVELENGTH].values)
    source = open_source(inputs, grid=wavelength)
    with console.status("preparing the denoiser (model error from the fit's stars)"):
        setup = make_setup(tree, prior=prior, misfit_components=misfit_components)
    config = {
        "fit": str(fit),
        "inputs": [str(p) for p in inputs],
        "prior": prior,
        "batch_size": batch_size,
        "bad_columns": bad_columns,
        "misfit_components": misfit_components,
        "x64": x64,
    }
    attrs = {
        "fit_file": str(fit),
        "num_latent": int(tree.attrs.get("num_latent", setup.decoder.num_latent)),
        "fit_method": str(tree.attrs.get("method", "")),
        "seed": int(tree.attrs.get("seed", -1)),
        "prior": prior,
        "config": json.dumps(config, sort_keys=True),
    }
    try:
        with _scheduler(where) as address:
            run = denoise_source(
                setup,
                source,
                out,
                wavelength=wavelength,
                batch_size=batch_size,
                bad_columns=_bad_columns(bad_columns),
                scheduler=address,
                progress=True,
                attrs=attrs,
            )
    except KeyboardInterrupt:
        error_console.print(
            "interrupted: finished chunks are kept; run the same command again to resume"
        )
        raise typer.Exit(130) from None
    for label, notes in (("unreadable", run.errors), ("warning", run.warnings)):
        for index, message in notes:
            error_console.print(
                f"[yellow]{label}[/] input {index}: {message}", highlight=False, soft_wrap=True
            )
    if run.num_resumed:
        console.print(f"resumed: {run.num_resumed} of {run.num_chunks} chunks were already done")
    from ..denoise.sources import open_store

    with open_store(run.path) as ds:
        status = np.bincount(np.asarray(ds["status"].values, dtype=np.int64), minlength=4)
    counts = ", ".join(f"{STATUS_CODES[k]} {int(v)}" for k, v in enumerate(status) if v)
    columns = ", ".join(map(str, run.bad_columns)) or "none"
    console.print(f"{run.num_spectra} spectra: {counts}; bad columns: {columns}")
    console.print(f"wrote {run.path}")


@contextlib.contextmanager
def _scheduler(workers: int | str):
    """The scheduler address to run on: None for one process, a local cluster for N > 1."""
    if workers == 1:
        yield None
    elif isinstance(workers, str):
        yield workers
    else:
        from distributed import LocalCluster

        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster:
            yield cluster.scheduler_address


@app.command("plot-residuals")
def plot_residuals_cmd(
    result: Annotated[Path, typer.Argument(help="Output of `stereo-ppl denoise`.")],
    obsid: Annotated[int, typer.Option("--obsid", help="LAMOST obsid of the spectrum to draw.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Figure file (default RESULT_obsid.png).")
    ] = None,
    inputs: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            help="The denoise INPUT again (repeat for several), to draw the observed spectrum.",
        ),
    ] = None,
    fit: Annotated[
        Path | None, typer.Option("--fit", help="The fit (needed with FITS --input).")
    ] = None,
    wmin: Annotated[float | None, typer.Option("--wmin", help="Shortest wavelength, Å.")] = None,
    wmax: Annotated[float | None, typer.Option("--wmax", help="Longest wavelength, Å.")] = None,
) -> None:
    """Draw one denoised spectrum with its band and its residuals with flagged pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from ..denoise.sources import open_source, open_store
    from ..io import atomic_write
    from ..plots import plot_residuals

    with open_store(result) as ds:
        if "lamost_residual" not in ds:
            raise StereoPPLError(f"{result}: not a stereo-ppl denoise result")
        where = np.flatnonzero(np.asarray(ds["obsid"].values) == obsid)
        if where.size == 0:
            raise StereoPPLError(f"{result}: no spectrum with obsid {obsid}")
        star = int(where[0])
        one = ds.isel(star=slice(star, star + 1)).load()
    flux = ivar = None
    if inputs:
        grid = one["lamost_wavelength"].values
        if fit is not None:
            from ..io import load_fit

            grid = load_fit(fit, paired=False)["posterior"]["lamost_wavelength"].values
        chunk = open_source(inputs, grid=grid).read(star, star + 1)
        flux, ivar = chunk.flux[0], chunk.ivar[0]
    grid = one["lamost_wavelength"].values
    span = None
    if wmin is not None or wmax is not None:
        span = (grid[0] if wmin is None else wmin, grid[-1] if wmax is None else wmax)
    fig = plot_residuals(one, 0, flux=flux, ivar=ivar, wavelength_range=span)
    out = out or result.with_name(f"{result.stem}_{obsid}.png")
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    console.print(f"wrote {out}")
