"""APOGEE readers: the real DR13 files, and synthetic files in the exact layouts."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from survey_fakes import APOGEE_GRID_KEYS, write_apstar, write_aspcapstar

from stereo_ppl.data.grids import apogee_chip_mask, apogee_grid
from stereo_ppl.io.apogee import APOGEE_PIXMASK_BITS, read_apstar, read_aspcapstar
from stereo_ppl.io.errors import SurveyFileError, SurveyFileWarning

ASPCAP = "aspcapStar-r6-l30e.2-2M11194647+0820356.fits"
APSTAR = "apStar-r6-2M11194647+0820356.fits"


def read_with_akwise_warning(path):
    """Read an aspcapStar whose header has ``AKWISE = NAN``: astropy warns, the read works."""
    with pytest.warns(VerifyWarning) as record:
        spectrum = read_aspcapstar(path)
    assert any("AKWISE" in str(w.message) for w in record)
    return spectrum


@pytest.fixture
def real_aspcap(shared_data):
    return read_with_akwise_warning(shared_data / "real" / ASPCAP)


def test_real_aspcapstar_grid_and_bad_pixels(real_aspcap):
    s = real_aspcap
    assert s.layout == "aspcapStar" and not s.needs_normalising
    assert s.num_pixels == 8575
    np.testing.assert_allclose(s.wavelength.to_value("Angstrom"), apogee_grid(), rtol=1e-12)
    chips = apogee_chip_mask()
    # Chip gaps (flux = error = 0) are all bad; 699 more bad pixels on the chips
    # (274 with flux 0 / error 10, 425 with error >= 10).
    assert s.bad[~chips].all()
    assert s.num_bad == 1760
    assert int(s.bad[chips].sum()) == 699
    assert np.median(s.flux[~s.bad]) == pytest.approx(0.957, abs=0.002)
    assert np.median(1 / np.sqrt(s.ivar[~s.bad])) == pytest.approx(0.0157, abs=0.0005)
    assert s.model.shape == (8575,)


def test_real_aspcapstar_metadata(real_aspcap):
    meta = real_aspcap.meta
    assert meta["APOGEE_ID"] == "2M11194647+0820356"
    assert meta["SNR"] == pytest.approx(58.0554, rel=1e-6)
    assert meta["STARFLAG"] == 0
    assert meta["ASPCAPFLAG"] == 41943680
    assert meta["NVISITS"] == 3 and meta["LOCATION_ID"] == 4510
    assert meta["AKWISE"] == "NAN"  # the non-standard card, as astropy fixes it
    assert np.isnan(meta["PARAM"][0]) and meta["PARAM"][2] == pytest.approx(-0.2371, abs=1e-4)
    assert np.isnan(meta["AK_WISE"])


@pytest.mark.parametrize(("row", "num_bad"), [(0, 969), (1, 839), (2, 913), (3, 885), (4, 901)])
def test_real_apstar_rows(shared_data, row, num_bad):
    s = read_apstar(shared_data / "real" / APSTAR, row=row)
    assert s.layout == "apStar" and s.needs_normalising
    assert s.num_pixels == 8575 and s.num_bad == num_bad
    np.testing.assert_allclose(s.wavelength.value, apogee_grid(), rtol=1e-12)
    with fits.open(shared_data / "real" / APSTAR) as hdul:
        np.testing.assert_array_equal(s.bitmask, hdul[3].data[row])
        gaps = hdul[2].data[row] >= 1e10
    assert s.bad[gaps].all()
    assert s.meta["APOGEE_ID"] == "2M11194647+0820356" and s.meta["NVISITS"] == 3
    assert s.meta["BUNIT"].startswith("Flux (10^-17")


def test_real_apstar_row_out_of_range(shared_data):
    with pytest.raises(SurveyFileError, match=r"5 spectrum row\(s\).*row=5"):
        read_apstar(shared_data / "real" / APSTAR, row=5)


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_synthetic_aspcapstar_round_trip(tmp_path, dtype, gz):
    path = tmp_path / ("a.fits.gz" if gz else "a.fits")
    written = write_aspcapstar(path, dtype=dtype, gz=gz)
    s = read_aspcapstar(path)
    np.testing.assert_array_equal(s.bad, written["bad"])
    good = ~written["bad"]
    np.testing.assert_array_equal(s.flux[good], written["flux"].astype(dtype)[good])
    stored_error = written["error"].astype(dtype).astype(np.float64)
    np.testing.assert_allclose(s.ivar[good], 1 / stored_error[good] ** 2, rtol=1e-12)
    assert np.all(s.ivar[~good] == 0)
    assert s.meta["APOGEE_ID"] == "2M00000000+0000000" and s.meta["ASPCAPFLAG"] == 41943680
    assert np.isnan(s.meta["PARAM"][2])


def test_synthetic_aspcapstar_akwise_nan_warns_and_reads(tmp_path):
    write_aspcapstar(tmp_path / "a.fits", akwise_nan=True)
    s = read_with_akwise_warning(tmp_path / "a.fits")
    assert s.meta["AKWISE"] == "NAN"


def test_aspcapstar_without_results_table_uses_header_id(tmp_path):
    write_aspcapstar(tmp_path / "a.fits", table=False)
    s = read_aspcapstar(tmp_path / "a.fits")
    assert s.meta["APOGEE_ID"] == "2M00000000+0000000" and "ASPCAPFLAG" not in s.meta


def test_aspcapstar_nan_pixels_counted(tmp_path):
    write_aspcapstar(tmp_path / "a.fits", nan_pixels=[300, 301, 4000])
    with pytest.warns(SurveyFileWarning, match="3 of 8575 pixels"):
        s = read_aspcapstar(tmp_path / "a.fits")
    assert s.bad[[300, 301, 4000]].all() and np.isfinite(s.flux).all()


def test_aspcapstar_grid_disagreeing_between_hdus(tmp_path):
    path = tmp_path / "a.fits"
    write_aspcapstar(path)
    with fits.open(path, mode="update") as hdul:
        hdul[2].header["CRVAL1"] = 4.18
    with pytest.raises(SurveyFileError, match=r"HDU 2.*disagrees"):
        read_aspcapstar(path)


def test_aspcapstar_implausible_grid(tmp_path):
    path = tmp_path / "a.fits"
    write_aspcapstar(path)
    with fits.open(path, mode="update") as hdul:
        for index in (1, 2, 3):
            hdul[index].header["CRVAL1"] = 3.5682
    with pytest.raises(SurveyFileError, match="outside"):
        read_aspcapstar(path)


def test_aspcapstar_missing_hdu(tmp_path):
    path = tmp_path / "a.fits"
    write_aspcapstar(path, table=False)
    with fits.open(path) as hdul:
        fits.HDUList([hdul[0].copy(), hdul[1].copy()]).writeto(tmp_path / "b.fits")
    with pytest.raises(SurveyFileError, match=r"b\.fits.*no HDU 2"):
        read_aspcapstar(tmp_path / "b.fits")


def test_aspcapstar_all_zero(tmp_path):
    path = tmp_path / "a.fits"
    write_aspcapstar(path)
    with fits.open(path, mode="update") as hdul:
        hdul[1].data[:] = 0
    with pytest.raises(SurveyFileError, match="no usable pixel"):
        read_aspcapstar(path)


def test_not_fits_and_missing_file(tmp_path):
    (tmp_path / "x.fits").write_text("this is not a FITS file\n" * 200)
    with pytest.raises(SurveyFileError, match=r"x\.fits"):
        read_aspcapstar(tmp_path / "x.fits")
    with pytest.raises(SurveyFileError, match="no such file"):
        read_apstar(tmp_path / "missing.fits")


def test_one_visit_apstar_is_1d(tmp_path):
    written = write_apstar(tmp_path / "b.fits", nvisits=1)
    with fits.open(tmp_path / "b.fits") as hdul:
        assert hdul[1].data.shape == (8575,)
    s = read_apstar(tmp_path / "b.fits")
    np.testing.assert_array_equal(s.bad, written["bad"])
    np.testing.assert_array_equal(s.bitmask, written["mask"])
    with pytest.raises(SurveyFileError, match="NVISITS=1"):
        read_apstar(tmp_path / "b.fits", row=1)


@pytest.mark.parametrize(("dtype", "mask_dtype"), [(">f4", ">i2"), (">f8", ">i8")])
def test_apstar_visit_rows_and_dtypes(tmp_path, dtype, mask_dtype):
    path = tmp_path / "b.fits.gz"
    written = write_apstar(path, nvisits=2, dtype=dtype, mask_dtype=mask_dtype, gz=True)
    for row in range(4):
        s = read_apstar(path, row=row)
        np.testing.assert_array_equal(s.bad, written["bad"][row])
        good = ~s.bad
        np.testing.assert_allclose(s.flux[good], written["flux"][row][good], rtol=1e-6)
    # SIG_SKYLINE pixels are kept by default and dropped on request.
    skyline = 1 << APOGEE_PIXMASK_BITS["SIG_SKYLINE"]
    assert not s.bad[2000:2020].any()
    assert read_apstar(path, bad_bits=255 | skyline).bad[2000:2020].all()


def test_apstar_nwave_disagreeing(tmp_path):
    path = tmp_path / "b.fits"
    write_apstar(path)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["NWAVE"] = 8000
    with pytest.raises(SurveyFileError, match="NWAVE"):
        read_apstar(path)


def test_apstar_not_log_linear(tmp_path):
    path = tmp_path / "b.fits"
    write_apstar(path)
    with fits.open(path, mode="update") as hdul:
        for index in range(4):
            hdul[index].header["DC-FLAG"] = 0
    with pytest.raises(SurveyFileError, match="DC-FLAG"):
        read_apstar(path)


def test_grid_keys_are_the_real_ones():
    assert APOGEE_GRID_KEYS["CRVAL1"] == 4.179 and APOGEE_GRID_KEYS["CDELT1"] == 6e-6
