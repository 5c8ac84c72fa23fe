"""Dimension and variable names shared by models, results and files.

A plate in a model, a dimension in a saved file and a dimension in an
``xarray`` object carry the same name, defined once here.
"""

__all__ = [
    "APOGEE_FILL",
    "APOGEE_PIXEL",
    "APOGEE_WAVELENGTH",
    "FIT_KIND",
    "FOLD",
    "LABEL",
    "LAMOST_PIXEL",
    "LAMOST_WAVELENGTH",
    "LATENT",
    "NUM_LATENT",
    "PAIRED_ENCODING",
    "PAIRED_REFERENCE",
    "PAIRED_VARIABLES",
    "REJECTED",
    "REPEAT",
    "STAR",
    "STEP",
    "WAVELENGTH_UNIT",
]

#: One star observed by both surveys.
STAR = "star"
#: One pixel of the survey-1 (APOGEE) spectrum.
APOGEE_PIXEL = "apogee_pixel"
#: One pixel of the survey-2 (LAMOST) spectrum.
LAMOST_PIXEL = "lamost_pixel"
#: One component of the low-dimensional representation ``z``.
LATENT = "latent"
#: One stellar label (Teff, log g, [Fe/H], ...); its coordinate holds the label names.
LABEL = "label"
#: One optimisation step at which a trace was recorded.
STEP = "step"

#: One file or catalogue row that ``prepare`` skipped.
REJECTED = "rejected"
#: Sweep tables: one value of c, one repeat (another initialisation), one CV fold.
NUM_LATENT = "num_latent"
REPEAT = "repeat"
FOLD = "fold"

#: Coordinate names of the wavelength of each pixel.
APOGEE_WAVELENGTH = "apogee_wavelength"
LAMOST_WAVELENGTH = "lamost_wavelength"
#: Unit of every wavelength coordinate (vacuum wavelengths).
WAVELENGTH_UNIT = "Angstrom"

#: Root attribute ``kind`` of a fit file written by stereo-ppl.
FIT_KIND = "stereo_ppl.fit"

#: Root attributes of a fit naming its paired file: path, size in bytes, data checksum.
PAIRED_REFERENCE = ("paired_path", "paired_size", "paired_checksum")
#: ``xarray.Dataset.encoding`` key where ``load_paired`` records that reference of its file.
PAIRED_ENCODING = "stereo_ppl_paired"
#: ``constant_data`` attribute of a fit: JSON list of its variables copied from the paired data.
PAIRED_VARIABLES = "paired_variables"
#: ``constant_data`` variable of a fit file without data: each bad survey-1 pixel's fill.
APOGEE_FILL = "apogee_fill"
