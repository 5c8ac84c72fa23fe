"""``z`` as a latent variable.

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
``z_i`` is a sample site in the ``star`` plate, for VI with a per-star (local)
guide (:mod:`stereo_ppl.inference.vi_local`). That guide works on a partially
centred ``z`` (:data:`LOCAL_REPARAM`): a mean-field guide on the centred ``z_i``
pays ``Var(beta_z F1_i) / sigma_z^2`` in the ELBO and collapses as ``sigma_z ->
0``, one on the non-centred offset ``(z_i - beta_z F1_i) / sigma_z`` pins
``beta_z`` to the offsets' means and underestimates its width several-fold
when the survey-2 spectrum determines ``z_i`` well; the centring is learned,
started at the share of each ``z_i``'s prior variance that the data remove
(:func:`z_local_start`). Given the global parameters the posterior of ``z_i``
is exactly Gaussian (:func:`z_conditional`). As ``sigma_z -> 0`` both forms
reduce to the base model.
"""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.infer.reparam import LocScaleReparam

from ..dims import LATENT, STAR
from ..errors import FitConfigError
from .base import DEFAULT_B_F_PRIOR_MEAN, lamost_likelihood, linear_priors, noise_sites
from .eq12 import decode, encode, noise_precision
from .marginal import LatentNormal

__all__ = [
    "CENTRING_PARAM",
    "LOCAL_REPARAM",
    "LOCAL_SITE_DIMS",
    "SITE_DIMS",
    "latent_z_model",
    "z_conditional",
    "z_local_start",
]

#: Dimensions of the sites this model adds to the base model.
SITE_DIMS = {"sigma_z": ()}
#: The per-star form's ``z`` partially centred, with a learned centring in [0, 1]
#: (1: ``z`` itself, 0: ``(z - beta_z F1) / sigma_z``): the site ``z_decentered``.
LOCAL_REPARAM = {"z": LocScaleReparam(centered=None)}
#: Name of that centring (a parameter of the reparametrised model).
CENTRING_PARAM = "z_centered"
#: Dimensions of the per-star sites of the reparametrised per-star form.
LOCAL_SITE_DIMS = {"z_decentered": (STAR, LATENT)}


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
    noise: str = "reported",
    prior: str = "unit",
):
    """Seed eq. 1–2 with ``z_i ~ Normal(beta_z F1_i, sigma_z)``.

    Parameters
    ----------
    apogee_flux, lamost_ivar, lamost_flux, num_latent, b_F_prior_mean, subsample_size, noise, prior
        As for :func:`~stereo_ppl.models.rrr_model`.
    sigma_z : float, optional
        Fixed scatter of ``z`` about ``beta_z F1`` (``> 0``); ``None``
        (default) learns it with a ``HalfNormal(sigma_z_scale)`` prior.
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
    if not marginal and sigma_z is not None and not sigma_z > 0:
        raise FitConfigError(f"latent-z per star (marginal=false) needs sigma_z > 0; got {sigma_z}")
    num_stars = apogee_flux.shape[0]
    dtype = apogee_flux.dtype
    beta_z, beta_F, b_F = linear_priors(
        apogee_flux, lamost_ivar, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean, prior=prior
    )
    calibration = noise_sites(lamost_ivar.shape[-1], noise, dtype=apogee_flux.dtype)
    precision = noise_precision(lamost_ivar, **calibration)
    if sigma_z is None:
        sigma = numpyro.sample("sigma_z", dist.HalfNormal(jnp.asarray(sigma_z_scale, dtype)))
    else:
        sigma = jnp.asarray(sigma_z, dtype)
    if marginal:
        cov = sigma**2 * jnp.eye(num_latent, dtype=dtype)
        with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-1) as idx:
            z = numpyro.deterministic("z", encode(beta_z, apogee_flux[idx]))
            flux = None if lamost_flux is None else lamost_flux[idx]
            numpyro.sample(
                "lamost_flux",
                LatentNormal(decode(beta_F, b_F, z), beta_F, cov, precision[idx]),
                obs=flux,
            )
        return
    with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-2) as idx:
        with numpyro.plate(LATENT, num_latent, dim=-1):
            z = numpyro.sample("z", dist.Normal(encode(beta_z, apogee_flux[idx]), sigma))
        flux = None if lamost_flux is None else lamost_flux[idx]
        lamost_likelihood(decode(beta_F, b_F, z), lamost_ivar[idx], flux, **calibration)


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
    rhs = prior_precision * encode(beta_z, apogee_flux) + (w * resid) @ beta_F
    return jnp.linalg.solve(precision, rhs[..., None])[..., 0], precision


def z_local_start(params, apogee_flux, lamost_ivar, lamost_flux, *, sigma_z=None, **options):
    """Start of the per-star guide of :data:`LOCAL_REPARAM`'s ``z_decentered``.

    The centring starts at ``c = 1 - mean(v_i / sigma_z^2)``, with ``v_i =
    1 / diag(P_i)`` each ``z_i``'s mean-field posterior variance given the
    globals (:func:`z_conditional`): 1 (centred) when the survey-2 spectra pin
    ``z`` far inside its prior, 0 (non-centred) when they add nothing. With
    ``m_i = beta_z F1_i`` and the conditional mean ``mu_i``, the decentered
    site ``c m_i + (z_i - m_i) / sigma_z^(1 - c)`` then starts at mean
    ``c m_i + (mu_i - m_i) / sigma_z^(1 - c)`` and width
    ``sqrt(v_i) / sigma_z^(1 - c)``.

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
    locals : dict
        ``{"z_decentered": (loc (n, c), scale (n, c))}``.
    model_params : dict
        ``{CENTRING_PARAM: c}``, a scalar in ``[0.001, 0.999]``.
    """
    del options
    dtype = jnp.asarray(params["beta_F"]).dtype
    sigma = jnp.asarray(params["sigma_z"] if sigma_z is None else sigma_z, dtype)
    mean, precision = z_conditional(params, apogee_flux, lamost_ivar, lamost_flux, sigma_z=sigma)
    var = 1.0 / jnp.diagonal(precision, axis1=-2, axis2=-1)
    centring = jnp.clip(1.0 - jnp.mean(var) / sigma**2, 1e-3, 1.0 - 1e-3)
    prior_mean = apogee_flux @ jnp.asarray(params["beta_z"]).T
    widen = sigma ** (centring - 1.0)
    loc = centring * prior_mean + (mean - prior_mean) * widen
    return {"z_decentered": (loc, jnp.sqrt(var) * widen)}, {CENTRING_PARAM: centring}
