"""The base model: weighted Bayesian reduced-rank regression (seed eq. 1–2).

For star ``i`` with survey-1 flux ``F1_i`` and survey-2 flux ``F2_i``::

    z_i    = beta_z @ F1_i                              (eq. 1, no intercept)
    F2_i   ~ Normal(beta_F @ z_i + b_F, 1 / sqrt(ivar_i))   (eq. 2)
    beta_z, beta_F ~ Normal(0, 1) elementwise
    b_F    ~ Normal(b_F_prior_mean, 1) elementwise

Pixels with ``ivar == 0`` are masked out of the likelihood.

Plates are named by :mod:`stereo_ppl.dims`: ``star`` (dim -2), ``lamost_pixel``
and ``latent`` (dim -1, never nested, so every plate keeps one dim as
autoguides require). The trailing axis of ``beta_z`` (``apogee_pixel``) and of
``beta_F`` (``latent``) are event dimensions.
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro import handlers

from ..dims import APOGEE_PIXEL, LAMOST_PIXEL, LATENT, STAR
from .eq12 import DEFAULT_B_F_PRIOR_MEAN, decode, encode, noise_precision

__all__ = [
    "DEFAULT_B_F_PRIOR_MEAN",
    "PARAM_SITES",
    "SITE_DIMS",
    "decoder_priors",
    "encoder_prior",
    "lamost_likelihood",
    "linear_priors",
    "rrr_model",
]

#: The model's parameter sites, in the order results store them.
PARAM_SITES = ("beta_z", "beta_F", "b_F")
#: Dimensions of each parameter site (without the sample dimensions).
SITE_DIMS = {
    "beta_z": (LATENT, APOGEE_PIXEL),
    "beta_F": (LAMOST_PIXEL, LATENT),
    "b_F": (LAMOST_PIXEL,),
}


def encoder_prior(num_latent: int, num_apogee_pixels: int, *, dtype):
    """Sample ``beta_z`` (latent, apogee_pixel) ~ Normal(0, 1)."""
    zero = jnp.zeros((), dtype)
    with numpyro.plate(LATENT, num_latent, dim=-1):
        return numpyro.sample(
            "beta_z", dist.Normal(zero, 1.0).expand([num_apogee_pixels]).to_event(1)
        )


def decoder_priors(num_latent: int, num_lamost_pixels: int, *, b_F_prior_mean: float, dtype):
    """Sample ``beta_F`` (lamost_pixel, latent) and ``b_F`` (lamost_pixel,)."""
    zero = jnp.zeros((), dtype)
    with numpyro.plate(LAMOST_PIXEL, num_lamost_pixels, dim=-1):
        beta_F = numpyro.sample("beta_F", dist.Normal(zero, 1.0).expand([num_latent]).to_event(1))
        b_F = numpyro.sample("b_F", dist.Normal(zero + b_F_prior_mean, 1.0))
    return beta_F, b_F


def linear_priors(apogee_flux, lamost_ivar, *, num_latent: int, b_F_prior_mean: float):
    """Sample eq. 1–2's ``beta_z``, ``beta_F``, ``b_F`` for these data's shapes and dtype.

    Parameters
    ----------
    apogee_flux : array, shape (num_stars, num_apogee_pixels)
    lamost_ivar : array, shape (num_stars, num_lamost_pixels)
    num_latent : int
    b_F_prior_mean : float

    Returns
    -------
    beta_z : (latent, apogee_pixel); beta_F : (lamost_pixel, latent); b_F : (lamost_pixel,)
    """
    dtype = apogee_flux.dtype
    beta_z = encoder_prior(num_latent, apogee_flux.shape[-1], dtype=dtype)
    beta_F, b_F = decoder_priors(
        num_latent, lamost_ivar.shape[-1], b_F_prior_mean=b_F_prior_mean, dtype=dtype
    )
    return beta_z, beta_F, b_F


def lamost_likelihood(mu, lamost_ivar, lamost_flux, *, error_scale=1.0, scatter=0.0):
    """Observe ``lamost_flux`` ~ Normal(mu, sqrt(a^2 / ivar + s^2)), masking ``ivar == 0``.

    The noise is :func:`~stereo_ppl.models.eq12.noise_precision`'s (``a = 1,
    s = 0``: the seed's ``1 / sqrt(ivar)``). Must be called inside the ``star``
    plate (dim -2). Masked pixels get a finite placeholder flux and unit scale
    so no NaN or inf reaches a gradient.
    """
    good = lamost_ivar > 0
    precision = noise_precision(lamost_ivar, error_scale=error_scale, scatter=scatter)
    scale = jnp.where(good, jnp.sqrt(1.0 / jnp.where(good, precision, 1.0)), 1.0)
    obs = None if lamost_flux is None else jnp.where(good, lamost_flux, mu)
    with numpyro.plate(LAMOST_PIXEL, lamost_ivar.shape[-1], dim=-1), handlers.mask(mask=good):
        return numpyro.sample("lamost_flux", dist.Normal(mu, scale), obs=obs)


def rrr_model(
    apogee_flux,
    lamost_ivar,
    lamost_flux=None,
    *,
    num_latent: int,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
    subsample_size: int | None = None,
    error_scale=1.0,
    scatter=0.0,
):
    """Seed eq. 1–2 as a NumPyro model.

    Parameters
    ----------
    apogee_flux : array, shape (num_stars, num_apogee_pixels)
        Survey-1 flux ``F1``, finite everywhere.
    lamost_ivar : array, shape (num_stars, num_lamost_pixels)
        Survey-2 inverse variance; ``0`` marks a bad pixel (masked out).
    lamost_flux : array, shape (num_stars, num_lamost_pixels), optional
        Observed survey-2 flux ``F2``. ``None`` (default) draws it, which gives
        the prior (or posterior) predictive.
    num_latent : int
        Dimension ``c`` of ``z``.
    b_F_prior_mean : float
        Prior mean of every element of ``b_F`` (default 1.0; 0.0 gives the
        all-``Normal(0, 1)`` prior of the seed's eq. 2).
    subsample_size : int, optional
        Minibatch size along the ``star`` plate; the likelihood is rescaled.
    error_scale : float or array, shape ()
        ``a``: the factor on every reported survey-2 error (default 1).
    scatter : float or array, shape (num_lamost_pixels,)
        ``s``: each survey-2 pixel's intrinsic scatter (default 0); the noise
        of ``F2_ip`` is ``sqrt(a^2 / ivar_ip + s_p^2)``
        (:func:`~stereo_ppl.models.eq12.noise_precision`).

    Sites
    -----
    beta_z : (latent, apogee_pixel); beta_F : (lamost_pixel, latent);
    b_F : (lamost_pixel,); z : deterministic (star, latent);
    lamost_flux : (star, lamost_pixel), observed.
    """
    num_stars = apogee_flux.shape[0]
    beta_z, beta_F, b_F = linear_priors(
        apogee_flux, lamost_ivar, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean
    )
    with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-2) as idx:
        z = numpyro.deterministic("z", encode(beta_z, apogee_flux[idx]))
        mu = decode(beta_F, b_F, z)
        flux = None if lamost_flux is None else lamost_flux[idx]
        lamost_likelihood(mu, lamost_ivar[idx], flux, error_scale=error_scale, scatter=scatter)
