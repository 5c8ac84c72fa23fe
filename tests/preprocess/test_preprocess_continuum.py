"""Continuum normalisation by the ivar-weighted Gaussian-kernel running mean."""

import astropy.units as u
import numpy as np
import pytest

from stereo_ppl.data.grids import apogee_grid, lamost_grid
from stereo_ppl.preprocess import PreprocessError, continuum_normalise, gaussian_continuum


def dense_reference(wl, flux, ivar, scale=100.0, window=300.0):
    """The continuum from the full pixel-by-pixel kernel matrix."""
    delta = wl[:, None] - wl[None, :]
    kernel = np.exp(-0.5 * (delta / scale) ** 2) * (np.abs(delta) <= window)
    return (flux * ivar) @ kernel.T / (ivar @ kernel.T)


def test_flat_spectrum_normalises_to_one():
    wl = lamost_grid()
    flux = np.full((3, wl.size), [[5.0], [100.0], [0.3]])
    ivar = np.ones_like(flux)
    ivar[:, 100:130] = 0
    norm_flux, norm_ivar = continuum_normalise(wl, flux, ivar)
    good = norm_ivar > 0
    np.testing.assert_allclose(norm_flux[good], 1.0, rtol=1e-12)
    np.testing.assert_allclose(norm_ivar[0, good[0]], 25.0, rtol=1e-12)  # ivar * cont**2
    assert not good[:, 100:130].any() and np.all(norm_flux[:, 100:130] == 1.0)


def test_line_depth_preserved_within_one_percent():
    wl = lamost_grid()
    depth, centre, sigma = 0.5, 6000.0, 1.0
    line = 1 - depth * np.exp(-0.5 * ((wl - centre) / sigma) ** 2)
    continuum = 1000 * (1 + 0.2 * np.sin(wl / 800))  # a slowly varying continuum
    norm_flux, _ = continuum_normalise(wl, continuum * line, np.ones_like(wl))
    k = np.argmin(np.abs(wl - centre))
    assert 1 - norm_flux[k] == pytest.approx(1 - line[k], rel=0.01)


def test_ivar_scales_consistently():
    wl = lamost_grid()
    rng = np.random.default_rng(0)
    flux = 1 + 0.01 * rng.normal(size=wl.size)
    ivar = rng.uniform(1, 2, wl.size)
    f1, i1 = continuum_normalise(wl, flux, ivar)
    f2, i2 = continuum_normalise(wl, 7 * flux, ivar / 49)  # same star, 7x brighter units
    np.testing.assert_allclose(f1, f2, rtol=1e-10)
    np.testing.assert_allclose(i1, i2, rtol=1e-10)


def test_matches_dense_kernel_and_per_star_grids():
    wl = lamost_grid()[::3]
    rng = np.random.default_rng(1)
    flux = rng.uniform(1, 2, (3, wl.size))
    ivar = rng.uniform(0, 1, (3, wl.size))
    ivar[:, 170:200] = 0
    expected = dense_reference(wl, flux, ivar)
    np.testing.assert_allclose(gaussian_continuum(wl, flux, ivar), expected, rtol=1e-10)
    per_star = gaussian_continuum(np.stack([wl] * 3) * u.AA, flux, ivar)
    np.testing.assert_allclose(per_star, expected, rtol=1e-10)


def test_quantity_scale_and_window():
    wl = lamost_grid()[::3]
    rng = np.random.default_rng(3)
    flux, ivar = rng.uniform(1, 2, wl.size), np.ones(wl.size)
    a = gaussian_continuum(wl * u.AA, flux, ivar, scale=5 * u.nm, window=0.02 * u.um)
    np.testing.assert_allclose(a, dense_reference(wl, flux, ivar, 50.0, 200.0), rtol=1e-10)


def test_apogee_batch_with_chip_gaps():
    wl = apogee_grid()
    flux = np.ones((2, wl.size))
    ivar = np.zeros_like(flux)
    ivar[:, 246:3274] = ivar[:, 3585:6080] = ivar[:, 6344:8335] = 1.0
    # A narrower kernel than the default keeps the test fast (the kernel costs ~1 s at
    # 100/300 Angstrom on this grid, once per call however many stars are passed).
    norm_flux, norm_ivar = continuum_normalise(wl, 3 * flux, ivar, scale=10.0, window=30.0)
    np.testing.assert_allclose(norm_flux[ivar > 0], 1.0)
    np.testing.assert_array_equal(norm_ivar == 0, ivar == 0)


def test_never_nan():
    wl = lamost_grid()
    flux = np.ones((2, wl.size))
    ivar = np.ones_like(flux)
    ivar[0] = 0  # a star with no usable pixel
    ivar[1, :1500] = 0  # and one whose blue end is far from any good pixel
    flux[1, :10] = np.nan
    norm_flux, norm_ivar = continuum_normalise(wl, flux, ivar)
    assert np.isfinite(norm_flux).all() and np.isfinite(norm_ivar).all()
    assert not norm_ivar[0].any() and not norm_ivar[1, :1500].any()


def test_bad_arguments():
    wl = lamost_grid()
    with pytest.raises(PreprocessError, match="scale and window"):
        continuum_normalise(wl, np.ones(wl.size), np.ones(wl.size), scale=0)
    with pytest.raises(PreprocessError, match="shape"):
        continuum_normalise(wl, np.ones(wl.size), np.ones(wl.size - 1))
    with pytest.raises(PreprocessError, match="increasing"):
        continuum_normalise(wl[::-1], np.ones(wl.size), np.ones(wl.size))
    with pytest.raises(PreprocessError, match="length"):
        continuum_normalise(wl * u.s, np.ones(wl.size), np.ones(wl.size))
