"""LAMOST reader: the real DR6/DR7/DR9 files and synthetic files of both layouts."""

import gzip

import numpy as np
import pytest
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from survey_fakes import lamost_wavelength, write_lamost_image, write_lamost_table

from stereo_ppl.data.grids import lamost_grid, log_linear_grid
from stereo_ppl.io.errors import SurveyFileError, SurveyFileWarning
from stereo_ppl.io.lamost import read_lamost

DR6 = "spec-57287-KP193637N444141V03_sp10-161.fits.gz"
DR7 = "spec-58397-EG014118N254444M01_sp03-031.fits"
DR9 = "spec-55859-F5902_sp01-013_dr8.fits.gz"


def test_real_dr6_image_layout_gzipped(shared_data):
    s = read_lamost(shared_data / "real" / DR6)
    assert s.layout == "image" and s.needs_normalising
    assert s.num_pixels == 3909
    np.testing.assert_allclose(s.wavelength.value, lamost_grid(), rtol=1e-12)
    assert s.num_bad == 2 and s.bad[[3907, 3908]].all()  # tail pixels with flux 0
    meta = s.meta
    assert meta["OBSID"] == 359910161 and meta["DATA_V"] == "LAMOST DR6"
    assert meta["Z"] == pytest.approx(-0.00017162) and meta["SNRG"] == pytest.approx(87.63)
    assert meta["CLASS"] == "STAR" and meta["SUBCLASS"] == "F5" and meta["FIBERTYP"] == "Obj"
    assert s.bitmask is not None and not s.bitmask.any()


def test_real_dr7_has_48_bad_pixels(shared_data):
    path = shared_data / "real" / DR7
    s = read_lamost(path)
    assert s.num_pixels == 3909 and s.num_bad == 48
    with fits.open(path) as hdul:
        flux, ivar, wavelength = hdul[0].data[:3].astype(float)
    np.testing.assert_array_equal(s.bad, ivar == 0)  # its 12 flux-0 pixels also have ivar 0
    np.testing.assert_allclose(s.wavelength.value, wavelength, rtol=3.2e-7)
    np.testing.assert_array_equal(s.flux, flux)
    assert s.meta["OBSID"] == 677503031 and s.meta["SNRR"] == pytest.approx(241.09)
    assert s.meta["SUBCLASS"] == "G3" and s.meta["VACUUM"] is True


def test_real_dr9_table_layout_3908_pixels(shared_data):
    s = read_lamost(shared_data / "real" / DR9)
    assert s.layout == "table"
    assert s.num_pixels == 3908  # 2011 pilot survey
    np.testing.assert_allclose(s.wavelength.value, log_linear_grid(3.5682, 1e-4, 3908), rtol=1e-12)
    # No ivar = 0 pixel; 24 tail pixels have flux exactly 0 with ivar > 0.
    assert s.num_bad == 24 and s.bad[3884:].all()
    meta = s.meta
    assert meta["OBSID"] == 101013 and meta["DATA_V"] == "LAMOST DR9" and meta["NORM"] == 0
    assert meta["FIB_TYPE"] == "Obj" and meta["Z"] == pytest.approx(-0.00106647)
    assert meta["SUBCLASS"] == "A2"


@pytest.mark.parametrize("num_pixels", [3909, 3908])
@pytest.mark.parametrize("gz", [False, True])
def test_synthetic_image_layout(tmp_path, num_pixels, gz):
    path = tmp_path / ("s.fits.gz" if gz else "s.fits")
    written = write_lamost_image(path, num_pixels=num_pixels, gz=gz)
    s = read_lamost(path)
    assert s.num_pixels == num_pixels and s.layout == "image"
    np.testing.assert_array_equal(s.bad, written["bad"])
    np.testing.assert_array_equal(s.flux, written["flux"])
    np.testing.assert_array_equal(s.ivar[~s.bad], written["ivar"][~s.bad])
    np.testing.assert_allclose(s.wavelength.value, log_linear_grid(3.5682, 1e-4, num_pixels))


@pytest.mark.parametrize("num_pixels", [3909, 3908])
@pytest.mark.parametrize(("gz", "norm"), [(False, 0), (True, 1)])
def test_synthetic_table_layout(tmp_path, num_pixels, gz, norm):
    path = tmp_path / ("s.fits.gz" if gz else "s.fits")
    written = write_lamost_table(path, num_pixels=num_pixels, gz=gz, norm=norm)
    with fits.open(path) as hdul:
        assert hdul[0].header["NAXIS1"] == num_pixels and hdul[1].name == "COADD"
    s = read_lamost(path)
    assert s.num_pixels == num_pixels and s.layout == "table"
    np.testing.assert_array_equal(s.bad, written["bad"])
    np.testing.assert_array_equal(s.flux, written["flux"])
    assert s.meta["OBSID"] == 101013 and s.meta["NORM"] == norm


