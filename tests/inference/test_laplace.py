"""The decoder's exact conditional posterior and the diagonal Hessian."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from factories import low_rank_arrays
from helpers import assert_allclose, default_float
from numpyro.infer.util import log_density

from stereo_ppl.inference.laplace import decoder_precision_diag, sample_decoder
from stereo_ppl.models import rrr_model


def _arrays(seed=0, n=50):
    a = low_rank_arrays(seed, num_stars=n, num_apogee=12, num_lamost=7, rank=2, noise=0.05)
    rng = np.random.default_rng(seed)
    ivar = a["lamost_ivar"] * rng.uniform(0.2, 2.0, a["lamost_ivar"].shape)
    ivar[rng.uniform(size=ivar.shape) < 0.1] = 0.0
    dtype = default_float()
    z = (a["apogee_flux"] @ rng.normal(size=(12, 2)) / 4).astype(dtype)
    return z, a["lamost_flux"].astype(dtype), ivar.astype(dtype)


@pytest.mark.core
def test_mean_is_the_weighted_ridge_solution():
    z, flux, ivar = _arrays()
    _, _, mean = sample_decoder(
        jax.random.key(0), z, flux, ivar, num_samples=2, b_F_prior_mean=1.0, chunk_size=3
    )
    x = np.hstack([z, np.ones((z.shape[0], 1))]).astype(np.float64)
    tol = {"rtol": 1e-3, "atol": 1e-4} if z.dtype == np.float32 else {"rtol": 1e-9}
    for p in range(flux.shape[1]):
        w = ivar[:, p].astype(np.float64)
        precision = x.T @ (w[:, None] * x) + np.eye(3)
        rhs = x.T @ (w * np.where(w > 0, flux[:, p], 0.0)) + np.array([0.0, 0.0, 1.0])
        theta = np.linalg.solve(precision, rhs)
        assert_allclose(mean["beta_F"][p], theta[:2], **tol)
        assert_allclose(mean["b_F"][p], theta[2], **tol)


def test_draws_have_the_posterior_covariance():
    z, flux, ivar = _arrays(1)
    beta_F, b_F, _ = sample_decoder(
        jax.random.key(1), z, flux, ivar, num_samples=20_000, b_F_prior_mean=1.0
    )
    x = np.hstack([z, np.ones((z.shape[0], 1))]).astype(np.float64)
    p = 4
    cov = np.linalg.inv(x.T @ (ivar[:, p, None] * x) + np.eye(3))
    draws = np.column_stack([beta_F[:, p], b_F[:, p]]).astype(np.float64)
    # 20,000 draws: sample covariance within ~5% of each sd's scale.
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(
        np.cov(draws.T) / np.outer(sd, sd), cov / np.outer(sd, sd), atol=0.05
    )


def test_diagonal_hessian_matches_autodiff():
    rng = np.random.default_rng(2)
    n, p1, p2, c = 9, 5, 4, 2
    dtype = default_float()
    f1 = jnp.asarray(1 + 0.1 * rng.normal(size=(n, p1)), dtype)
    ivar = jnp.asarray(rng.uniform(0, 3, (n, p2)), dtype)
    f2 = jnp.asarray(1 + 0.1 * rng.normal(size=(n, p2)), dtype)
    params = {
        "beta_z": jnp.asarray(rng.normal(size=(c, p1)), dtype),
        "beta_F": jnp.asarray(rng.normal(size=(p2, c)), dtype),
        "b_F": jnp.asarray(rng.normal(size=p2), dtype),
    }

    def neg(p):
        return -log_density(rrr_model, (f1, ivar, f2), {"num_latent": c}, p)[0]

    hessian = jax.hessian(neg)(params)
    diag = decoder_precision_diag(params, f1, ivar)
    for name, value in params.items():
        block = np.asarray(hessian[name][name]).reshape(value.size, value.size)
        assert_allclose(np.asarray(diag[name]).ravel(), np.diag(block), rtol=1e-4)
