"""A fit with or without its copies of the paired data (no file I/O here).

A fit (:mod:`stereo_ppl.inference.results`) copies the paired dataset into
``observed_data`` and ``constant_data`` (the attribute ``paired_variables``
of ``constant_data`` lists the copied variables). :func:`detach_data` drops
the copies, keeping ``heldout``, the fit's own constants and
``apogee_fill`` (apogee_pixel): the value every bad survey-1 pixel
(``apogee_ivar == 0``) was filled with, NaN where no star was bad, so that
:func:`attach_data` rebuilds the filled ``apogee_flux`` exactly.
:func:`data_checksum` identifies the data, in memory or in any file.
"""

import hashlib
import json

import numpy as np
import xarray as xr

from ..dims import (
    APOGEE_FILL,
    APOGEE_PIXEL,
    APOGEE_WAVELENGTH,
    LAMOST_PIXEL,
    LAMOST_WAVELENGTH,
    PAIRED_VARIABLES,
    STAR,
)
from ..errors import PairedDataError, StereoPPLError

__all__ = ["attach_data", "data_checksum", "detach_data", "has_data", "tree_checksum"]


#: What :func:`data_checksum` hashes: flux (bad pixels as 0), ivar, star ids and grids.
_CHECKSUM_NAMES = (
    "apogee_flux",
    "apogee_ivar",
    "lamost_flux",
    "lamost_ivar",
    "apogee_id",
    "obsid",
    APOGEE_WAVELENGTH,
    LAMOST_WAVELENGTH,
)
_MASK = {"apogee_flux": "apogee_ivar", "lamost_flux": "lamost_ivar"}
_ROWS_PER_BLOCK = 4096


def data_checksum(data: xr.Dataset) -> str:
    """Checksum of a paired dataset's spectra, star ids and wavelength grids.

    It hashes values, not file bytes, so the same data give the same checksum
    in memory, in any netCDF file, and in a fit that holds them (bad pixels,
    ``ivar == 0``, count as 0: a fit fills bad survey-1 pixels).

    Parameters
    ----------
    data : xarray.Dataset
        A paired dataset, or a fit's ``constant_data`` with ``lamost_flux`` added.

    Returns
    -------
    str
        ``"sha256:"`` and 64 hex digits.
    """
    digest = hashlib.sha256()
    for name in _CHECKSUM_NAMES:
        if name not in data.variables:
            continue
        values = np.asarray(data[name].values)
        digest.update(f"{name} {values.shape}\n".encode())
        if values.dtype.kind in "OUS":
            digest.update("\0".join(map(str, values.ravel())).encode())
            continue
        digest.update(values.dtype.str.encode())
        mask = _MASK.get(name)
        weights = np.asarray(data[mask].values) if mask in data.variables else None
        for start in range(0, max(values.shape[0], 1), _ROWS_PER_BLOCK):
            block = values[start : start + _ROWS_PER_BLOCK]
            if weights is not None:
                block = np.where(weights[start : start + _ROWS_PER_BLOCK] > 0, block, 0)
            digest.update(np.ascontiguousarray(block).tobytes())
    return "sha256:" + digest.hexdigest()


def has_data(tree: xr.DataTree) -> bool:
    """Whether a fit holds its paired data (``observed_data`` and the spectra)."""
    return "observed_data" in tree.children and "lamost_flux" in tree["observed_data"].data_vars


def tree_checksum(tree: xr.DataTree) -> str:
    """:func:`data_checksum` of the paired data a fit holds."""
    data = tree["constant_data"].to_dataset()
    return data_checksum(data.assign(lamost_flux=tree["observed_data"]["lamost_flux"].variable))


def detach_data(tree: xr.DataTree) -> xr.DataTree:
    """A fit without its copies of the paired data (see the module docstring).

    Raises
    ------
    StereoPPLError
        If the fit does not record which variables came from the paired
        dataset (a fit written by an older stereo-ppl).
    """
    const = tree["constant_data"].to_dataset()
    if PAIRED_VARIABLES not in const.attrs:
        raise StereoPPLError(
            "this fit does not list which of its constant_data came from the paired dataset "
            "(written by an older stereo-ppl); keep its data"
        )
    copied = set(json.loads(const.attrs[PAIRED_VARIABLES]))
    kept = const[[name for name in const.data_vars if name not in copied]]
    fill = _fill_values(const)
    if fill is not None:
        kept = kept.assign({APOGEE_FILL: fill})
    groups = {"/": tree.to_dataset()}
    for name, child in tree.children.items():
        if name != "observed_data":
            groups[f"/{name}"] = kept if name == "constant_data" else child.to_dataset()
    out = xr.DataTree.from_dict(groups)
    out.attrs = dict(tree.attrs)
    return out


