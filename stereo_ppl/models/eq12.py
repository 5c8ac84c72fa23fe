"""Eq. 1–2 of the seed study in one place: prediction, likelihood, prior, ``z_hat``.

A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo::

    z_i    = beta_z @ F1_i                                            (eq. 1)
    F2_ip  ~ Normal(beta_F[p] @ z_i + b_F[p], a^2 / ivar_ip + s_p^2)  (eq. 2)
    beta_z ~ Normal(0, prior_scale), beta_F ~ Normal(0, prior_scale),
    b_F    ~ Normal(b_F_prior_mean, 1)

``a`` (the error scale) and ``s_p`` (the intrinsic scatter of pixel ``p``)
calibrate the reported errors; ``a = 1, s = 0`` is the seed's eq. 2 exactly.
Every consumer (models, solvers, scores, posterior predictive checks,
denoising, labels) asks this module, so a change to eq. 1–2 is a change here.

Functions take NumPy or JAX arrays and return the same kind (the array module
is taken from the inputs), except where a docstring says float64 NumPy.
Pixels with ``ivar == 0`` carry no information: their precision is 0 and
they add nothing to a likelihood, whatever their flux (even NaN).
"""

from typing import NamedTuple

import numpy as np

__all__ = [
    "DEFAULT_B_F_PRIOR_MEAN",
    "NOISE_SITES",
    "LatentEstimate",
    "decode",
    "encode",
    "fill_values",
    "latent_from_lamost",
    "log_likelihood_per_star",
    "log_prior",
    "mean_variance",
    "noise_params",
    "noise_precision",
    "pixel_log_likelihood",
    "predict_mean",
    "rrr_start",
]

#: Default prior mean of ``b_F``: normalised flux sits near 1.
DEFAULT_B_F_PRIOR_MEAN = 1.0
_HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))
#: Stars per block when a likelihood is summed in NumPy.
CHUNK_SIZE = 256


#: Parameters of eq. 2's noise: the error scale ``a`` () and the scatter ``s`` (lamost_pixel).
NOISE_SITES = ("error_scale", "scatter")


def noise_params(params) -> dict:
    """The noise parameters in ``params`` as keywords of :func:`noise_precision`.

    A fit of the seed's eq. 2 (reported errors) has neither; then ``a = 1, s = 0``.
    """
    return {name: params[name] for name in NOISE_SITES if name in params}


def _xp(*arrays):
    """``jax.numpy`` if any input is a JAX array (or tracer), else ``numpy``."""
    for a in arrays:
        if type(a).__module__.startswith("jax"):
            import jax.numpy as jnp

            return jnp
    return np


def encode(beta_z, apogee_flux):
    """Eq. 1: ``z = F1 @ beta_z.T``.

    Parameters
    ----------
    beta_z : array, shape (c, P1)
    apogee_flux : array, shape (n, P1)

    Returns
    -------
    array, shape (n, c)
    """
    return apogee_flux @ beta_z.T


def decode(beta_F, b_F, z):
    """The mean of eq. 2 given ``z``: ``z @ beta_F.T + b_F``.

    Parameters
    ----------
    beta_F : array, shape (P2, c)
    b_F : array, shape (P2,)
    z : array, shape (n, c)

    Returns
    -------
    array, shape (n, P2)
    """
    return z @ beta_F.T + b_F


def predict_mean(params, apogee_flux):
    """Survey-2 flux predicted from survey-1 flux by eq. 1–2.

    Parameters
    ----------
    params : mapping
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,).
    apogee_flux : array, shape (n, P1)

    Returns
    -------
    array, shape (n, P2)
    """
    return decode(params["beta_F"], params["b_F"], encode(params["beta_z"], apogee_flux))


def noise_precision(lamost_ivar, *, error_scale=1.0, scatter=0.0):
    """The precision of eq. 2's noise, ``1 / (a^2 / ivar + s^2)``; 0 where ``ivar == 0``.

    Parameters
    ----------
    lamost_ivar : array, shape (n, P2)
        Reported inverse variances; ``0`` marks a bad pixel.
    error_scale : float or array, shape ()
        ``a > 0``, the factor on every reported error.
    scatter : float or array, shape (P2,)
        ``s >= 0``, the intrinsic scatter of each pixel (flux units).

    Returns
    -------
    array, shape (n, P2)
        ``ivar / (a^2 + s^2 ivar)``; exactly ``ivar`` for ``a = 1, s = 0``.
    """
    xp = _xp(lamost_ivar, error_scale, scatter)
    ivar = xp.where(lamost_ivar > 0, lamost_ivar, 0.0)
    if isinstance(error_scale, float | int) and error_scale == 1 and _is_zero(scatter):
        return ivar
    return ivar / (error_scale**2 + scatter**2 * ivar)


def _is_zero(value) -> bool:
    return isinstance(value, float | int) and value == 0


