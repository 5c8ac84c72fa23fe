"""A non-linear decoder: the base model plus a one-hidden-layer MLP of ``z``.

For star ``i``::

    z_i   = beta_z @ F1_i                                           (eq. 1)
    h_i   = act(W_in @ z_i + b_in)                                  (hidden)
    F2_i ~ Normal(beta_F @ z_i + b_F + W_out @ h_i, 1 / sqrt(ivar_i))
    W_in, b_in ~ Normal(0, 1);  W_out ~ Normal(0, mlp_scale)

The MLP is a residual on the linear decoder, so the model is the base model
when ``W_out = 0`` (and ``mlp_scale -> 0`` pins it there), and with
``activation="linear"`` it is again linear in ``z`` (``beta_F + W_out W_in``),
the base model's function class. The weights are explicit sample sites with
named plates (``hidden``) rather than a Flax/Equinox module wrapped by
``numpyro.contrib.module``: their names then are valid netCDF variables and
their dims land in the fit file like every other site's.
"""

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ..dims import LAMOST_PIXEL, LATENT, STAR
from ..errors import FitConfigError
from .base import DEFAULT_B_F_PRIOR_MEAN, lamost_likelihood, linear_priors, noise_sites
from .eq12 import encode

__all__ = ["ACTIVATIONS", "HIDDEN", "SITE_DIMS", "mlp_decoder", "mlp_model", "w_out_precision"]

#: One unit of the decoder's hidden layer.
HIDDEN = "hidden"
#: Dimensions of the sites this model adds to the base model.
SITE_DIMS = {"W_in": (HIDDEN, LATENT), "b_in": (HIDDEN,), "W_out": (LAMOST_PIXEL, HIDDEN)}
#: Activation functions by name.
ACTIVATIONS = {"tanh": jnp.tanh, "gelu": jax.nn.gelu, "softplus": jax.nn.softplus}


def _activation(name: str):
    if name == "linear":
        return lambda x: x
    if name not in ACTIVATIONS:
        raise FitConfigError(
            f"unknown activation {name!r}; choose one of linear, {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


def mlp_decoder(z, beta_F, b_F, W_in, b_in, W_out, *, activation: str = "tanh"):
    """Mean survey-2 spectrum ``beta_F z + b_F + W_out act(W_in z + b_in)``.

    Parameters
    ----------
    z : array, shape (..., c)
    beta_F : array, shape (P2, c)
    b_F : array, shape (P2,)
    W_in : array, shape (H, c)
    b_in : array, shape (H,)
    W_out : array, shape (P2, H)
    activation : str
        ``"tanh"`` (default), ``"gelu"``, ``"softplus"`` or ``"linear"``.

    Returns
    -------
    array, shape (..., P2)
    """
    hidden = _activation(activation)(z @ W_in.T + b_in)
    return z @ beta_F.T + b_F + hidden @ W_out.T


def mlp_model(
    apogee_flux,
    lamost_ivar,
    lamost_flux=None,
    *,
    num_latent: int,
    num_hidden: int = 16,
    activation: str = "tanh",
    mlp_scale: float = 0.1,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
    subsample_size: int | None = None,
    noise: str = "reported",
    prior: str = "unit",
):
    """Seed eq. 1–2 with an MLP residual in the decoder.

    Parameters
    ----------
    apogee_flux, lamost_ivar, lamost_flux, num_latent, b_F_prior_mean, subsample_size, noise, prior
        As for :func:`~stereo_ppl.models.rrr_model`.
    num_hidden : int
        Width ``H`` of the hidden layer.
    activation : str
        See :func:`mlp_decoder`.
    mlp_scale : float
        Prior standard deviation of ``W_out`` (how far from linear the
        decoder may go a priori).

    Sites
    -----
    beta_z, beta_F, b_F, z, lamost_flux as in the base model;
    W_in : (hidden, latent); b_in : (hidden,); W_out : (lamost_pixel, hidden).
    """
    if num_hidden < 1:
        raise FitConfigError(f"num_hidden must be >= 1; got {num_hidden}")
    _activation(activation)
    num_stars = apogee_flux.shape[0]
    num_lamost_pixels = lamost_ivar.shape[-1]
    dtype = apogee_flux.dtype
    zero = jnp.zeros((), dtype)
    beta_z, beta_F, b_F = linear_priors(
        apogee_flux, lamost_ivar, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean, prior=prior
    )
    calibration = noise_sites(lamost_ivar.shape[-1], noise, dtype=apogee_flux.dtype)
    with numpyro.plate(HIDDEN, num_hidden, dim=-1):
        W_in = numpyro.sample("W_in", dist.Normal(zero, 1.0).expand([num_latent]).to_event(1))
        b_in = numpyro.sample("b_in", dist.Normal(zero, 1.0))
    with numpyro.plate(LAMOST_PIXEL, num_lamost_pixels, dim=-1):
        W_out = numpyro.sample(
            "W_out", dist.Normal(zero, mlp_scale).expand([num_hidden]).to_event(1)
        )
    with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-2) as idx:
        z = numpyro.deterministic("z", encode(beta_z, apogee_flux[idx]))
        mu = mlp_decoder(z, beta_F, b_F, W_in, b_in, W_out, activation=activation)
        flux = None if lamost_flux is None else lamost_flux[idx]
        lamost_likelihood(mu, lamost_ivar[idx], flux, **calibration)


def w_out_precision(
    params,
    apogee_flux,
    lamost_ivar,
    *,
    activation: str = "tanh",
    mlp_scale: float = 0.1,
    **options,
):
    """Exact diagonal of the negative log joint's Hessian in ``W_out``.

    The log joint is quadratic in ``W_out`` and separates over LAMOST pixels,
    so its diagonal is ``1 / mlp_scale^2 + ivar^T h^2`` with the hidden
    activations ``h = act(W_in z + b_in)``, ``z = beta_z F1`` (VI's starting
    scale of the site, which is too large to probe element by element).

    Parameters
    ----------
    params : dict
        ``beta_z`` (c, P1), ``W_in`` (H, c), ``b_in`` (H,) at least.
    apogee_flux : array, shape (n, P1)
    lamost_ivar : array, shape (n, P2)
    activation, mlp_scale
        The model's options.
    **options
        Its other options (unused).

    Returns
    -------
    dict
        ``{"W_out": array (P2, H)}``.
    """
    del options
    z = encode(params["beta_z"], apogee_flux)
    hidden = _activation(activation)(z @ params["W_in"].T + params["b_in"])
    return {"W_out": mlp_scale**-2 + lamost_ivar.T @ hidden**2}
