"""The paired dataset: the same stars seen by survey 1 and survey 2.

A paired dataset is one :class:`xarray.Dataset` with dimensions ``star``,
``apogee_pixel`` and ``lamost_pixel``:

============== ============================= =================================
name           dims                          meaning
============== ============================= =================================
apogee_flux    (star, apogee_pixel)          normalised survey-1 flux ``F1``
apogee_ivar    (star, apogee_pixel)          its inverse variance (optional)
lamost_flux    (star, lamost_pixel)          normalised survey-2 flux ``F2``
lamost_ivar    (star, lamost_pixel)          inverse variance, 0 = bad pixel
apogee_id      (star,) coordinate            survey-1 identifier (str)
obsid          (star,) coordinate            survey-2 observation id (int64)
apogee_pixel   (apogee_pixel,) coordinate    index on the survey's full grid
lamost_pixel   (lamost_pixel,) coordinate    index on the survey's full grid
\\*_wavelength  (\\*_pixel,) coordinate        vacuum wavelength, Angstrom
============== ============================= =================================

**Survey roles.** Survey 1 (the encoder's input, ``z = beta_z @ F1``) and
survey 2 (the decoded spectrum) are roles, not particular surveys. The
variable names are a fixed contract: ``apogee_*`` and ``apogee_pixel`` always
hold survey 1, ``lamost_*`` and ``lamost_pixel`` always hold survey 2,
whatever the surveys are. Which surveys fill the roles is recorded in the
dataset attributes ``survey1`` and ``survey2`` (e.g. ``"APOGEE"``,
``"LAMOST"``, ``"GALAH"``; default :data:`DEFAULT_SURVEYS`, the seed study's
pair) and in the ``survey`` attribute of each wavelength coordinate (beside
``units`` and ``medium``); fits copy ``survey1`` and ``survey2`` into their
attributes. :func:`survey_names` reads them (with the defaults for files
written before the attributes existed). E.g. the built-in GALAH → LAMOST
pair (:func:`stereo_ppl.datasets.make_builtin_pair`) has the GALAH spectra in
``apogee_flux`` and ``survey1 == "GALAH"``.

Bad pixels are marked by ``ivar == 0``; their flux is ignored (it may be NaN
in the container but never reaches a model). For survey 2 the likelihood
skips them. Survey 1 enters ``z`` at every pixel, so a bad survey-1 pixel
(``apogee_ivar == 0``: a chip gap or a flagged pixel, kept instead of
dropping the star) is filled when a fit gathers its inputs: with the
training stars' mean flux at that pixel
(:func:`stereo_ppl.inference.arrays.fill_bad_apogee_pixels`; the
``errors-in-f1`` model also widens it by the spread across stars). A
non-finite survey-1 flux where ``apogee_ivar > 0``, or anywhere when there is
no ``apogee_ivar``, is an error.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..dims import (
    APOGEE_PIXEL,
    APOGEE_WAVELENGTH,
    LAMOST_PIXEL,
    LAMOST_WAVELENGTH,
    STAR,
    WAVELENGTH_UNIT,
)
from ..errors import PairedDataError
from .validate import DEFAULT_SURVEYS, survey_names, validate_paired

__all__ = ["DEFAULT_SURVEYS", "make_paired", "survey_names"]


def make_paired(
    *,
    apogee_flux: np.ndarray,
    lamost_flux: np.ndarray,
    lamost_ivar: np.ndarray,
    apogee_wavelength: np.ndarray,
    lamost_wavelength: np.ndarray,
    apogee_id: np.ndarray,
    obsid: np.ndarray,
    apogee_ivar: np.ndarray | None = None,
    apogee_pixel: np.ndarray | None = None,
    lamost_pixel: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
    labels: Mapping[str, Any] | None = None,
    survey1: str | None = None,
    survey2: str | None = None,
) -> xr.Dataset:
    """Build and validate a paired dataset from plain arrays.

    Parameters
    ----------
    apogee_flux : array, shape (num_stars, num_apogee_pixels)
        Survey-1 normalised flux. Finite wherever ``apogee_ivar > 0`` (and
        everywhere when ``apogee_ivar`` is not given); may be NaN at pixels
        with ``apogee_ivar == 0``, which fits fill (see the module docstring).
    lamost_flux, lamost_ivar : array, shape (num_stars, num_lamost_pixels)
        Survey-2 normalised flux and its inverse variance (0 marks a bad pixel).
    apogee_wavelength : array, shape (num_apogee_pixels,)
        Vacuum wavelength of each survey-1 pixel in Angstrom.
    lamost_wavelength : array, shape (num_lamost_pixels,)
        Vacuum (rest-frame) wavelength of each survey-2 pixel in Angstrom.
    apogee_id : array of str, shape (num_stars,)
        Survey-1 star identifiers (e.g. APOGEE ids, or GALAH ``sobject_id``
        as text), unique.
    obsid : array of int, shape (num_stars,)
        Survey-2 observation identifiers (e.g. LAMOST ``obsid``, GALAH
        ``sobject_id``), unique.
    apogee_ivar : array, shape (num_stars, num_apogee_pixels), optional
        Survey-1 inverse variance, where known; 0 marks a bad pixel.
    apogee_pixel, lamost_pixel : array of int, optional
        Index of each pixel on the survey's full grid (e.g. the 8,575-pixel
        APOGEE grid when chip gaps were dropped). Default ``0, 1, ...``.
    attrs : mapping, optional
        Dataset attributes (provenance, cut counts, ...).
    labels : mapping, optional
        Further per-star variables (dimension ``star``), e.g. catalogue
        labels: name to an array of shape (num_stars,) or to ``(array,
        attrs)``. Names must not clash with the variables above.
    survey1, survey2 : str, optional
        Which surveys fill the two roles (attributes ``survey1``,
        ``survey2`` and the wavelength coordinates' ``survey``), e.g.
        ``"GALAH"``. Default: the value in ``attrs``, else
        :data:`DEFAULT_SURVEYS` (``"APOGEE"``, ``"LAMOST"``).

    Returns
    -------
    xarray.Dataset
        The validated paired dataset.

    Raises
    ------
    PairedDataError
        If any array is malformed (the message names the variable, star and
        pixel), or a survey name is empty or contradicts ``attrs``.
    """
    attrs = dict(attrs or {})
    surveys = []
    for role, given, default in zip(
        ("survey1", "survey2"), (survey1, survey2), DEFAULT_SURVEYS, strict=True
    ):
        if given is not None and role in attrs and str(attrs[role]) != str(given):
            raise PairedDataError(
                f"{role}={given!r} contradicts attrs[{role!r}] = {attrs[role]!r}; give one"
            )
        name = given if given is not None else attrs.get(role, default)
        if not isinstance(name, str) or not name.strip():
            raise PairedDataError(f"{role} must be a non-empty survey name; got {name!r}")
        surveys.append(name.strip())
    attrs["survey1"], attrs["survey2"] = surveys
    apogee_flux = np.asarray(apogee_flux)
    lamost_flux = np.asarray(lamost_flux)
    for name, arr in (("apogee_flux", apogee_flux), ("lamost_flux", lamost_flux)):
        if arr.ndim != 2:
            raise PairedDataError(f"{name} must be 2-D (star, pixel); got shape {arr.shape}")
    num_stars = apogee_flux.shape[0]
    star_pair = (STAR, APOGEE_PIXEL)
    star_lamost = (STAR, LAMOST_PIXEL)
    expected = {
        "lamost_flux": (num_stars, lamost_flux.shape[1]),
        "lamost_ivar": (num_stars, lamost_flux.shape[1]),
        "apogee_ivar": apogee_flux.shape,
        "apogee_wavelength": (apogee_flux.shape[1],),
        "lamost_wavelength": (lamost_flux.shape[1],),
        "apogee_id": (num_stars,),
        "obsid": (num_stars,),
        "apogee_pixel": (apogee_flux.shape[1],),
        "lamost_pixel": (lamost_flux.shape[1],),
    }
    given = {
        "lamost_flux": lamost_flux,
        "lamost_ivar": lamost_ivar,
        "apogee_ivar": apogee_ivar,
        "apogee_wavelength": apogee_wavelength,
        "lamost_wavelength": lamost_wavelength,
        "apogee_id": apogee_id,
        "obsid": obsid,
        "apogee_pixel": apogee_pixel,
        "lamost_pixel": lamost_pixel,
    }
    for name, arr in given.items():
        if arr is not None and np.shape(arr) != expected[name]:
            raise PairedDataError(
                f"{name} has shape {np.shape(arr)}, expected {expected[name]} "
                f"to match apogee_flux {apogee_flux.shape} and lamost_flux "
                f"{lamost_flux.shape}"
            )

    def pixel_coord(index, wavelength, dim, wl_name, survey):
        index = np.arange(len(wavelength)) if index is None else np.asarray(index)
        return {
            dim: (dim, index.astype(np.int64)),
            wl_name: (
                dim,
                np.asarray(wavelength, dtype=np.float64),
                {"units": WAVELENGTH_UNIT, "medium": "vacuum", "survey": survey},
            ),
        }

    coords = {
        STAR: (STAR, np.arange(num_stars, dtype=np.int64)),
        "apogee_id": (STAR, np.asarray(apogee_id).astype(str)),
        "obsid": (STAR, np.asarray(obsid).astype(np.int64)),
        **pixel_coord(apogee_pixel, apogee_wavelength, APOGEE_PIXEL, APOGEE_WAVELENGTH, surveys[0]),
        **pixel_coord(lamost_pixel, lamost_wavelength, LAMOST_PIXEL, LAMOST_WAVELENGTH, surveys[1]),
    }
    role1, role2 = (f"survey-{k} ({name})" for k, name in enumerate(surveys, start=1))
    data_vars = {
        "apogee_flux": (star_pair, apogee_flux, {"long_name": f"{role1} normalised flux"}),
        "lamost_flux": (star_lamost, lamost_flux, {"long_name": f"{role2} normalised flux"}),
        "lamost_ivar": (
            star_lamost,
            np.asarray(lamost_ivar),
            {"long_name": f"{role2} inverse variance; 0 marks a bad pixel"},
        ),
    }
    if apogee_ivar is not None:
        data_vars["apogee_ivar"] = (
            star_pair,
            np.asarray(apogee_ivar),
            {"long_name": f"{role1} inverse variance; 0 marks a bad pixel"},
        )
    for name, value in (labels or {}).items():
        values, var_attrs = value if isinstance(value, tuple) else (value, {})
        values = np.asarray(values)
        if name in data_vars or name in coords:
            raise PairedDataError(f"label {name!r} clashes with a paired-dataset variable")
        if values.shape != (num_stars,):
            raise PairedDataError(
                f"label {name!r} has shape {values.shape}, expected ({num_stars},) (one per star)"
            )
        data_vars[name] = (STAR, values, dict(var_attrs))
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    validate_paired(ds)
    return ds
