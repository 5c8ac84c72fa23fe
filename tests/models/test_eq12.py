"""Eq. 1–2's maths in one module, tied to the NumPyro model and the exact solver."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers

from stereo_ppl.inference.exact_setup import log_joint_and_grad
from stereo_ppl.models import eq12, rrr_model
from tests.factories import low_rank_arrays

pytestmark = pytest.mark.core


@pytest.fixture
def arrays():
    data = low_rank_arrays(0, num_stars=20, num_apogee=12, num_lamost=9)
    data["lamost_ivar"][0, :3] = 0.0
    data["lamost_flux"][0, :3] = np.nan  # masked pixels may hold anything
    rng = np.random.default_rng(1)
    params = {
        "beta_z": rng.normal(size=(2, 12)),
        "beta_F": 0.1 * rng.normal(size=(9, 2)),
        "b_F": 1.0 + 0.01 * rng.normal(size=9),
    }
    return data, params


def _model_site_log_prob(params, data, **noise):
    """The base model's ``lamost_flux`` log density, with the calibration sites set to ``noise``."""
    dtype = jnp.result_type(float)
    f1, ivar = (jnp.asarray(data[k], dtype) for k in ("apogee_flux", "lamost_ivar"))
    flux = jnp.asarray(np.where(data["lamost_ivar"] > 0, data["lamost_flux"], 0.0), dtype)
    point = {k: jnp.asarray(v, dtype) for k, v in {**params, **noise}.items()}
    model = handlers.seed(handlers.substitute(rrr_model, data=point), rng_seed=0)
    options = {"noise": "calibrated"} if noise else {}
    trace = handlers.trace(model).get_trace(f1, ivar, flux, num_latent=2, **options)
    site = trace["lamost_flux"]
    return np.asarray(site["fn"].log_prob(site["value"]).sum())


def test_likelihood_is_the_model_site(arrays):
    data, params = arrays
    ours = eq12.log_likelihood_per_star(
        params, data["apogee_flux"], data["lamost_flux"], data["lamost_ivar"]
    )
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours.sum(), _model_site_log_prob(params, data), rtol=1e-5)


def test_calibrated_likelihood_is_the_model_site(arrays):
    data, params = arrays
    noise = {"error_scale": 1.3, "scatter": np.linspace(0.001, 0.02, 9)}
    ours = eq12.log_likelihood_per_star(
        params, data["apogee_flux"], data["lamost_flux"], data["lamost_ivar"], **noise
    )
    plain = eq12.log_likelihood_per_star(
        params, data["apogee_flux"], data["lamost_flux"], data["lamost_ivar"]
    )
    assert not np.allclose(ours, plain)
    got = _model_site_log_prob(params, data, **noise)
    np.testing.assert_allclose(ours.sum(), got, rtol=1e-5)


def test_noise_precision():
    ivar = np.array([[0.0, 4.0, 100.0]])
    assert eq12.noise_precision(ivar) is not ivar
    np.testing.assert_array_equal(eq12.noise_precision(ivar), ivar)
    calibrated = eq12.noise_precision(ivar, error_scale=2.0, scatter=np.array([1.0, 0.5, 0.1]))
    np.testing.assert_allclose(calibrated, [[0.0, 1 / (4 / 4 + 0.25), 1 / (4 / 100 + 0.01)]])


def test_prior_is_the_model_prior(arrays):
    data, params = arrays
    f1 = jnp.asarray(data["apogee_flux"])
    ivar = jnp.asarray(data["lamost_ivar"])
    point = {k: jnp.asarray(v, f1.dtype) for k, v in params.items()}
    model = handlers.seed(handlers.substitute(rrr_model, data=point), rng_seed=0)
    trace = handlers.trace(model).get_trace(f1, ivar, num_latent=2, b_F_prior_mean=0.5)
    prior = sum(
        float(trace[k]["fn"].log_prob(trace[k]["value"]).sum()) for k in ("beta_z", "beta_F", "b_F")
    )
    np.testing.assert_allclose(eq12.log_prior(params, b_F_prior_mean=0.5), prior, rtol=1e-5)


def test_exact_gradient_is_the_gradient_of_eq12(arrays):
    data, params = arrays
    f1 = data["apogee_flux"]
    ivar = data["lamost_ivar"]
    f2 = np.where(ivar > 0, data["lamost_flux"], 0.0)
    value, grad_norm = log_joint_and_grad(params, f1, f2, ivar, 1.0)

    def log_joint(p):
        mean = eq12.predict_mean(p, jnp.asarray(f1))
        w = eq12.noise_precision(jnp.asarray(ivar))
        loglik = eq12.pixel_log_likelihood(jnp.asarray(f2), mean, w).sum()
        prior = sum(-0.5 * jnp.sum(p[k] ** 2) for k in ("beta_z", "beta_F"))
        return loglik + prior - 0.5 * jnp.sum((p["b_F"] - 1.0) ** 2)

    point = {k: jnp.asarray(v) for k, v in params.items()}
    grads = jax.grad(log_joint)(point)
    norm = np.sqrt(sum(float(jnp.sum(g**2)) for g in grads.values()))
    np.testing.assert_allclose(grad_norm, norm, rtol=1e-4)
    expected = eq12.log_likelihood_per_star(params, f1, f2, ivar).sum() + eq12.log_prior(
        params, b_F_prior_mean=1.0
    )
    np.testing.assert_allclose(value, expected, rtol=1e-10)


def test_latent_from_lamost_recovers_z(arrays):
    _, params = arrays
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, 2))
    flux = eq12.decode(params["beta_F"], params["b_F"], z)
    ivar = np.full(flux.shape, 1e4)
    ivar[0, :4] = 0.0
    flux[0, :4] = np.nan
    estimate = eq12.latent_from_lamost(params["beta_F"], params["b_F"], flux, ivar)
    assert estimate.ok.all()
    np.testing.assert_allclose(estimate.z, z, atol=1e-8)
    # covariance is the inverse normal matrix: smaller with more precise pixels
    tighter = eq12.latent_from_lamost(params["beta_F"], params["b_F"], flux, 4 * ivar)
    np.testing.assert_allclose(tighter.covariance, estimate.covariance / 4, rtol=1e-8)
    var = eq12.mean_variance(params["beta_F"], estimate.covariance)
    assert var.shape == flux.shape and (var > 0).all()


def test_latent_from_lamost_flags_undetermined_stars(arrays):
    _, params = arrays
    flux = np.ones((2, 9))
    ivar = np.zeros((2, 9))
    ivar[1] = 1.0
    estimate = eq12.latent_from_lamost(params["beta_F"], params["b_F"], flux, ivar)
    assert estimate.ok.tolist() == [False, True]
    assert np.isnan(estimate.z[0]).all() and np.isfinite(estimate.z[1]).all()


def test_fill_values_names_every_unfillable_pixel():
    flux = np.array([[1.0, np.nan, 3.0], [3.0, np.nan, np.nan]])
    good = np.isfinite(flux)
    with pytest.raises(ValueError, match="pixel 1") as info:
        eq12.fill_values(flux, good)
    assert info.value.args[1].tolist() == [1]
    np.testing.assert_allclose(eq12.fill_values(flux[:, [0, 2]], good[:, [0, 2]]), [2.0, 3.0])
