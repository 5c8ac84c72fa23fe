"""Reading and writing files: survey spectra and catalogues, paired datasets, fits."""

from .apogee import read_apstar, read_aspcapstar
from .catalogues import read_allstar, read_lamost_catalogue
from .errors import SurveyFileError, SurveyFileWarning
from .lamost import read_lamost
from .netcdf import atomic_write, load_fit, load_paired, save_dataset, save_fit, save_paired
from .spectrum import Spectrum, from_spectrum1d, to_spectrum1d

__all__ = [
    "Spectrum",
    "SurveyFileError",
    "SurveyFileWarning",
    "atomic_write",
    "from_spectrum1d",
    "load_fit",
    "load_paired",
    "read_allstar",
    "read_apstar",
    "read_aspcapstar",
    "read_lamost",
    "read_lamost_catalogue",
    "save_dataset",
    "save_fit",
    "save_paired",
    "to_spectrum1d",
]
