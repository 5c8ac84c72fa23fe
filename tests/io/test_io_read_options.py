"""The readers' lighter modes (what ``prepare`` asks for) give the same spectra and the
metadata asked for."""

import numpy as np
import pytest
from astropy.io import fits
from survey_fakes import write_aspcapstar, write_lamost_image, write_lamost_table

from stereo_ppl.io import read_aspcapstar, read_lamost
from stereo_ppl.io.fitsutil import header_meta
from stereo_ppl.io.wavelength import log_linear_wavelength


def same_spectrum(a, b):
    for name in ("flux", "ivar", "wavelength", "bad"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("results", ["never", "if-no-id"])
def test_aspcapstar_without_results_table(tmp_path, results):
    path = tmp_path / "aspcapStar-r12-2M00000000+0000000.fits"
    write_aspcapstar(path)
    full = read_aspcapstar(path)
    light = read_aspcapstar(path, results=results)
    same_spectrum(full, light)
    np.testing.assert_array_equal(full.model, light.model)
    assert full.meta["ASPCAPFLAG"] == 41943680 and "ASPCAPFLAG" not in light.meta
    assert light.meta["APOGEE_ID"] == "2M00000000+0000000"  # from the primary OBJ
    assert light.meta["SNR"] == pytest.approx(58.0554)  # the primary header is all there


def test_aspcapstar_reads_the_table_when_the_primary_has_no_id(tmp_path):
    path = tmp_path / "aspcapStar-dr17-2M00000000+0000000.fits"
    write_aspcapstar(path)
    with fits.open(path, mode="update") as hdul:
        del hdul[0].header["OBJ"]  # as in DR17, whose primary header holds little
    assert "APOGEE_ID" not in read_aspcapstar(path, results="never").meta
    meta = read_aspcapstar(path, results="if-no-id").meta
    assert meta["APOGEE_ID"] == "2M00000000+0000000" and meta["ASPCAPFLAG"] == 41943680


def test_aspcapstar_results_option_is_checked(tmp_path):
    path = tmp_path / "aspcapStar-r12-2M00000000+0000000.fits"
    write_aspcapstar(path)
    with pytest.raises(ValueError, match="results must be one of"):
        read_aspcapstar(path, results="sometimes")


@pytest.mark.parametrize("writer", [write_lamost_image, write_lamost_table])
def test_lamost_meta_keys(tmp_path, writer):
    path = tmp_path / "spec-55859-F5902_sp01-013.fits"
    writer(path)
    full = read_lamost(path)
    light = read_lamost(path, meta_keys=())
    same_spectrum(full, light)
    assert set(light.meta) < set(full.meta)
    for key in ("OBSID", "Z", "SNRZ", "RA", "DEC"):  # the keywords the reader checks
        assert light.meta[key] == full.meta[key]
    assert "CLASS" in full.meta and "CLASS" not in light.meta
    assert read_lamost(path, meta_keys=["class"]).meta["CLASS"] == full.meta["CLASS"]


def test_header_meta_keys_keep_the_first_value_and_skip_structure():
    header = fits.Header()
    header["NAXIS"] = 0
    header["Z"] = 0.1
    header["OBJ"] = "a"
    header.append(("Z", 0.2), useblanks=False, bottom=True)
    assert header_meta(header, keys=["z", "NAXIS", "MISSING"]) == {"Z": 0.1}
    assert header_meta(header) == {"Z": 0.1, "OBJ": "a"}


def test_log_linear_grid_is_a_fresh_array_each_time():
    header = fits.Header({"CRVAL1": 3.5682, "CDELT1": 1e-4})
    a = log_linear_wavelength(header, 10, "x.fits")
    a[0] = -1.0
    b = log_linear_wavelength(header, 10, "x.fits")
    assert b[0] == pytest.approx(10**3.5682) and b.flags.writeable
