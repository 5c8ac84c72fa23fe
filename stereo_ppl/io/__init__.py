"""Reading and writing files: survey spectra and catalogues, paired datasets, fits."""

from .apogee import read_apstar, read_aspcapstar
from .catalogues import read_allstar, read_lamost_catalogue
from .errors import SurveyFileError, SurveyFileWarning
from .lamost import read_lamost
from .locate import FileIndex, index_apogee_files, index_lamost_files, lamost_key
from .netcdf import atomic_write, load_fit, load_paired, save_dataset, save_fit, save_paired
from .spectrum import Spectrum, from_spectrum1d, to_spectrum1d
from .writers import lamost_file_name, write_aspcapstar, write_catalogue, write_lamost_dr4

__all__ = [
    "FileIndex",
    "Spectrum",
    "SurveyFileError",
    "SurveyFileWarning",
    "atomic_write",
    "from_spectrum1d",
    "index_apogee_files",
    "index_lamost_files",
    "lamost_file_name",
    "lamost_key",
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
    "write_aspcapstar",
    "write_catalogue",
    "write_lamost_dr4",
]
