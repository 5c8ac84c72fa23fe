"""Calibration numbers: nominal on data from eq. 2, and they catch a wrong model."""

import jax
import numpy as np
import pytest
from ppc_eq2 import make_fit
from scipy import stats

from stereo_ppl.ppc import (
    PROBS,
    calibrate,
    chi2_summary,
    coverage_rows,
    miscalibrated_regions,
    posterior_predictive,
)


@pytest.fixture(scope="module")
def posterior_cal(eq2, eq2_posterior_fit):
    paired, _, _ = eq2
    ppc = posterior_predictive(
        jax.random.key(10), eq2_posterior_fit, paired, num_samples=200, num_prior_samples=0
    )
    return ppc, calibrate(jax.random.key(11), ppc)


@pytest.fixture(scope="module")
def wrong_cal(eq2):
    """Plug-in at the truth except b_F off by 0.05 (1 to 10 sigma) at pixels 50-59."""
    paired, truth, heldout = eq2
    wrong = {**truth, "b_F": truth["b_F"].copy()}
    wrong["b_F"][50:60] += 0.05
    fit = make_fit(paired, wrong, heldout, method="exact")
    ppc = posterior_predictive(jax.random.key(12), fit, paired, num_samples=100)
    return calibrate(jax.random.key(13), ppc)


def _check_nominal(cal):
    overall = cal["coverage"].sel(subset="all pixels")
    for prob in (0.68, 0.95):
        coverage = float(overall.sel(prob=prob))
        assert abs(coverage - prob) < 0.02, (prob, coverage)
    pit = cal["pit"].values[np.isfinite(cal["pit"].values)]
    assert stats.kstest(pit, "uniform").pvalue > 0.01
    assert float(cal["pit_ks_pvalue"].sel(subset="all pixels")) > 0.01


def test_posterior_predictive_is_calibrated_on_data_from_eq2(posterior_cal):
    _, cal = posterior_cal
    assert cal.attrs["predictive"] == "posterior" and cal.attrs["num_replicates"] == 200
    _check_nominal(cal)
    assert 0.9 < float(cal["mean_z2"].sel(subset="all pixels")) < 1.1
    assert float(cal["pit_uniformity_pvalue"]) > 0.01
    assert not cal["miscalibrated"].values.any()
    assert miscalibrated_regions(cal) == []


@pytest.mark.core
def test_plug_in_predictive_at_the_truth_is_calibrated(eq2, eq2_truth_fit):
    paired, _, _ = eq2
    ppc = posterior_predictive(jax.random.key(20), eq2_truth_fit, paired, num_samples=100)
    cal = calibrate(jax.random.key(21), ppc)
    assert cal.attrs["predictive"] == "plug-in"
    _check_nominal(cal)


def test_pit_and_coverage_exclude_masked_pixels(eq2, posterior_cal):
    paired, _, heldout = eq2
    _, cal = posterior_cal
    good = paired["lamost_ivar"].values[heldout] > 0
    assert np.isnan(cal["pit"].values[~good]).all()
    assert np.isfinite(cal["pit"].values[good]).all()
    assert int(cal["num_pixels"].sel(subset="all pixels")) == good.sum()
    np.testing.assert_array_equal(cal["chi2_dof"].values, good.sum(axis=1))
    np.testing.assert_array_equal(cal["pixel_num_stars"].values, good.sum(axis=0))


def test_coverage_is_the_fraction_inside_the_central_interval(posterior_cal):
    ppc, cal = posterior_cal
    rep = ppc["posterior_predictive"]["lamost_flux_rep"].values[0]
    y = ppc["observed_data"]["lamost_flux"].values
    good = np.isfinite(y)
    for prob in PROBS:
        # order statistics at rank prob * (N + 1): unbiased for exchangeable draws
        quantiles = [(1 - prob) / 2, (1 + prob) / 2]
        lo, hi = np.quantile(rep, quantiles, axis=0, method="weibull")
        inside = ((y >= lo) & (y <= hi))[good].mean()
        assert abs(float(cal["coverage"].sel(subset="all pixels", prob=prob)) - inside) < 0.01


def test_chi2_per_star_is_the_weighted_residual_sum(eq2, eq2_truth_fit):
    paired, truth, heldout = eq2
    ppc = posterior_predictive(jax.random.key(3), eq2_truth_fit, paired, num_samples=10)
    cal = calibrate(jax.random.key(4), ppc)
    f1 = paired["apogee_flux"].values[heldout]
    mu = (f1 @ truth["beta_z"].T) @ truth["beta_F"].T + truth["b_F"]
    ivar = paired["lamost_ivar"].values[heldout]
    y = np.nan_to_num(paired["lamost_flux"].values[heldout])
    chi2 = np.where(ivar > 0, ivar * (y - mu) ** 2, 0.0).sum(axis=1)
    np.testing.assert_allclose(cal["chi2"].values, chi2, rtol=1e-3)
    dof = (ivar > 0).sum(axis=1)
    np.testing.assert_allclose(cal["chi2_pvalue"].values, stats.chi2.sf(chi2, dof), atol=2e-3)
    summary = chi2_summary(cal)
    assert summary["stars"] == heldout.size and abs(summary["median chi2/dof"] - 1) < 0.1


def test_a_wrong_model_is_caught_where_it_is_wrong(eq2, wrong_cal):
    paired, _, _ = eq2
    cal = wrong_cal
    flagged = np.flatnonzero(cal["miscalibrated"].values)
    assert set(flagged) <= set(range(50, 60)) and len(flagged) >= 8
    overall = float(cal["coverage"].sel(subset="all pixels", prob=0.95))
    assert overall < 0.93
    assert float(cal["pit_ks_pvalue"].sel(subset="all pixels")) < 1e-6
    runs = miscalibrated_regions(cal)
    assert len(runs) == 1
    wl = paired["lamost_wavelength"].values
    assert wl[50] <= runs[0]["start"] and runs[0]["stop"] <= wl[59]
    assert runs[0]["cov 95%"] < 0.6 and runs[0]["mean z²"] > 5
    assert chi2_summary(cal)["p < 0.01"] > 0.5


def test_rows_cover_all_regions_and_snr_bins(posterior_cal):
    _, cal = posterior_cal
    rows = coverage_rows(cal)
    assert rows[0]["subset"] == "all pixels"
    assert {"cov 50%", "cov 68%", "cov 95%", "mean z²", "PIT KS p"} <= set(rows[0])
    kinds = set(cal["subset_kind"].values)
    assert kinds == {"all", "region", "snr"}
    # S/N bins partition the pixels
    snr = cal["subset_kind"].values == "snr"
    assert cal["num_pixels"].values[snr].sum() == rows[0]["pixels"]
    assert "H-alpha" in cal["subset"].values
