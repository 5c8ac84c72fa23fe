"""``stereo-ppl prepare``: survey files and a catalogue to a paired dataset."""

import os
from pathlib import Path
from typing import Annotated

import typer

from .app import app
from .common import console, error_console
from .options import parse_workers

__all__ = ["prepare", "print_prepare_summary"]

_SKIPPABLE = (
    "apogee_snr",
    "lamost_snr",
    "starflag",
    "aspcapflag",
    "missing_pixels",
    "labels_present",
    "labels_clip",
)
#: Rejected files listed one per row in the summary; the rest are counted.
_MAX_LISTED = 20


def print_prepare_summary(result, *, out: Path | None = None) -> None:
    """Print the cut table and the rejected files of a :class:`PrepareResult` (rich tables)."""
    from rich.table import Table

    cuts = Table(title="cuts")
    for header in ("step", "keeps", "removed", "left"):
        cuts.add_column(header, justify="left" if header in ("step", "keeps") else "right")
    for count in result.counts:
        cuts.add_row(
            count.name, count.description, str(count.num_removed), str(count.num_remaining)
        )
    console.print(cuts)
    if result.rejected:
        table = Table(title=f"rejected ({len(result.rejected)})")
        for header in ("row", "APOGEE_ID", "obsid", "file", "reason"):
            table.add_column(header, overflow="fold")
        for rejection in result.rejected[:_MAX_LISTED]:
            reason = rejection.reason.removeprefix(f"{rejection.file}: ")
            table.add_row(
                str(rejection.row),
                rejection.apogee_id,
                str(rejection.obsid),
                Path(rejection.file).name if rejection.file else "",
                reason,
            )
        if len(result.rejected) > _MAX_LISTED:
            table.add_row("", "", "", "", f"... and {len(result.rejected) - _MAX_LISTED} more")
        console.print(table)
    if out is not None:
        console.print(f"wrote {out} ({result.paired.sizes['star']} stars)")


@app.command("prepare")
def prepare(
    apogee_dir: Annotated[
        Path, typer.Option("--apogee-dir", help="Directory of aspcapStar files (searched deeply).")
    ],
    lamost_dir: Annotated[
        Path, typer.Option("--lamost-dir", help="Directory of LAMOST spec-*.fits files.")
    ],
    catalogue: Annotated[
        Path,
        typer.Option(
            "--catalogue",
            help="Joint APOGEE x LAMOST catalogue (APOGEE columns plus obsid, snrz, lmjd, "
            "planid, spid, fiberid), or an allStar file with --lamost-catalogue.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the paired dataset.")],
    lamost_catalogue: Annotated[
        Path | None,
        typer.Option(
            "--lamost-catalogue",
            help="LAMOST catalogue to cross-match with --catalogue by sky position.",
        ),
    ] = None,
    crossmatch_radius: Annotated[
        float, typer.Option("--crossmatch-radius", help="Sky-match radius in arcsec.")
    ] = 3.0,
    min_apogee_snr: Annotated[
        float, typer.Option("--min-apogee-snr", help="Keep APOGEE SNR > this (seed: 300).")
    ] = 300.0,
    min_lamost_snr: Annotated[
        float, typer.Option("--min-lamost-snr", help="Keep LAMOST snrz > this (seed: 300).")
    ] = 300.0,
    max_missing_apogee_pixels: Annotated[
        int,
        typer.Option(
            "--max-missing-apogee-pixels",
            help="Keep stars with at most this many missing on-chip APOGEE pixels (seed: 0). "
            "Kept missing pixels are masked (apogee_ivar = 0) and filled by every fit with the "
            "training stars' mean; --skip-cut missing_pixels keeps every star.",
        ),
    ] = 0,
    label_sigma_clip: Annotated[
        float,
        typer.Option("--label-sigma-clip", help="Keep labels within this many sigma (seed: 3)."),
    ] = 3.0,
    labels: Annotated[
        str, typer.Option("--labels", help="Comma-separated label columns of the label cuts.")
    ] = "TEFF,LOGG,FE_H",
    skip_cut: Annotated[
        list[str] | None,
        typer.Option("--skip-cut", help=f"Switch a cut off (repeatable): {', '.join(_SKIPPABLE)}."),
    ] = None,
    workers: Annotated[
        str,
        typer.Option("--workers", help="Processes reading files (default: CPU cores, at most 8)."),
    ] = str(min(os.cpu_count() or 1, 8)),
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at the first bad file instead of skipping it.")
    ] = False,
) -> None:
    """Cross-match, cut and read survey files into a paired dataset (netCDF) at OUT."""
    import astropy.units as u

    from ..errors import StereoPPLError
    from ..io import save_paired
    from ..prepare import Cuts, prepare_paired

    skipped = set(skip_cut or ())
    unknown = skipped - set(_SKIPPABLE)
    if unknown:
        choices = ", ".join(_SKIPPABLE)
        raise StereoPPLError(f"--skip-cut {', '.join(sorted(unknown))}: not a cut ({choices})")
    label_columns = tuple(part.strip() for part in labels.split(",") if part.strip())
    cuts = Cuts(
        min_apogee_snr=None if "apogee_snr" in skipped else min_apogee_snr,
        min_lamost_snr=None if "lamost_snr" in skipped else min_lamost_snr,
        starflag_zero="starflag" not in skipped,
        aspcapflag_zero="aspcapflag" not in skipped,
        max_missing_apogee_pixels=None
        if "missing_pixels" in skipped
        else max_missing_apogee_pixels,
        require_labels="labels_present" not in skipped,
        label_sigma_clip=None if "labels_clip" in skipped else label_sigma_clip,
        label_columns=label_columns,
    )

    def report(rejection) -> None:
        error_console.print(f"[yellow]rejected:[/] {rejection.message}", highlight=False)

    result = prepare_paired(
        catalogue=catalogue,
        apogee_dir=apogee_dir,
        lamost_dir=lamost_dir,
        lamost_catalogue=lamost_catalogue,
        cuts=cuts,
        crossmatch_radius=crossmatch_radius * u.arcsec,
        num_workers=parse_workers(workers, local_only=True),
        strict=strict,
        progress=True,
        report=report,
    )
    if result.complete:
        save_paired(result.paired, out)
        print_prepare_summary(result, out=out)
        return
    partial = out.with_name(out.name.removesuffix(".nc") + ".partial.nc")
    save_paired(result.paired, partial)
    print_prepare_summary(result, out=partial)
    error_console.print(
        f"[bold red]interrupted:[/] kept the {result.paired.sizes['star']} stars read so far "
        f"in {partial} (attrs complete = 0); run again to prepare them all",
        highlight=False,
    )
    raise typer.Exit(130)
