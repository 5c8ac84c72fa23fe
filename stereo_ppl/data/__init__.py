"""Paired spectra container, wavelength grids and validation."""

from .grids import (
    APOGEE_CHIPS,
    APOGEE_NUM_PIXELS,
    LAMOST_NUM_PIXELS,
    apogee_chip_mask,
    apogee_grid,
    lamost_grid,
    log_linear_grid,
)
from .labels import LABELS, LABELS_ERR, PairedLabels, add_labels, paired_labels
from .paired import make_paired
from .validate import (
    DEFAULT_SURVEYS,
    check_same_grid,
    describe_pixel,
    describe_star,
    survey_names,
    validate_paired,
)

__all__ = [
    "APOGEE_CHIPS",
    "APOGEE_NUM_PIXELS",
    "DEFAULT_SURVEYS",
    "LABELS",
    "LABELS_ERR",
    "LAMOST_NUM_PIXELS",
    "PairedLabels",
    "add_labels",
    "apogee_chip_mask",
    "apogee_grid",
    "check_same_grid",
    "describe_pixel",
    "describe_star",
    "lamost_grid",
    "log_linear_grid",
    "make_paired",
    "paired_labels",
    "survey_names",
    "validate_paired",
]
