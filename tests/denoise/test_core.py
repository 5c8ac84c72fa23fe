"""Denoising maths: least squares, batches, bad spectra, robust flags."""

import jax.numpy as jnp
import numpy as np
import pytest
from denoise_fakes import decoder_arrays, spectra
from helpers import assert_allclose

from stereo_ppl.data import lamost_grid
from stereo_ppl.denoise import ArtefactThresholds, denoise, denoise_batch, make_decoder
from stereo_ppl.denoise.core import DenoiseResult, DenoiseSetup

WL = lamost_grid()


def _setup(num_latent=3, *, bad_columns=(), step=True, seed=0):
    beta_F, b_F = decoder_arrays(seed, wavelength=WL, num_latent=num_latent)
    decoder = make_decoder(beta_F, b_F)
    m = WL.size
    columns = np.zeros(m, bool)
    columns[list(bad_columns)] = True
    lo, hi = np.searchsorted(WL, (5600.0, 6100.0)) if step else (0, 0)
    setup = DenoiseSetup(
        decoder, jnp.zeros(m, decoder.b_F.dtype), jnp.asarray(columns), jnp.zeros(m, bool), (lo, hi)
    )
    return setup, beta_F, b_F


@pytest.mark.core
def test_plain_least_squares_recovers_z_and_is_batch_invariant():
    setup, beta_F, b_F = _setup()
    data = spectra(1, beta_F, b_F, num=7, snr=200.0)
    batch = denoise_batch(setup, data["flux"], data["ivar"], robust=False)
    w = data["ivar"]
    want = np.array(
        [
            np.linalg.solve(
                beta_F.T @ (w[i, :, None] * beta_F), beta_F.T @ (w[i] * (data["flux"][i] - b_F))
            )
            for i in range(7)
        ]
    )
    assert_allclose(batch.latent, want, rtol=2e-3, atol=2e-3)
    assert_allclose(batch.flux, np.asarray(batch.latent) @ beta_F.T + b_F, rtol=1e-5, atol=1e-5)
    # the calibrated residual: a = 1, s_p = 0, and the prediction's own variance
    total = 1.0 / w + np.asarray(batch.sigma) ** 2
    resid = (data["flux"] - np.asarray(batch.flux)) / np.sqrt(total)
    assert_allclose(batch.residual, resid, rtol=1e-3, atol=1e-3)
    # in blocks of 2 (padded) == in one block of 256, robust path included
    full = denoise(setup, data["flux"], data["ivar"], batch_size=7)
    single = denoise_batch(setup, data["flux"], data["ivar"], block_size=2)
    assert np.shape(single.flux) == np.shape(full.flux) == data["flux"].shape
    for name in ("latent", "flux", "sigma", "chi2_reduced"):
        assert_allclose(
            getattr(single, name), getattr(full, name), rtol=1e-4, atol=1e-5, err_msg=name
        )
    # the residual is in units of sigma: float32 rounding of flux * 200
    assert_allclose(single.residual, full.residual, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(single.artefact, full.artefact)
    np.testing.assert_array_equal(single.status, full.status)
    # blocks run side by side or one after another: the same numbers
    one = denoise_batch(setup, data["flux"], data["ivar"], block_size=2, workers=1)
    two = denoise_batch(setup, data["flux"], data["ivar"], block_size=2, workers=2)
    for name in DenoiseResult._fields:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)


def test_sigma_is_the_propagated_covariance_and_chi2_near_one():
    setup, beta_F, b_F = _setup()
    data = spectra(2, beta_F, b_F, num=30, snr=80.0)
    out = denoise(setup, data["flux"], data["ivar"])
    assert np.all(np.asarray(out.status) == 0)
    cov = np.asarray(out.latent_cov)
    want = np.sqrt(np.einsum("pj,njk,pk->np", beta_F, cov, beta_F))
    assert_allclose(out.sigma, want, rtol=1e-3, atol=1e-7)
    # z_hat scatters around the truth as its covariance says
    pull = (np.asarray(out.latent) - data["z"]) / np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    assert 0.6 < np.std(pull) < 1.4
    assert 0.85 < np.median(np.asarray(out.chi2_reduced)) < 1.15


