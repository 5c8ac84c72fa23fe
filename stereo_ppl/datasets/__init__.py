"""Built-in synthetic datasets with known truth.

:func:`make_builtin` generates a realistic paired APOGEE × LAMOST dataset:
red-giant labels, physics-like spectra computed from them with fixed line
lists, survey-like noise, LAMOST bad pixels and unflagged LAMOST artefacts
(:data:`ARTEFACT_CODES`), with the truth in a second dataset.
:func:`make_galah` gives GALAH spectra of the same stars, and
:func:`make_builtin_pair` pairs two of the surveys in the roles of survey 1
and survey 2 (:data:`PAIRS`: APOGEE → LAMOST, GALAH → LAMOST, APOGEE → GALAH).
"""

from .artefacts import ARTEFACT_CODES
from .builtin import BuiltinSurvey, make_builtin
from .calibration import CalibrationData, make_calibration_data
from .files import FAILING_ROWS, BuiltinFiles, prepared_truth, write_builtin_files
from .galah import galah_true_flux, make_galah, write_galah_files
from .labels import LABEL_NAMES, LABEL_UNITS
from .linelist import LINELIST_SEED
from .pair import PAIRS, make_builtin_pair
from .spectra import apogee_true_flux, lamost_true_flux

__all__ = [
    "ARTEFACT_CODES",
    "FAILING_ROWS",
    "LABEL_NAMES",
    "LABEL_UNITS",
    "LINELIST_SEED",
    "PAIRS",
    "BuiltinFiles",
    "BuiltinSurvey",
    "CalibrationData",
    "apogee_true_flux",
    "galah_true_flux",
    "lamost_true_flux",
    "make_builtin",
    "make_builtin_pair",
    "make_calibration_data",
    "make_galah",
    "prepared_truth",
    "write_builtin_files",
    "write_galah_files",
]
