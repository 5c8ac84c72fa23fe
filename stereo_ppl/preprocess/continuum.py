"""Continuum normalisation by an ivar-weighted Gaussian-kernel running mean.

The seed study's method (as in The Cannon's LAMOST work): the continuum at
pixel ``i`` is

    cont_i = sum_j w_ij ivar_j flux_j / sum_j w_ij ivar_j,
    w_ij = exp(-(lambda_i - lambda_j)**2 / (2 scale**2)),  |lambda_i - lambda_j| <= window,

and the normalised spectrum is ``flux / cont`` with ``ivar * cont**2``. The sum
is a banded matrix product over pixels, done in blocks, so a batch of stars
on one grid (or on grids equal up to rounding) costs one BLAS call per block.
"""

import numpy as np

from .checks import PreprocessError, as_angstrom, check_spectra, check_wavelength

__all__ = ["continuum_normalise", "gaussian_continuum"]

#: Rows of a per-star wavelength array closer than this (relative) share one kernel.
_SAME_GRID_RTOL = 1e-13
#: Kernel entries computed per block (memory of one block: 8 bytes each).
_BLOCK_ENTRIES = 2_000_000


def _smooth(wavelength: np.ndarray, weighted: np.ndarray, scale: float, window: float):
    """Kernel sums ``weighted @ K.T`` for one grid.

    Parameters
    ----------
    wavelength : ndarray, shape (num_pixels,)
    weighted : ndarray, shape (num_rows, num_pixels)

    Returns
    -------
    ndarray, shape (num_rows, num_pixels)
    """
    num_pixels = wavelength.size
    lo = np.searchsorted(wavelength, wavelength - window, side="left")
    hi = np.searchsorted(wavelength, wavelength + window, side="right")
    width = int(np.max(hi - lo))
    # Rows per block: a quarter of the band keeps the dense block ~80% non-zero.
    block = max(1, min(num_pixels, width // 4, _BLOCK_ENTRIES // max(width, 1)))
    out = np.empty_like(weighted)
    for start in range(0, num_pixels, block):
        stop = min(start + block, num_pixels)
        j0, j1 = lo[start], hi[stop - 1]
        # in place: the temporaries are megabytes, allocating each costs page faults
        kernel = np.subtract.outer(wavelength[start:stop], wavelength[j0:j1])
        np.multiply(kernel, kernel, out=kernel)
        outside = kernel > window**2
        kernel *= -0.5 / scale**2
        np.exp(kernel, out=kernel)
        kernel[outside] = 0.0
        out[:, start:stop] = weighted[:, j0:j1] @ kernel.T
    return out


def _same_grid_rows(wavelength: np.ndarray) -> list[np.ndarray]:
    """Rows of ``wavelength`` (num_rows, num_pixels) grouped by grid.

    Two rows share a grid when they agree to :data:`_SAME_GRID_RTOL` (rounding:
    e.g. one grid shifted to the observed frame and back), so the kernel of the
    first serves all. Rows are visited in order of their first wavelength, so
    the cost is ``O(num_rows * num_pixels)``.
    """
    groups: list[list[int]] = []
    for i in np.argsort(wavelength[:, 0], kind="stable").tolist():
        if groups:
            first = wavelength[groups[-1][0]]
            if np.all(np.abs(wavelength[i] - first) <= _SAME_GRID_RTOL * first):
                groups[-1].append(i)
                continue
        groups.append([i])
    return [np.array(group) for group in groups]


def gaussian_continuum(wavelength, flux, ivar, *, scale=100.0, window=300.0) -> np.ndarray:
    """The ivar-weighted Gaussian-kernel running mean of each spectrum.

    Parameters
    ----------
    wavelength : Quantity or array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Grid (plain numbers are Angstrom), shared by all stars or one per star.
    flux, ivar : array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Spectra; pixels with ``ivar == 0`` (or NaN) get no weight.
    scale : float or Quantity, optional
        Gaussian standard deviation, default 100 Angstrom.
    window : float or Quantity, optional
        Kernel truncation half-width, default 300 Angstrom.

    Returns
    -------
    ndarray, shape like ``flux``, float64
        The continuum; NaN where no pixel with ``ivar > 0`` lies in the window.

    Raises
    ------
    PreprocessError
        On mismatched shapes, a grid that is not increasing, or a
        non-positive ``scale`` or ``window``.
    """
    wl = as_angstrom(wavelength, "wavelength")
    check_wavelength(wl)
    scale = float(as_angstrom(scale, "scale"))
    window = float(as_angstrom(window, "window"))
    if not (scale > 0 and window > 0 and np.isfinite(scale) and np.isfinite(window)):
        raise PreprocessError(f"scale and window must be > 0, got {scale} and {window}")
    flux, ivar = check_spectra(flux, ivar, wl.shape[-1])
    shape = flux.shape
    flux2 = flux.reshape(-1, shape[-1])
    ivar2 = ivar.reshape(-1, shape[-1])
    if wl.ndim == 2 and wl.shape[0] != flux2.shape[0]:
        raise PreprocessError(f"{wl.shape[0]} wavelength rows for {flux2.shape[0]} spectra")
    num_rows = flux2.shape[0]
    if wl.ndim == 1:
        sums = _smooth(wl, np.concatenate([ivar2 * flux2, ivar2]), scale, window)
        numerator, denominator = sums[:num_rows], sums[num_rows:]
    else:
        # one kernel per distinct grid, applied to all its stars' sums at once
        numerator, denominator = np.empty_like(flux2), np.empty_like(flux2)
        for rows in _same_grid_rows(wl):
            part = np.concatenate([ivar2[rows] * flux2[rows], ivar2[rows]])
            sums = _smooth(wl[rows[0]], part, scale, window)
            numerator[rows], denominator[rows] = sums[: rows.size], sums[rows.size :]
    with np.errstate(divide="ignore", invalid="ignore"):
        continuum = np.where(denominator > 0, numerator / denominator, np.nan)
    return continuum.reshape(shape)


def continuum_normalise(
    wavelength, flux, ivar, *, scale=100.0, window=300.0, fill: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Divide spectra by their Gaussian-kernel continuum (:func:`gaussian_continuum`).

    Parameters
    ----------
    wavelength : Quantity or array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Grid (plain numbers are Angstrom), shared by all stars or one per star.
    flux, ivar : array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Spectra and inverse variances; ``ivar == 0`` marks bad pixels.
    scale : float or Quantity, optional
        Gaussian standard deviation, default 100 Angstrom.
    window : float or Quantity, optional
        Kernel truncation half-width, default 300 Angstrom.
    fill : float, optional
        Normalised flux written at bad pixels (The Cannon's convention: 1).

    Returns
    -------
    flux : ndarray, shape like ``flux``, float64
        ``flux / continuum``; ``fill`` where the output ivar is 0.
    ivar : ndarray, shape like ``flux``, float64
        ``ivar * continuum**2``; 0 at input bad pixels and where the continuum
        is undefined or not positive. Never NaN.

    Raises
    ------
    PreprocessError
        As :func:`gaussian_continuum`.
    """
    continuum = gaussian_continuum(wavelength, flux, ivar, scale=scale, window=window)
    flux, ivar = check_spectra(flux, ivar, continuum.shape[-1])
    usable = np.isfinite(continuum) & (continuum > 0) & (ivar > 0)
    safe = np.where(usable, continuum, 1.0)
    norm_ivar = np.where(usable, ivar * safe**2, 0.0)
    norm_flux = np.where(usable, flux / safe, fill)
    return norm_flux, norm_ivar
