"""Bad pixel columns: the same pixels flagged in far more spectra than their neighbours.

Pure NumPy on the artefact codes of a first denoising pass; no file I/O.
"""

import numpy as np
import xarray as xr

__all__ = ["find_bad_columns"]


def find_bad_columns(
    artefact: np.ndarray | xr.DataArray,
    usable: np.ndarray | xr.DataArray,
    *,
    exclude: np.ndarray | None = None,
    min_fraction: float = 0.01,
    min_count: int = 3,
    significance: float = 8.0,
    reach: int = 6,
) -> np.ndarray:
    """Pixel columns flagged in far more spectra than the rest and than their neighbours.

    A column is bad where its number of pixels flagged on their own (codes 1,
    3 and 4; steps and runs span pixels) exceeds ``min_count``,
    ``min_fraction`` of its usable spectra, and by ``significance`` Poisson
    standard deviations both the count expected at the background rate of
    all columns and that of the columns 2 to ``reach`` pixels on either side:
    a defect hits one column, a misfit that recurs at a wavelength spans a
    line's width (and belongs in the scatter).

    Parameters
    ----------
    artefact : array of int, shape (n, m)
        Codes from a first pass.
    usable : array of bool, shape (n, m)
        ``ivar > 0``.
    exclude : array of bool, shape (m,), optional
        Columns never reported (e.g. the sky-line pixels, ``setup.sky``).
    min_fraction, min_count, significance : float, int, float
    reach : int
        Outermost neighbour (pixels) of the local background.

    Returns
    -------
    ndarray of int64
        The bad columns.
    """
    artefact = np.asarray(artefact)
    usable = np.asarray(usable, dtype=bool)
    hit = usable & np.isin(artefact, (1, 3, 4))
    count = hit.sum(axis=0).astype(np.float64)
    total = np.maximum(usable.sum(axis=0), 1).astype(np.float64)
    keep = count <= np.quantile(count, 0.99)
    rate = count[keep].sum() / total[keep].sum()
    m = count.size
    near_count, near_total = np.zeros(m), np.zeros(m)
    for shift in range(2, reach + 1):
        for side in (-shift, shift):
            idx = np.arange(m) + side
            inside = (idx >= 0) & (idx < m)
            near_count[inside] += count[idx[inside]]
            near_total[inside] += total[idx[inside]]
    local = near_count / np.maximum(near_total, 1.0)
    expected = np.maximum(rate, local) * total
    bad = (
        (count >= min_count)
        & (count >= min_fraction * total)
        & (count > expected + significance * np.sqrt(expected + 1.0))
    )
    if exclude is not None:
        bad &= ~np.asarray(exclude, dtype=bool)
    return np.flatnonzero(bad).astype(np.int64)
