"""Checks on a paired dataset, with errors that name the star and pixel."""

import numpy as np
import xarray as xr

from ..dims import (
    APOGEE_PIXEL,
    APOGEE_WAVELENGTH,
    LABEL,
    LAMOST_PIXEL,
    LAMOST_WAVELENGTH,
    STAR,
)
from ..errors import PairedDataError

__all__ = [
    "DEFAULT_SURVEYS",
    "check_same_grid",
    "describe_pixel",
    "describe_star",
    "dim_coords",
    "survey_names",
    "unfillable_pixels",
    "validate_paired",
]

#: The surveys of the two roles when a dataset does not say: the seed study's pair.
DEFAULT_SURVEYS = ("APOGEE", "LAMOST")

_REQUIRED = {
    "apogee_flux": (STAR, APOGEE_PIXEL),
    "lamost_flux": (STAR, LAMOST_PIXEL),
    "lamost_ivar": (STAR, LAMOST_PIXEL),
}
_OPTIONAL = {
    "apogee_ivar": (STAR, APOGEE_PIXEL),
    "labels": (STAR, LABEL),
    "labels_err": (STAR, LABEL),
}
_WAVELENGTH = {APOGEE_PIXEL: APOGEE_WAVELENGTH, LAMOST_PIXEL: LAMOST_WAVELENGTH}


def survey_names(ds: xr.Dataset | xr.DataTree) -> tuple[str, str]:
    """The surveys filling roles 1 and 2 of a paired dataset or a fit.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataTree
        A paired dataset or a fit (its root attributes).

    Returns
    -------
    survey1, survey2 : str
        Attributes ``survey1`` and ``survey2``; where one is missing, the
        ``survey`` attribute of the role's wavelength coordinate (a dataset
        whose attributes were dropped), else :data:`DEFAULT_SURVEYS` (files
        written before the attributes existed).
    """
    names = []
    for role, wl_name, default in zip(
        ("survey1", "survey2"), _WAVELENGTH.values(), DEFAULT_SURVEYS, strict=True
    ):
        on_grid = ds[wl_name].attrs.get("survey") if wl_name in ds.coords else None
        names.append(str(ds.attrs.get(role, on_grid if on_grid is not None else default)))
    return tuple(names)


def describe_star(ds: xr.Dataset, index: int) -> str:
    """Name star ``index`` of ``ds`` by position and by its survey ids."""
    ids = [
        f"{name}={ds[name].values[index]}" for name in ("apogee_id", "obsid") if name in ds.coords
    ]
    return f"star {index} ({', '.join(ids)})" if ids else f"star {index}"


def dim_coords(obj, dim: str) -> dict:
    """The coordinates of ``obj`` along ``dim`` alone (an index coordinate or not).

    Works on a Dataset, DataArray or DataTree node, whether or not ``dim``
    has an index coordinate of its own (a valid paired dataset may carry only
    ``apogee_id``/``obsid`` on ``star``).
    """
    return {name: coord for name, coord in obj.coords.items() if coord.dims == (dim,)}


def describe_pixel(ds: xr.Dataset, dim: str, index: int) -> str:
    """Name pixel ``index`` along ``dim`` by position and wavelength."""
    wl_name = _WAVELENGTH.get(dim)
    if wl_name in ds.coords:
        wl = ds[wl_name]
        unit = wl.attrs.get("units", "")
        return f"{dim} {index} ({wl_name}={float(wl.values[index]):.3f} {unit})".replace(" )", ")")
    return f"{dim} {index}"


def unfillable_pixels(ds: xr.Dataset, bad) -> PairedDataError:
    """The error for survey-1 pixels ``bad`` (indices) that are bad in every training star."""
    more = f" ({len(bad) - 1} more pixels like it)" if len(bad) > 1 else ""
    return PairedDataError(
        f"{describe_pixel(ds, 'apogee_pixel', int(bad[0]))} is bad (apogee_ivar == 0) in every "
        f"training star, so it has no mean to be filled with{more}; drop that pixel"
    )


