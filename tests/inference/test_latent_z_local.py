"""latent-z per star (``marginal=false``): VI with a local guide recovers its own truth.

Data are drawn from the latent-z model itself with a known ``sigma_z``:
``z_i = beta_z F1_i + sigma_z eps_i`` with ``beta_z F1`` whitened (unit
covariance over the stars), so the truth's ``z`` spread is 1 in every
direction. The likelihood is unchanged by ``z -> a R z`` (with ``sigma_z ->
a sigma_z``, R a rotation), so ``sigma_z`` is identified relative to the spread
of ``beta_z F1``: the test recovers ``sigma_z / sqrt(eig Cov(beta_z F1))``
(truth ``SIGMA_Z``), and compares per-star ``z`` after an affine alignment.
"""

import jax
import numpy as np
import pytest
from factories import small_paired

from stereo_ppl.data import make_paired
from stereo_ppl.inference import fit_map, fit_vi, model_data, solve_exact
from stereo_ppl.models import get_model

SIGMA_Z = 0.3
NOISE = 0.01
NUM_TRAIN = 240


def _latent_z_paired(seed=0, num_stars=300, num_apogee=10, num_lamost=20, c=2):
    """A paired dataset drawn from latent-z, with the true z and beta_z F1."""
    rng = np.random.default_rng(seed)
    f1 = 1.0 + 0.1 * rng.normal(size=(num_stars, num_apogee))
    beta_z = rng.normal(size=(c, num_apogee))
    centred = f1 @ beta_z.T - (f1 @ beta_z.T).mean(0)
    beta_z = np.linalg.inv(np.linalg.cholesky(np.cov(centred.T))) @ beta_z  # whitened
    mean = f1 @ beta_z.T
    z = mean + SIGMA_Z * rng.normal(size=mean.shape)
    beta_F = 0.05 * rng.normal(size=(num_lamost, c))
    truth = z @ beta_F.T + 1.0 - beta_F @ mean.mean(0)
    paired = make_paired(
        apogee_flux=f1,
        lamost_flux=truth + NOISE * rng.normal(size=truth.shape),
        lamost_ivar=np.full(truth.shape, NOISE**-2),
        apogee_wavelength=np.geomspace(15100.0, 17000.0, num_apogee),
        lamost_wavelength=np.geomspace(3700.0, 9100.0, num_lamost),
        apogee_id=[f"2M{i:08d}+0000000" for i in range(num_stars)],
        obsid=100_000_000 + np.arange(num_stars),
    )
    return paired, z


@pytest.fixture(scope="module")
def local_fits():
    """MAP of the marginal model, then per-star VI full batch and in minibatches of 60."""
    paired, z = _latent_z_paired()
    data = model_data(paired)
    train, held = data.take(np.arange(NUM_TRAIN)), data.take(np.arange(NUM_TRAIN, 300))
    variant = get_model("latent-z").configured({"marginal": False})
    start = fit_map(
        jax.random.key(0),
        train,
        held,
        num_latent=2,
        model=variant,
        init="exact",
        num_steps=4000,
        learning_rate=1e-2,
        patience=None,
        eval_every=1000,
    ).params
    options = {"num_latent": 2, "init_params": start, "model": variant, "num_samples": 200}
    full = fit_vi(jax.random.key(1), train, num_steps=600, **options)
    mini = fit_vi(jax.random.key(1), train, num_steps=600, batch_size=60, **options)
    marginal = fit_vi(jax.random.key(1), train, num_steps=600, **{**options, "model": "latent-z"})
    return train, z[:NUM_TRAIN], full, mini, marginal


def _relative_sigma(train, result):
    """sigma_z over the sd of beta_z F1 along each principal direction (truth: SIGMA_Z)."""
    prior_mean = np.einsum("np,scp->snc", np.asarray(train.apogee_flux), result.samples["beta_z"])
    eig = np.linalg.eigvalsh(np.cov(prior_mean.mean(0).T))
    return result.samples["sigma_z"].mean() / np.sqrt(eig)


def _aligned_z(draws, z_true):
    """Per-star z draws mapped to the truth's frame by the affine fit of their means."""
    means = draws.mean(0)
    design = np.c_[means, np.ones(len(means))]
    coef = np.linalg.lstsq(design, z_true, rcond=None)[0]
    return draws @ coef[:-1] + coef[-1]


