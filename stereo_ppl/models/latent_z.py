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
guide and scores held-out stars exactly. With ``marginal=False`` every star
has its own sample site, the standardised offset ``z_offset_i ~ Normal(0, 1)``
(star, latent), and ``z_i = beta_z F1_i + sigma_z z_offset_i`` is a
deterministic site: the same model, non-centred, for VI with a per-star
(local) guide (:mod:`stereo_ppl.inference.vi_local`). Non-centred because a
mean-field guide on a centred ``z_i`` pays ``Var(beta_z F1_i) / sigma_z^2`` in
the ELBO and collapses as ``sigma_z -> 0``, whereas ``z_offset`` simply falls
back to its prior there and the fit to the base model's. Given the global
parameters the posterior of ``z_i`` is exactly Gaussian
(:func:`z_conditional`), which starts that guide. As ``sigma_z -> 0`` both
forms reduce to the base model.
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ..dims import LATENT, STAR
from ..errors import FitConfigError
from .base import DEFAULT_B_F_PRIOR_MEAN, lamost_likelihood, linear_priors
from .marginal import LatentNormal

__all__ = ["LOCAL_SITE_DIMS", "SITE_DIMS", "latent_z_model", "z_conditional", "z_offset_start"]

#: Dimensions of the sites this model adds to the base model.
SITE_DIMS = {"sigma_z": ()}
#: Dimensions of the per-star sites of its per-star form (``marginal=False``).
LOCAL_SITE_DIMS = {"z_offset": (STAR, LATENT)}


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
        Fixed scatter of ``z`` about ``beta_z F1`` (``> 0``); ``None``
        (default) learns it with a ``HalfNormal(sigma_z_scale)`` prior.
    sigma_z_scale : float
        Scale of that prior.
    marginal : bool
        Integrate ``z`` out exactly (default) or sample it per star
        (non-centred, through ``z_offset``).

    Sites
    -----
    beta_z, beta_F, b_F as in the base model; sigma_z : () unless fixed;
    z_offset : (star, latent), ``Normal(0, 1)``, per-star form only;
    z : (star, latent), deterministic: ``beta_z F1`` (marginal) or
    ``beta_z F1 + sigma_z z_offset`` (per star);
    lamost_flux : (star, lamost_pixel), observed.
    """
    if not marginal and sigma_z is not None and not sigma_z > 0:
        raise FitConfigError(f"latent-z per star (marginal=false) needs sigma_z > 0; got {sigma_z}")
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
            offset = numpyro.sample("z_offset", dist.Normal(jnp.zeros((), dtype), 1.0))
        z = numpyro.deterministic("z", apogee_flux[idx] @ beta_z.T + sigma * offset)
        flux = None if lamost_flux is None else lamost_flux[idx]
        lamost_likelihood(z @ beta_F.T + b_F, lamost_ivar[idx], flux)


def z_conditional(params, apogee_flux, lamost_ivar, lamost_flux, *, sigma_z):
    """The exact Gaussian posterior of every star's ``z`` given the global parameters.

    ``p(z_i | F1_i, F2_i) = Normal(m_i, P_i^-1)`` with
    ``P_i = I / sigma_z^2 + beta_F^T diag(ivar_i) beta_F`` and
    ``m_i = P_i^-1 (beta_z F1_i / sigma_z^2 + beta_F^T diag(ivar_i) (F2_i - b_F))``;
    pixels with ``ivar == 0`` contribute nothing.

    Parameters
    ----------
    params : dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,).
    apogee_flux : array, shape (n, P1)
    lamost_ivar, lamost_flux : array, shape (n, P2)
    sigma_z : float or array, shape ()
        ``> 0``.

    Returns
    -------
    mean : jax.Array, shape (n, c)
    precision : jax.Array, shape (n, c, c)
        ``P_i``.
    """
    beta_z, beta_F, b_F = (jnp.asarray(params[k]) for k in ("beta_z", "beta_F", "b_F"))
    dtype = beta_F.dtype
    w = jnp.where(lamost_ivar > 0, lamost_ivar, 0.0).astype(dtype)
    resid = jnp.where(lamost_ivar > 0, lamost_flux - b_F, 0.0)
    prior_precision = jnp.asarray(sigma_z, dtype) ** -2
    eye = jnp.eye(beta_F.shape[1], dtype=dtype)
    precision = prior_precision * eye + jnp.einsum("pk,np,pj->nkj", beta_F, w, beta_F)
    rhs = prior_precision * (apogee_flux @ beta_z.T) + (w * resid) @ beta_F
    return jnp.linalg.solve(precision, rhs[..., None])[..., 0], precision


def z_offset_start(params, apogee_flux, lamost_ivar, lamost_flux, *, sigma_z=None, **options):
    """Per-star guide start of ``z_offset`` from :func:`z_conditional`, in offset units.

    Parameters
    ----------
    params : dict
        ``beta_z``, ``beta_F``, ``b_F`` and ``sigma_z`` (unless fixed).
    apogee_flux : array, shape (n, P1)
    lamost_ivar, lamost_flux : array, shape (n, P2)
    sigma_z : float, optional
        The fixed ``sigma_z`` option; ``None`` takes ``params["sigma_z"]``.
    **options
        The model's other options (unused).

    Returns
    -------
    dict
        ``{"z_offset": (loc (n, c), scale (n, c))}``: the conditional mean of
        ``(z_i - beta_z F1_i) / sigma_z`` and its mean-field widths
        ``1 / sqrt(diag P_i) / sigma_z`` (the optimum of a diagonal Gaussian).
    """
    del options
    sigma = params["sigma_z"] if sigma_z is None else sigma_z
    sigma = jnp.asarray(sigma, jnp.asarray(params["beta_F"]).dtype)
    mean, precision = z_conditional(params, apogee_flux, lamost_ivar, lamost_flux, sigma_z=sigma)
    loc = (mean - apogee_flux @ jnp.asarray(params["beta_z"]).T) / sigma
    scale = 1.0 / (sigma * jnp.sqrt(jnp.diagonal(precision, axis1=-2, axis2=-1)))
    return {"z_offset": (loc, scale)}
