"""Denoise LAMOST spectra with a fit's decoder and flag artefacts.

The maths (:mod:`.linalg`, :mod:`.flags`, :mod:`.core`) is pure JAX and
touches no files; :mod:`.sources` and :mod:`.stream` read inputs and write
results chunk by chunk (xarray, dask, Zarr).
"""

from .columns import find_bad_columns
from .core import DenoiseResult, DenoiseSetup, denoise_batch
from .dataset import DENOISE_KIND, denoise, flag_attrs, result_dataset
from .flags import ARTEFACT_CODES, ArtefactThresholds
from .flagscatter import (
    FlagScatters,
    estimate_flag_scatters,
    estimate_glitch_scatter,
    estimate_run_scatter,
    estimate_step_scatter,
)
from .linalg import STATUS_CODES, Decoder, make_decoder
from .noise import estimate_scatter, misfit_basis
from .scores import flag_scores
from .setup import (
    DEFAULT_SKY_LINES,
    DEFAULT_STEP_RANGE,
    PRIORS,
    latent_prior,
    make_setup,
)
from .sources import FitsSource, StoreSource, open_source
from .stream import DenoiseRun, denoise_source

__all__ = [
    "ARTEFACT_CODES",
    "DEFAULT_SKY_LINES",
    "DEFAULT_STEP_RANGE",
    "DENOISE_KIND",
    "PRIORS",
    "STATUS_CODES",
    "ArtefactThresholds",
    "Decoder",
    "DenoiseResult",
    "DenoiseRun",
    "DenoiseSetup",
    "FitsSource",
    "FlagScatters",
    "StoreSource",
    "denoise",
    "denoise_batch",
    "denoise_source",
    "estimate_flag_scatters",
    "estimate_glitch_scatter",
    "estimate_run_scatter",
    "estimate_scatter",
    "estimate_step_scatter",
    "find_bad_columns",
    "flag_attrs",
    "flag_scores",
    "latent_prior",
    "make_decoder",
    "make_setup",
    "misfit_basis",
    "open_source",
    "result_dataset",
]
