"""Continuum normalisation by an ivar-weighted Gaussian-kernel running mean.

The seed study's method (as in The Cannon's LAMOST work): the continuum at
pixel ``i`` is

    cont_i = sum_j w_ij ivar_j flux_j / sum_j w_ij ivar_j,
    w_ij = exp(-(lambda_i - lambda_j)**2 / (2 scale**2)),  |lambda_i - lambda_j| <= window,

and the normalised spectrum is ``flux / cont`` with ``ivar * cont**2``. The sum
is a banded matrix product over pixels, done in blocks, so a batch of stars
on one grid (or on grids equal up to rounding) costs one BLAS call per block.
Stars whose grids are one grid times a factor each (LAMOST spectra on the
survey's one observed grid shifted to the rest frame) share that kernel too,
with a few correction terms of a series in the factor, exact to rounding
(relative 1e-15), instead of a kernel each.
"""

import numpy as np

from .checks import PreprocessError, as_angstrom, check_spectra, check_wavelength

__all__ = ["continuum_normalise", "gaussian_continuum"]

#: Rows of a per-star wavelength array closer than this (relative) share one kernel.
_SAME_GRID_RTOL = 1e-13
#: Largest ratio of two grids that share one kernel expansion (see :func:`_grid_families`).
_MAX_FAMILY_RATIO = 1.005
#: Relative truncation error allowed in a kernel weight's series in ``t**2 - 1``.
_SERIES_RTOL = 1e-15
#: Kernel entries computed per block (memory of one block: 8 bytes each).
_BLOCK_ENTRIES = 2_000_000


def _num_terms(x: float) -> int:
    """Largest ``n`` of ``exp(x) ~ sum_{k<=n} x**k / k!`` to :data:`_SERIES_RTOL` (|x| < 1)."""
    n, omitted = 0, abs(x) * np.exp(abs(x))  # bounds the remainder after x**n / n!
    while omitted > _SERIES_RTOL:
        n += 1
        omitted *= abs(x) / (n + 1)
    return n


def _smooth(wavelength: np.ndarray, weighted: np.ndarray, scale: float, window: float, t=None):
    """Kernel sums of rows whose grids are ``t * wavelength``.

    Row ``r`` of the result is ``sum_j w_ij weighted[r, j]`` with
    ``w_ij = exp(-(t_r d_ij)**2 / (2 scale**2))`` for ``|t_r d_ij| <= window``,
    ``d_ij = wavelength[i] - wavelength[j]``: the Gaussian kernel on the row's
    own grid ``t_r * wavelength``. Writing ``D = -d**2 / (2 scale**2)``, the
    weight is ``exp(D) * sum_n D**n (t_r**2 - 1)**n / n!``: one kernel per
    term, shared by all rows, so a batch of stars shifted to the rest frame
    (one observed grid, a ``t = 1 / (1 + z)`` per star) costs a few matrix
    products instead of one kernel per star. Pixel pairs inside some rows'
    windows but not others' are added one by one.

    Parameters
    ----------
    wavelength : ndarray, shape (num_pixels,)
        The reference grid.
    weighted : ndarray, shape (num_rows, num_pixels)
    scale, window : float
    t : ndarray, shape (num_rows,), optional
        Each row's grid over ``wavelength`` (default 1), within
        :data:`_MAX_FAMILY_RATIO` of 1.

    Returns
    -------
    ndarray, shape (num_rows, num_pixels)
    """
    num_pixels = wavelength.size
    t = np.ones(weighted.shape[0]) if t is None else np.asarray(t, dtype=np.float64)
    coeff = t**2 - 1.0
    inner, outer = window / t.max(), window / t.min()  # inside every row's window; any row's
    lo = np.searchsorted(wavelength, wavelength - outer, side="left")
    hi = np.searchsorted(wavelength, wavelength + outer, side="right")
    width = int(np.max(hi - lo))
    # terms each row needs: |D| <= (outer / scale)**2 / 2 inside the kernel
    worst = 0.5 * (outer / scale) ** 2 * np.abs(coeff)
    terms = np.array([_num_terms(x) for x in worst])
    # Rows per block: a quarter of the band keeps the dense block ~80% non-zero.
    block = max(1, min(num_pixels, width // 4, _BLOCK_ENTRIES // max(width, 1)))
    out = np.empty_like(weighted)
    for start in range(0, num_pixels, block):
        stop = min(start + block, num_pixels)
        j0, j1 = lo[start], hi[stop - 1]
        # in place: the temporaries are megabytes, allocating each costs page faults
        distance2 = np.subtract.outer(wavelength[start:stop], wavelength[j0:j1])
        np.multiply(distance2, distance2, out=distance2)
        exponent = distance2 * (-0.5 / scale**2)
        kernel = np.exp(exponent)
        kernel[distance2 > inner**2] = 0.0
        part = weighted[:, j0:j1]
        out[:, start:stop] = part @ kernel.T
        for n in range(1, int(terms.max(initial=0)) + 1):
            kernel *= exponent
            kernel *= 1.0 / n
            needed = terms >= n  # more rows than needed only add terms below the tolerance
            rows = slice(None) if needed.mean() > 0.5 else np.flatnonzero(needed)
            out[rows, start:stop] += (coeff[rows, None] ** n) * (part[rows] @ kernel.T)
        if inner == outer:
            continue
        shell = np.nonzero((distance2 > inner**2) & (distance2 <= outer**2))
        if shell[0].size:
            d2 = distance2[shell] * t[:, None] ** 2  # (num_rows, num_shell)
            w = np.where(d2 <= window**2, np.exp(-0.5 * d2 / scale**2), 0.0)
            contrib = w * part[:, shell[1]]
            block_out = out[:, start:stop]
            for r in range(block_out.shape[0]):
                block_out[r] += np.bincount(shell[0], contrib[r], minlength=stop - start)
    return out


def _grid_families(wavelength: np.ndarray) -> list[tuple[np.ndarray, int, np.ndarray]]:
    """Rows of ``wavelength`` (num_rows, num_pixels) grouped by grid shape.

    Two rows are in one family when one grid is the other times a factor ``t``
    (to :data:`_SAME_GRID_RTOL`, i.e. rounding) with ``t`` within
    :data:`_MAX_FAMILY_RATIO`: spectra on one observed grid shifted to the
    rest frame, or one grid shifted there and back. Rows are visited in order
    of their first wavelength, so the cost is ``O(num_rows * num_pixels)``.

    Returns
    -------
    list of (rows, reference, t)
        The rows of a family, the row whose grid serves as the reference (the
        middle one), and each row's ``t`` over it (1 where equal to rounding).
    """
    families: list[list[int]] = []
    for i in np.argsort(wavelength[:, 0], kind="stable").tolist():
        if families:
            first = wavelength[families[-1][0]]
            ratio = wavelength[i, 0] / first[0]
            if ratio <= _MAX_FAMILY_RATIO and np.all(
                np.abs(wavelength[i] - ratio * first) <= _SAME_GRID_RTOL * wavelength[i]
            ):
                families[-1].append(i)
                continue
        families.append([i])
    out = []
    for family in families:
        rows = np.array(family)
        reference = int(rows[rows.size // 2])
        t = wavelength[rows, 0] / wavelength[reference, 0]
        t[np.abs(t - 1.0) <= _SAME_GRID_RTOL] = 1.0
        out.append((rows, reference, t))
    return out


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
        for rows, reference, t in _grid_families(wl):
            part = np.concatenate([ivar2[rows] * flux2[rows], ivar2[rows]])
            sums = _smooth(wl[reference], part, scale, window, np.concatenate([t, t]))
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