def test_too_few_pixels_and_bad_values_give_a_status_not_nan():
    setup, beta_F, b_F = _setup(num_latent=3)
    data = spectra(3, beta_F, b_F, num=3)
    flux, ivar = data["flux"].copy(), data["ivar"].copy()
    ivar[0, 3:] = 0.0  # 3 usable pixels < c + 1
    ivar[1] = 0.0  # none
    flux[2, :100] = np.nan  # NaN flux: ignored
    ivar[2, 100:110] = np.inf  # inf ivar: ignored
    out = denoise(setup, flux, ivar)
    assert np.asarray(out.status).tolist() == [1, 1, 0]
    for name in ("latent", "flux", "residual", "chi2_reduced", "latent_cov"):
        assert not np.any(np.isnan(np.asarray(getattr(out, name)))), name
    assert np.all(np.isinf(np.asarray(out.sigma)[:2]))
    assert np.all(np.isfinite(np.asarray(out.sigma)[2]))


def test_cosmic_ray_is_flagged_and_does_not_drag_z():
    setup, beta_F, b_F = _setup()
    data = spectra(4, beta_F, b_F, num=4, snr=100.0)
    flux = data["flux"].copy()
    sigma = 1.0 / np.sqrt(data["ivar"])
    flux[0, 1000:1002] += 1e4 * sigma[0, 1000:1002]  # a huge cosmic ray
    flux[1, 3000] += 40 * sigma[1, 3000]
    plain = denoise(setup, flux, data["ivar"], robust=False)
    clean = denoise(setup, data["flux"], data["ivar"], robust=False)
    robust = denoise(setup, flux, data["ivar"])
    dz_plain = np.abs(np.asarray(plain.latent)[0] - np.asarray(clean.latent)[0]).max()
    dz_robust = np.abs(np.asarray(robust.latent)[0] - np.asarray(clean.latent)[0]).max()
    assert dz_robust < 0.05 * dz_plain
    art = np.asarray(robust.artefact)
    assert np.flatnonzero(art[0]).tolist() == [1000, 1001]
    assert art[0, 1000] == 1 and art[1, 3000] == 1
    assert np.count_nonzero(art[2:]) == 0


def test_step_is_flagged_at_the_join_only_and_bad_column_by_code():
    setup, beta_F, b_F = _setup(bad_columns=[2500])
    data = spectra(5, beta_F, b_F, num=3, snr=150.0)
    flux = data["flux"].copy()
    sigma = 1.0 / np.sqrt(data["ivar"])
    k = int(np.searchsorted(WL, 5850.0))
    flux[0, : k - 1] *= 0.94  # blue side scaled; a ramp and a splice glitch at the join
    flux[0, k - 1 : k + 2] *= 0.94 + 0.06 * np.array([0.25, 0.5, 0.75])
    flux[0, k - 1 : k + 2] += 8 * sigma[0, k - 1 : k + 2] * np.array([0.5, 1.0, 0.5])
    flux[1, 2500] -= 30 * sigma[1, 2500]  # cold bad column
    out = denoise(setup, flux, data["ivar"], thresholds=ArtefactThresholds())
    art = np.asarray(out.artefact)
    assert int(np.asarray(out.step_pixel)[0]) == k
    assert np.flatnonzero(art[0] == 2).tolist() == [k - 1, k, k + 1]
    assert np.count_nonzero(art[0]) == 3
    assert_allclose(
        np.asarray(out.step_scale)[0, 0] / np.asarray(out.step_scale)[0, 1], 0.94, rtol=0.01
    )
    assert art[1, 2500] == 3 and np.count_nonzero(art[1]) == 1
    assert np.asarray(out.step_pixel)[1:].tolist() == [-1, -1]


def test_join_with_a_glitch_but_hardly_a_jump_is_a_step_not_a_cosmic_ray():
    setup, beta_F, b_F = _setup()
    data = spectra(6, beta_F, b_F, num=2, snr=50.0)
    flux = data["flux"].copy()
    sigma = 1.0 / np.sqrt(data["ivar"])
    k = int(np.searchsorted(WL, 5850.0))
    # a 0.5 % step (a quarter of the noise per pixel) with a 12-sigma splice glitch
    flux[0, k + 2 :] *= 1.005
    flux[0, k - 1 : k + 2] *= 1.0 + 0.005 * np.array([0.25, 0.5, 0.75])
    flux[0, k - 1 : k + 2] += 12 * sigma[0, k - 1 : k + 2] * np.array([0.5, 1.0, 0.5])
    out = denoise(setup, flux, data["ivar"])
    art = np.asarray(out.artefact)
    assert int(np.asarray(out.step_pixel)[0]) == k
    assert np.flatnonzero(art[0]).tolist() == [k - 1, k, k + 1]
    assert np.all(art[0, k - 1 : k + 2] == 2)
    assert np.asarray(out.step_pixel)[1] == -1 and np.count_nonzero(art[1]) == 0
