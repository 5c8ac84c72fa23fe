"""Normal equations, Cholesky solves and the propagated pixel variance."""

import jax.numpy as jnp
import numpy as np
import pytest
from denoise_fakes import decoder_arrays, spectra
from helpers import assert_allclose, default_float

from stereo_ppl.denoise import make_decoder
from stereo_ppl.denoise.linalg import (
    SPARSE_MIN_LATENT,
    SPARSE_PIXELS,
    normal_matrices,
    pixel_variance,
    removed_normal_matrices,
    solve_normal,
)

WL = np.geomspace(3700.0, 9100.0, 300)


@pytest.mark.core
@pytest.mark.parametrize("packed", [True, False])
def test_normal_matrices_and_variance_match_numpy(packed):
    beta_F, b_F = decoder_arrays(0, wavelength=WL, num_latent=4)
    decoder = make_decoder(beta_F, b_F, packed=packed)
    assert decoder.packed is packed
    weight = np.random.default_rng(1).uniform(0, 2, (5, WL.size))
    weight[:, ::7] = 0.0
    got = normal_matrices(decoder, jnp.asarray(weight, default_float()))
    beta = np.asarray(decoder.beta_F, np.float64)
    want = np.einsum("np,pj,pk->njk", weight, beta, beta)
    assert_allclose(got, want, rtol=1e-4 if default_float() == jnp.float32 else 1e-10)
    cov = np.linalg.inv(want + np.eye(4))
    var = pixel_variance(decoder, jnp.asarray(cov, default_float()))
    assert_allclose(var, np.einsum("pj,njk,pk->np", beta, cov, beta), rtol=1e-4, atol=1e-9)


@pytest.mark.core
@pytest.mark.parametrize("num_latent", [3, SPARSE_MIN_LATENT])
@pytest.mark.parametrize("num_removed", [5, SPARSE_PIXELS, SPARSE_PIXELS + 1])
def test_removed_pixels_gathered_or_dense_give_the_same_matrices(num_latent, num_removed):
    beta_F, b_F = decoder_arrays(0, wavelength=WL, num_latent=num_latent)
    decoder = make_decoder(beta_F, b_F)
    rng = np.random.default_rng(3)
    weight = np.zeros((4, WL.size))
    for row, count in zip(weight, (num_removed, 0, 1, 7), strict=True):
        row[rng.choice(WL.size, count, replace=False)] = rng.uniform(0.5, 2.0, count)
    weight = jnp.asarray(weight, default_float())
    want = normal_matrices(decoder, weight)
    assert_allclose(removed_normal_matrices(decoder, weight), want, atol=1e-7)


def test_solve_normal_matches_numpy_and_flags_singular():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 50, 4))
    normal = np.einsum("nij,nik->njk", x, x)
    normal[2] = np.outer(x[2, 0], x[2, 0])  # rank 1: singular
    rhs = rng.normal(size=(3, 4))
    z, cov, ok = solve_normal(jnp.asarray(normal, jnp.float32), jnp.asarray(rhs, jnp.float32))
    assert ok.tolist() == [True, True, False]
    assert_allclose(z[:2], np.linalg.solve(normal[:2], rhs[:2, :, None])[..., 0], rtol=1e-3)
    assert_allclose(cov[:2], np.linalg.inv(normal[:2]), rtol=1e-3, atol=1e-6)
    assert np.all(np.asarray(z[2]) == 0) and np.all(np.isfinite(np.asarray(cov)))


def test_prior_gives_the_map_of_the_gaussian_model():
    beta_F, b_F = decoder_arrays(3, wavelength=WL, num_latent=3)
    data = spectra(4, beta_F, b_F, num=2, snr=30.0)
    mean, cov = np.array([0.5, -0.2, 0.1]), np.diag([0.3, 2.0, 1.0])
    decoder = make_decoder(beta_F, b_F, prior_mean=mean, prior_covariance=cov)
    weight = jnp.asarray(data["ivar"], decoder.b_F.dtype)
    normal = normal_matrices(decoder, weight) + decoder.prior_precision
    rhs = (weight * (data["flux"] - b_F)) @ decoder.beta_F + decoder.prior_shift
    z, _, ok = solve_normal(normal, rhs)
    w = data["ivar"]
    prec = np.linalg.inv(cov)
    want = [
        np.linalg.solve(
            beta_F.T @ (w[i, :, None] * beta_F) + prec,
            beta_F.T @ (w[i] * (data["flux"][i] - b_F)) + prec @ mean,
        )
        for i in range(2)
    ]
    assert bool(np.all(ok))
    assert_allclose(z, np.array(want), rtol=2e-3, atol=1e-4)
