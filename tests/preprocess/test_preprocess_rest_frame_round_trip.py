"""A grid shifted to the observed frame and back lands on its own pixels."""

import numpy as np

from stereo_ppl.data import lamost_grid
from stereo_ppl.preprocess import (
    continuum_normalise,
    gaussian_continuum,
    preprocess_lamost,
    resample,
    to_rest_frame,
)


def test_rounding_does_not_spread_bad_pixels_or_blur_the_flux():
    grid = lamost_grid()
    rng = np.random.default_rng(0)
    z = np.array([-3e-4, 1.7e-4, 0.0, 2.2e-3])
    flux = rng.uniform(0.5, 1.5, (z.size, grid.size))
    ivar = np.full_like(flux, 4.0)
    ivar[:, [0, 100, 101, 2000, grid.size - 1]] = 0.0
    observed = 10.0 ** (3.5682 + np.log10(1.0 + z)[:, None] + 1e-4 * np.arange(grid.size))
    rest = to_rest_frame(observed, z)
    assert not np.array_equal(rest, np.broadcast_to(grid, rest.shape))  # only rounding apart
    np.testing.assert_allclose(rest, np.broadcast_to(grid, rest.shape), rtol=1e-13)
    out_flux, out_ivar = resample(rest, flux, ivar, grid)
    np.testing.assert_array_equal(out_ivar > 0, ivar > 0)
    good = ivar > 0
    np.testing.assert_allclose(out_flux[good], flux[good], rtol=1e-9)
    np.testing.assert_allclose(out_ivar[good], ivar[good], rtol=1e-9)


def test_a_real_half_pixel_shift_still_poisons_both_neighbours():
    x = np.arange(10.0)
    ivar = np.ones(10)
    ivar[4] = 0.0
    _, out = resample(x, np.ones(10), ivar, x[1:-1] + 0.5)
    np.testing.assert_array_equal(out == 0, [False, False, True, True, False, False, False, False])


def test_per_star_grids_match_one_star_at_a_time():
    grid = lamost_grid()
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2e-4, 3)
    wavelength = grid[None, :] * (1 + z[:, None])
    flux = 1000 * rng.uniform(0.8, 1.2, (3, grid.size))
    ivar = rng.uniform(0.5, 1.0, flux.shape)
    ivar[1, 500:520] = 0.0
    batch = gaussian_continuum(wavelength, flux, ivar)
    for i in range(3):
        np.testing.assert_allclose(
            batch[i], gaussian_continuum(wavelength[i], flux[i], ivar[i]), rtol=1e-12
        )
    norm = continuum_normalise(wavelength, flux, ivar)
    one = preprocess_lamost(wavelength[1], flux[1], ivar[1], z[1], grid=grid)
    both = preprocess_lamost(wavelength, flux, ivar, z, grid=grid)
    np.testing.assert_allclose(both[0][1], one[0], rtol=1e-12)
    np.testing.assert_array_equal(both[1][1] > 0, one[1] > 0)
    assert np.all(np.isfinite(norm[0]))
