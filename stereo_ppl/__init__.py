"""stereo-ppl: learn how the same stars look to two spectroscopic surveys.

The main entry points, re-exported here::

    make_builtin   the built-in paired survey with truth
    make_paired    build a paired dataset from arrays (validated)
    rrr_model      the base NumPyro model (seed eq. 1–2)
    prepare_paired survey files + catalogue -> paired dataset (cross-match, cuts)
    fit            fit a paired dataset (exact, map, laplace, vi), returning an ArviZ DataTree
    save_fit, load_fit, save_paired, load_paired   netCDF files
    params_from_datatree, predict_lamost            use a fit with NumPy
    run_sweep, compare_c                            choose c
    posterior_predictive, calibrate                 posterior predictive checks
    denoise                                         denoise and flag LAMOST spectra
"""

from ._version import __version__
from .compare import compare_c, fit_summary, predict_lamost
from .data import make_paired, validate_paired
from .datasets import make_builtin
from .denoise import denoise
from .errors import FitConfigError, PairedDataError, StereoPPLError
from .inference import fit, params_from_datatree
from .io import load_fit, load_paired, save_fit, save_paired
from .models import rrr_model
from .ppc import calibrate, posterior_predictive
from .prepare import prepare_paired
from .sweep import run_sweep

__all__ = [
    "FitConfigError",
    "PairedDataError",
    "StereoPPLError",
    "__version__",
    "calibrate",
    "compare_c",
    "denoise",
    "fit",
    "fit_summary",
    "load_fit",
    "load_paired",
    "make_builtin",
    "make_paired",
    "params_from_datatree",
    "posterior_predictive",
    "predict_lamost",
    "prepare_paired",
    "rrr_model",
    "run_sweep",
    "save_fit",
    "save_paired",
    "validate_paired",
]
