"""Stellar labels of a paired dataset's stars (optional, additive).

A paired dataset may carry its stars' labels in two ways:

* ``labels`` and ``labels_err`` (star, label), with the label names as the
  ``label`` coordinate (:func:`add_labels`); NaN marks a missing label;
* one variable per label (``teff``, ``logg``, ``fe_h``, ... with ``*_err``),
  dimension ``star``, as ``stereo-ppl prepare`` copies them from the catalogue.

:func:`paired_labels` reads either into one :class:`PairedLabels`.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..dims import LABEL, STAR
from ..errors import PairedDataError

__all__ = ["LABELS", "LABELS_ERR", "PairedLabels", "add_labels", "paired_labels"]

#: Variable names of the (star, label) labels and their uncertainties.
LABELS = "labels"
LABELS_ERR = "labels_err"
#: Per-star label variables recognised when no ``labels`` variable exists, in this order.
_KNOWN = ("teff", "logg", "m_h", "fe_h", "alpha_m", "alpha_fe", "o_fe")


class PairedLabels(NamedTuple):
    """Labels of every star of a paired dataset.

    Attributes
    ----------
    values : ndarray, shape (num_stars, num_labels), float64
        NaN where a star has no value for a label.
    errors : ndarray, shape (num_stars, num_labels), float64
        Uncertainties (standard deviations); 0 where unknown.
    names : tuple of str, length num_labels
    units : tuple of str, length num_labels
    """

    values: np.ndarray
    errors: np.ndarray
    names: tuple[str, ...]
    units: tuple[str, ...]

    @property
    def observed(self) -> np.ndarray:
        """bool (num_stars, num_labels): the value is finite."""
        return np.isfinite(self.values)


def add_labels(
    paired: xr.Dataset,
    values,
    errors=None,
    *,
    names: Sequence[str],
    units: Sequence[str] | None = None,
) -> xr.Dataset:
    """A copy of ``paired`` with ``labels`` and ``labels_err`` (star, label).

    Parameters
    ----------
    paired : xarray.Dataset
        A paired dataset.
    values : array, shape (num_stars, num_labels)
        Label values; NaN marks a missing one.
    errors : array, shape (num_stars, num_labels), optional
        Their uncertainties (finite, >= 0 where the value is finite);
        default 0.
    names : sequence of str, length num_labels
        The ``label`` coordinate.
    units : sequence of str, optional
        Stored as the ``label_unit`` coordinate.

    Returns
    -------
    xarray.Dataset
    """
    values = np.asarray(values, dtype=np.float64)
    names = tuple(str(n) for n in names)
    shape = (paired.sizes[STAR], len(names))
    errors = np.zeros(shape) if errors is None else np.asarray(errors, dtype=np.float64)
    for what, arr in (("labels", values), ("labels_err", errors)):
        if arr.shape != shape:
            raise PairedDataError(f"{what} has shape {arr.shape}, expected {shape} (star, label)")
    given = np.isfinite(values)
    if np.any(given & ~(np.isfinite(errors) & (errors >= 0))):
        star, label = np.argwhere(given & ~(np.isfinite(errors) & (errors >= 0)))[0]
        raise PairedDataError(
            f"labels_err of {names[label]} at star {star} is {errors[star, label]}; "
            "it must be finite and >= 0 where the label is given"
        )
    coords = {LABEL: (LABEL, list(names))}
    if units is not None:
        coords["label_unit"] = (LABEL, [str(u) for u in units])
    return paired.assign_coords(coords).assign(
        {
            LABELS: ((STAR, LABEL), values, {"long_name": "stellar labels; NaN: missing"}),
            LABELS_ERR: ((STAR, LABEL), np.where(given, errors, 0.0), {"long_name": "label sd"}),
        }
    )


def paired_labels(paired: xr.Dataset, *, names: Sequence[str] | None = None) -> PairedLabels:
    """The labels a paired dataset carries.

    Parameters
    ----------
    paired : xarray.Dataset
        With ``labels`` (star, label) or per-star label variables.
    names : sequence of str, optional
        Labels to use (default: all of them).

    Returns
    -------
    PairedLabels

    Raises
    ------
    PairedDataError
        When the dataset has no labels, or not the ones asked for.
    """
    if LABELS in paired:
        available = tuple(str(n) for n in paired[LABEL].values)
        names = available if names is None else tuple(names)
        missing = [n for n in names if n not in available]
        if missing:
            raise PairedDataError(
                f"paired dataset has no label {', '.join(missing)}; it has {', '.join(available)}"
            )
        sel = paired.sel({LABEL: list(names)})
        values = np.asarray(sel[LABELS].values, dtype=np.float64)
        errors = (
            np.asarray(sel[LABELS_ERR].values, dtype=np.float64)
            if LABELS_ERR in sel
            else np.zeros_like(values)
        )
        units = (
            tuple(str(u) for u in sel["label_unit"].values)
            if "label_unit" in sel.coords
            else ("",) * len(names)
        )
    else:
        per_star = [n for n in _KNOWN if n in paired and paired[n].dims == (STAR,)]
        names = tuple(per_star) if names is None else tuple(names)
        missing = [n for n in names if n not in paired or paired[n].dims != (STAR,)]
        if not names or missing:
            raise PairedDataError(
                "paired dataset has no labels"
                + (f" {', '.join(missing)}" if missing else "")
                + f" (a {LABELS!r} (star, label) variable or per-star variables such as teff)"
            )
        values = np.stack([np.asarray(paired[n].values, np.float64) for n in names], axis=1)
        errors = np.stack(
            [
                np.asarray(paired[n + "_err"].values, np.float64)
                if n + "_err" in paired
                else np.zeros(paired.sizes[STAR])
                for n in names
            ],
            axis=1,
        )
        units = tuple(str(paired[n].attrs.get("units", "")) for n in names)
    errors = np.where(np.isfinite(values) & np.isfinite(errors), np.abs(errors), 0.0)
    return PairedLabels(values, errors, tuple(names), units)
