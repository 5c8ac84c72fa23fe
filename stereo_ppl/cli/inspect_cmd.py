"""``stereo-ppl inspect``: what each spectrum file is, and whether it can be read."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import app
from .common import console

__all__ = ["inspect", "print_inspection"]

#: Column headers of the table, by row key.
_HEADERS = {
    "file": "file",
    "survey": "survey",
    "release": "release",
    "layout": "layout",
    "id": "id",
    "num_pixels": "pixels",
    "wavelength_min": "λ min [Å]",
    "wavelength_max": "λ max [Å]",
    "snr": "S/N",
    "status": "status",
}


def _cell(key: str, value) -> str:
    if value is None:
        return ""
    if key in ("wavelength_min", "wavelength_max"):
        return f"{value:.1f}"
    if key == "snr":
        return f"{value:.1f}"
    return str(value)


def print_inspection(rows: list[dict]) -> None:
    """Print the rows of :func:`stereo_ppl.io.summary.describe_file` as a table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} file(s)")
    for key, header in _HEADERS.items():
        right = key in ("num_pixels", "wavelength_min", "wavelength_max", "snr")
        table.add_column(
            header, justify="right" if right else "left", no_wrap=key != "status", overflow="fold"
        )
    cells = []
    for row in rows:
        cells.append([_cell(k, row[k]) for k in _HEADERS])
        cells[-1][0] = Path(row["file"]).name
        style = None if str(row["status"]).startswith("ok") else "red"
        table.add_row(*cells[-1], style=style)
    # In a pipe or a log, print the whole row on one line rather than folding at 80 columns.
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(_HEADERS.values())]
    out = console if console.is_terminal else Console(width=sum(widths) + 3 * len(widths) + 1)
    out.print(table)


@app.command("inspect")
def inspect(
    files: Annotated[list[Path], typer.Argument(help="Spectrum files (FITS, .gz too).")],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a JSON list of objects with keys file, survey, release, layout, id, "
            "num_pixels, wavelength_min, wavelength_max, snr, status.",
        ),
    ] = False,
) -> None:
    """Say what each file is (survey, release, layout, id, pixels, wavelengths, S/N) and
    whether it can be read (status 'ok' or the reason). Exits 0 once every file was looked at.
    """
    from ..io.summary import describe_file

    rows = [describe_file(path) for path in files]
    if as_json:
        json.dump(rows, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print_inspection(rows)
