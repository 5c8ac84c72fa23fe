"""Pieces shared by the command-line commands: console, options, tables."""

import json
import math
import os

from rich.console import Console
from rich.table import Table

from ..errors import StereoPPLError

__all__ = [
    "console",
    "enable_x64",
    "error_console",
    "load_fit_with_data",
    "parse_int_list",
    "parse_name_values",
    "print_summary",
]

# soft wrap: long lines (file paths) stay whole in logs and pipes, where rich
# would otherwise break them at 80 columns
console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)


def enable_x64(enabled: bool) -> None:
    """Switch JAX to float64 (CLI only; the library never changes JAX's configuration)."""
    if enabled or os.environ.get("JAX_ENABLE_X64", "").lower() in ("1", "true"):
        import jax

        jax.config.update("jax_enable_x64", True)


def load_fit_with_data(fit, *, paired=None, command: str, hint: str):
    """A fit with its paired data, for a command that needs the spectra.

    Parameters
    ----------
    fit : pathlib.Path
        The fit file.
    paired : pathlib.Path or xarray.Dataset, optional
        A path: the fit's paired file (its checksum must match). A dataset
        read by :func:`stereo_ppl.io.load_paired`: used when it is the fit's
        (same checksum). Otherwise the file the fit refers to.
    command : str
        The command, named in the error.
    hint : str
        How to give the paired file to this command, named in the error.

    Returns
    -------
    xarray.DataTree

    Raises
    ------
    StereoPPLError
        If the fit holds no data and its paired file is nowhere to be found,
        or the file given holds other data.
    """
    import xarray as xr

    from ..dims import PAIRED_ENCODING
    from ..io.fit_data import has_data
    from ..io.netcdf import attach_paired, describe_reference, find_paired, load_fit

    tree = load_fit(fit, paired=False)
    if has_data(tree):
        return tree
    if isinstance(paired, xr.Dataset):
        checksum = (paired.encoding.get(PAIRED_ENCODING) or {}).get("paired_checksum")
        if checksum is not None and checksum == tree.attrs.get("paired_checksum"):
            return attach_paired(tree, paired, fit_path=fit)
    elif paired is not None:
        return attach_paired(tree, paired, fit_path=fit)
    found = find_paired(tree, fit)
    if found is not None:
        return attach_paired(tree, found, fit_path=fit)
    raise StereoPPLError(
        f"{fit}: holds no spectra, and {command} needs those of the paired dataset it was "
        f"fitted to, {describe_reference(tree)}, which is not there; {hint}"
    )


def parse_int_list(text: str, *, what: str) -> list[int]:
    """Parse ``"2,10,50"`` into ``[2, 10, 50]`` with a clear error."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise StereoPPLError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise StereoPPLError(f"{what} is empty")
    return values


def parse_name_values(items: list[str], *, flag: str) -> dict:
    """``["max_iter=50", "guide=lowrank"]`` -> ``{"max_iter": 50, "guide": "lowrank"}``.

    Values are read as JSON where they parse (numbers, true/false, null), else
    kept as strings; ``flag`` names the option in the error.
    """
    options = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise StereoPPLError(f"{flag} must look like NAME=VALUE; got {item!r}")
        try:
            options[name.strip()] = json.loads(value)
        except ValueError:
            options[name.strip()] = value
    return options


def print_summary(rows: list[dict]) -> None:
    """Print fit summaries (see :func:`stereo_ppl.compare.fit_summary`) as a table."""
    table = Table(title="fits")
    for key in rows[0]:
        table.add_column(_HEADERS.get(key, key), justify="right")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row.values()))
    console.print(table)


_HEADERS = {
    "seconds": "time [s]",
    "train_log_joint": "train log joint",
    "heldout_log_joint": "held-out log joint",
    "heldout_chi2_per_pixel": "held-out χ²/px",
    "heldout_chi2_median": "median χ²",
}


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.5g}"
    return str(value)