def test_per_star_vi_recovers_sigma_z_and_covers_each_stars_z(local_fits):
    train, z_true, full, *_ = local_fits
    assert full.local["z"].shape == (200, NUM_TRAIN, 2)
    assert full.local["z_decentered"].shape == (200, NUM_TRAIN, 2)
    # the spectra pin each z far inside its prior: the guide works on the centred z
    assert full.learned["z_centered"] > 0.9, full.learned
    # measured: 0.317, 0.271 (truth 0.3; MAP-type estimates lose ~P1 / n = 4 % to beta_z)
    np.testing.assert_allclose(_relative_sigma(train, full), SIGMA_Z, rtol=0.15)
    aligned = _aligned_z(full.local["z"], z_true)
    low, high = np.quantile(aligned, [0.05, 0.95], axis=0)
    coverage = np.mean((z_true >= low) & (z_true <= high))
    assert 0.82 < coverage < 0.97, coverage  # measured 0.896 for the nominal 0.90
    # z is known far better than sigma_z: the survey-2 spectrum pins each star's offset
    rmse = np.sqrt(np.mean((aligned.mean(0) - z_true) ** 2))
    assert rmse < 0.2 * SIGMA_Z, rmse  # measured 0.041
    assert full.trace.elbo[-1] > full.trace.elbo[0]


def test_minibatches_agree_with_the_full_batch(local_fits):
    _, _, full, mini, _ = local_fits
    np.testing.assert_allclose(
        mini.samples["sigma_z"].mean(), full.samples["sigma_z"].mean(), rtol=0.03
    )
    # per-star z: the posterior means differ by well under their posterior sd (measured:
    # median 0.09 sd, at most 0.39 sd; widths 6 % apart in the median, at most 40 %)
    sd = full.local["z"].std(0)
    gap = np.abs(mini.local["z"].mean(0) - full.local["z"].mean(0)) / sd
    assert np.median(gap) < 0.3 and np.max(gap) < 1.5, (np.median(gap), np.max(gap))
    ratio = mini.local["z"].std(0) / sd
    assert np.median(np.abs(ratio - 1)) < 0.1 and np.max(np.abs(ratio - 1)) < 0.5, ratio
    assert abs(mini.trace.elbo[-1] - full.trace.elbo[-1]) < 0.01 * abs(full.trace.elbo[-1])


def test_per_star_vi_finds_the_global_posterior_of_vi_on_the_exact_marginal(local_fits):
    _, _, full, _, marginal = local_fits
    # measured: sigma_z mean 0.0470 and 0.0471, sd 0.00145 and 0.00139; beta_z widths
    # 0.0029 and 0.0031; ELBO 13743 and 13749 (a fixed centring of 0 gave widths
    # 5-7 times too narrow and an ELBO 45 lower)
    for name, value in full.samples.items():
        ratio = np.median(value.std(0) / marginal.samples[name].std(0))
        assert abs(ratio - 1) < 0.25, (name, ratio)
        gap = np.abs(value.mean(0) - marginal.samples[name].mean(0)) / value.std(0)
        assert np.median(gap) < 0.5, (name, np.median(gap))
    # both bound log p(F2); the per-star one is looser by the local guide's KL
    assert full.trace.elbo[-1] < marginal.trace.elbo[-1] + 5.0
    assert full.trace.elbo[-1] > marginal.trace.elbo[-1] - 20.0


def test_per_star_vi_is_the_base_models_vi_as_sigma_z_vanishes():
    paired = small_paired(0, num_stars=80, num_apogee=15, num_lamost=10, noise=0.02)
    train = model_data(paired).take(np.arange(60))
    params = solve_exact(
        jax.random.key(0), train.apogee_flux, train.lamost_flux, train.lamost_ivar, num_latent=2
    ).params
    options = {"num_latent": 2, "init_params": params, "num_steps": 200, "num_samples": 200}
    base = fit_vi(jax.random.key(1), train, **options)
    variant = get_model("latent-z").configured({"marginal": False, "sigma_z": 1e-3})
    local = fit_vi(jax.random.key(1), train, model=variant, **options)
    assert set(local.samples) == {"beta_z", "beta_F", "b_F"}  # sigma_z fixed
    # tolerance: guide means within 0.02 posterior sd of the base fit's (measured
    # <= 0.001), draws' widths within 5 % (measured 1-2 %)
    for name in ("beta_z", "beta_F", "b_F"):
        sd = base.samples[name].std(0)
        gap = np.abs(local.mean[name] - base.mean[name]) / sd
        assert np.median(gap) < 0.02, (name, np.median(gap))
        ratio = np.median(local.samples[name].std(0) / sd)
        assert abs(ratio - 1) < 0.05, (name, ratio)
    # the per-star offsets no longer matter: non-centred, at their prior; z at beta_z F1
    assert local.learned["z_centered"] < 0.05, local.learned
    offset = local.local["z_decentered"]
    assert abs(offset.std() - 1) < 0.05 and abs(offset.mean()) < 0.1
    z = np.einsum("np,scp->snc", np.asarray(train.apogee_flux), local.samples["beta_z"])
    np.testing.assert_allclose(local.local["z"], z, atol=5e-3)
