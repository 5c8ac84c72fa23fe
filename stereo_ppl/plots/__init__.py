"""Figures (matplotlib is imported only when a plot is made)."""

from .compare import plot_score_vs_c
from .log_joint import plot_log_joint
from .ppc import (
    plot_pit_ecdf,
    plot_pixel_calibration,
    plot_ppc_summaries,
    plot_scatter,
    plot_spectrum_ppc,
)
from .residuals import plot_residuals

__all__ = [
    "plot_log_joint",
    "plot_pit_ecdf",
    "plot_pixel_calibration",
    "plot_ppc_summaries",
    "plot_residuals",
    "plot_scatter",
    "plot_score_vs_c",
    "plot_spectrum_ppc",
]
