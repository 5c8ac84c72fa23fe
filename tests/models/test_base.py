import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_allclose, default_float
from numpyro import handlers
from numpyro.infer import Predictive
from numpyro.infer.util import log_density

from stereo_ppl.dims import LAMOST_PIXEL, LATENT, STAR
from stereo_ppl.models import PARAM_SITES, rrr_model

pytestmark = pytest.mark.core


def _arrays(seed=0, n=7, p1=11, p2=5):
    rng = np.random.default_rng(seed)
    dtype = default_float()
    f1 = jnp.asarray(1 + 0.1 * rng.normal(size=(n, p1)), dtype)
    ivar = jnp.asarray(rng.uniform(50, 200, size=(n, p2)), dtype)
    f2 = jnp.asarray(1 + 0.1 * rng.normal(size=(n, p2)), dtype)
    return f1, ivar, f2


def _params(seed, c, p1, p2):
    rng = np.random.default_rng(seed)
    dtype = default_float()
    return {
        "beta_z": jnp.asarray(rng.normal(size=(c, p1)) * 0.3, dtype),
        "beta_F": jnp.asarray(rng.normal(size=(p2, c)) * 0.3, dtype),
        "b_F": jnp.asarray(1 + rng.normal(size=p2) * 0.1, dtype),
    }


def _normal_logpdf(x, mean, sd):
    return -0.5 * ((x - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


def numpy_log_joint(params, f1, ivar, f2, *, b_F_prior_mean):
    """Eq. 1–2 written out by hand in NumPy float64."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    f1, ivar, f2 = (np.asarray(a, np.float64) for a in (f1, ivar, f2))
    prior = (
        _normal_logpdf(p["beta_z"], 0, 1).sum()
        + _normal_logpdf(p["beta_F"], 0, 1).sum()
        + _normal_logpdf(p["b_F"], b_F_prior_mean, 1).sum()
    )
    mu = (f1 @ p["beta_z"].T) @ p["beta_F"].T + p["b_F"]
    good = ivar > 0
    lik = _normal_logpdf(f2[good], mu[good], 1 / np.sqrt(ivar[good])).sum()
    return prior + lik


def test_prior_predictive_shapes_and_plates():
    f1, ivar, _ = _arrays()
    draws = Predictive(rrr_model, num_samples=4)(jax.random.key(0), f1, ivar, num_latent=3)
    assert draws["beta_z"].shape == (4, 3, 11)
    assert draws["beta_F"].shape == (4, 5, 3)
    assert draws["b_F"].shape == (4, 5)
    assert draws["z"].shape == (4, 7, 3)
    assert draws["lamost_flux"].shape == (4, 7, 5)
    assert draws["lamost_flux"].dtype == default_float()
    trace = handlers.trace(handlers.seed(rrr_model, 0)).get_trace(f1, ivar, num_latent=3)
    plates = {
        name: [f.name for f in site["cond_indep_stack"]]
        for name, site in trace.items()
        if site["type"] == "sample"
    }
    assert plates["lamost_flux"] == [LAMOST_PIXEL, STAR]
    assert plates["beta_z"] == [LATENT]
    assert plates["b_F"] == [LAMOST_PIXEL]
    assert set(PARAM_SITES) < set(plates)


@pytest.mark.parametrize("b_F_prior_mean", [0.0, 1.0])
def test_log_density_matches_numpy(b_F_prior_mean):
    f1, ivar, f2 = _arrays()
    ivar = ivar.at[2, 1].set(0.0)
    params = _params(1, 3, f1.shape[1], f2.shape[1])
    kwargs = {"num_latent": 3, "b_F_prior_mean": b_F_prior_mean}
    got = log_density(rrr_model, (f1, ivar, f2), kwargs, params)[0]
    want = numpy_log_joint(params, f1, ivar, f2, b_F_prior_mean=b_F_prior_mean)
    assert_allclose(got, want, rtol=1e-5 if got.dtype == jnp.float32 else 1e-10)


def test_masked_pixels_do_not_change_log_density():
    f1, ivar, f2 = _arrays()
    ivar = ivar.at[0, :2].set(0.0).at[4, 3].set(0.0)
    params = _params(2, 2, f1.shape[1], f2.shape[1])
    kwargs = {"num_latent": 2}
    base = log_density(rrr_model, (f1, ivar, f2), kwargs, params)[0]
    changed = f2.at[0, :2].set(1e6).at[4, 3].set(jnp.nan)
    again = log_density(rrr_model, (f1, ivar, changed), kwargs, params)[0]
    assert np.isfinite(again)
    assert_allclose(again, base)
    grad = jax.grad(lambda p: log_density(rrr_model, (f1, ivar, changed), kwargs, p)[0])(params)
    assert all(np.all(np.isfinite(g)) for g in grad.values())


def test_subsample_rescales_likelihood():
    f1, ivar, f2 = _arrays(n=8)
    params = _params(3, 2, f1.shape[1], f2.shape[1])
    full = log_density(rrr_model, (f1, ivar, f2), {"num_latent": 2}, params)[0]
    kwargs = {"num_latent": 2, "subsample_size": 8}
    same = log_density(rrr_model, (f1, ivar, f2), kwargs, params)[0]
    assert_allclose(same, full)
    seeded = handlers.seed(rrr_model, 0)
    half = log_density(seeded, (f1, ivar, f2), {"num_latent": 2, "subsample_size": 4}, params)[0]
    assert np.isfinite(half) and not np.isclose(half, full)
