"""Posterior and prior predictive checks of fits on LAMOST spectra.

:func:`posterior_predictive` draws replicated spectra (``lamost_flux_rep``)
through ``numpyro.infer.Predictive`` on the model function; :func:`calibrate`
turns them into coverage, PIT and chi-square numbers; :mod:`.tables` makes
printable rows of those; :func:`predictive_summaries` reduces spectra to
per-star summaries for ArviZ's PPC plots.
"""

from .calibration import PROB, PROBS, SUBSET, calibrate
from .predictive import PPC_KIND, REP, arviz_view, posterior_predictive
from .regions import (
    LAMOST_BANDS,
    LAMOST_LINES,
    LAMOST_REGIONS,
    SNR_EDGES,
    region_mask,
    snr_bin_labels,
    star_snr,
)
from .select import PPCConfigError, check_same_pixels, fit_draws, select_draws, select_stars
from .summaries import DEFAULT_LINES, predictive_summaries
from .tables import chi2_summary, coverage_rows, miscalibrated_regions, scatter_regions

__all__ = [
    "DEFAULT_LINES",
    "LAMOST_BANDS",
    "LAMOST_LINES",
    "LAMOST_REGIONS",
    "PPC_KIND",
    "PROB",
    "PROBS",
    "REP",
    "SNR_EDGES",
    "SUBSET",
    "PPCConfigError",
    "arviz_view",
    "calibrate",
    "check_same_pixels",
    "chi2_summary",
    "coverage_rows",
    "fit_draws",
    "miscalibrated_regions",
    "posterior_predictive",
    "predictive_summaries",
    "region_mask",
    "scatter_regions",
    "select_draws",
    "select_stars",
    "snr_bin_labels",
    "star_snr",
]
