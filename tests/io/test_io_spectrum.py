"""The Spectrum result type and its optional specutils interop."""

import dataclasses

import astropy.units as u
import numpy as np
import pytest

from stereo_ppl.io.spectrum import Spectrum, from_spectrum1d, to_spectrum1d


def make(num_pixels=10, **changes):
    ivar = np.ones(num_pixels)
    ivar[3] = 0
    fields = dict(
        flux=np.linspace(1, 2, num_pixels),
        ivar=ivar,
        wavelength=np.linspace(5000, 5100, num_pixels) * u.AA,
        bad=ivar == 0,
        meta={"OBSID": 5},
        path="x.fits",
        survey="LAMOST",
        layout="image",
        needs_normalising=True,
    )
    fields.update(changes)
    return Spectrum(**fields)


def test_spectrum_is_frozen_and_read_only():
    s = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.flux = np.zeros(10)
    with pytest.raises(ValueError, match="read-only"):
        s.flux[0] = 3.0
    with pytest.raises(TypeError):
        s.meta["OBSID"] = 6
    assert s.num_pixels == 10 and s.num_bad == 1 and "1 bad" in repr(s)
    assert s.wavelength.unit == u.AA and s.wavelength.dtype == np.float64


def test_spectrum_wavelength_in_other_units_becomes_angstrom():
    s = make(wavelength=np.linspace(500, 510, 10) * u.nm)
    np.testing.assert_allclose(s.wavelength.value, np.linspace(5000, 5100, 10))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"bad": np.zeros(10, bool)}, "bad must equal"),
        ({"ivar": -np.ones(10), "bad": np.zeros(10, bool)}, "ivar must be finite"),
        ({"flux": np.full(10, np.nan)}, "flux must be finite"),
        ({"wavelength": np.ones(10) * u.AA}, "increasing"),
        ({"flux": np.ones(9)}, "shape"),
    ],
)
def test_spectrum_rejects_inconsistent_arrays(changes, match):
    with pytest.raises(ValueError, match=match):
        make(**changes)


def test_specutils_round_trip():
    pytest.importorskip("specutils")
    s = make()
    spec = to_spectrum1d(s)
    np.testing.assert_array_equal(spec.mask, s.bad)
    np.testing.assert_array_equal(spec.uncertainty.array, s.ivar)
    assert spec.meta["OBSID"] == 5 and spec.meta["needs_normalising"]
    back = from_spectrum1d(spec)
    np.testing.assert_array_equal(back.flux, s.flux)
    np.testing.assert_array_equal(back.ivar, s.ivar)
    np.testing.assert_allclose(back.wavelength.value, s.wavelength.value)
    assert back.meta["OBSID"] == 5 and back.needs_normalising and back.path.name == "x.fits"


def test_from_specutils_with_stddev_and_nan():
    specutils = pytest.importorskip("specutils")
    from astropy.nddata import StdDevUncertainty

    cls = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    flux = np.array([1.0, np.nan, 3.0, 4.0]) * u.Jy
    spec = cls(
        flux=flux,
        spectral_axis=np.array([1.0, 1.1, 1.2, 1.3]) * u.um,
        uncertainty=StdDevUncertainty(np.array([0.5, 0.5, 0.0, 1.0])),
    )
    s = from_spectrum1d(spec)
    np.testing.assert_allclose(s.wavelength.value, [10000, 11000, 12000, 13000])
    np.testing.assert_array_equal(s.ivar, [4.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(s.bad, [False, True, True, False])
