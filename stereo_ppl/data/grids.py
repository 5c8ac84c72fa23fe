"""Wavelength grids of the surveys.

All wavelengths are vacuum wavelengths in Angstrom. The grids are computed
here from their published log-linear definitions; nothing is read from disk.
"""

import numpy as np

__all__ = [
    "APOGEE_CHIPS",
    "APOGEE_NUM_PIXELS",
    "LAMOST_NUM_PIXELS",
    "apogee_chip_mask",
    "apogee_grid",
    "lamost_grid",
    "log_linear_grid",
]

#: Length of the APOGEE aspcapStar/apStar grid.
APOGEE_NUM_PIXELS = 8575
#: Zero-based ``[start, stop)`` pixel ranges of the three APOGEE detector chips
#: on the aspcapStar grid; the 7,514 pixels inside them carry data.
APOGEE_CHIPS = ((246, 3274), (3585, 6080), (6344, 8335))
#: Length of the common LAMOST rest-frame grid.
LAMOST_NUM_PIXELS = 3909


def log_linear_grid(crval: float, cdelt: float, num_pixels: int) -> np.ndarray:
    """Wavelengths of a log-linear grid, ``10 ** (crval + cdelt * k)``.

    Parameters
    ----------
    crval, cdelt : float
        ``log10`` wavelength (Angstrom) of pixel 0 and step per pixel.
    num_pixels : int
        Number of pixels.

    Returns
    -------
    ndarray, shape (num_pixels,), float64
        Wavelength of each pixel in Angstrom.
    """
    return 10.0 ** (crval + cdelt * np.arange(num_pixels, dtype=np.float64))


def apogee_grid() -> np.ndarray:
    """The APOGEE aspcapStar grid, ``log10 λ = 4.179 + 6e-6 k``.

    Returns
    -------
    ndarray, shape (8575,), float64
        Vacuum wavelengths in Angstrom, 15100.8 to 16999.8.
    """
    return log_linear_grid(4.179, 6e-6, APOGEE_NUM_PIXELS)


def lamost_grid() -> np.ndarray:
    """The common LAMOST rest-frame grid, ``log10 λ = 3.5682 + 1e-4 k``.

    Returns
    -------
    ndarray, shape (3909,), float64
        Vacuum wavelengths in Angstrom, 3700.0 to 9099.2.
    """
    return log_linear_grid(3.5682, 1e-4, LAMOST_NUM_PIXELS)


def apogee_chip_mask() -> np.ndarray:
    """Which pixels of the APOGEE grid fall on a detector chip.

    Returns
    -------
    ndarray, shape (8575,), bool
        True for the 7,514 pixels inside :data:`APOGEE_CHIPS`.
    """
    mask = np.zeros(APOGEE_NUM_PIXELS, dtype=bool)
    for start, stop in APOGEE_CHIPS:
        mask[start:stop] = True
    return mask