def _fill_values(const: xr.Dataset) -> xr.DataArray | None:
    """Per survey-1 pixel, the value its bad pixels (``apogee_ivar == 0``) hold; None if none."""
    if "apogee_ivar" not in const:
        return None
    bad = ~(np.asarray(const["apogee_ivar"].values) > 0)
    if not bad.any():
        return None
    flux = np.asarray(const["apogee_flux"].values)
    first = np.argmax(bad, axis=0)
    values = np.where(bad.any(axis=0), flux[first, np.arange(flux.shape[1])], np.nan)
    if not np.array_equal(flux[bad], np.broadcast_to(values, flux.shape)[bad]):
        raise StereoPPLError(
            "the fit filled one bad survey-1 pixel with different values in different stars, "
            "which a fit file without data cannot rebuild; keep its data"
        )
    attrs = {
        "long_name": "value bad survey-1 pixels (apogee_ivar == 0) were filled with; "
        "NaN where no star was bad",
        "apogee_flux_comment": str(const["apogee_flux"].attrs.get("comment", "")),
    }
    coords = {k: v for k, v in const.coords.items() if v.dims == (APOGEE_PIXEL,)}
    return xr.DataArray(values.astype(flux.dtype), dims=(APOGEE_PIXEL,), coords=coords, attrs=attrs)


def attach_data(tree: xr.DataTree, paired: xr.Dataset) -> xr.DataTree:
    """Put the paired data back into a fit without data (the inverse of :func:`detach_data`).

    Checks that ``paired`` has the fit's stars (``apogee_id``, ``obsid``) and
    pixels, not its checksum (see :func:`stereo_ppl.io.load_fit`).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit without data.
    paired : xarray.Dataset
        The paired dataset it was fitted to.

    Returns
    -------
    xarray.DataTree
        The fit as :func:`~stereo_ppl.inference.fit` returned it.

    Raises
    ------
    PairedDataError
        Naming the first star or the dimension that differs.
    """
    const = tree["constant_data"].to_dataset()
    _check_same_stars(const, paired)
    for dim in (APOGEE_PIXEL, LAMOST_PIXEL):
        mine, theirs = paired.sizes.get(dim), tree["posterior"].sizes[dim]
        if mine != theirs:
            raise PairedDataError(f"the paired dataset has {mine} {dim}s but the fit has {theirs}")
    paired = _refill(paired, const)
    own = {name: const[name].variable for name in const.data_vars if name != APOGEE_FILL}
    constant = paired.drop_vars("lamost_flux").assign(own)
    missing = {name: const.coords[name] for name in const.coords if name not in constant.coords}
    constant = constant.assign_coords(missing)
    constant.attrs = dict(const.attrs)
    observed = paired[["lamost_flux"]]
    observed.attrs = {k: v for k, v in const.attrs.items() if k != PAIRED_VARIABLES}
    groups = {"/": tree.to_dataset(), "/posterior": tree["posterior"].to_dataset()}
    groups["/observed_data"] = observed
    groups["/constant_data"] = constant
    for name, child in tree.children.items():
        if f"/{name}" not in groups:
            groups[f"/{name}"] = child.to_dataset()
    out = xr.DataTree.from_dict(groups)
    out.attrs = dict(tree.attrs)
    return out


def _check_same_stars(const: xr.Dataset, paired: xr.Dataset) -> None:
    num = const.sizes[STAR]
    if paired.sizes.get(STAR) != num:
        raise PairedDataError(
            f"the paired dataset has {paired.sizes.get(STAR)} stars, the fit {num}"
        )
    for name in ("apogee_id", "obsid"):
        if name in const.variables and name in paired.variables:
            mine = np.asarray(const[name].values).astype(str)
            theirs = np.asarray(paired[name].values).astype(str)
            if not np.array_equal(mine, theirs):
                k = int(np.flatnonzero(mine != theirs)[0])
                raise PairedDataError(
                    f"star {k} of the paired dataset has {name} {theirs[k]}, the fit's {mine[k]}"
                )


def _refill(paired: xr.Dataset, const: xr.Dataset) -> xr.Dataset:
    """``paired`` with its bad survey-1 pixels filled as when fitting."""
    if "apogee_ivar" not in paired:
        return paired
    good = np.asarray(paired["apogee_ivar"].values) > 0
    if good.all():
        return paired
    flux = np.asarray(paired["apogee_flux"].values)
    if APOGEE_FILL in const:
        fill = np.asarray(const[APOGEE_FILL].values, dtype=flux.dtype)
        attrs = {
            **paired["apogee_flux"].attrs,
            "comment": const[APOGEE_FILL].attrs.get("apogee_flux_comment", ""),
        }
        filled = np.where(good, flux, fill[None, :])
        return paired.assign(apogee_flux=(paired["apogee_flux"].dims, filled, attrs))
    # a fit written before apogee_fill was stored: the same rule, from its training stars
    from ..inference.arrays import fill_bad_apogee_pixels

    train = np.flatnonzero(~np.asarray(const["heldout"].values, dtype=bool))
    return fill_bad_apogee_pixels(paired, train).paired