def test_nan_and_inf_pixels_are_counted(tmp_path):
    write_lamost_image(tmp_path / "s.fits", nan_pixels=[10, 11, 500])
    with pytest.raises(SurveyFileError, match="no usable pixel"), pytest.warns(SurveyFileWarning):
        write_lamost_image(tmp_path / "t.fits", nan_pixels=range(3909))
        read_lamost(tmp_path / "t.fits")
    with pytest.warns(SurveyFileWarning, match="3 of 3909 pixels"):
        s = read_lamost(tmp_path / "s.fits")
    assert s.bad[[10, 11, 500]].all() and np.isfinite(s.flux).all()


def test_andmask_marks_bad(tmp_path):
    path = tmp_path / "s.fits"
    write_lamost_image(path)
    with fits.open(path, mode="update") as hdul:
        hdul[0].data[3, 1000:1005] = 4.0
        hdul[0].data[4, 2000:2003] = 8.0
    s = read_lamost(path)
    assert s.bad[1000:1005].all() and not s.bad[2000:2003].any()
    assert (s.bitmask[2000:2003] == 8).all()


def test_wavelength_disagreeing_with_header(tmp_path):
    path = tmp_path / "s.fits"
    write_lamost_image(path)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["COEFF0"] = 3.5683
    with pytest.raises(SurveyFileError, match="disagrees with the header grid"):
        read_lamost(path)


def test_header_without_grid_uses_stored_wavelength(tmp_path):
    path = tmp_path / "s.fits"
    write_lamost_image(path)
    with fits.open(path, mode="update") as hdul:
        for key in ("COEFF0", "COEFF1", "CRVAL1", "CD1_1"):
            del hdul[0].header[key]
    s = read_lamost(path)
    np.testing.assert_array_equal(s.wavelength.value, lamost_wavelength(3909))


def test_missing_column_and_bad_header_value(tmp_path):
    write_lamost_table(tmp_path / "s.fits", drop_column="IVAR")
    with pytest.raises(SurveyFileError, match=r"column 'IVAR'.*missing"):
        read_lamost(tmp_path / "s.fits")
    write_lamost_image(tmp_path / "t.fits", header_keys={"Z": "abc"})
    with pytest.raises(SurveyFileError, match="keyword 'Z'"):
        read_lamost(tmp_path / "t.fits")
    write_lamost_image(tmp_path / "u.fits", header_keys={"VACUUM": False})
    with pytest.raises(SurveyFileError, match="air"):
        read_lamost(tmp_path / "u.fits")


def test_neither_layout(tmp_path):
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros(5))]).writeto(tmp_path / "s.fits")
    with pytest.raises(SurveyFileError, match=r"HDU 1.*ImageHDU"):
        read_lamost(tmp_path / "s.fits")


def _patch(path, old: bytes, new: bytes):
    raw = path.read_bytes()
    assert old in raw and len(old) == len(new)
    path.write_bytes(raw.replace(old, new, 1))


def test_corrupt_primary_header_is_refused_quickly(tmp_path):
    # Found by fuzzing: astropy then scans the rest of the file block by block (minutes).
    plain, path = tmp_path / "s.fits", tmp_path / "s.fits.gz"
    write_lamost_table(plain)
    _patch(plain, b"SIMPLE  =                    T", b"SIMPLE  = SX35                ")
    path.write_bytes(gzip.compress(plain.read_bytes()))  # (astropy refuses it uncompressed)
    with (
        pytest.warns(AstropyUserWarning),  # "...will be treated as corrupted"
        pytest.raises(SurveyFileError, match="HDU 0: header is corrupt"),
    ):
        read_lamost(path)


def test_column_format_claiming_gigabytes_is_refused(tmp_path):
    # Found by fuzzing: a damaged TFORMn made astropy allocate gigabytes.
    path = tmp_path / "s.fits"
    write_lamost_table(path)
    _patch(path, b"TFORM1  = '3909E   '", b"TFORM1  = '3909999E'")
    with pytest.raises(SurveyFileError, match="NAXIS1"):
        read_lamost(path)
