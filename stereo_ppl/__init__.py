"""stereo-ppl: learn how the same stars look to two spectroscopic surveys.

The main entry points, re-exported here::

    make_builtin   the built-in paired survey with truth
    make_builtin_pair  a built-in pair of chosen surveys (GALAH -> LAMOST, APOGEE -> GALAH)
    make_paired    build a paired dataset from arrays (validated)
    rrr_model      the base NumPyro model (eq. 1–2 of Wheeler 2019)
    prepare_paired survey files + catalogue -> paired dataset (cross-match, cuts)
    fit            fit a paired dataset (exact, map, laplace, vi), returning an ArviZ DataTree
    save_fit, load_fit, save_paired, load_paired   netCDF files
    predict        a fit's survey-2 spectrum of any star (any model), with its uncertainty
    params_from_datatree, predict_lamost            use a fit with NumPy
    run_sweep, compare_c                            choose c
    posterior_predictive, calibrate                 posterior predictive checks
    denoise                                         denoise and flag LAMOST spectra
"""

import importlib

from ._version import __version__
from .errors import FitConfigError, PairedDataError, StereoPPLError

#: Where each re-exported name lives. They are imported on first use, so that
#: ``import stereo_ppl.io`` (e.g. in a ``prepare`` worker process) does not
#: pay for JAX, NumPyro and ArviZ.
_EXPORTS = {
    "calibrate": "ppc",
    "compare_c": "compare",
    "denoise": "denoise",
    "fit": "inference",
    "fit_summary": "compare",
    "load_fit": "io",
    "load_paired": "io",
    "make_builtin": "datasets",
    "make_builtin_pair": "datasets",
    "make_paired": "data",
    "params_from_datatree": "inference",
    "posterior_predictive": "ppc",
    "predict": "inference",
    "predict_lamost": "compare",
    "prepare_paired": "prepare",
    "rrr_model": "models",
    "run_sweep": "sweep",
    "save_fit": "io",
    "save_paired": "io",
    "validate_paired": "data",
}


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


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
    "make_builtin_pair",
    "make_paired",
    "params_from_datatree",
    "posterior_predictive",
    "predict",
    "predict_lamost",
    "prepare_paired",
    "rrr_model",
    "run_sweep",
    "save_fit",
    "save_paired",
    "validate_paired",
]
