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
from .paired import make_paired
from .validate import check_same_grid, describe_pixel, describe_star, validate_paired

__all__ = [
    "APOGEE_CHIPS",
    "APOGEE_NUM_PIXELS",
    "LAMOST_NUM_PIXELS",
    "apogee_chip_mask",
    "apogee_grid",
    "check_same_grid",
    "describe_pixel",
    "describe_star",
    "lamost_grid",
    "log_linear_grid",
    "make_paired",
    "validate_paired",
]
