"""Figures of predictive checks (stereo_ppl.plots.ppc), several fits side by side."""

import jax
import matplotlib
import numpy as np
import pytest

from stereo_ppl.plots import (
    plot_pit_ecdf,
    plot_pixel_calibration,
    plot_ppc_summaries,
    plot_spectrum_ppc,
)
from stereo_ppl.ppc import calibrate, posterior_predictive

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def two_fits(eq2, eq2_posterior_fit, eq2_truth_fit):
    paired, _, _ = eq2
    ppcs = [
        posterior_predictive(jax.random.key(k), fit, paired, num_samples=30, num_prior_samples=0)
        for k, fit in enumerate((eq2_posterior_fit, eq2_truth_fit))
    ]
    return ppcs, [calibrate(jax.random.key(5), ppc) for ppc in ppcs]


def test_summaries_overlay_one_panel_per_statistic_and_fit(two_fits):
    ppcs, _ = two_fits
    pc = plot_ppc_summaries(ppcs, num_samples=10)
    fig = pc.viz["figure"].item()
    titles = sorted(ax.get_title() for ax in fig.axes if ax.get_title())
    # mean flux, flux sd and three line depths, for each of the two fits
    assert len(titles) == 10
    assert "H-alpha depth, c=3 vi" in titles and "mean flux, c=3 exact" in titles
    # 10 replicated curves and one observed curve per panel
    assert all(len(ax.get_lines()) == 11 for ax in fig.axes if ax.get_title())


def test_pit_ecdf_has_a_panel_per_fit(two_fits, tmp_path):
    _, cals = two_fits
    pc = plot_pit_ecdf(cals, max_values=200)
    fig = pc.viz["figure"].item()
    assert sorted(ax.get_title() for ax in fig.axes) == ["c=3 exact", "c=3 vi"]
    pc.savefig(tmp_path / "pit.png")
    assert (tmp_path / "pit.png").read_bytes()[:4] == b"\x89PNG"


def test_spectrum_panel_rows_per_obsid_columns_per_fit(two_fits):
    ppcs, _ = two_fits
    obsids = ppcs[0]["observed_data"]["obsid"].values[[0, 3]]
    fig = plot_spectrum_ppc(ppcs, obsids, wavelength_range=(4000.0, 6000.0))
    assert len(fig.axes) == 2 * 2 * 2
    flux_ax = fig.axes[0]
    x = flux_ax.get_lines()[-1].get_xdata()
    assert x.min() >= 4000.0 and x.max() <= 6000.0
    y = flux_ax.get_lines()[-1].get_ydata()
    obs = ppcs[0]["observed_data"]["lamost_flux"].values[0]
    wl = ppcs[0]["observed_data"]["lamost_wavelength"].values
    np.testing.assert_array_equal(y, obs[(wl >= 4000.0) & (wl <= 6000.0)])
    with pytest.raises(KeyError, match="obsid 1"):
        plot_spectrum_ppc(ppcs, [1])


def test_pixel_calibration_marks_flagged_pixels(two_fits):
    _, cals = two_fits
    fig = plot_pixel_calibration(cals, prob=0.68)
    assert len(fig.axes) == 2
    cov = fig.axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(cov, cals[0]["pixel_coverage"].sel(prob=0.68).values)
