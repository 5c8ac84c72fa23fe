"""Rest-frame shift and APOGEE chip-gap removal."""

import astropy.units as u
import numpy as np
import pytest

from stereo_ppl.data.grids import apogee_chip_mask, apogee_grid, lamost_grid
from stereo_ppl.preprocess import PreprocessError, drop_chip_gaps, to_rest_frame


def test_rest_frame_scalar_and_quantity():
    wl = lamost_grid()
    np.testing.assert_allclose(to_rest_frame(wl, 0.001), wl / 1.001, rtol=1e-15)
    out = to_rest_frame(wl * u.nm / 10, -0.0005)
    assert out.unit == u.AA
    np.testing.assert_allclose(out.value, wl / 0.9995, rtol=1e-14)


def test_rest_frame_one_redshift_per_star():
    wl = lamost_grid()
    z = np.array([0.0, 1e-4, -2e-4])
    out = to_rest_frame(wl, z)
    assert out.shape == (3, wl.size)
    np.testing.assert_allclose(out[1], wl / (1 + 1e-4))
    again = to_rest_frame(np.stack([wl] * 3), z)
    np.testing.assert_allclose(again, out)


@pytest.mark.parametrize(("z", "match"), [([0.0, np.nan], "star 1"), (-1.0, "star 0")])
def test_rest_frame_bad_redshift(z, match):
    with pytest.raises(PreprocessError, match=match):
        to_rest_frame(lamost_grid(), z)
    with pytest.raises(PreprocessError, match="2 redshifts for 3"):
        to_rest_frame(np.ones((3, 5)), [0.0, 0.0])


def test_drop_chip_gaps_on_real_aspcapstar(shared_data):
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    from stereo_ppl.io.apogee import read_aspcapstar

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = read_aspcapstar(shared_data / "real" / "aspcapStar-r6-l30e.2-2M11194647+0820356.fits")
    assert all(issubclass(w.category, VerifyWarning) for w in caught)  # AKWISE = NAN
    wl, flux, ivar = drop_chip_gaps(s.wavelength, s.flux, s.ivar)
    assert wl.shape == flux.shape == ivar.shape == (7514,)
    assert wl.unit == u.AA
    # Everything dropped was a gap (flux = error = 0); 699 bad pixels remain on the chips.
    assert np.all(s.flux[~apogee_chip_mask()] == 0)
    assert int((ivar == 0).sum()) == 699


def test_drop_chip_gaps_batch_and_errors():
    flux = np.arange(2 * 8575, dtype=float).reshape(2, 8575)
    wl, f, _ = drop_chip_gaps(apogee_grid(), flux, np.ones_like(flux))
    assert f.shape == (2, 7514) and isinstance(wl, np.ndarray)
    np.testing.assert_array_equal(f[1], flux[1][apogee_chip_mask()])
    with pytest.raises(PreprocessError, match="APOGEE grid"):
        drop_chip_gaps(lamost_grid(), np.ones(3909), np.ones(3909))
    with pytest.raises(PreprocessError, match="shape"):
        drop_chip_gaps(apogee_grid(), np.ones(8575), np.ones(8574))
