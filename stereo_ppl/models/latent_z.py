"""``z`` as a latent variable (issue 9 §2).

For star ``i``::

    z_i  ~ Normal(beta_z @ F1_i, sigma_z)                     (per component)
    F2_i ~ Normal(beta_F @ z_i + b_F, 1 / sqrt(ivar_i))       (eq. 2)
    sigma_z ~ HalfNormal(sigma_z_scale)  (or fixed)

``z_i`` is no longer forced to be exactly a function of the survey-1
spectrum: ``sigma_z`` measures how much survey-2 information it may add.
With ``marginal=True`` (default) ``z_i`` is integrated out exactly
(:class:`~.marginal.LatentNormal`: ``F2_i`` is Normal with covariance
``sigma_z^2 beta_F beta_F^T + diag(1 / ivar_i)``), which needs no per-star
guide and scores held-out stars exactly. With ``marginal=False`` every
``z_i`` is a sample site in the ``star`` plate, for VI with a per-star
(local) guide; its ``z`` then is the per-star latent, not ``beta_z F1``.
As ``sigma_z -> 0`` both reduce to the base model.
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ..dims import LATENT, STAR
from .base import DEFAULT_B_F_PRIOR_MEAN, lamost_likelihood, linear_priors
from .marginal import LatentNormal

__all__ = ["SITE_DIMS", "latent_z_model"]

#: Dimensions of the sites this model adds to the base model.
SITE_DIMS = {"sigma_z": ()}


def latent_z_model(
    apogee_flux,
    lamost_ivar,
    lamost_flux=None,
    *,
    num_latent: int,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
    sigma_z: float | None = None,
    sigma_z_scale: float = 1.0,
    marginal: bool = True,
    subsample_size: int | None = None,
):
    """Seed eq. 1–2 with ``z_i ~ Normal(beta_z F1_i, sigma_z)``.

    Parameters
    ----------
    apogee_flux, lamost_ivar, lamost_flux, num_latent, b_F_prior_mean, subsample_size
        As for :func:`~stereo_ppl.models.rrr_model`.
    sigma_z : float, optional
        Fixed scatter of ``z`` about ``beta_z F1``; ``None`` (default) learns
        it with a ``HalfNormal(sigma_z_scale)`` prior.
    sigma_z_scale : float
        Scale of that prior.
    marginal : bool
        Integrate ``z`` out exactly (default) or sample it per star.

    Sites
    -----
    beta_z, beta_F, b_F as in the base model; sigma_z : () unless fixed;
    z : (star, latent), deterministic ``beta_z F1`` (marginal) or latent;
    lamost_flux : (star, lamost_pixel), observed.
    """
    num_stars = apogee_flux.shape[0]
    dtype = apogee_flux.dtype
    beta_z, beta_F, b_F = linear_priors(
        apogee_flux, lamost_ivar, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean
    )
    if sigma_z is None:
        sigma = numpyro.sample("sigma_z", dist.HalfNormal(jnp.asarray(sigma_z_scale, dtype)))
    else:
        sigma = jnp.asarray(sigma_z, dtype)
    if marginal:
        cov = sigma**2 * jnp.eye(num_latent, dtype=dtype)
        with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-1) as idx:
            z = numpyro.deterministic("z", apogee_flux[idx] @ beta_z.T)
            flux = None if lamost_flux is None else lamost_flux[idx]
            numpyro.sample(
                "lamost_flux",
                LatentNormal(z @ beta_F.T + b_F, beta_F, cov, lamost_ivar[idx]),
                obs=flux,
            )
        return
    with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-2) as idx:
        with numpyro.plate(LATENT, num_latent, dim=-1):
            z = numpyro.sample("z", dist.Normal(apogee_flux[idx] @ beta_z.T, sigma))
        flux = None if lamost_flux is None else lamost_flux[idx]
        lamost_likelihood(z @ beta_F.T + b_F, lamost_ivar[idx], flux)
