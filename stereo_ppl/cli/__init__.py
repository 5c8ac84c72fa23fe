"""Command-line interface (``stereo-ppl``)."""

import sys

from ..errors import StereoPPLError
from . import compare_cmd, denoise_cmd, fit_cmd, inspect_cmd, ppc_cmd, prepare_cmd, sweep_cmd  # noqa: F401  (each registers its command on `app`)
from .app import app
from .common import error_console

__all__ = ["app", "main"]


def main() -> None:
    """Run the CLI; user mistakes print one line and exit with status 1."""
    try:
        app()
    except StereoPPLError as exc:
        error_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
