"""From a fit to a :class:`~.core.DenoiseSetup`: decoder, prior, model error, masks.

No file I/O: the fit is an in-memory ``DataTree`` (see
:mod:`stereo_ppl.inference.results`).
"""

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..dims import LAMOST_WAVELENGTH
from ..errors import StereoPPLError
from ..inference.results import params_from_datatree
from .core import DenoiseSetup, denoise_batch
from .flags import ArtefactThresholds
from .linalg import Decoder, make_decoder, pair_products

__all__ = [
    "DEFAULT_SKY_LINES",
    "DEFAULT_STEP_RANGE",
    "PRIORS",
    "estimate_model_error",
    "find_bad_columns",
    "latent_prior",
    "make_setup",
    "pixel_mask",
    "setup_arrays",
    "setup_from_arrays",
]

#: Night-sky emission lines (vacuum Angstrom) whose residuals get code 4:
#: [O I] 5578.9, Na D 5891.6/5897.6, [O I] 6302.0 and 6365.5.
DEFAULT_SKY_LINES = (5578.89, 5891.58, 5897.56, 6302.05, 6365.54)
#: Wavelengths (Angstrom) searched for a step: LAMOST's blue/red arm join.
DEFAULT_STEP_RANGE = (5600.0, 6100.0)
#: Priors on ``z`` that :func:`make_setup` knows.
PRIORS = ("none", "empirical")


def latent_prior(tree: xr.DataTree) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the training stars' ``z`` in a fit.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (posterior ``z`` (chain, draw, star, latent), constant_data
        ``heldout``).

    Returns
    -------
    mean : ndarray, shape (c,)
    covariance : ndarray, shape (c, c)
    """
    z = np.asarray(tree["posterior"]["z"].isel(chain=0, draw=0).values, dtype=np.float64)
    heldout = tree["constant_data"].to_dataset().get("heldout")
    if heldout is not None and not np.all(heldout.values):
        z = z[~np.asarray(heldout.values, dtype=bool)]
    if z.shape[0] < 2:
        raise StereoPPLError("the fit has fewer than 2 training stars: no empirical prior on z")
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    # a tiny ridge keeps the covariance invertible when c is close to the star count
    cov += 1e-6 * np.mean(np.diag(cov)) * np.eye(cov.shape[0])
    return z.mean(axis=0), cov


def pixel_mask(wavelength: np.ndarray, centres: Sequence[float], *, halfwidth: int) -> np.ndarray:
    """Pixels within ``halfwidth`` pixels of each wavelength in ``centres``.

    Parameters
    ----------
    wavelength : array, shape (m,)
        Increasing grid, Angstrom.
    centres : sequence of float
        Wavelengths, Angstrom.
    halfwidth : int

    Returns
    -------
    ndarray of bool, shape (m,)
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    mask = np.zeros(wavelength.size, dtype=bool)
    for centre in centres:
        k = int(np.argmin(np.abs(wavelength - centre)))
        if wavelength[0] <= centre <= wavelength[-1]:
            mask[max(k - halfwidth, 0) : k + halfwidth + 1] = True
    return mask