def pixel_log_likelihood(lamost_flux, mean, precision):
    """``log Normal(F2 | mean, 1 / precision)`` per pixel; 0 where ``precision == 0``.

    Parameters
    ----------
    lamost_flux, mean, precision : array, shape (n, P2)

    Returns
    -------
    array, shape (n, P2)
    """
    xp = _xp(lamost_flux, mean, precision)
    good = precision > 0
    safe = xp.where(good, precision, 1.0)
    resid = xp.where(good, lamost_flux - mean, 0.0)
    pixel = -0.5 * safe * resid**2 + 0.5 * xp.log(safe) - _HALF_LOG_2PI
    return xp.where(good, pixel, 0.0)


def log_likelihood_per_star(
    params,
    apogee_flux,
    lamost_flux,
    lamost_ivar,
    *,
    error_scale=1.0,
    scatter=0.0,
    dtype=np.float64,
    chunk_size: int = CHUNK_SIZE,
) -> np.ndarray:
    """``log p(F2_i | params)`` of eq. 2 for every star, in NumPy.

    Parameters
    ----------
    params : mapping
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,).
    apogee_flux : array, shape (n, P1)
    lamost_flux, lamost_ivar : array, shape (n, P2)
        Pixels with ``lamost_ivar == 0`` are left out (their flux may be NaN).
    error_scale, scatter
        ``a`` and ``s`` (see :func:`noise_precision`).
    dtype : numpy dtype
        Working precision (float64 by default: sums over thousands of pixels
        lose the differences between neighbouring ``c`` in float32).
    chunk_size : int
        Stars per block (memory: a few (chunk_size, P2) arrays).

    Returns
    -------
    ndarray, shape (n,)
    """
    beta_z, beta_F, b_F = (np.asarray(params[k], dtype) for k in ("beta_z", "beta_F", "b_F"))
    a = np.asarray(error_scale, dtype) if not isinstance(error_scale, float | int) else error_scale
    s = np.asarray(scatter, dtype) if not isinstance(scatter, float | int) else scatter
    out = np.empty(len(apogee_flux), dtype=dtype)
    for start in range(0, len(out), chunk_size):
        block = slice(start, start + chunk_size)
        mean = decode(beta_F, b_F, encode(beta_z, np.asarray(apogee_flux[block], dtype)))
        precision = noise_precision(np.asarray(lamost_ivar[block], dtype), error_scale=a, scatter=s)
        flux = np.asarray(lamost_flux[block], dtype)
        out[block] = pixel_log_likelihood(flux, mean, precision).sum(axis=1)
    return out


def log_prior(params, *, b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN, prior_scale=1.0) -> float:
    """Log density of eq. 1–2's priors at ``params``, in float64.

    Parameters
    ----------
    params : mapping
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,).
    b_F_prior_mean : float
        Prior mean of every ``b_F``.
    prior_scale : float
        Prior standard deviation of every element of ``beta_z`` and ``beta_F``
        (1 in the seed study).

    Returns
    -------
    float
    """
    total = 0.0
    for name, mean, scale in (
        ("beta_z", 0.0, prior_scale),
        ("beta_F", 0.0, prior_scale),
        ("b_F", b_F_prior_mean, 1.0),
    ):
        value = (np.asarray(params[name], np.float64) - mean) / scale
        total += float(-0.5 * np.sum(value**2) - value.size * (_HALF_LOG_2PI + np.log(scale)))
    return total


class LatentEstimate(NamedTuple):
    """``z`` estimated from survey-2 spectra alone (:func:`latent_from_lamost`).

    Attributes
    ----------
    z : ndarray, shape (n, c)
    covariance : ndarray, shape (n, c, c)
    ok : ndarray of bool, shape (n,)
        False where the normal matrix is singular or ill-conditioned (``z``
        and ``covariance`` are NaN there).
    """

    z: np.ndarray
    covariance: np.ndarray
    ok: np.ndarray


def latent_from_lamost(
    beta_F,
    b_F,
    lamost_flux,
    precision,
    *,
    prior_mean=None,
    prior_precision=None,
    rcond: float = 1e-10,
) -> LatentEstimate:
    """``z`` of each star by weighted least squares on its survey-2 spectrum (float64).

    ``z_hat = (B^T W B + P0)^-1 (B^T W (F2 - b_F) + P0 m0)``, ``cov = (B^T W B + P0)^-1``
    with ``B = beta_F``, ``W = diag(precision_i)`` and the optional Gaussian prior
    ``Normal(m0, P0^-1)`` (none by default: plain weighted least squares).

    Parameters
    ----------
    beta_F : array, shape (P2, c)
    b_F : array, shape (P2,)
    lamost_flux, precision : array, shape (n, P2)
        Flux and the noise precision (:func:`noise_precision`); ``0`` = unused.
    prior_mean : array, shape (c,), optional
    prior_precision : array, shape (c, c), optional
    rcond : float
        Smallest eigenvalue of the normal matrix, relative to its largest, that
        counts as determined.

    Returns
    -------
    LatentEstimate
    """
    beta_F = np.asarray(beta_F, np.float64)
    w = np.asarray(precision, np.float64)
    good = w > 0
    resid = np.where(good, np.asarray(lamost_flux, np.float64) - np.asarray(b_F, np.float64), 0.0)
    normal = np.einsum("pk,np,pj->nkj", beta_F, np.where(good, w, 0.0), beta_F)
    rhs = (np.where(good, w, 0.0) * resid) @ beta_F
    if prior_precision is not None:
        p0 = np.asarray(prior_precision, np.float64)
        normal = normal + p0
        if prior_mean is not None:
            rhs = rhs + p0 @ np.asarray(prior_mean, np.float64)
    eig = np.linalg.eigvalsh(normal)
    ok = (eig[:, 0] > rcond * np.maximum(eig[:, -1], 1e-300)) & np.isfinite(eig).all(axis=1)
    safe = np.where(ok[:, None, None], normal, np.eye(normal.shape[-1]))
    cov = np.linalg.inv(safe)
    z = np.einsum("nkj,nj->nk", cov, rhs)
    z[~ok] = np.nan
    cov[~ok] = np.nan
    return LatentEstimate(z, cov, ok)


