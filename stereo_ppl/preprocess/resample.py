"""Resampling spectra onto a new wavelength grid, with ivar propagated.

Two methods, both vectorised over stars (each star may have its own input
grid, e.g. after a shift to the rest frame):

* ``"linear"``: linear interpolation between the two neighbouring pixels;
  variances add with the squared weights.
* ``"flux-conserving"``: each output pixel is the mean flux density over its
  bin (edges half-way between pixel centres), integrated exactly over the
  overlapping input bins; variances add with the squared overlap fractions.

An output pixel that touches a bad input pixel (``ivar == 0``) with non-zero
weight, or that is not covered by the input grid, gets ``ivar = 0`` and
``flux = fill``. Nothing is ever NaN.
"""

import numpy as np

from .checks import PreprocessError, as_angstrom, check_spectra, check_wavelength

__all__ = ["RESAMPLE_METHODS", "resample"]

#: Methods :func:`resample` knows.
RESAMPLE_METHODS = ("linear", "flux-conserving")
#: Interpolation weights (fractions of a pixel) this close to 0 or 1 are taken as 0 or 1.
_SNAP = 1e-9


def _searchsorted_rows(grid: np.ndarray, values: np.ndarray, side: str) -> np.ndarray:
    """Row-wise ``np.searchsorted(grid[s], values[s])``.

    One call per row: each row's search stays in cache (one search of all
    rows laid end to end is several times slower beyond a few rows).

    Parameters
    ----------
    grid : ndarray, shape (num_rows, num_pixels), each row increasing
    values : ndarray, shape (num_rows, num_values)

    Returns
    -------
    ndarray, shape (num_rows, num_values), int
        Insertion indices in ``[0, num_pixels]``.
    """
    out = np.empty(values.shape, dtype=np.intp)
    for row in range(grid.shape[0]):
        out[row] = np.searchsorted(grid[row], values[row], side=side)
    return out


def _edges(centres: np.ndarray) -> np.ndarray:
    """Bin edges half-way between centres, shape (..., num_pixels + 1)."""
    mid = 0.5 * (centres[..., 1:] + centres[..., :-1])
    first = centres[..., :1] - (mid[..., :1] - centres[..., :1])
    last = centres[..., -1:] + (centres[..., -1:] - mid[..., -1:])
    return np.concatenate([first, mid, last], axis=-1)


