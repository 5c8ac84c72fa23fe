"""A valid paired dataset whose dims carry no index coordinate works everywhere."""

import jax
import numpy as np
import pytest

import stereo_ppl
from stereo_ppl.denoise import denoise as denoise_arrays
from stereo_ppl.denoise import make_setup
from tests.factories import small_paired


@pytest.fixture(scope="module")
def bare():
    """The small paired dataset without the ``star``/pixel index coordinates."""
    paired = small_paired(3, num_stars=50)
    bare = paired.drop_vars(["star", "apogee_pixel", "lamost_pixel"])
    assert not any(dim in bare.coords for dim in bare.dims)
    return bare


@pytest.fixture(scope="module")
def fitted(bare):
    return stereo_ppl.fit(jax.random.key(0), bare, num_latent=3, method="laplace", num_samples=8)


def test_fit_ppc_calibrate(bare, fitted):
    ppc = stereo_ppl.posterior_predictive(jax.random.key(1), fitted, bare, num_samples=8)
    report = stereo_ppl.calibrate(jax.random.key(2), ppc)
    assert np.isfinite(report["coverage"].values).any()
    assert ppc["observed_data"].sizes["star"] == int(fitted["constant_data"]["heldout"].sum())


def test_summary_predict_and_denoise(bare, fitted):
    row = stereo_ppl.fit_summary(fitted)
    assert np.isfinite(row["heldout_chi2_per_pixel"]) and np.isfinite(row["heldout_log_joint"])
    pred = stereo_ppl.predict(fitted)
    assert pred["lamost_flux"].shape == (bare.sizes["star"], bare.sizes["lamost_pixel"])
    assert (pred["lamost_flux_sd"].values > 0).all()  # laplace: spread over the draws
    setup = make_setup(fitted)
    result = denoise_arrays(setup, bare["lamost_flux"].values, bare["lamost_ivar"].values)
    assert np.isfinite(np.asarray(result.flux)).all()
