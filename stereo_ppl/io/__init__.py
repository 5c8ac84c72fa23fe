"""Reading and writing files: paired datasets, fit results, survey spectra."""

from .netcdf import atomic_write, load_fit, load_paired, save_dataset, save_fit, save_paired

__all__ = [
    "atomic_write",
    "load_fit",
    "load_paired",
    "save_dataset",
    "save_fit",
    "save_paired",
]