def _linear(x, flux, ivar, new):
    """Linear interpolation of each row; returns flux, variance, bad (S, Q)."""
    num_pixels = x.shape[-1]
    index = np.clip(_searchsorted_rows(x, new, "right") - 1, 0, num_pixels - 2)
    # gathers by flat index: np.take_along_axis builds an index grid per call
    flat = index + num_pixels * np.arange(x.shape[0])[:, None]
    flat_next = flat + 1

    def at(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = np.ravel(values)
        return values.take(flat), values.take(flat_next)

    x0, x1 = at(x)
    step = x1 - x0
    t = (new - x0) / step
    # An output pixel on an input pixel up to rounding (e.g. a grid shifted to the
    # rest frame and back) takes that pixel alone, not a 1e-13 share of its neighbour.
    t = np.where(np.abs(t) < _SNAP, 0.0, np.where(np.abs(t - 1.0) < _SNAP, 1.0, t))
    slack = _SNAP * np.abs(x[:, 1:2] - x[:, :1]), _SNAP * np.abs(x[:, -1:] - x[:, -2:-1])
    inside = (new >= x[:, :1] - slack[0]) & (new <= x[:, -1:] + slack[1])
    t = np.clip(t, 0.0, 1.0)
    good = ivar > 0
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    (f0, f1), (g0, g1), (v0, v1) = at(flux), at(good), at(var)
    out_flux = (1.0 - t) * f0 + t * f1
    out_var = (1.0 - t) ** 2 * v0 + t**2 * v1
    bad = ~inside | ((t < 1.0) & ~g0) | ((t > 0.0) & ~g1)
    return out_flux, out_var, bad


def _flux_conserving(x, flux, ivar, new):
    """Exact bin averages of each row; returns flux, variance, bad (S, Q)."""
    num_pixels = x.shape[-1]
    edges = _edges(x)  # (S, P + 1)
    width = np.diff(edges, axis=-1)  # (S, P)
    new_edges = np.broadcast_to(_edges(new[:1])[0], (x.shape[0], new.shape[-1] + 1))
    good = ivar > 0
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    zero = np.zeros((x.shape[0], 1))
    cum_flux = np.concatenate([zero, np.cumsum(flux * width, axis=-1)], axis=-1)
    cum_var = np.concatenate([zero, np.cumsum(var * width**2, axis=-1)], axis=-1)
    cum_bad = np.concatenate([zero, np.cumsum(~good, axis=-1)], axis=-1)

    def integral(at, bins):
        """Integral of the flux density from the first edge up to ``at`` in bin ``bins``."""
        return np.take_along_axis(cum_flux, bins, -1) + np.take_along_axis(flux, bins, -1) * (
            at - np.take_along_axis(edges, bins, -1)
        )

    lo, hi = new_edges[:, :-1], new_edges[:, 1:]
    first = np.clip(_searchsorted_rows(edges, lo, "right") - 1, 0, num_pixels - 1)
    last = np.clip(_searchsorted_rows(edges, hi, "left") - 1, 0, num_pixels - 1)
    covered = (lo >= edges[:, :1]) & (hi <= edges[:, -1:])
    span = hi - lo
    out_flux = (integral(hi, last) - integral(lo, first)) / span
    first_overlap = np.minimum(np.take_along_axis(edges, first + 1, -1), hi) - lo
    last_overlap = hi - np.maximum(np.take_along_axis(edges, last, -1), lo)
    middle = np.take_along_axis(cum_var, last, -1) - np.take_along_axis(cum_var, first + 1, -1)
    var_first = np.take_along_axis(var, first, -1)
    var_last = np.take_along_axis(var, last, -1)
    same = first == last
    out_var = np.where(
        same,
        var_first,
        (first_overlap**2 * var_first + np.where(same, 0.0, middle) + last_overlap**2 * var_last)
        / span**2,
    )
    num_bad = np.take_along_axis(cum_bad, last + 1, -1) - np.take_along_axis(cum_bad, first, -1)
    return out_flux, out_var, ~covered | (num_bad > 0)


def resample(
    wavelength, flux, ivar, new_wavelength, *, method: str = "linear", fill: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Resample spectra onto ``new_wavelength`` and propagate their inverse variance.

    Parameters
    ----------
    wavelength : Quantity or array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Input grid (plain numbers are Angstrom), shared or one per star.
    flux, ivar : array_like, shape (num_pixels,) or (num_stars, num_pixels)
        Spectra and inverse variances; ``ivar == 0`` marks bad pixels.
    new_wavelength : Quantity or array_like, shape (num_new,)
        Output grid, strictly increasing.
    method : {"linear", "flux-conserving"}, optional
        See the module notes. The seed study interpolated linearly.
    fill : float, optional
        Flux written where the output ivar is 0.

    Returns
    -------
    flux, ivar : ndarray, shape (num_new,) or (num_stars, num_new), float64
        Resampled spectra; ``ivar`` is 0 (never NaN) where an output pixel
        touches a bad input pixel or lies outside the input grid.

    Raises
    ------
    PreprocessError
        On an unknown method, mismatched shapes or non-increasing grids.
    """
    if method not in RESAMPLE_METHODS:
        raise PreprocessError(f"method must be one of {RESAMPLE_METHODS}, got {method!r}")
    x = as_angstrom(wavelength, "wavelength")
    new = as_angstrom(new_wavelength, "new_wavelength")
    check_wavelength(x)
    check_wavelength(new, "new_wavelength")
    if new.ndim != 1:
        raise PreprocessError(f"new_wavelength must be 1-D, got shape {new.shape}")
    flux, ivar = check_spectra(flux, ivar, x.shape[-1])
    if flux.ndim > 2:
        raise PreprocessError(f"flux must have shape (P,) or (S, P), got {flux.shape}")
    single = flux.ndim == 1
    flux2, ivar2 = np.atleast_2d(flux), np.atleast_2d(ivar)
    if x.ndim == 2 and x.shape[0] != flux2.shape[0]:
        raise PreprocessError(f"{x.shape[0]} wavelength rows for {flux2.shape[0]} spectra")
    x2 = np.broadcast_to(x, flux2.shape)
    new2 = np.broadcast_to(new, (flux2.shape[0], new.size))
    kernel = _linear if method == "linear" else _flux_conserving
    out_flux, out_var, bad = kernel(x2, flux2, ivar2, new2)
    bad |= ~(out_var > 0) | ~np.isfinite(out_var) | ~np.isfinite(out_flux)
    out_ivar = np.where(bad, 0.0, 1.0 / np.where(bad, 1.0, out_var))
    out_flux = np.where(bad, fill, out_flux)
    return (out_flux[0], out_ivar[0]) if single else (out_flux, out_ivar)