def _fail_at(ds: xr.Dataset, name: str, bad: np.ndarray, problem: str, hint: str = "") -> None:
    """Raise naming the first True element of ``bad`` (star, pixel) and the count."""
    count = int(bad.sum())
    if count == 0:
        return
    star, pixel = np.argwhere(bad)[0]
    where = f"{describe_star(ds, star)}, {describe_pixel(ds, ds[name].dims[1], pixel)}"
    more = f" ({count - 1} more pixels like it)" if count > 1 else ""
    raise PairedDataError(f"{name} {problem} at {where}{more}{hint}")


def validate_paired(ds: xr.Dataset) -> xr.Dataset:
    """Check that ``ds`` is a well-formed paired dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A paired dataset (see :mod:`stereo_ppl.data.paired`).

    Returns
    -------
    xarray.Dataset
        ``ds`` itself, so calls can be chained.

    Raises
    ------
    PairedDataError
        On a missing variable or coordinate, wrong dimensions, a wavelength
        grid that is not finite and increasing, NaN/inf flux where the pixel is
        used (survey 1: where ``apogee_ivar > 0``, or anywhere without
        ``apogee_ivar``; survey 2: where ``lamost_ivar > 0``), NaN or negative
        ivar, duplicate star ids, a star with no usable pixel in either survey,
        or survey names (attributes ``survey1``, ``survey2``) that are empty or
        disagree with the wavelength coordinates' ``survey``. The message
        names the variable, star and pixel.
    """
    for name, dims in {**_REQUIRED, **{k: v for k, v in _OPTIONAL.items() if k in ds}}.items():
        if name not in ds:
            raise PairedDataError(f"paired dataset has no variable {name!r}")
        if ds[name].dims != dims:
            raise PairedDataError(f"{name} has dims {ds[name].dims}, expected {dims}")
        if not np.issubdtype(ds[name].dtype, np.floating):
            raise PairedDataError(f"{name} must be floating point, got {ds[name].dtype}")

    for dim, wl_name in _WAVELENGTH.items():
        if wl_name not in ds.coords:
            raise PairedDataError(f"paired dataset has no coordinate {wl_name!r}")
        wl = np.asarray(ds[wl_name].values, dtype=np.float64)
        if ds[wl_name].dims != (dim,):
            raise PairedDataError(f"{wl_name} has dims {ds[wl_name].dims}, expected ({dim!r},)")
        if not np.all(np.isfinite(wl)) or np.any(wl <= 0):
            k = int(np.flatnonzero(~np.isfinite(wl) | (wl <= 0))[0])
            raise PairedDataError(f"{wl_name} is not a positive finite number at {dim} {k}")
        if np.any(np.diff(wl) <= 0):
            k = int(np.flatnonzero(np.diff(wl) <= 0)[0]) + 1
            raise PairedDataError(f"{wl_name} is not strictly increasing at {dim} {k}")
        if "units" not in ds[wl_name].attrs:
            raise PairedDataError(f"{wl_name} has no 'units' attribute")

    for id_name in ("apogee_id", "obsid"):
        if id_name not in ds.coords:
            raise PairedDataError(f"paired dataset has no coordinate {id_name!r}")
        values, counts = np.unique(ds[id_name].values, return_counts=True)
        if np.any(counts > 1):
            dup = values[counts > 1][0].item()
            stars = np.flatnonzero(ds[id_name].values == dup).tolist()
            raise PairedDataError(f"duplicate {id_name} {dup!r} at stars {stars}")

    for ivar_name in ("lamost_ivar", "apogee_ivar"):
        if ivar_name not in ds:
            continue
        ivar = ds[ivar_name].values
        _fail_at(ds, ivar_name, np.isnan(ivar) | np.isinf(ivar), "is not finite")
        _fail_at(ds, ivar_name, ivar < 0, "is negative")
    ivar = ds["lamost_ivar"].values
    flux = ds["lamost_flux"].values
    _fail_at(
        ds,
        "lamost_flux",
        ~np.isfinite(flux) & (ivar > 0),
        "is NaN or inf where lamost_ivar > 0",
        "; set lamost_ivar = 0 there to mark the pixel bad",
    )
    _check_apogee_flux(ds)
    _check_not_empty(ds, "lamost_ivar", ivar > 0, "survey-2")
    if "apogee_ivar" in ds:
        _check_not_empty(ds, "apogee_ivar", ds["apogee_ivar"].values > 0, "survey-1")
    _check_surveys(ds)
    return ds


