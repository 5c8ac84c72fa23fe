"""Survey-1 measurement errors: an errors-in-variables marginal.

The base model treats the survey-1 spectrum ``F1_i`` as exact. Here the
observed spectrum is ``F1_i = F1_true_i + e_i`` with ``e_i ~ Normal(0,
diag(apogee_var_i))``, and ``z_i = beta_z @ F1_true_i``. Integrating ``e_i``
out (``F1_true_i`` given the observed spectrum is Normal about it with the
same variances) makes ``z_i ~ Normal(beta_z F1_i, S_i)`` with
``S_i = beta_z diag(apogee_var_i) beta_z^T``, and, exactly,

    F2_i ~ Normal(beta_F beta_z F1_i + b_F,
                  beta_F S_i beta_F^T + diag(1 / lamost_ivar_i))

(:class:`~.marginal.LatentNormal`, ``O(P2 c^2 + P1 c^2)`` per star).

Bad survey-1 pixels (chip gaps, ``apogee_ivar == 0``) need no cut: give
them the training stars' mean flux at that pixel and its variance across
stars (:func:`apogee_error_inputs`), so a missing pixel is "some typical
value, this uncertain" and ``z`` widens accordingly. As the errors go to
zero the model is the base model.
"""

import jax.numpy as jnp
import numpy as np
import numpyro

from ..dims import STAR
from .base import DEFAULT_B_F_PRIOR_MEAN, linear_priors, noise_sites
from .eq12 import decode, encode, fill_values, noise_precision
from .marginal import LatentNormal

__all__ = ["apogee_error_inputs", "errors_in_f1_model"]


def errors_in_f1_model(
    apogee_flux,
    lamost_ivar,
    lamost_flux=None,
    *,
    apogee_var,
    num_latent: int,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
    subsample_size: int | None = None,
    noise: str = "reported",
    prior: str = "unit",
):
    """Seed eq. 1–2 with survey-1 errors integrated out.

    Parameters
    ----------
    apogee_flux, lamost_ivar, lamost_flux, num_latent, b_F_prior_mean, subsample_size, noise, prior
        As for :func:`~stereo_ppl.models.rrr_model`; ``apogee_flux`` must be
        finite (filled where bad, see :func:`apogee_error_inputs`).
    apogee_var : array, shape (num_stars, num_apogee_pixels)
        Variance of each survey-1 pixel, finite and ``>= 0``.

    Sites
    -----
    beta_z, beta_F, b_F, z (deterministic ``beta_z F1``) as in the base model;
    lamost_flux : (star, lamost_pixel), observed (one density per star).
    """
    num_stars = apogee_flux.shape[0]
    beta_z, beta_F, b_F = linear_priors(
        apogee_flux, lamost_ivar, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean, prior=prior
    )
    calibration = noise_sites(lamost_ivar.shape[-1], noise, dtype=apogee_flux.dtype)
    precision = noise_precision(lamost_ivar, **calibration)
    with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-1) as idx:
        z = numpyro.deterministic("z", encode(beta_z, apogee_flux[idx]))
        cov = jnp.einsum("kp,np,jp->nkj", beta_z, apogee_var[idx], beta_z)
        flux = None if lamost_flux is None else lamost_flux[idx]
        mean = decode(beta_F, b_F, z)
        numpyro.sample("lamost_flux", LatentNormal(mean, beta_F, cov, precision[idx]), obs=flux)


def apogee_error_inputs(apogee_flux, apogee_ivar, train):
    """Finite survey-1 flux and variances, bad pixels filled from the training stars.

    Parameters
    ----------
    apogee_flux : array, shape (n, P1)
        May be NaN where ``apogee_ivar == 0``.
    apogee_ivar : array, shape (n, P1)
        Inverse variance, ``>= 0``; 0 marks a bad pixel.
    train : array of int, shape (num_train,)
        Stars whose good pixels give each pixel's fill mean and variance.

    Returns
    -------
    flux, var : ndarray, shape (n, P1), float64
        ``flux`` with bad pixels set to the training mean at that pixel;
        ``var = 1 / ivar`` where good and the training variance across stars
        where bad.

    Raises
    ------
    ValueError
        A pixel bad in every training star (its mean is unknown).
    """
    flux = np.asarray(apogee_flux, np.float64)
    ivar = np.asarray(apogee_ivar, np.float64)
    good = (ivar > 0) & np.isfinite(flux)
    known = good[train]
    count = known.sum(0)
    mean = fill_values(flux[train], known)
    spread = np.where(known, (flux[train] - mean) ** 2, 0.0).sum(0) / np.maximum(count - 1, 1)
    filled = np.where(good, flux, mean)
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), spread)
    return filled, var
