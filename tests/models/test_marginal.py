import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_allclose, default_float
from numpyro.infer import Predictive
from numpyro.infer.util import log_density
from scipy.stats import multivariate_normal

from stereo_ppl.errors import FitConfigError
from stereo_ppl.models import rrr_model
from stereo_ppl.models.errors_in_f1 import apogee_error_inputs, errors_in_f1_model
from stereo_ppl.models.latent_z import latent_z_model, z_conditional, z_local_start
from stereo_ppl.models.marginal import LatentNormal

pytestmark = pytest.mark.core


def _problem(seed=0, n=6, p1=9, p2=8, c=3):
    rng = np.random.default_rng(seed)
    dtype = default_float()
    f1 = 1 + 0.1 * rng.normal(size=(n, p1))
    ivar = rng.uniform(50, 200, size=(n, p2))
    ivar[0, 2] = ivar[-1, -1] = 0.0  # masked pixels
    f2 = 1 + 0.1 * rng.normal(size=(n, p2))
    params = {
        "beta_z": rng.normal(size=(c, p1)) * 0.3,
        "beta_F": rng.normal(size=(p2, c)) * 0.3,
        "b_F": 1 + rng.normal(size=p2) * 0.1,
    }
    as_jax = lambda tree: {k: jnp.asarray(v, dtype) for k, v in tree.items()}  # noqa: E731
    arrays = as_jax({"f1": f1, "ivar": ivar, "f2": f2})
    return arrays, as_jax(params), rng


def _dense_logpdf(flux, loc, basis, cov, ivar):
    """Dense float64 reference: the unmasked pixels' multivariate normal."""
    out = []
    for i in range(flux.shape[0]):
        good = ivar[i] > 0
        sigma = basis @ cov[i] @ basis.T + np.diag(1 / np.where(ivar[i] > 0, ivar[i], 1.0))
        sigma = sigma[np.ix_(good, good)]
        out.append(multivariate_normal(loc[i, good], sigma).logpdf(flux[i, good]))
    return np.array(out)


def test_latent_normal_matches_dense_gaussian_and_ignores_masked_values():
    arrays, params, rng = _problem()
    n, c = arrays["f1"].shape[0], params["beta_F"].shape[1]
    root = rng.normal(size=(n, c, c)) * 0.05
    cov = jnp.asarray(root @ np.swapaxes(root, 1, 2), arrays["f2"].dtype)
    loc = arrays["f1"] @ params["beta_z"].T @ params["beta_F"].T + params["b_F"]
    d = LatentNormal(loc, params["beta_F"], cov, arrays["ivar"])
    assert d.batch_shape == (n,) and d.event_shape == (arrays["f2"].shape[1],)
    f64 = [np.asarray(a, np.float64) for a in (arrays["f2"], loc, params["beta_F"], cov)]
    want = _dense_logpdf(*f64, np.asarray(arrays["ivar"], np.float64))
    assert_allclose(d.log_prob(arrays["f2"]), want, rtol=1e-4 if loc.dtype == jnp.float32 else 1e-9)
    garbage = arrays["f2"].at[0, 2].set(1e6).at[-1, -1].set(-7.0)
    assert_allclose(d.log_prob(garbage), d.log_prob(arrays["f2"]))


def test_latent_normal_with_zero_covariance_is_the_base_likelihood():
    arrays, params, _ = _problem()
    c = params["beta_F"].shape[1]
    loc = arrays["f1"] @ params["beta_z"].T @ params["beta_F"].T + params["b_F"]
    zero = jnp.zeros((c, c), loc.dtype)
    got = LatentNormal(loc, params["beta_F"], zero, arrays["ivar"]).log_prob(arrays["f2"])
    good = arrays["ivar"] > 0
    sd = 1 / jnp.sqrt(jnp.where(good, arrays["ivar"], 1.0))
    per_pixel = jax.scipy.stats.norm.logpdf(arrays["f2"], loc, sd)
    assert_allclose(got, jnp.sum(jnp.where(good, per_pixel, 0.0), -1), rtol=1e-5)


def test_latent_normal_samples_have_the_stated_moments():
    arrays, params, _ = _problem(n=2, p2=4, c=2)
    cov = jnp.asarray([[0.04, 0.01], [0.01, 0.02]], arrays["f2"].dtype)
    loc, ivar = arrays["f2"][0], arrays["ivar"][0].at[1].set(0.0)
    d = LatentNormal(loc, params["beta_F"], cov, ivar)
    draws = np.asarray(d.sample(jax.random.key(1), (40_000,)), np.float64)
    assert draws.shape == (40_000, 4)
    basis = np.asarray(params["beta_F"], np.float64)
    want = basis @ np.asarray(cov, np.float64) @ basis.T
    want += np.diag(np.where(ivar > 0, 1 / np.where(ivar > 0, ivar, 1.0), 0.0))
    np.testing.assert_allclose(np.cov(draws.T), want, atol=4e-3)


def _base_log_joint(arrays, params):
    args = (arrays["f1"], arrays["ivar"], arrays["f2"])
    return log_density(rrr_model, args, {"num_latent": 3}, params)[0]


def test_latent_z_reduces_to_base_as_sigma_z_vanishes():
    arrays, params, _ = _problem()
    args = (arrays["f1"], arrays["ivar"], arrays["f2"])
    base = _base_log_joint(arrays, params)
    for marginal in (True, False):
        kwargs = {"num_latent": 3, "sigma_z": 1e-4, "marginal": marginal}
        values = dict(params)
        if not marginal:  # the latent z at its prior mean: log N(0; 0, 1e-4) per component
            values["z"] = arrays["f1"] @ params["beta_z"].T
        got = log_density(latent_z_model, args, kwargs, values)[0]
        if not marginal:
            got = got - values["z"].size * (-np.log(1e-4) - 0.5 * np.log(2 * np.pi))
        assert_allclose(got, base, rtol=1e-5)


