import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_allclose, default_float
from numpyro.infer import Predictive
from numpyro.infer.util import log_density
from scipy.stats import norm

from stereo_ppl.errors import FitConfigError
from stereo_ppl.models import rrr_model
from stereo_ppl.models.mlp import mlp_decoder, mlp_model

pytestmark = pytest.mark.core


def _problem(seed=0, n=6, p1=9, p2=8, c=3, hidden=4):
    rng = np.random.default_rng(seed)
    dtype = default_float()
    arrays = [1 + 0.1 * rng.normal(size=(n, p1)), rng.uniform(50, 200, size=(n, p2))]
    arrays.append(1 + 0.1 * rng.normal(size=(n, p2)))
    params = {
        "beta_z": rng.normal(size=(c, p1)) * 0.3,
        "beta_F": rng.normal(size=(p2, c)) * 0.3,
        "b_F": 1 + rng.normal(size=p2) * 0.1,
        "W_in": rng.normal(size=(hidden, c)),
        "b_in": rng.normal(size=hidden),
        "W_out": np.zeros((p2, hidden)),
    }
    return tuple(jnp.asarray(a, dtype) for a in arrays), {
        k: jnp.asarray(v, dtype) for k, v in params.items()
    }


def test_mlp_with_zero_output_weights_is_the_base_model_plus_its_priors():
    args, params = _problem()
    got = log_density(mlp_model, args, {"num_latent": 3, "num_hidden": 4}, params)[0]
    base_params = {k: params[k] for k in ("beta_z", "beta_F", "b_F")}
    base = log_density(rrr_model, args, {"num_latent": 3}, base_params)[0]
    extra = (
        norm.logpdf(np.asarray(params["W_in"], np.float64)).sum()
        + norm.logpdf(np.asarray(params["b_in"], np.float64)).sum()
        + norm.logpdf(np.zeros(params["W_out"].shape), scale=0.1).sum()
    )
    assert_allclose(got, base + extra, rtol=1e-5)


def test_linear_activation_gives_a_linear_decoder():
    _, params = _problem()
    rng = np.random.default_rng(1)
    w_out = jnp.asarray(rng.normal(size=params["W_out"].shape), params["W_out"].dtype)
    z = jnp.asarray(rng.normal(size=(5, 3)), w_out.dtype)
    got = mlp_decoder(
        z,
        params["beta_F"],
        params["b_F"],
        params["W_in"],
        params["b_in"],
        w_out,
        activation="linear",
    )
    slope = params["beta_F"] + w_out @ params["W_in"]
    assert_allclose(got, z @ slope.T + params["b_F"] + w_out @ params["b_in"], rtol=1e-5)


def test_mlp_prior_predictive_shapes_and_bad_options():
    (f1, ivar, _), _ = _problem()
    draws = Predictive(mlp_model, num_samples=2)(
        jax.random.key(0), f1, ivar, num_latent=3, num_hidden=4
    )
    assert draws["W_in"].shape == (2, 4, 3)
    assert draws["W_out"].shape == (2, ivar.shape[1], 4)
    assert draws["lamost_flux"].shape == (2, *ivar.shape)
    with pytest.raises(FitConfigError, match="unknown activation 'relu6'"):
        mlp_model(f1, ivar, num_latent=3, activation="relu6")
    with pytest.raises(FitConfigError, match="num_hidden"):
        mlp_model(f1, ivar, num_latent=3, num_hidden=0)
