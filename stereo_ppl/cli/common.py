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
