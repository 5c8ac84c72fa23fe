"""The prepared paired dataset: spectra, per-star catalogue values, cut counts, rejections.

Besides the variables of :func:`stereo_ppl.data.make_paired` the dataset holds

* per-star catalogue values (dimension ``star``): the labels (``teff``,
  ``logg``, ``fe_h``, ... and their ``*_err``), ``apogee_snr``,
  ``lamost_snrz``, ``lamost_z`` (the redshift used), ``apogee_file`` and
  ``lamost_file``;
* the ``rejected`` table (:func:`~stereo_ppl.prepare.rejections.rejected_variables`);
* the cut counts as attributes ``cut_names``, ``cut_descriptions``,
  ``cut_removed``, ``cut_remaining`` (one entry per step, in order), and
  ``config`` (JSON of the options), ``stereo_ppl_version``, ``complete``.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from astropy.table import Table

from .. import __version__
from ..data.grids import apogee_chip_mask, apogee_grid, lamost_grid
from ..data.paired import make_paired
from .cuts import CutCount, find_column
from .rejections import Rejection, rejected_variables

__all__ = ["LABEL_UNITS", "SOURCE", "build_paired", "cut_attrs"]

#: ``attrs["source"]`` of a prepared paired dataset.
SOURCE = "stereo_ppl.prepare"
#: Units of the labels this package knows (catalogue column, upper case).
LABEL_UNITS = {
    "TEFF": "K",
    "LOGG": "log10(cm s-2)",
    "FE_H": "dex",
    "M_H": "dex",
    "ALPHA_M": "dex",
    "O_FE": "dex",
}


def cut_attrs(counts: Sequence[CutCount]) -> dict[str, Any]:
    """The cut table as dataset attributes (lists in step order)."""
    return {
        "cut_names": [c.name for c in counts],
        "cut_descriptions": [c.description for c in counts],
        "cut_removed": np.array([c.num_removed for c in counts], dtype=np.int64),
        "cut_remaining": np.array([c.num_remaining for c in counts], dtype=np.int64),
    }


def _column(table: Table, name: str) -> np.ndarray | None:
    try:
        column = table[find_column(table, name)]
    except KeyError:
        return None
    values = np.ma.asarray(column)
    if values.dtype.kind not in "fiu":
        return None
    return np.ma.filled(values.astype(np.float64), np.nan)


def _star_variables(
    table: Table, label_columns: Sequence[str], snr_column: str, snrz_column: str
) -> dict:
    """Per-star catalogue values of ``table`` as (values, attrs), by variable name."""
    out = {}
    for label in label_columns:
        unit = LABEL_UNITS.get(label.upper(), "")
        for suffix, what in (("", "catalogue label"), ("_ERR", "uncertainty of")):
            values = _column(table, label + suffix)
            if values is not None:
                attrs = {"long_name": f"{what} {label}", "units": unit}
                out[(label + suffix).lower()] = (values, attrs)
    for name, column, text in (
        ("apogee_snr", snr_column, "APOGEE S/N (catalogue)"),
        ("lamost_snrz", snrz_column, "LAMOST z-band S/N (catalogue)"),
    ):
        values = _column(table, column)
        if values is not None:
            out[name] = (values, {"long_name": text})
    return out


def build_paired(
    *,
    table: Table,
    arrays: Mapping[str, np.ndarray],
    counts: Sequence[CutCount],
    rejections: Sequence[Rejection],
    label_columns: Sequence[str],
    snr_column: str,
    snrz_column: str,
    config: Mapping[str, Any],
    complete: bool,
) -> xr.Dataset:
    """Assemble and validate the prepared paired dataset.

    Parameters
    ----------
    table : astropy.table.Table, shape (num_stars,)
        Catalogue rows of the kept stars, in output order.
    arrays : mapping
        ``apogee_id`` (num_stars,) str, ``obsid`` (num_stars,) int,
        ``apogee_flux``/``apogee_ivar`` (num_stars, 7514),
        ``lamost_flux``/``lamost_ivar`` (num_stars, 3909), ``lamost_z``,
        ``apogee_file``, ``lamost_file`` (num_stars,).
    counts : sequence of CutCount
        The cut table.
    rejections : sequence of Rejection
        The rejected table.
    label_columns, snr_column, snrz_column : str
        Catalogue columns copied as per-star variables (where present).
    config : mapping
        Options, stored as JSON in ``attrs["config"]``.
    complete : bool
        False when reading was interrupted.

    Returns
    -------
    xarray.Dataset
        Validated by :func:`stereo_ppl.data.validate_paired`.
    """
    chips = apogee_chip_mask()
    per_star = _star_variables(table, label_columns, snr_column, snrz_column)
    per_star["lamost_z"] = (
        np.asarray(arrays["lamost_z"], dtype=np.float64),
        {"long_name": "LAMOST header redshift Z used for the rest frame"},
    )
    for name in ("apogee_file", "lamost_file"):
        per_star[name] = (np.asarray(arrays[name], dtype=str), {"long_name": "file read"})
    attrs = {
        "source": SOURCE,
        "stereo_ppl_version": __version__,
        "config": json.dumps(dict(config), sort_keys=True, default=str),
        "complete": int(bool(complete)),
        "num_rejected": len(rejections),
        **cut_attrs(counts),
    }
    paired = make_paired(
        apogee_flux=arrays["apogee_flux"],
        apogee_ivar=arrays["apogee_ivar"],
        lamost_flux=arrays["lamost_flux"],
        lamost_ivar=arrays["lamost_ivar"],
        apogee_wavelength=apogee_grid()[chips],
        lamost_wavelength=lamost_grid(),
        apogee_id=arrays["apogee_id"],
        obsid=arrays["obsid"],
        apogee_pixel=np.flatnonzero(chips),
        attrs=attrs,
        labels=per_star,
    )
    return paired.assign(rejected_variables(rejections))
