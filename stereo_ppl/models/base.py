"""The base model: weighted Bayesian reduced-rank regression (eq. 1–2 of A. Wheeler
2019, "Final Project", github.com/ajwheeler/stereo), with its calibrated noise.

For star ``i`` with survey-1 flux ``F1_i`` and survey-2 flux ``F2_i``::

    z_i    = beta_z @ F1_i                                          (eq. 1, no intercept)
    F2_ip  ~ Normal(beta_F[p] @ z_i + b_F[p], sqrt(a^2 / ivar_ip + s_p^2))   (eq. 2)
    beta_z, beta_F ~ Normal(0, prior_scale) elementwise
    b_F    ~ Normal(b_F_prior_mean, 1) elementwise

``noise="reported"`` (``a = 1, s = 0``) and ``prior="unit"`` (``prior_scale =
1``) are the seed study's model exactly; ``noise="calibrated"`` makes ``a``
(``error_scale``) and ``s_p`` (``scatter``) sites, ``prior="learned"``
``prior_scale``. Pixels with ``ivar == 0`` are masked out of the likelihood.
The maths (prediction, noise, likelihood, prior) is :mod:`.eq12`'s.

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
from ..errors import FitConfigError
from .eq12 import DEFAULT_B_F_PRIOR_MEAN, decode, encode, noise_precision

__all__ = [
    "DEFAULT_B_F_PRIOR_MEAN",
    "ERROR_SCALE_PRIOR",
    "NOISE_MODELS",
    "NOISE_SITE_DIMS",
    "PARAM_SITES",
    "PRIORS",
    "PRIOR_SCALE_PRIOR",
    "SCATTER_PRIOR",
    "SITE_DIMS",
    "decoder_priors",
    "encoder_prior",
    "lamost_likelihood",
    "linear_priors",
    "noise_sites",
    "prior_scale_site",
    "rrr_model",
]

#: The model's parameter sites, in the order results store them.
PARAM_SITES = ("beta_z", "beta_F", "b_F")
#: Noise models of eq. 2: the reported errors (the seed study) or calibrated by ``a`` and ``s_p``.
NOISE_MODELS = ("reported", "calibrated")
#: Priors of ``beta_z`` and ``beta_F``: Normal(0, 1) (the seed study) or a learned scale.
PRIORS = ("unit", "learned")
#: ``error_scale ~ LogNormal(0, ERROR_SCALE_PRIOR)``: reported errors right to a factor ~1.6.
ERROR_SCALE_PRIOR = 0.5
#: ``scatter ~ HalfNormal(SCATTER_PRIOR)`` per pixel, in (normalised) flux units.
SCATTER_PRIOR = 0.1
#: ``prior_scale ~ LogNormal(0, PRIOR_SCALE_PRIOR)``.
PRIOR_SCALE_PRIOR = 1.0
#: Dimensions of the calibration sites (the noise model's and the learned prior's).
NOISE_SITE_DIMS = {"error_scale": (), "scatter": (LAMOST_PIXEL,), "prior_scale": ()}
#: Dimensions of each parameter site (without the sample dimensions).
SITE_DIMS = {
    "beta_z": (LATENT, APOGEE_PIXEL),
    "beta_F": (LAMOST_PIXEL, LATENT),
    "b_F": (LAMOST_PIXEL,),
}


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise FitConfigError(f"{what} must be one of {', '.join(choices)}; got {value!r}")


def prior_scale_site(prior: str, *, dtype):
    """The prior scale of ``beta_z`` and ``beta_F``: 1 (``"unit"``) or a site (``"learned"``).

    ``"learned"``: ``prior_scale ~ LogNormal(0, 1)`` (:data:`PRIOR_SCALE_PRIOR`).
    """
    _check_choice(prior, PRIORS, "prior")
    if prior == "unit":
        return 1.0
    return numpyro.sample("prior_scale", dist.LogNormal(jnp.zeros((), dtype), PRIOR_SCALE_PRIOR))


def noise_sites(num_lamost_pixels: int, noise: str, *, dtype) -> dict:
    """The noise parameters of eq. 2: none (``"reported"``) or sites (``"calibrated"``).

    ``"calibrated"``: ``error_scale ~ LogNormal(0, 0.5)`` and, per survey-2 pixel,
    ``scatter ~ HalfNormal(0.1)`` (:data:`ERROR_SCALE_PRIOR`, :data:`SCATTER_PRIOR`).

    Returns
    -------
    dict
        Keywords of :func:`~stereo_ppl.models.eq12.noise_precision` (empty when reported).
    """
    _check_choice(noise, NOISE_MODELS, "noise")
    if noise == "reported":
        return {}
    zero = jnp.zeros((), dtype)
    error_scale = numpyro.sample("error_scale", dist.LogNormal(zero, ERROR_SCALE_PRIOR))
    with numpyro.plate(LAMOST_PIXEL, num_lamost_pixels, dim=-1):
        scatter = numpyro.sample("scatter", dist.HalfNormal(zero + SCATTER_PRIOR))
    return {"error_scale": error_scale, "scatter": scatter}


def encoder_prior(num_latent: int, num_apogee_pixels: int, *, dtype, scale=1.0):
    """Sample ``beta_z`` (latent, apogee_pixel) ~ Normal(0, scale)."""
    zero = jnp.zeros((), dtype)
    with numpyro.plate(LATENT, num_latent, dim=-1):
        return numpyro.sample(
            "beta_z", dist.Normal(zero, scale).expand([num_apogee_pixels]).to_event(1)
        )


def decoder_priors(
    num_latent: int, num_lamost_pixels: int, *, b_F_prior_mean: float, dtype, scale=1.0
):
    """Sample ``beta_F`` (lamost_pixel, latent) ~ Normal(0, scale) and ``b_F`` (lamost_pixel,)."""
    zero = jnp.zeros((), dtype)
    with numpyro.plate(LAMOST_PIXEL, num_lamost_pixels, dim=-1):
        beta_F = numpyro.sample("beta_F", dist.Normal(zero, scale).expand([num_latent]).to_event(1))
        b_F = numpyro.sample("b_F", dist.Normal(zero + b_F_prior_mean, 1.0))
    return beta_F, b_F


def linear_priors(
    apogee_flux, lamost_ivar, *, num_latent: int, b_F_prior_mean: float, prior: str = "unit"
):
    """Sample eq. 1–2's ``beta_z``, ``beta_F``, ``b_F`` for these data's shapes and dtype.

    Parameters
    ----------
    apogee_flux : array, shape (num_stars, num_apogee_pixels)
    lamost_ivar : array, shape (num_stars, num_lamost_pixels)
    num_latent : int
    b_F_prior_mean : float
    prior : {"unit", "learned"}
        ``beta_z`` and ``beta_F`` ~ Normal(0, 1) (the seed study), or
        Normal(0, prior_scale) with ``prior_scale`` a site (:func:`prior_scale_site`).

    Returns
    -------
    beta_z : (latent, apogee_pixel); beta_F : (lamost_pixel, latent); b_F : (lamost_pixel,)
    """
    dtype = apogee_flux.dtype
    scale = prior_scale_site(prior, dtype=dtype)
    beta_z = encoder_prior(num_latent, apogee_flux.shape[-1], dtype=dtype, scale=scale)
    beta_F, b_F = decoder_priors(
        num_latent, lamost_ivar.shape[-1], b_F_prior_mean=b_F_prior_mean, dtype=dtype, scale=scale
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
    noise: str = "reported",
    prior: str = "unit",
):
    """Seed eq. 1–2 as a NumPyro model, with its calibrated noise and learned prior.

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
    noise : {"reported", "calibrated"}
        ``"reported"``: the noise of ``F2_ip`` is ``1 / sqrt(ivar_ip)`` (the seed
        study); ``"calibrated"``: ``sqrt(a^2 / ivar_ip + s_p^2)`` with the error
        scale ``a`` and each pixel's intrinsic scatter ``s_p`` sites
        (:func:`noise_sites`, :func:`~stereo_ppl.models.eq12.noise_precision`).
    prior : {"unit", "learned"}
        Prior scale of ``beta_z`` and ``beta_F``: 1 (the seed study) or the
        site ``prior_scale`` (:func:`prior_scale_site`).

    Sites
    -----
    beta_z : (latent, apogee_pixel); beta_F : (lamost_pixel, latent);
    b_F : (lamost_pixel,); z : deterministic (star, latent);
    lamost_flux : (star, lamost_pixel), observed.
    """
    num_stars = apogee_flux.shape[0]
    beta_z, beta_F, b_F = linear_priors(
        apogee_flux, lamost_ivar, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean, prior=prior
    )
    calibration = noise_sites(lamost_ivar.shape[-1], noise, dtype=apogee_flux.dtype)
    with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-2) as idx:
        z = numpyro.deterministic("z", encode(beta_z, apogee_flux[idx]))
        mu = decode(beta_F, b_F, z)
        flux = None if lamost_flux is None else lamost_flux[idx]
        lamost_likelihood(mu, lamost_ivar[idx], flux, **calibration)
