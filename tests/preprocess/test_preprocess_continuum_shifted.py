"""The continuum of stars on one observed grid shifted to the rest frame (real LAMOST
files): one kernel and a series in the shift, exact to rounding."""

import numpy as np
import pytest

from stereo_ppl.data.grids import lamost_grid
from stereo_ppl.preprocess import gaussian_continuum, preprocess_lamost
from stereo_ppl.preprocess.continuum import _grid_families


def dense_reference(wl, flux, ivar, scale=100.0, window=300.0):
    """The continuum of one star from its full pixel-by-pixel kernel matrix."""
    delta = wl[:, None] - wl[None, :]
    kernel = np.exp(-0.5 * (delta / scale) ** 2) * (np.abs(delta) <= window)
    return (flux * ivar) @ kernel.T / (ivar @ kernel.T)


def shifted_stars(z, *, step=3, seed=0):
    observed = lamost_grid()[::step]
    rng = np.random.default_rng(seed)
    rest = observed[None, :] / (1.0 + np.asarray(z)[:, None])
    flux = 1000 * (1 + 0.3 * np.sin(rest / 700)) * rng.uniform(0.9, 1.1, rest.shape)
    ivar = rng.uniform(0.0, 1.0, rest.shape)
    ivar[:, 200:230] = 0.0
    return observed, rest, flux, ivar


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shifted_batch_matches_each_star_dense(dtype):
    # +-300 km/s: pixel pairs near the 300 Angstrom window edge fall inside for
    # some stars and outside for others
    z = np.array([-1e-3, -3e-4, 0.0, 1e-4, 2.5e-4, 1e-3])
    _, rest, flux, ivar = shifted_stars(z)
    flux, ivar = flux.astype(dtype), ivar.astype(dtype)
    batch = gaussian_continuum(rest, flux, ivar)
    assert batch.dtype == np.float64  # sums in float64 whatever comes in
    for i in range(z.size):
        expected = dense_reference(rest[i], flux[i].astype(float), ivar[i].astype(float))
        np.testing.assert_allclose(batch[i], expected, rtol=1e-12)


def test_window_edge_pairs_differ_between_the_stars():
    # the case above is only a test of the window edge if such pairs exist
    _, rest, _, _ = shifted_stars(np.array([-1e-3, 1e-3]))
    inside = [np.abs(r[:, None] - r[None, :]) <= 300.0 for r in rest]
    assert np.count_nonzero(inside[0] != inside[1]) > 100


def test_far_apart_grids_get_separate_kernels():
    z = np.array([0.0, 2e-4, 0.02, 0.0201])  # two families: 1.02 apart
    _, rest, flux, ivar = shifted_stars(z)
    families = _grid_families(rest)
    assert sorted(sorted(rows.tolist()) for rows, _, _ in families) == [[0, 1], [2, 3]]
    batch = gaussian_continuum(rest, flux, ivar)
    for i in range(z.size):
        np.testing.assert_allclose(batch[i], dense_reference(rest[i], flux[i], ivar[i]), rtol=1e-12)


def test_grids_that_are_not_scaled_copies_are_not_grouped():
    _, rest, flux, ivar = shifted_stars(np.zeros(3))
    rest[1] = np.linspace(rest[1, 0], rest[1, -1], rest.shape[1])  # linear, not log-linear
    families = _grid_families(rest)
    assert any(rows.tolist() == [1] for rows, _, _ in families)
    batch = gaussian_continuum(rest, flux, ivar)
    np.testing.assert_allclose(batch[1], dense_reference(rest[1], flux[1], ivar[1]), rtol=1e-12)


def test_preprocess_one_observed_grid_matches_star_by_star():
    z = np.array([-5e-4, 1e-4, 7e-4])
    observed, _, flux, ivar = shifted_stars(z, step=1, seed=2)
    grid = lamost_grid()
    wavelength = np.broadcast_to(observed, flux.shape)
    both = preprocess_lamost(wavelength, flux, ivar, z, grid=grid)
    for i in range(z.size):
        one = preprocess_lamost(observed, flux[i], ivar[i], z[i], grid=grid)
        np.testing.assert_allclose(both[0][i], one[0], rtol=1e-12)
        np.testing.assert_allclose(both[1][i], one[1], rtol=1e-12)