def _check_apogee_flux(ds: xr.Dataset) -> None:
    """Survey-1 flux finite wherever it is used: ``apogee_ivar > 0``, or everywhere."""
    bad = ~np.isfinite(ds["apogee_flux"].values)
    if "apogee_ivar" in ds:
        _fail_at(
            ds,
            "apogee_flux",
            bad & (ds["apogee_ivar"].values > 0),
            "is NaN or inf where apogee_ivar > 0",
            "; set apogee_ivar = 0 there to mark the pixel bad (fits fill it with the "
            "training stars' mean)",
        )
        return
    _fail_at(
        ds,
        "apogee_flux",
        bad,
        "is NaN or inf",
        "; every survey-1 pixel enters z = beta_z @ F1: give apogee_ivar with 0 there to "
        "mark the pixel bad, or drop that pixel or star",
    )


def _check_not_empty(ds: xr.Dataset, name: str, good: np.ndarray, role: str) -> None:
    """Raise naming the first star without a single good pixel."""
    empty = ~np.any(good, axis=1)
    if np.any(empty):
        first = int(np.flatnonzero(empty)[0])
        more = f" ({int(empty.sum()) - 1} more stars like it)" if empty.sum() > 1 else ""
        raise PairedDataError(
            f"{name} is 0 at every pixel of {describe_star(ds, first)}: "
            f"no usable {role} pixel{more}"
        )


def _check_surveys(ds: xr.Dataset) -> None:
    """Survey names non-empty text, the same in the attributes and the wavelength coordinates."""
    for role, (dim, default) in zip(
        ("survey1", "survey2"),
        zip((APOGEE_PIXEL, LAMOST_PIXEL), DEFAULT_SURVEYS, strict=True),
        strict=True,
    ):
        name = ds.attrs.get(role, default)
        if not isinstance(name, str) or not name.strip():
            raise PairedDataError(f"attribute {role} must be a non-empty survey name; got {name!r}")
        wl_name = _WAVELENGTH[dim]
        on_grid = ds[wl_name].attrs.get("survey")
        if on_grid is not None and role in ds.attrs and str(on_grid) != name:
            raise PairedDataError(
                f"{wl_name} is labelled survey {on_grid!r} but attribute {role} is {name!r}"
            )


def check_same_grid(
    expected: np.ndarray, actual: np.ndarray, *, what: str, rtol: float = 1e-6
) -> None:
    """Check that two wavelength grids agree pixel by pixel.

    Parameters
    ----------
    expected, actual : array, shape (num_pixels,)
        Wavelengths in the same unit.
    what : str
        Name used in the error, e.g. ``"lamost_wavelength of data.nc"``.
    rtol : float
        Largest allowed relative difference.

    Raises
    ------
    PairedDataError
        If the lengths differ or a pixel differs by more than ``rtol``.
    """
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        raise PairedDataError(
            f"{what} has {actual.size} pixels, expected {expected.size} (grids differ)"
        )
    rel = np.abs(actual - expected) / np.abs(expected)
    if np.any(rel > rtol):
        k = int(np.argmax(rel))
        raise PairedDataError(
            f"{what} differs from the expected grid at pixel {k}: "
            f"{actual[k]:.4f} vs {expected[k]:.4f} (relative {rel[k]:.1e} > {rtol:.0e})"
        )