def make_setup(
    tree: xr.DataTree,
    *,
    prior: str = "none",
    model_error: np.ndarray | bool = True,
    bad_columns: np.ndarray | Sequence[int] | None = None,
    sky_lines: Sequence[float] = DEFAULT_SKY_LINES,
    sky_halfwidth: int = 4,
    step_range: tuple[float, float] | None = DEFAULT_STEP_RANGE,
    dtype=None,
    batch_size: int = 1024,
) -> DenoiseSetup:
    """Prepare the batched denoiser for a fit.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit; its ``lamost_wavelength`` coordinate is the grid of the spectra
        to denoise.
    prior : {"none", "empirical"}
        ``"empirical"``: a Gaussian prior on ``z`` with the mean and covariance
        of the training stars' ``z`` (MAP instead of least squares).
    model_error : bool or array of shape (m,)
        The decoder's own error per pixel (flux units) added to ``1 / ivar``
        by the artefact detectors. True: estimated from the fit's stars by
        :func:`estimate_model_error`; False: none.
    bad_columns : array of int, optional
        Known bad pixel columns (outliers there are code 3).
    sky_lines : sequence of float
        Sky-line wavelengths, Angstrom (outliers within ``sky_halfwidth``
        pixels are code 4).
    sky_halfwidth : int
        Pixels on either side of a sky line (4 pixels ≈ 280 km/s).
    step_range : (float, float) or None
        Wavelengths searched for a step (None: no step search).
    dtype : dtype, optional
        Working dtype (default: JAX's default float).
    batch_size : int
        Spectra per batch while estimating the model error.

    Returns
    -------
    DenoiseSetup
    """
    if prior not in PRIORS:
        raise StereoPPLError(f"unknown prior {prior!r}; choose one of {', '.join(PRIORS)}")
    params = params_from_datatree(tree)
    mean = cov = None
    if prior == "empirical":
        mean, cov = latent_prior(tree)
    decoder = make_decoder(
        params["beta_F"], params["b_F"], prior_mean=mean, prior_covariance=cov, dtype=dtype
    )
    dtype = decoder.b_F.dtype
    wavelength = np.asarray(tree["posterior"][LAMOST_WAVELENGTH].values, dtype=np.float64)
    m = wavelength.size
    columns = np.zeros(m, dtype=bool)
    if bad_columns is not None:
        columns[np.asarray(bad_columns, dtype=np.int64)] = True
    lo = hi = 0
    if step_range is not None:
        lo, hi = (int(v) for v in np.searchsorted(wavelength, step_range))
    setup = DenoiseSetup(
        decoder,
        jnp.zeros(m, dtype),
        jnp.asarray(columns),
        jnp.asarray(pixel_mask(wavelength, sky_lines, halfwidth=sky_halfwidth)),
        (lo, hi),
    )
    if model_error is False:
        return setup
    if model_error is True:
        observed = tree["observed_data"]["lamost_flux"].values
        ivar = tree["constant_data"]["lamost_ivar"].values
        error = estimate_model_error(setup, observed, ivar, batch_size=batch_size)
    else:
        error = np.asarray(model_error, dtype=np.float64)
        if error.shape != (m,) or not np.all(np.isfinite(error) & (error >= 0)):
            raise StereoPPLError(f"model_error must be {m} finite values >= 0")
    return setup._replace(model_error=jnp.asarray(error, dtype))


def estimate_model_error(
    setup: DenoiseSetup,
    flux: np.ndarray,
    ivar: np.ndarray,
    *,
    quantile: float = 0.98,
    smooth: int = 5,
    batch_size: int = 1024,
) -> np.ndarray:
    """The decoder's own error per pixel, from spectra it should describe.

    Each spectrum is denoised robustly without a model error (steps fitted,
    outliers down-weighted); then for each pixel the error ``s`` is the
    smallest value with ``|F2 - model| <= 2.326 sqrt(1 / ivar + s^2)`` at
    ``quantile`` of the spectra (by bisection), and a running median over
    ``smooth`` pixels removes single-pixel spikes (bad columns, coincident
    cosmic rays) while keeping line-wide misfits.

    Parameters
    ----------
    setup : DenoiseSetup
    flux, ivar : array, shape (n, m)
        Spectra on the fit's grid (e.g. the fit's own stars).
    quantile : float
        Fraction of spectra covered at 2.326 sigma (the normal 99th percentile).
    smooth : int
        Width of the running median, pixels (odd).
    batch_size : int

    Returns
    -------
    ndarray, shape (m,), float64
        ``s`` in flux units (0 where no spectrum is usable).
    """
    flux = np.asarray(flux)
    ivar = np.asarray(ivar)
    thresholds = ArtefactThresholds()
    parts, weights = [], []
    for start in range(0, flux.shape[0], batch_size):
        part = slice(start, start + batch_size)
        result = denoise_batch(setup, flux[part], ivar[part], thresholds=thresholds)
        scale = np.asarray(result.step_scale, dtype=np.float64)
        pixel = np.arange(flux.shape[1])[None, :]
        kstar = np.asarray(result.step_pixel)[:, None]
        factor = np.where(pixel < kstar, scale[:, :1], scale[:, 1:])
        factor = np.where(kstar < 0, 1.0, factor)
        w = np.where(np.isfinite(ivar[part]) & np.isfinite(flux[part]), ivar[part], 0.0)
        w = np.where((np.abs(pixel - kstar) <= 1) & (kstar >= 0), 0.0, w)
        model = np.asarray(result.flux, dtype=np.float64) * factor
        parts.append(np.where(w > 0, flux[part] - model, 0.0) ** 2)
        weights.append(w.astype(np.float64))
    d2 = np.concatenate(parts)
    w = np.concatenate(weights)
    good = w > 0
    var = np.where(good, 1.0 / np.where(good, w, 1.0), np.inf)
    target = 2.326**2
    lo = np.zeros(flux.shape[1])
    hi = np.sqrt(np.max(np.where(good, d2, 0.0), axis=0)) + 1e-12
    count = np.maximum(good.sum(axis=0), 1)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        inside = np.sum(good & (d2 <= target * (var + mid**2)), axis=0) / count
        enough = inside >= quantile
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    error = np.where(good.any(axis=0), hi, 0.0)
    if smooth > 1:
        half = smooth // 2
        padded = np.pad(error, half, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, smooth)
        error = np.median(windows, axis=-1)
    return error


