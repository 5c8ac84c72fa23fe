"""Resampling with ivar propagation; equivalent widths conserved; never NaN."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stereo_ppl.data.grids import lamost_grid, log_linear_grid
from stereo_ppl.preprocess import (
    RESAMPLE_METHODS,
    PreprocessError,
    continuum_normalise,
    resample,
    to_rest_frame,
)


def gaussian_line(wl, centre=6000.3, sigma=1.2, depth=0.5):
    return 1 - depth * np.exp(-0.5 * ((wl - centre) / sigma) ** 2)


def equivalent_width(wl, flux):
    """Trapezoid integral of ``1 - flux``."""
    return float(np.sum(0.5 * ((1 - flux[1:]) + (1 - flux[:-1])) * np.diff(wl)))


@pytest.mark.parametrize("method", RESAMPLE_METHODS)
@pytest.mark.parametrize(
    "new",
    [
        np.linspace(5100, 6900, 1801),  # coarser, linear grid
        np.linspace(5100, 6900, 40001),  # finer
        log_linear_grid(3.71, 1e-4, 1000) * (1 + 3e-5),  # LAMOST-like, shifted by a fraction
    ],
)
def test_equivalent_width_conserved(method, new):
    wl = np.linspace(5000, 7000, 20001)
    new = new[(new > 5050) & (new < 6950)]
    flux, ivar = resample(wl, gaussian_line(wl), np.full(wl.size, 100.0), new, method=method)
    assert (ivar > 0).all()
    ew_in, ew_out = equivalent_width(wl, gaussian_line(wl)), equivalent_width(new, flux)
    assert ew_out == pytest.approx(ew_in, rel=0.01)


@pytest.mark.parametrize("method", RESAMPLE_METHODS)
def test_identity_and_ivar_propagation(method):
    wl = lamost_grid()
    rng = np.random.default_rng(0)
    flux, ivar = rng.uniform(1, 2, wl.size), rng.uniform(1, 2, wl.size)
    f, i = resample(wl, flux, ivar, wl, method=method)
    np.testing.assert_allclose(f[1:-1], flux[1:-1], rtol=1e-10)
    np.testing.assert_allclose(i[1:-1], ivar[1:-1], rtol=1e-10)


def test_flux_conserving_averaging_adds_ivar():
    wl = np.arange(1000.0, 2000.0)
    new = np.arange(1000.5, 1999.0, 4.0)  # each bin covers exactly 4 input pixels
    f, i = resample(wl, np.ones(wl.size), np.ones(wl.size), new, method="flux-conserving")
    np.testing.assert_allclose(i[1:-1], 4.0)
    np.testing.assert_allclose(f[1:-1], 1.0)


def test_linear_midpoint_variance():
    wl = np.arange(10.0)
    f, i = resample(wl, np.arange(10.0), np.full(10, 4.0), [2.5, 3.0])
    np.testing.assert_allclose(f, [2.5, 3.0])
    np.testing.assert_allclose(i, [1 / (0.25 * 0.25 + 0.25 * 0.25), 4.0])


@pytest.mark.parametrize("method", RESAMPLE_METHODS)
def test_bad_input_pixel_poisons_only_touching_outputs(method):
    wl = np.arange(100.0)
    ivar = np.ones(100)
    ivar[50] = 0
    new = np.array([48.0, 49.0, 49.5, 50.0, 50.5, 51.0, 52.0])
    f, i = resample(wl, np.ones(100), ivar, new, method=method)
    touching = np.abs(new - 50) <= 0.5  # 49 and 51 only meet pixel 50 with zero weight
    assert np.array_equal(i == 0, touching)
    assert np.all(f[i == 0] == 0.0) and np.isfinite(i).all()


@pytest.mark.parametrize("method", RESAMPLE_METHODS)
def test_outside_input_grid_is_bad(method):
    wl = np.linspace(4000, 5000, 101)
    new = np.linspace(3900, 5100, 13)
    f, i = resample(wl, np.ones(101), np.ones(101), new, method=method, fill=-1.0)
    outside = (new < 4000) | (new > 5000)
    assert np.all(i[outside] == 0) and np.all(f[outside] == -1.0) and np.all(i[2:-2] > 0)
    # The end pixels sit on the input's edge: a linear interpolation reaches them, but
    # half of their flux-conserving bin lies outside the input.
    assert (i[[1, -2]] > 0).all() == (method == "linear")


@pytest.mark.parametrize("method", RESAMPLE_METHODS)
def test_batch_with_per_star_grids_matches_loop(method):
    grid = lamost_grid()
    z = np.array([1e-4, -3e-4, 0.0, 5e-5])
    rest = to_rest_frame(grid, z)
    rng = np.random.default_rng(2)
    flux, ivar = rng.uniform(1, 2, (4, grid.size)), rng.uniform(0, 1, (4, grid.size))
    ivar[ivar < 0.1] = 0
    f, i = resample(rest, flux, ivar, grid, method=method)
    for s in range(4):
        fs, is_ = resample(rest[s], flux[s], ivar[s], grid, method=method)
        np.testing.assert_allclose(f[s], fs, rtol=1e-12)
        np.testing.assert_allclose(i[s], is_, rtol=1e-12)


def test_real_lamost_pipeline(shared_data):
    from stereo_ppl.io.lamost import read_lamost

    grid = lamost_grid()
    for path in sorted((shared_data / "real").glob("spec-*")):
        s = read_lamost(path)
        rest = to_rest_frame(s.wavelength, s.meta["Z"])
        flux, ivar = resample(rest, s.flux, s.ivar, grid)
        norm_flux, norm_ivar = continuum_normalise(grid, flux, ivar)
        assert flux.shape == (3909,) and np.isfinite(norm_flux).all()
        assert np.median(norm_flux[norm_ivar > 0]) == pytest.approx(1.0, abs=0.02)
        wl, covered = (np.asarray(getattr(x, "value", x)) for x in (grid, rest))
        beyond = ((wl < covered.min()) | (wl > covered.max())).sum()  # grid the file lacks (DR1)
        runs = np.count_nonzero(np.diff(np.r_[0, (np.asarray(s.ivar) == 0).astype(int)]) == 1)
        # bad pixels, a neighbour on each side of each bad run, the edges, grid beyond the file
        assert (norm_ivar == 0).sum() <= s.num_bad + 2 * runs + 3 + beyond


def test_bad_arguments():
    wl = np.arange(10.0)
    with pytest.raises(PreprocessError, match="method"):
        resample(wl, np.ones(10), np.ones(10), wl, method="cubic")
    with pytest.raises(PreprocessError, match="increasing"):
        resample(wl, np.ones(10), np.ones(10), wl[::-1])
    with pytest.raises(PreprocessError, match="shape"):
        resample(wl, np.ones(9), np.ones(9), wl)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    method=st.sampled_from(RESAMPLE_METHODS),
    shift=st.floats(-3.0, 3.0),
)
def test_never_nan_whatever_the_bad_pixels(data, method, shift):
    wl = np.arange(50.0)
    values = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1.0, 2.0])
    flux = np.array(data.draw(st.lists(values, min_size=50, max_size=50)))
    ivar = np.array(data.draw(st.lists(values, min_size=50, max_size=50)))
    f, i = resample(wl, flux, ivar, wl + shift, method=method)
    assert np.isfinite(f).all() and np.isfinite(i).all() and (i >= 0).all()
    usable = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    if not usable.any():
        assert not i.any()
