"""Preprocessing of survey spectra: rest frame, resampling, continuum, chip gaps.

Plain NumPy, vectorised over stars; no JAX. Bad pixels are ``ivar == 0`` on
the way in and on the way out, and no function returns NaN.
"""

from .checks import PreprocessError
from .chips import drop_chip_gaps
from .continuum import continuum_normalise, gaussian_continuum
from .frame import to_rest_frame
from .pipeline import preprocess_lamost
from .resample import RESAMPLE_METHODS, resample

__all__ = [
    "RESAMPLE_METHODS",
    "PreprocessError",
    "continuum_normalise",
    "drop_chip_gaps",
    "gaussian_continuum",
    "preprocess_lamost",
    "resample",
    "to_rest_frame",
]