def find_bad_columns(
    artefact: np.ndarray | xr.DataArray,
    usable: np.ndarray | xr.DataArray,
    *,
    exclude: np.ndarray | None = None,
    min_fraction: float = 0.01,
    min_count: int = 3,
    significance: float = 8.0,
) -> np.ndarray:
    """Pixel columns flagged in far more spectra than the rest.

    A column is bad where its number of flagged pixels (any code but 0 and
    2) exceeds ``min_count``, ``min_fraction`` of its usable spectra, and the
    count expected at the median-free background rate by ``significance``
    Poisson standard deviations.

    Parameters
    ----------
    artefact : array of int, shape (n, m)
        Codes from a first pass.
    usable : array of bool, shape (n, m)
        ``ivar > 0``.
    exclude : array of bool, shape (m,), optional
        Columns never reported (e.g. the sky-line pixels, ``setup.sky``).
    min_fraction, min_count, significance : float, int, float

    Returns
    -------
    ndarray of int64
        The bad columns.
    """
    artefact = np.asarray(artefact)
    usable = np.asarray(usable, dtype=bool)
    hit = usable & (artefact != 0) & (artefact != 2)
    count = hit.sum(axis=0).astype(np.float64)
    total = np.maximum(usable.sum(axis=0), 1).astype(np.float64)
    keep = count <= np.quantile(count, 0.99)
    rate = count[keep].sum() / total[keep].sum()
    expected = rate * total
    bad = (
        (count >= min_count)
        & (count >= min_fraction * total)
        & (count > expected + significance * np.sqrt(expected + 1.0))
    )
    if exclude is not None:
        bad &= ~np.asarray(exclude, dtype=bool)
    return np.flatnonzero(bad).astype(np.int64)


def setup_arrays(setup: DenoiseSetup) -> dict:
    """The setup as a dict of NumPy arrays, to ship to worker processes.

    The decoder's pair products (up to hundreds of MB) are left out: only
    whether they are used travels, and :func:`setup_from_arrays` recomputes
    them from ``beta_F``.

    Parameters
    ----------
    setup : DenoiseSetup

    Returns
    -------
    dict of str to ndarray
    """
    out = {
        f"decoder.{k}": np.asarray(v) for k, v in setup.decoder._asdict().items() if k != "pairs"
    }
    out["decoder.packed"] = np.asarray(setup.decoder.packed)
    out.update(
        model_error=np.asarray(setup.model_error),
        bad_column=np.asarray(setup.bad_column),
        sky=np.asarray(setup.sky),
        step_range=np.asarray(setup.step_range),
    )
    return out


def setup_from_arrays(arrays: dict) -> DenoiseSetup:
    """The :class:`DenoiseSetup` from :func:`setup_arrays`, in the process that denoises.

    Parameters
    ----------
    arrays : dict of str to ndarray

    Returns
    -------
    DenoiseSetup
    """
    fields = {k: arrays[f"decoder.{k}"] for k in Decoder._fields if k != "pairs"}
    beta = fields["beta_F"]
    packed = bool(arrays["decoder.packed"])
    fields["pairs"] = pair_products(beta) if packed else np.zeros((beta.shape[0], 0))
    decoder = Decoder(**{k: jnp.asarray(v, dtype=beta.dtype) for k, v in fields.items()})
    return DenoiseSetup(
        decoder,
        jnp.asarray(arrays["model_error"]),
        jnp.asarray(arrays["bad_column"]),
        jnp.asarray(arrays["sky"]),
        tuple(int(v) for v in arrays["step_range"]),
    )
