"""Signal-to-noise ratios, Gaussian noise and bad pixels of the built-in dataset.

APOGEE: one S/N per star (lognormal around 400, above the high-S/N cut of
300), modulated across the three detector chips. LAMOST: one ``snrz``-like
S/N per star, falling towards the blue end (a cool star's blue S/N is a few
times lower than its red one) with a dip at the dichroic near 5,800 Å. The
error of every pixel is ``flux_true / snr_pixel``.
"""

import numpy as np

from ..data.grids import APOGEE_CHIPS

__all__ = [
    "APOGEE_SNR_CUT",
    "DEFAULT_APOGEE_SNR",
    "DEFAULT_LAMOST_SNR",
    "add_noise",
    "apogee_snr_shape",
    "draw_snr",
    "lamost_bad_pixels",
    "lamost_snr_shape",
]

#: Median per-star APOGEE S/N.
DEFAULT_APOGEE_SNR = 400.0
#: Median per-star LAMOST ``snrz``-like S/N.
DEFAULT_LAMOST_SNR = 250.0
#: APOGEE stars have S/N above this (the high-S/N sample's cut).
APOGEE_SNR_CUT = 300.0


def draw_snr(
    rng: np.random.Generator,
    num_stars: int,
    *,
    median: float,
    sigma: float,
    minimum: float = 0.0,
) -> np.ndarray:
    """Lognormal per-star S/N, redrawn until above ``minimum``.

    Parameters
    ----------
    rng : numpy.random.Generator
    num_stars : int
    median : float
        Median of the lognormal before the cut.
    sigma : float
        Standard deviation of ``ln snr``.
    minimum : float
        Values at or below it are redrawn.

    Returns
    -------
    ndarray, shape (num_stars,), float64
    """
    if median <= minimum:
        raise ValueError(f"median S/N {median} must exceed the minimum {minimum}")
    out = median * np.exp(sigma * rng.standard_normal(num_stars))
    bad = out <= minimum
    while np.any(bad):
        out[bad] = median * np.exp(sigma * rng.standard_normal(int(bad.sum())))
        bad = out <= minimum
    return out


def apogee_snr_shape(pixel: np.ndarray) -> np.ndarray:
    """Relative S/N across the APOGEE detectors, median 1.

    Parameters
    ----------
    pixel : array of int, shape (num_pixels,)
        Indices on the 8,575-pixel grid (on-chip pixels).

    Returns
    -------
    ndarray, shape (num_pixels,), float64
        Blue chip 0.85, green 1.05, red 1.0 relative throughput, falling by
        up to 25% over the 60 pixels at each chip edge.
    """
    pixel = np.asarray(pixel)
    shape = np.ones(pixel.shape)
    for (start, stop), level in zip(APOGEE_CHIPS, (0.85, 1.05, 1.0), strict=True):
        on = (pixel >= start) & (pixel < stop)
        edge = np.minimum(pixel - start, stop - 1 - pixel)[on]
        shape[on] = level * (1.0 - 0.25 * np.exp(-edge / 20.0))
    return shape / np.median(shape)


def lamost_snr_shape(wavelength: np.ndarray, blue_ratio: np.ndarray) -> np.ndarray:
    """Relative LAMOST S/N: 1 near 8,500 Å, ``blue_ratio`` at 3,900 Å.

    Parameters
    ----------
    wavelength : array, shape (num_pixels,)
        Angstrom.
    blue_ratio : array, shape (num_stars,)
        S/N at 3,900 Å relative to the red (z-band) S/N.

    Returns
    -------
    ndarray, shape (num_stars, num_pixels), float64
        Power law in wavelength below 8,500 Å, times a 30% dip at the
        dichroic (5,800 Å) and a gentle fall beyond 8,500 Å.
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    power = np.log(np.asarray(blue_ratio))[:, None] / np.log(3_900.0 / 8_500.0)
    shape = np.minimum(wavelength / 8_500.0, 1.0)[None, :] ** power
    shape = shape * (1.0 - 0.3 * np.exp(-0.5 * ((wavelength - 5_800.0) / 40.0) ** 2))
    return shape * np.where(wavelength > 8_500.0, (8_500.0 / wavelength) ** 3, 1.0)


def add_noise(
    rng: np.random.Generator, flux_true: np.ndarray, snr_pixel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise with error ``flux_true / snr_pixel``.

    Parameters
    ----------
    rng : numpy.random.Generator
    flux_true : array, shape (num_stars, num_pixels)
        Noiseless normalised flux (positive).
    snr_pixel : array, broadcastable to flux_true
        S/N of each pixel.

    Returns
    -------
    flux : ndarray, shape (num_stars, num_pixels), float64
    ivar : ndarray, shape (num_stars, num_pixels), float64
        ``(snr_pixel / flux_true) ** 2``.
    """
    sigma = np.asarray(flux_true) / snr_pixel
    flux = flux_true + sigma * rng.standard_normal(np.shape(flux_true))
    return flux, 1.0 / sigma**2


def lamost_bad_pixels(
    rng: np.random.Generator, num_stars: int, num_pixels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels that the survey flags with ``ivar = 0``.

    Parameters
    ----------
    rng : numpy.random.Generator
    num_stars, num_pixels : int

    Returns
    -------
    isolated : ndarray, shape (num_stars, num_pixels), bool
        Isolated bad pixels, Poisson with mean 3 per star.
    ends : ndarray, shape (num_stars, num_pixels), bool
        Runs at the ends of the spectrum: the first 1–60 pixels in 20% of
        stars, the last 1–40 pixels in 12%.
    """
    isolated = np.zeros((num_stars, num_pixels), dtype=bool)
    counts = rng.poisson(3.0, num_stars)
    rows = np.repeat(np.arange(num_stars), counts)
    isolated[rows, rng.integers(0, num_pixels, rows.size)] = True
    ends = np.zeros_like(isolated)
    index = np.arange(num_pixels)
    blue = np.where(rng.uniform(size=num_stars) < 0.20, rng.integers(1, 61, num_stars), 0)
    red = np.where(rng.uniform(size=num_stars) < 0.12, rng.integers(1, 41, num_stars), 0)
    ends |= index[None, :] < blue[:, None]
    ends |= index[None, :] >= num_pixels - red[:, None]
    return isolated & ~ends, ends