def test_per_star_latent_z_integrates_to_the_marginal_and_its_conditional_is_exact():
    arrays, params, rng = _problem(1, n=4, p2=6, c=2)
    args = (arrays["f1"], arrays["ivar"], arrays["f2"])
    params = {
        k: v[:2] if k == "beta_z" else v[:, :2] if k == "beta_F" else v for k, v in params.items()
    }
    params = {**params, "sigma_z": jnp.asarray(0.3, arrays["f1"].dtype)}
    kwargs = {"num_latent": 2}
    marginal = log_density(latent_z_model, args, kwargs, params)[0]
    # p(F2, z) / p(z | F2) = p(F2) at any z: the per-star joint over the exact conditional
    mean, precision = z_conditional(params, *args, sigma_z=params["sigma_z"])
    z = mean + jnp.asarray(rng.normal(size=mean.shape) * 0.1, mean.dtype)
    joint = log_density(latent_z_model, args, {**kwargs, "marginal": False}, {**params, "z": z})[0]
    cov = jnp.linalg.inv(precision)
    conditional = jax.scipy.stats.multivariate_normal.logpdf(z, mean, cov).sum()
    assert_allclose(joint - conditional, marginal, rtol=1e-4)
    # the local guide's start: the decentered site's mean maps back to the conditional mean
    local, learned = z_local_start(params, *args)
    loc, scale = local["z_decentered"]
    c = learned["z_centered"]
    prior_mean = arrays["f1"] @ params["beta_z"].T
    var = 1 / jnp.diagonal(precision, axis1=-2, axis2=-1)
    assert_allclose(c, 1 - jnp.mean(var) / 0.09, rtol=1e-5)
    back = prior_mean + 0.3 ** (1 - c) * (loc - c * prior_mean)
    assert_allclose(back, mean, rtol=1e-4, atol=1e-5)
    assert_allclose(scale * 0.3 ** (1 - c), jnp.sqrt(var), rtol=1e-4)


def test_latent_z_prior_predictive_shapes_and_scatter():
    arrays, _, _ = _problem()
    draws = Predictive(latent_z_model, num_samples=3)(
        jax.random.key(0), arrays["f1"], arrays["ivar"], num_latent=3
    )
    assert draws["lamost_flux"].shape == (3, *arrays["f2"].shape)
    assert draws["sigma_z"].shape == (3,)
    local = Predictive(latent_z_model, num_samples=3)(
        jax.random.key(0), arrays["f1"], arrays["ivar"], num_latent=3, marginal=False
    )
    assert local["z"].shape == (3, arrays["f1"].shape[0], 3)


def test_errors_in_f1_is_base_without_errors_and_dense_gaussian_with_them():
    arrays, params, rng = _problem()
    args = (arrays["f1"], arrays["ivar"], arrays["f2"])
    zero = jnp.zeros_like(arrays["f1"])
    kwargs = {"num_latent": 3}
    got = log_density(errors_in_f1_model, args, {**kwargs, "apogee_var": zero}, params)[0]
    assert_allclose(got, _base_log_joint(arrays, params), rtol=1e-5)

    var = jnp.asarray(rng.uniform(0, 0.01, size=arrays["f1"].shape), arrays["f1"].dtype)
    with_errors = log_density(errors_in_f1_model, args, {**kwargs, "apogee_var": var}, params)[0]
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    f1, v64 = np.asarray(arrays["f1"], np.float64), np.asarray(var, np.float64)
    cov = np.einsum("kp,np,jp->nkj", p64["beta_z"], v64, p64["beta_z"])
    loc = f1 @ p64["beta_z"].T @ p64["beta_F"].T + p64["b_F"]
    lik = _dense_logpdf(
        np.asarray(arrays["f2"], np.float64), loc, p64["beta_F"], cov, np.asarray(arrays["ivar"])
    ).sum()
    prior = _base_log_joint(arrays, params) - _base_lik(arrays, params)
    assert_allclose(with_errors, prior + lik, rtol=1e-5)


def _base_lik(arrays, params):
    loc = arrays["f1"] @ params["beta_z"].T @ params["beta_F"].T + params["b_F"]
    zero = jnp.zeros((3, 3), loc.dtype)
    return jnp.sum(LatentNormal(loc, params["beta_F"], zero, arrays["ivar"]).log_prob(arrays["f2"]))


def test_apogee_error_inputs_fill_bad_pixels_from_training_stars():
    flux = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 6.0]])
    ivar = np.array([[4.0, 1.0], [4.0, 0.0], [4.0, 1.0]])
    filled, var = apogee_error_inputs(flux, ivar, np.array([0, 2]))
    assert filled[1, 1] == 4.0 and var[1, 1] == 8.0  # mean and variance of 2 and 6
    assert np.all(var[:, 0] == 0.25) and np.isfinite(filled).all()
    with pytest.raises(ValueError, match="pixel 1"):
        apogee_error_inputs(flux, ivar, np.array([1]))


def test_per_star_latent_z_needs_a_positive_sigma_z():
    arrays, _, _ = _problem()
    with pytest.raises(FitConfigError, match="needs sigma_z > 0; got 0"):
        Predictive(latent_z_model, num_samples=1)(
            jax.random.key(0), arrays["f1"], arrays["ivar"], num_latent=3, sigma_z=0, marginal=False
        )
