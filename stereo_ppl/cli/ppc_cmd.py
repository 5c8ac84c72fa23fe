"""``stereo-ppl ppc``: posterior predictive checks of a fit on LAMOST spectra."""

import math
from pathlib import Path
from typing import Annotated

import typer

from .app import X64, Seed, app
from .common import console, enable_x64, error_console, load_fit_with_data, parse_int_list

__all__ = ["ppc", "print_calibration"]


@app.command("ppc")
def ppc(
    fit: Annotated[Path, typer.Argument(help="Fit (netCDF) written by `stereo-ppl fit`.")],
    paired: Annotated[
        Path,
        typer.Argument(
            help="Paired dataset (netCDF) on the fit's grids: the fit's own (its held-out stars "
            "are checked) or other stars."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the checks (netCDF).")],
    num_samples: Annotated[
        int, typer.Option("--num-samples", help="Most predictive draws (posterior thinned).")
    ] = 100,
    num_prior_samples: Annotated[
        int | None,
        typer.Option("--num-prior-samples", help="Prior predictive draws (default 20 at most)."),
    ] = None,
    max_stars: Annotated[
        int | None, typer.Option("--max-stars", help="Check at most this many stars.")
    ] = None,
    all_stars: Annotated[
        bool, typer.Option("--all-stars", help="Check training stars too (default: held out).")
    ] = False,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Directory for the PNG figures.")
    ] = None,
    obsid: Annotated[
        str | None,
        typer.Option("--obsid", help="Comma-separated obsids for the spectrum figure."),
    ] = None,
    seed: Seed = 0,
    x64: X64 = False,
) -> None:
    """Draw replicated LAMOST spectra from FIT for the held-out stars of PAIRED.

    Writes OUT (posterior_predictive, prior_predictive, observed_data,
    log_likelihood, constant_data and calibration groups) and prints the
    calibration table. Pixels with ivar = 0 are NaN and not calibrated.
    """
    enable_x64(x64)
    import jax
    import xarray as xr

    from ..errors import StereoPPLError
    from ..io import load_paired, save_dataset
    from ..ppc import calibrate, posterior_predictive, select_stars

    data = load_paired(paired)
    tree = load_fit_with_data(
        fit,
        paired=data,
        command="ppc",
        hint="give that file as PAIRED, or put it back where it was",
    )
    stars = "all" if all_stars else None
    key_ppc, key_cal = jax.random.split(jax.random.key(seed))
    try:
        chosen = select_stars(tree, data, stars, max_stars=max_stars)
        obsids = _check_obsids(data["obsid"].values[chosen], obsid, paired)
        result = posterior_predictive(
            key_ppc,
            tree,
            data,
            stars=stars,
            max_stars=max_stars,
            num_samples=num_samples,
            num_prior_samples=num_prior_samples,
            seed=seed,
            progress=True,
        )
    except StereoPPLError as exc:
        raise type(exc)(f"{fit}, {paired}: {exc}") from exc
    cal = calibrate(key_cal, result)
    result["calibration"] = xr.DataTree(cal)
    save_dataset(result, out)
    print_calibration(cal)
    print_scatter(result)
    console.print(f"wrote {out}")
    if plots is not None:
        _write_plots(plots, result, cal, obsids)
    if result.attrs.get("interrupted"):
        error_console.print(
            f"interrupted: wrote the {result.attrs['num_stars']} stars finished before Ctrl-C"
        )
        raise typer.Exit(130)


def _check_obsids(chosen, text: str | None, paired: Path) -> list[int]:
    """Obsids for the spectrum figure: ``--obsid`` (checked) or the first two chosen stars."""
    from ..ppc import PPCConfigError

    have = [int(v) for v in chosen]
    if not text:
        return have[:2]
    obsids = parse_int_list(text, what="--obsid")
    missing = [o for o in obsids if o not in have]
    if missing:
        raise PPCConfigError(
            f"obsid {missing[0]} is not among the checked stars "
            "(held-out stars by default; see --all-stars, --max-stars)"
        )
    return obsids


def print_calibration(cal) -> None:
    """Print the coverage table, the chi-square summary and the flagged regions."""
    from ..ppc import chi2_summary, coverage_rows, miscalibrated_regions

    what = f"c = {cal.attrs['num_latent']}, {cal.attrs['method']}, {cal.attrs['predictive']}"
    rows = coverage_rows(cal)
    _print_rows(f"coverage of central predictive intervals ({what})", rows)
    console.print(
        f"PIT uniformity (arviz-stats pot_c, ≤5000 values): p = "
        f"{float(cal['pit_uniformity_pvalue']):.3g}"
    )
    _print_rows("chi-square per star vs chi2(dof)", [chi2_summary(cal)])
    regions = miscalibrated_regions(cal)
    if regions:
        _print_rows("miscalibrated pixel runs (worst first)", regions[:15])
    else:
        console.print("no pixel flagged as miscalibrated")


def print_scatter(result) -> None:
    """Where a calibrated fit's intrinsic scatter exceeds the typical reported error."""
    from ..ppc import scatter_regions

    if "scatter" not in result["constant_data"]:
        return
    rows = scatter_regions(result)
    if rows:
        _print_rows("runs where the intrinsic scatter exceeds the median error", rows[:15])
    else:
        console.print("the intrinsic scatter stays below the median reported error everywhere")


def _print_rows(title: str, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for key in rows[0]:
        text = key in ("subset", "regions", "worst")
        header = key.removeprefix("cov ").replace("PIT KS p", "KS p")
        table.add_column(header, justify="left" if text else "right", no_wrap=key == "subset")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row.values()))
    console.print(table)


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.0e}" if 0 < abs(value) < 1e-3 else f"{value:.3g}"
    return str(value)


def _write_plots(directory: Path, result, cal, obsids) -> None:
    """Write the summary, PIT, pixel-calibration and spectrum figures as PNG."""
    import matplotlib.pyplot as plt

    from ..io import atomic_write
    from ..plots import (
        plot_pit_ecdf,
        plot_pixel_calibration,
        plot_ppc_summaries,
        plot_scatter,
        plot_spectrum_ppc,
    )

    figures = {
        "ppc_summaries.png": lambda: plot_ppc_summaries([result]),
        "pit_ecdf.png": lambda: plot_pit_ecdf([cal]),
        "pixel_calibration.png": lambda: plot_pixel_calibration([cal]),
        "spectra.png": lambda: plot_spectrum_ppc([result], obsids),
    }
    if "scatter" in result["constant_data"]:  # a calibrated fit: where its scatter is large
        figures["scatter.png"] = lambda: plot_scatter(result)
    for name, make in figures.items():
        path = directory / name
        figure = make()  # a matplotlib Figure or an arviz-plots PlotCollection
        atomic_write(path, lambda tmp, f=figure: f.savefig(tmp, format="png", dpi=110))
        plt.close("all")
        console.print(f"wrote {path}")
