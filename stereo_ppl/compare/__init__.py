"""Scoring and comparing fits."""

from .elpd import (
    SCORES,
    choose_c,
    compare_c,
    elpd_by_c,
    elpd_per_repeat,
    model_name,
    pointwise,
    stacking_weights,
)
from .scores import fit_summary, heldout_coverage, predict_lamost

__all__ = [
    "SCORES",
    "choose_c",
    "compare_c",
    "elpd_by_c",
    "elpd_per_repeat",
    "fit_summary",
    "heldout_coverage",
    "model_name",
    "pointwise",
    "predict_lamost",
    "stacking_weights",
]
