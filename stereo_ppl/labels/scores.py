"""Scatter and bias of predicted labels, and noisy catalogue labels for the built-in set."""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..data.labels import add_labels
from ..dims import LABEL, STAR

__all__ = ["BUILTIN_LABEL_ERRORS", "label_scores", "with_builtin_labels"]

#: Catalogue-like uncertainties of the built-in set's labels (teff K, logg, fe_h, alpha_fe dex).
BUILTIN_LABEL_ERRORS = {"teff": 50.0, "logg": 0.08, "fe_h": 0.03, "alpha_fe": 0.03}


def label_scores(predicted, true, *, names: Sequence[str]) -> dict:
    """Bias and scatter of predicted labels, per label.

    Parameters
    ----------
    predicted, true : array, shape (num_stars, num_labels)
        NaN predictions are left out (and counted).
    names : sequence of str, length num_labels

    Returns
    -------
    dict of str to dict
        Per label: ``bias`` (mean of predicted − true), ``scatter`` (standard
        deviation of the difference), ``robust_scatter`` (1.4826 × its median
        absolute deviation, blind to a few outliers), ``rms`` and
        ``num_failed``.
    """
    diff = np.asarray(predicted, np.float64) - np.asarray(true, np.float64)
    out = {}
    for k, name in enumerate(names):
        d = diff[:, k][np.isfinite(diff[:, k])]
        out[name] = {
            "bias": float(np.mean(d)) if d.size else np.nan,
            "scatter": float(np.std(d)) if d.size else np.nan,
            "robust_scatter": float(1.4826 * np.median(np.abs(d - np.median(d))))
            if d.size
            else np.nan,
            "rms": float(np.sqrt(np.mean(d**2))) if d.size else np.nan,
            "num_failed": int(diff.shape[0] - d.size),
        }
    return out


def with_builtin_labels(
    paired: xr.Dataset,
    truth: xr.Dataset,
    rng: np.random.Generator,
    *,
    errors: dict | None = None,
    missing_fraction: float = 0.0,
) -> xr.Dataset:
    """The built-in paired dataset with catalogue-like labels: truth plus noise.

    Parameters
    ----------
    paired, truth : xarray.Dataset
        From :func:`stereo_ppl.datasets.make_builtin`.
    rng : numpy.random.Generator
        Draws the noise (and which labels are missing).
    errors : dict of str to float, optional
        Standard deviation per label (default :data:`BUILTIN_LABEL_ERRORS`).
    missing_fraction : float
        Fraction of (star, label) values made missing (NaN).

    Returns
    -------
    xarray.Dataset
        ``paired`` with ``labels`` and ``labels_err`` (star, label).
    """
    errors = dict(BUILTIN_LABEL_ERRORS if errors is None else errors)
    names = [str(n) for n in truth[LABEL].values]
    true = np.asarray(truth["labels"].transpose(STAR, LABEL).values, np.float64)
    sd = np.broadcast_to(np.array([errors[n] for n in names]), true.shape)
    values = true + sd * rng.standard_normal(true.shape)
    values[rng.uniform(size=true.shape) < missing_fraction] = np.nan
    units = [str(u) for u in truth["label_unit"].values] if "label_unit" in truth.coords else None
    return add_labels(paired, values, sd, names=names, units=units)
