"""``fit`` with every method: layout, log likelihood, options, determinism."""

import jax
import numpy as np
import pytest
from factories import small_paired
from helpers import assert_allclose
from numpyro.infer import log_likelihood

from stereo_ppl.errors import FitConfigError
from stereo_ppl.inference import METHODS, fit, model_data, params_from_datatree
from stereo_ppl.models import rrr_model

#: The seed's model (these tests check each method's layout and numbers against NumPyro's
#: base model; the calibrated model's are in test_calibration.py)
SEED = {"noise": "reported", "prior": "unit"}
OPTIONS = {
    "exact": SEED,
    "map": {"num_steps": 200, "eval_every": 100, **SEED},
    "laplace": {"num_samples": 7, **SEED},
    "vi": {"num_samples": 7, "num_steps": 100, "eval_every": 50, **SEED},
}


@pytest.fixture(scope="module")
def paired():
    return small_paired(0, num_stars=50, num_apogee=20, num_lamost=15, rank=2, noise=0.02)


@pytest.fixture(scope="module")
def trees(paired):
    return {
        m: fit(jax.random.key(1), paired, num_latent=2, method=m, **OPTIONS[m]) for m in METHODS
    }


@pytest.mark.parametrize("method", METHODS)
def test_layout_of_every_method(trees, paired, method):
    tree = trees[method]
    num_draws = OPTIONS[method].get("num_samples", 1)
    assert tree.attrs["method"] == method
    post = tree["posterior"]
    assert dict(post["beta_F"].sizes) == {
        "chain": 1,
        "draw": num_draws,
        "lamost_pixel": 15,
        "latent": 2,
    }
    assert post["beta_z"].dims == ("chain", "draw", "latent", "apogee_pixel")
    loglik = tree["log_likelihood"]["lamost_flux"]
    assert loglik.dims == ("chain", "draw", "star")
    assert loglik.shape == (1, num_draws, paired.sizes["star"])
    assert np.isfinite(loglik.values).all()
    assert tree["log_joint"]["heldout"].notnull().all()
    if method in ("exact", "laplace", "vi"):
        assert tree.attrs["num_iterations"] >= 1
        assert tree.attrs["grad_norm"] < tree.attrs["grad_norm_initial"]
    if method == "vi":
        assert tree["elbo"]["elbo"].dims == ("step",)


def test_log_likelihood_matches_numpyro(trees, paired):
    tree = trees["vi"]
    data = model_data(paired)
    for draw in (0, 3):
        params = params_from_datatree(tree, draw=draw)
        sites = log_likelihood(rrr_model, params, *data, num_latent=2, batch_ndims=0)
        expected = np.asarray(sites["lamost_flux"]).sum(-1)
        got = tree["log_likelihood"]["lamost_flux"].isel(chain=0, draw=draw).values
        assert_allclose(got, expected, rtol=1e-4)


def test_draws_centre_on_the_map(trees):
    exact = params_from_datatree(trees["exact"])
    for method in ("laplace", "vi"):
        mean = trees[method]["posterior"]["b_F"].mean(("chain", "draw")).values
        sd = trees[method]["posterior"]["b_F"].std(("chain", "draw")).values
        assert np.median(np.abs(mean - exact["b_F"]) / sd) < 3


def test_exact_is_deterministic_and_heldout_is_respected(paired):
    held = np.arange(0, 50, 5)
    one = fit(jax.random.key(4), paired, num_latent=2, method="exact", heldout=held)
    two = fit(jax.random.key(4), paired, num_latent=2, method="exact", heldout=held)
    assert one.attrs["noise"] == "calibrated"  # the default, deterministic too
    np.testing.assert_array_equal(
        one["posterior"]["beta_F"].values, two["posterior"]["beta_F"].values
    )
    np.testing.assert_array_equal(np.flatnonzero(one["constant_data"]["heldout"].values), held)
    assert one.attrs["num_heldout"] == held.size


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("exact", {"num_steps": 5}, "has no option 'num_steps'"),
        ("vi", {"guide": "flow"}, "guide must be one of"),
        ("laplace", {"num_samples": 0}, "num_samples must be >= 1"),
        ("nuts", {}, "unknown method 'nuts'"),
    ],
)
def test_bad_options_raise(paired, method, options, message):
    with pytest.raises(FitConfigError, match=message):
        fit(jax.random.key(0), paired, num_latent=2, method=method, **options)
