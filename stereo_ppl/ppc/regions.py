"""Wavelength regions and S/N bins over which calibration is reported.

Regions are named windows of vacuum wavelength (Angstrom) on the LAMOST
grid: four broad bands, and the strong lines that a low-dimensional latent
space is most likely to miss (Balmer lines, Ca II H&K and triplet, Ca I 4228,
Mg b, Na D). A region may be several windows (Ca II triplet).
"""

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "LAMOST_BANDS",
    "LAMOST_LINES",
    "LAMOST_REGIONS",
    "SNR_EDGES",
    "region_mask",
    "snr_bin_labels",
    "star_snr",
]

#: Broad LAMOST bands: name -> ((start, stop),) in vacuum Angstrom.
LAMOST_BANDS: Mapping[str, tuple[tuple[float, float], ...]] = {
    "3700-4500 Å": ((3700.0, 4500.0),),
    "4500-5800 Å": ((4500.0, 5800.0),),
    "5800-7000 Å": ((5800.0, 7000.0),),
    "7000-9100 Å": ((7000.0, 9100.0),),
}

#: Strong LAMOST lines: name -> ((start, stop), ...) in vacuum Angstrom.
LAMOST_LINES: Mapping[str, tuple[tuple[float, float], ...]] = {
    "Ca II H&K": ((3920.0, 3985.0),),
    "H-delta": ((4092.0, 4114.0),),
    "Ca I 4228": ((4220.0, 4236.0),),
    "H-gamma": ((4330.0, 4354.0),),
    "H-beta": ((4850.0, 4876.0),),
    "Mg b": ((5160.0, 5192.0),),
    "Na D": ((5885.0, 5904.0),),
    "H-alpha": ((6550.0, 6580.0),),
    "Ca II triplet": ((8490.0, 8511.0), (8534.0, 8555.0), (8654.0, 8675.0)),
}

#: Every named region: the bands, then the lines.
LAMOST_REGIONS: Mapping[str, tuple[tuple[float, float], ...]] = {**LAMOST_BANDS, **LAMOST_LINES}

#: Edges of the per-star LAMOST S/N bins (median S/N per good pixel).
SNR_EDGES: tuple[float, ...] = (0.0, 50.0, 100.0, 200.0, 400.0, np.inf)


def region_mask(wavelength: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """Which pixels fall in any of ``windows``.

    Parameters
    ----------
    wavelength : ndarray, shape (num_pixels,)
        Pixel wavelengths in Angstrom.
    windows : sequence of (start, stop)
        Half-open wavelength intervals ``[start, stop)``.

    Returns
    -------
    ndarray of bool, shape (num_pixels,)
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    mask = np.zeros(wavelength.shape, dtype=bool)
    for start, stop in windows:
        mask |= (wavelength >= start) & (wavelength < stop)
    return mask


def star_snr(flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """Median S/N per good pixel (``|flux| sqrt(ivar)`` where ``ivar > 0``) of each star.

    Parameters
    ----------
    flux, ivar : ndarray, shape (num_stars, num_pixels)
        Observed flux and its inverse variance (0 marks a bad pixel).

    Returns
    -------
    ndarray, shape (num_stars,), float64
        NaN for a star without good pixels.
    """
    good = (ivar > 0) & np.isfinite(flux)
    snr = np.where(good, np.abs(flux) * np.sqrt(np.where(good, ivar, 0.0)), np.nan)
    out = np.full(snr.shape[0], np.nan)
    has = good.any(axis=1)
    out[has] = np.nanmedian(snr[has], axis=1)
    return out


def snr_bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels ``"S/N 50-100"`` of the bins between consecutive ``edges``."""
    labels = []
    for low, high in itertools.pairwise(edges):
        top = "∞" if np.isinf(high) else f"{high:g}"
        labels.append(f"S/N {low:g}-{top}")
    return labels
