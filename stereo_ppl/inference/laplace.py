"""The decoder's exact Gaussian posterior given ``beta_z`` (``method="laplace"``).

Given ``z`` (that is, given ``beta_z``) the log joint of eq. 2 is quadratic in
``(beta_F[p], b_F[p])`` and separates over LAMOST pixels, so their conditional
posterior is exactly Gaussian, pixel by pixel::

    precision_p = X^T diag(ivar[:, p]) X + I           X = [z, 1]  (n, c + 1)
    mean_p = precision_p^-1 (X^T (ivar[:, p] F2[:, p]) + m)   m = (0, ..., 0, b_F_prior_mean)

A Laplace approximation of the decoder block is therefore exact; the method
holds ``beta_z`` at its MAP (it does not propagate uncertainty in ``z``).
Pixels are processed in chunks so memory stays at ``chunk_size * (c + 1)^2``
numbers, whatever ``c``.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..models import eq12

__all__ = ["decoder_precision_diag", "sample_decoder"]


@partial(jax.jit, static_argnames=("num_samples",))
def _chunk_draws(key, x, flux, ivar, prior_mean, *, num_samples):
    """Draws for one chunk of pixels: x (n, k), flux and ivar (n, m) -> (S, m, k), mean (m, k)."""
    weighted = ivar.T[:, :, None] * x[None]  # (m, n, k)
    precision = jnp.einsum("mna,nb->mab", weighted, x) + jnp.eye(x.shape[1], dtype=x.dtype)
    rhs = jnp.einsum("mna,nm->ma", weighted, flux) + prior_mean
    chol = jnp.linalg.cholesky(precision)
    mean = jax.scipy.linalg.cho_solve((chol, True), rhs[..., None])[..., 0]
    noise = jax.random.normal(key, (*mean.shape, num_samples), x.dtype)  # (m, k, S)
    # theta = mean + L^-T eps has covariance (L L^T)^-1 = precision^-1.
    offsets = jax.scipy.linalg.solve_triangular(chol, noise, lower=True, trans="T")
    return mean[None] + jnp.moveaxis(offsets, -1, 0), mean


def sample_decoder(
    rng_key,
    z,
    lamost_flux,
    lamost_ivar,
    *,
    num_samples: int,
    b_F_prior_mean: float,
    chunk_size: int = 128,
):
    """Draw ``(beta_F, b_F)`` from their exact conditional posterior given ``z``.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key.
    z : array, shape (n, c)
        Latent vectors of the training stars, ``F1 @ beta_z.T``.
    lamost_flux, lamost_ivar : array, shape (n, P2)
        Survey-2 flux (ignored where ``ivar == 0``) and inverse variance.
    num_samples : int
        Number of draws.
    b_F_prior_mean : float
        Prior mean of ``b_F``.
    chunk_size : int
        LAMOST pixels per batched solve.

    Returns
    -------
    beta_F : ndarray, shape (num_samples, P2, c)
    b_F : ndarray, shape (num_samples, P2)
    mean : dict
        The posterior mean ``beta_F`` (P2, c) and ``b_F`` (P2,) (the
        conditional MAP).
    """
    z = jnp.asarray(z)
    dtype = z.dtype
    x = jnp.concatenate([z, jnp.ones((z.shape[0], 1), dtype)], axis=1)
    ivar = jnp.asarray(lamost_ivar, dtype)
    flux = jnp.where(ivar > 0, jnp.asarray(lamost_flux, dtype), 0.0)
    prior_mean = jnp.zeros(x.shape[1], dtype).at[-1].set(b_F_prior_mean)
    num_pixels = flux.shape[1]
    starts = range(0, num_pixels, chunk_size)
    keys = jax.random.split(rng_key, len(starts))
    draws, means = [], []
    for key, start in zip(keys, starts, strict=True):
        stop = min(start + chunk_size, num_pixels)
        d, m = _chunk_draws(
            key, x, flux[:, start:stop], ivar[:, start:stop], prior_mean, num_samples=num_samples
        )
        draws.append(np.asarray(d))
        means.append(np.asarray(m))
    draws = np.concatenate(draws, axis=1)
    mean = np.concatenate(means, axis=0)
    return draws[..., :-1], draws[..., -1], {"beta_F": mean[:, :-1], "b_F": mean[:, -1]}


def decoder_precision_diag(params, apogee_flux, lamost_ivar):
    """Diagonal of the Hessian of the negative log joint, per parameter site.

    Each site's block is exactly quadratic given the others, so these are
    exact diagonal entries (the optimal mean-field precisions of a Gaussian
    posterior), used to start VI's scales.

    Parameters
    ----------
    params : dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,).
    apogee_flux : array, shape (n, P1)
    lamost_ivar : array, shape (n, P2)

    Returns
    -------
    dict
        Arrays of the shapes of ``params``.
    """
    z = eq12.encode(params["beta_z"], apogee_flux)
    # the calibrated model's noise precision and prior scale, where the params have them
    w = eq12.noise_precision(lamost_ivar, **eq12.noise_params(params))
    prior = params.get("prior_scale", 1.0) ** -2
    return {
        "beta_z": prior + (w @ params["beta_F"] ** 2).T @ apogee_flux**2,
        "beta_F": prior + w.T @ z**2,
        "b_F": 1.0 + w.sum(0),
    }
