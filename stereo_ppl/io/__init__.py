"""Reading and writing files: survey spectra and catalogues, paired datasets, fits."""

from .apogee import read_apstar, read_aspcapstar
from .apvisit import read_apvisit
from .catalogues import read_allstar, read_lamost_catalogue
from .errors import SurveyFileError, SurveyFileWarning
from .galah import air_to_vacuum, ccd_index, galah_file_name, galah_files, read_galah, vacuum_to_air
from .galah_catalogue import read_galah_catalogue
from .galah_writer import write_galah_ccd
from .identify import FileKind, identify, read_spectrum
from .lamost import read_lamost
from .lamost_mrs import read_lamost_mrs
from .locate import FileIndex, index_apogee_files, index_lamost_files, lamost_key
from .netcdf import atomic_write, load_fit, load_paired, save_dataset, save_fit, save_paired
from .spectrum import Spectrum, from_spectrum1d, to_spectrum1d
from .specutils_io import register_specutils_loaders
from .summary import describe_file
from .writers import lamost_file_name, write_aspcapstar, write_catalogue, write_lamost_dr4

__all__ = [
    "FileIndex",
    "FileKind",
    "Spectrum",
    "SurveyFileError",
    "SurveyFileWarning",
    "air_to_vacuum",
    "atomic_write",
    "ccd_index",
    "describe_file",
    "from_spectrum1d",
    "galah_file_name",
    "galah_files",
    "identify",
    "index_apogee_files",
    "index_lamost_files",
    "lamost_file_name",
    "lamost_key",
    "load_fit",
    "load_paired",
    "read_allstar",
    "read_apstar",
    "read_apvisit",
    "read_aspcapstar",
    "read_galah",
    "read_galah_catalogue",
    "read_lamost",
    "read_lamost_catalogue",
    "read_lamost_mrs",
    "read_spectrum",
    "register_specutils_loaders",
    "save_dataset",
    "save_fit",
    "save_paired",
    "to_spectrum1d",
    "vacuum_to_air",
    "write_aspcapstar",
    "write_catalogue",
    "write_galah_ccd",
    "write_lamost_dr4",
]
