"""Pointwise log likelihood per star, the input of ArviZ's LOO and WAIC."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers

from ..dims import STAR
from ..models import eq12
from .arrays import ModelData, VariantData

__all__ = ["log_likelihood_per_star", "model_log_likelihood_per_star"]


@jax.jit
def _one_draw(params, data: ModelData):
    mean = eq12.predict_mean(params, data.apogee_flux)
    precision = eq12.noise_precision(data.lamost_ivar, **eq12.noise_params(params))
    return jnp.sum(eq12.pixel_log_likelihood(data.lamost_flux, mean, precision), axis=-1)


def log_likelihood_per_star(params, data: ModelData) -> np.ndarray:
    """``log p(F2_i | params)`` for every star and every posterior draw.

    The likelihood of eq. 2 summed over the star's good LAMOST pixels
    (``ivar > 0``); a star is one observation for LOO.

    Parameters
    ----------
    params : mapping
        ``beta_z`` (chain, draw, latent, apogee_pixel), ``beta_F`` (chain, draw,
        lamost_pixel, latent), ``b_F`` (chain, draw, lamost_pixel).
    data : ModelData
        The stars to score.

    Returns
    -------
    ndarray, shape (chain, draw, star)
        In the dtype of ``data``. Draws are evaluated one at a time (they may
        be read-only broadcast views), so memory stays at one draw plus one
        (star, lamost_pixel) array.
    """
    dtype = data.apogee_flux.dtype
    names = ("beta_z", "beta_F", "b_F", *(k for k in eq12.NOISE_SITES if k in params))
    arrays = {k: np.asarray(params[k]) for k in names}
    chains, draws = arrays["b_F"].shape[:2]
    out = np.empty((chains, draws, data.num_stars), dtype)
    for chain in range(chains):
        for draw in range(draws):
            one = {k: jnp.asarray(v[chain, draw], dtype) for k, v in arrays.items()}
            out[chain, draw] = np.asarray(_one_draw(one, data))
    return out


@partial(jax.jit, static_argnames=("model",))
def _model_one_draw(params, data: VariantData, model):
    traced = handlers.trace(handlers.substitute(model, data=params)).get_trace(
        *data.base, **data.kwargs
    )
    site = traced["lamost_flux"]
    log_prob = site["fn"].log_prob(site["value"])
    if site.get("mask") is not None:
        log_prob = jnp.where(site["mask"], log_prob, 0.0)
    star_dim = next(f.dim for f in site["cond_indep_stack"] if f.name == STAR)
    axes = tuple(range(log_prob.ndim + star_dim + 1, log_prob.ndim))
    return jnp.sum(log_prob, axis=axes) if axes else log_prob


def model_log_likelihood_per_star(model, params, data: VariantData) -> np.ndarray:
    """``log p(F2_i | params)`` per star and draw, from a model's own ``lamost_flux`` site.

    For model variants whose survey-2 likelihood is not eq. 2's (a marginal
    over an uncertain ``z``, a non-linear decoder): the log density of the
    ``lamost_flux`` site, masks applied, summed over every axis after the
    ``star`` plate's.

    Parameters
    ----------
    model : callable
        The model, with every option but the data bound (e.g. a
        ``functools.partial`` with ``num_latent``); hashable.
    params : mapping
        Every latent site with leading (chain, draw) axes.
    data : VariantData
        The stars to score, with the model's keyword inputs.

    Returns
    -------
    ndarray, shape (chain, draw, star)
    """
    dtype = data.base.apogee_flux.dtype
    arrays = {k: np.asarray(v) for k, v in params.items()}
    chains, draws = next(iter(arrays.values())).shape[:2]
    out = np.empty((chains, draws, data.num_stars), dtype)
    for chain in range(chains):
        for draw in range(draws):
            one = {k: jnp.asarray(v[chain, draw], dtype) for k, v in arrays.items()}
            out[chain, draw] = np.asarray(_model_one_draw(one, data, model))
    return out
