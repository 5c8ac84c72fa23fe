"""The predictive check's report of where the calibrated model's scatter is large."""

import jax
import matplotlib
import numpy as np

import stereo_ppl
from stereo_ppl.datasets import make_calibration_data
from stereo_ppl.plots import plot_scatter
from stereo_ppl.ppc import scatter_regions

matplotlib.use("Agg")


def test_scatter_runs_are_found_and_plotted():
    data = make_calibration_data(2, num_stars=600, num_lamost_pixels=60, error_scale=1.2)
    paired = data.paired.copy()
    rng = np.random.default_rng(0)
    run = slice(20, 26)  # a run of pixels the model misses by 3x the noise, star by star
    flux = paired["lamost_flux"].values.copy()
    flux[:, run] += 0.03 * rng.normal(size=(flux.shape[0], 6))
    paired["lamost_flux"] = (paired["lamost_flux"].dims, flux)
    tree = stereo_ppl.fit(jax.random.key(0), paired, num_latent=5)
    ppc = stereo_ppl.posterior_predictive(jax.random.key(1), tree, paired, num_samples=10)
    rows = scatter_regions(ppc)
    assert len(rows) == 1
    wl = paired["lamost_wavelength"].values
    assert rows[0]["start"] == wl[20] and rows[0]["stop"] == wl[25] and rows[0]["pixels"] == 6
    assert abs(rows[0]["median s"] - 0.03) < 0.008
    fig = plot_scatter(ppc)
    assert fig.axes[0].get_ylabel() == "flux"
    reported = stereo_ppl.fit(jax.random.key(0), paired, num_latent=5, noise="reported")
    check = stereo_ppl.posterior_predictive(jax.random.key(1), reported, paired, num_samples=4)
    assert scatter_regions(check) == []