def mean_variance(beta_F, z_covariance):
    """Variance of the predicted flux from an uncertain ``z``: ``diag(B cov B^T)``.

    Parameters
    ----------
    beta_F : array, shape (P2, c)
    z_covariance : array, shape (n, c, c) or (c, c)

    Returns
    -------
    array, shape (n, P2) or (P2,)
    """
    xp = _xp(beta_F, z_covariance)
    return xp.einsum("pk,...kj,pj->...p", beta_F, z_covariance, beta_F)


def fill_values(apogee_flux, good) -> np.ndarray:
    """Each survey-1 pixel's mean flux over the stars where it is good (float64).

    Bad survey-1 pixels cannot be left out of ``z = beta_z F1`` as survey-2
    pixels are left out of the likelihood; every consumer fills them with
    this mean over the training stars ("a typical value").

    Parameters
    ----------
    apogee_flux : array, shape (n, P1)
        Survey-1 flux (any value where not ``good``, NaN included).
    good : array of bool, shape (n, P1)

    Returns
    -------
    ndarray, shape (P1,)

    Raises
    ------
    ValueError
        A pixel bad in every star; ``err.args[1]`` holds the indices of all such pixels.
    """
    good = np.asarray(good, bool)
    count = good.sum(axis=0)
    if np.any(count == 0):
        bad = np.flatnonzero(count == 0)
        raise ValueError(f"survey-1 pixel {int(bad[0])} is bad in every star", bad)
    flux = np.where(good, np.asarray(apogee_flux), 0.0)
    return flux.sum(axis=0, dtype=np.float64) / count


def rrr_start(apogee_flux, lamost_ivar, lamost_flux, *, num_latent: int, ridge: float = 0.1):
    """Parameters of a reduced-rank ridge regression of F2 on F1 (a starting point).

    Bad survey-2 pixels are filled with the ivar-weighted mean flux, both
    spectra are centred, a ridge regression ``F2 ~ F1`` is fitted through the
    thin SVD of centred F1, and its fitted values are projected onto their top
    ``num_latent`` right singular vectors. Each latent component is then
    rescaled so that ``beta_z`` and ``beta_F`` have equal norms (the balance
    equal prior scales prefer); ``b_F`` absorbs the centring.

    Parameters
    ----------
    apogee_flux : array, shape (n, P1)
    lamost_ivar, lamost_flux : array, shape (n, P2)
    num_latent : int
        ``c``.
    ridge : float
        Ridge penalty relative to the mean squared singular value of centred F1.

    Returns
    -------
    dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,) in the data's dtype
        and array kind (JAX in, JAX out).
    """
    xp = _xp(apogee_flux, lamost_ivar, lamost_flux)
    f1, ivar, f2 = apogee_flux, lamost_ivar, lamost_flux
    weight = ivar.sum(0)
    mean2 = (ivar * f2).sum(0) / xp.where(weight > 0, weight, 1.0)
    y = xp.where(ivar > 0, f2, mean2) - mean2
    mean1 = f1.mean(0)
    u, s, vt = xp.linalg.svd(f1 - mean1, full_matrices=False)
    penalty = ridge * xp.mean(s**2)
    uty = u.T @ y
    fitted = u @ (uty * (s**2 / (s**2 + penalty))[:, None])
    right = xp.linalg.svd(fitted, full_matrices=False)[2][:num_latent].T  # (P2, c)
    # z = (F1 - mean1) @ coef @ right with coef = V diag(s / (s^2 + penalty)) U^T y
    beta_z = ((vt.T * (s / (s**2 + penalty))) @ (uty @ right)).T  # (c, P1)
    beta_F = right
    scale = xp.sqrt(xp.linalg.norm(beta_F, axis=0) / xp.linalg.norm(beta_z, axis=1))
    beta_z = beta_z * scale[:, None]
    beta_F = beta_F / scale
    b_F = mean2 - beta_F @ (beta_z @ mean1)
    out = {"beta_z": beta_z, "beta_F": beta_F, "b_F": b_F}
    return {k: v.astype(f1.dtype) for k, v in out.items()}
