"""Rows of the calibration tables, ready to print (plain dicts of numbers and text)."""

import numpy as np
import xarray as xr

from ..dims import LAMOST_WAVELENGTH
from .calibration import PROB, SUBSET
from .regions import LAMOST_LINES

__all__ = ["chi2_summary", "coverage_rows", "miscalibrated_regions"]


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
    breaks = np.flatnonzero(np.diff(flagged) > max_gap + 1)
    rows = []
    for run in np.split(flagged, breaks + 1):
        row = {
            "start": float(wavelength[run[0]]),
            "stop": float(wavelength[run[-1]]),
            "pixels": int(run.size),
        }
        for j, prob in enumerate(cal[PROB].values):
            row[f"cov {100 * prob:g}%"] = float(np.nanmean(cal["pixel_coverage"].values[run, j]))
        row["mean z²"] = float(np.nanmean(cal["pixel_z2"].values[run]))
        names = [
            name
            for name, windows in regions.items()
            if any(row["start"] < hi and row["stop"] >= lo for lo, hi in windows)
        ]
        row["regions"] = ", ".join(names)
        rows.append(row)
    return sorted(rows, key=lambda r: -r["mean z²"] if np.isfinite(r["mean z²"]) else np.inf)
