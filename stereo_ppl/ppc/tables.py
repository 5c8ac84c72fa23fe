"""Rows of the calibration tables, ready to print (plain dicts of numbers and text)."""

import numpy as np
import xarray as xr

from ..dims import LAMOST_WAVELENGTH
from .calibration import PROB, SUBSET
from .regions import LAMOST_LINES

__all__ = ["chi2_summary", "coverage_rows", "miscalibrated_regions", "scatter_regions"]


def coverage_rows(cal: xr.Dataset) -> list[dict]:
    """One row per pixel subset: coverage of each interval, ``mean z²``, KS p-value.

    Parameters
    ----------
    cal : xarray.Dataset
        From :func:`~stereo_ppl.ppc.calibrate`.

    Returns
    -------
    list of dict
        Keys ``subset``, ``stars``, ``pixels``, ``cov NN%`` per probability,
        ``mean z²``, ``PIT KS p``.
    """
    rows = []
    for k, name in enumerate(cal[SUBSET].values):
        row = {
            "subset": str(name),
            "stars": int(cal["num_stars"].values[k]),
            "pixels": int(cal["num_pixels"].values[k]),
        }
        for j, prob in enumerate(cal[PROB].values):
            row[f"cov {100 * prob:g}%"] = float(cal["coverage"].values[k, j])
        row["mean z²"] = float(cal["mean_z2"].values[k])
        row["PIT KS p"] = float(cal["pit_ks_pvalue"].values[k])
        rows.append(row)
    return rows


def chi2_summary(cal: xr.Dataset, *, level: float = 0.01, num_worst: int = 3) -> dict:
    """Chi-square per star against its expected distribution, in one row.

    Returns
    -------
    dict
        ``stars``; ``median chi2/dof`` (1 for a calibrated model with
        negligible parameter uncertainty); ``p < level``: fraction of stars
        whose chi-square p-value is below ``level`` (about ``level`` or less
        when calibrated); ``worst``: the ``num_worst`` stars with the smallest
        p-values as ``"obsid (chi2/dof)"``.
    """
    dof = cal["chi2_dof"].values
    ok = dof > 0
    ratio = cal["chi2"].values[ok] / dof[ok]
    pvalue = cal["chi2_pvalue"].values[ok]
    ids = cal["obsid"].values[ok] if "obsid" in cal.coords else np.flatnonzero(ok)
    order = np.argsort(pvalue, kind="stable")[:num_worst]
    return {
        "stars": int(ok.sum()),
        "median chi2/dof": float(np.median(ratio)) if ratio.size else np.nan,
        f"p < {level:g}": float(np.mean(pvalue < level)) if ratio.size else np.nan,
        "worst": ", ".join(f"{ids[i]} ({ratio[i]:.3g})" for i in order),
    }


def _runs(flagged: np.ndarray, max_gap: int) -> list[np.ndarray]:
    """Indices ``flagged`` (sorted) split where more than ``max_gap`` pixels separate them."""
    breaks = np.flatnonzero(np.diff(flagged) > max_gap + 1)
    return np.split(flagged, breaks + 1) if flagged.size else []


def _region_names(start: float, stop: float, regions) -> str:
    return ", ".join(
        name
        for name, windows in regions.items()
        if any(start < hi and stop >= lo for lo, hi in windows)
    )


def scatter_regions(
    ppc: xr.DataTree, *, threshold: float | None = None, max_gap: int = 2, regions=LAMOST_LINES
) -> list[dict]:
    """Wavelength runs where the calibrated model's intrinsic scatter ``s_p`` is large.

    Parameters
    ----------
    ppc : xarray.DataTree
        A predictive check of a calibrated fit (its ``constant_data`` holds
        ``scatter`` and ``lamost_ivar``); of a fit without a scatter: ``[]``.
    threshold : float, optional
        ``s_p`` above which a pixel counts (flux units); default the median
        reported error of the checked stars' usable pixels, so a run is where
        the model misses the star by more than the typical noise.
    max_gap : int
        Pixels separated by at most this many others are one run.
    regions : mapping
        Named regions (default the strong lines); each run lists those it overlaps.

    Returns
    -------
    list of dict
        Sorted by decreasing ``max s``: ``start``, ``stop`` (Angstrom),
        ``pixels``, ``median s``, ``max s``, ``regions``.
    """
    const = ppc["constant_data"]
    if "scatter" not in const:
        return []
    scatter = np.asarray(const["scatter"].values, np.float64)
    if threshold is None:
        ivar = np.asarray(const["lamost_ivar"].values, np.float64)
        threshold = float(np.median(1.0 / np.sqrt(ivar[ivar > 0]))) if (ivar > 0).any() else 0.0
    wavelength = const[LAMOST_WAVELENGTH].values
    rows = []
    for run in _runs(np.flatnonzero(scatter > threshold), max_gap):
        start, stop = float(wavelength[run[0]]), float(wavelength[run[-1]])
        rows.append(
            {
                "start": start,
                "stop": stop,
                "pixels": int(run.size),
                "median s": float(np.median(scatter[run])),
                "max s": float(scatter[run].max()),
                "regions": _region_names(start, stop, regions),
            }
        )
    return sorted(rows, key=lambda r: -r["max s"])


def miscalibrated_regions(cal: xr.Dataset, *, max_gap: int = 2, regions=LAMOST_LINES) -> list[dict]:
    """Wavelength intervals of consecutive pixels flagged ``miscalibrated``.

    Parameters
    ----------
    cal : xarray.Dataset
        From :func:`~stereo_ppl.ppc.calibrate`.
    max_gap : int
        Flagged pixels separated by at most this many unflagged pixels are
        merged into one interval.
    regions : mapping
        Named regions (default: the strong lines); each interval lists those
        it overlaps.

    Returns
    -------
    list of dict
        Sorted by decreasing ``mean z²``: ``start``, ``stop`` (Angstrom, first
        and last flagged pixel), ``pixels`` (flagged), ``cov NN%`` (mean
        per-pixel coverage), ``mean z²``, ``regions`` (comma-separated names).
    """
    flagged = np.flatnonzero(cal["miscalibrated"].values)
    if flagged.size == 0:
        return []
    wavelength = cal[LAMOST_WAVELENGTH].values
    rows = []
    for run in _runs(flagged, max_gap):
        row = {
            "start": float(wavelength[run[0]]),
            "stop": float(wavelength[run[-1]]),
            "pixels": int(run.size),
        }
        for j, prob in enumerate(cal[PROB].values):
            row[f"cov {100 * prob:g}%"] = float(np.nanmean(cal["pixel_coverage"].values[run, j]))
        row["mean z²"] = float(np.nanmean(cal["pixel_z2"].values[run]))
        row["regions"] = _region_names(row["start"], row["stop"], regions)
        rows.append(row)
    return sorted(rows, key=lambda r: -r["mean z²"] if np.isfinite(r["mean z²"]) else np.inf)
