"""Every real public spectrum file in ../shared/data/real (see its PROVENANCE.md) through
``read_spectrum``: survey, release and layout told from the content; skipped where absent."""

import numpy as np
import pytest
from astropy.io import fits

from stereo_ppl.data.grids import log_linear_grid
from stereo_ppl.io import SurveyFileError, describe_file, identify, read_lamost, read_spectrum
from stereo_ppl.io.summary import SUMMARY_KEYS
from stereo_ppl.io.wavelength import air_to_vacuum

#: file: (survey, release, layout, num_pixels, id)
REAL_SPECTRA = {
    "aspcapStar-r6-l30e.2-2M11194647+0820356.fits": ("APOGEE", "DR13", "aspcapStar", 8575,
                                                     "2M11194647+0820356"),
    "apStar-r6-2M11194647+0820356.fits": ("APOGEE", "DR13", "apStar", 8575, "2M11194647+0820356"),
    "spec-55862-B6212_sp06-003.fits": ("LAMOST", "DR1", "image", 3904, "spec-55862-B6212_sp06-003"),
    "spec-55859-F5902_sp01-005_dr5.fits.gz": ("LAMOST", "DR5", "image", 3908, "101005"),
    "spec-55859-F5902_sp01-005_dr9.fits.gz": ("LAMOST", "DR9", "table", 3908, "101005"),
    "spec-55859-F5902_sp01-013_dr8.fits.gz": ("LAMOST", "DR9", "table", 3908, "101013"),
    "spec-57287-KP193637N444141V03_sp10-161.fits.gz": ("LAMOST", "DR6", "image", 3909,
                                                       "359910161"),
    "spec-58397-EG014118N254444M01_sp03-031.fits": ("LAMOST", "DR7", "image", 3909, "677503031"),
    "spec-59522-EG224840N075042B03_sp01-119.fits.gz": ("LAMOST", "DR10", "table", 3909,
                                                       "938501119"),
    "med-58625-TD192102N424113K01_sp12-076.fits.gz": ("LAMOST-MRS", "DR7", "mrs-coadd", 7956,
                                                      "744812076"),
    **{f"131123003001096{ccd}.fits": ("GALAH", "DR3", "ccd", 4096, "131123003001096")
       for ccd in (1, 2, 3, 4)},
    **{f"210115002201239{ccd}.fits": ("GALAH", "DR4", "ccd", 4096, "210115002201239")
       for ccd in (1, 2, 3, 4)},
}  # fmt: skip


def real(shared_data, name):
    path = shared_data / "real" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in ../shared/data/real")
    return path


@pytest.mark.filterwarnings("ignore:.*AKWISE.*")  # the real DR13 header's 'NAN' card
@pytest.mark.filterwarnings("ignore:Verification reported errors")
@pytest.mark.filterwarnings("ignore:Note. astropy.io.fits uses zero-based indexing")
@pytest.mark.parametrize("name", sorted(REAL_SPECTRA))
def test_every_real_file_is_identified_and_read(shared_data, name):
    path = real(shared_data, name)
    survey, release, layout, num_pixels, object_id = REAL_SPECTRA[name]
    assert tuple(identify(path)) == (survey, release, layout)
    s = read_spectrum(path)
    assert (s.survey, s.release, s.layout, s.num_pixels) == (survey, release, layout, num_pixels)
    assert np.all(np.diff(s.wavelength.value) > 0) and s.num_bad < s.num_pixels // 4
    row = describe_file(path)
    assert tuple(row) == SUMMARY_KEYS and row["status"].startswith("ok")
    assert row["survey"] == survey.split("-")[0] and row["id"] == object_id


def test_the_same_spectrum_in_dr5_image_and_dr9_table_layout(shared_data):
    dr5 = read_spectrum(real(shared_data, "spec-55859-F5902_sp01-005_dr5.fits.gz"))
    dr9 = read_spectrum(real(shared_data, "spec-55859-F5902_sp01-005_dr9.fits.gz"))
    assert (dr5.layout, dr9.layout) == ("image", "table")
    assert dr5.meta["OBSID"] == dr9.meta["OBSID"] == 101005
    np.testing.assert_array_equal(dr5.wavelength, dr9.wavelength)
    np.testing.assert_array_equal(dr5.bad, dr9.bad)
    np.testing.assert_array_equal(dr5.bitmask, dr9.bitmask)
    # The blue arm is bit for bit the same; DR9's pipeline (v2.9.8 against v2.9.7)
    # re-reduced the red arm (from 5700 Angstrom), whose flux moved by 0.8% (median).
    blue = dr5.wavelength.value < 5700.0
    np.testing.assert_array_equal(dr5.flux[blue], dr9.flux[blue])
    np.testing.assert_array_equal(dr5.ivar[blue], dr9.ivar[blue])
    red = ~blue & ~dr5.bad
    change = np.abs(dr5.flux[red] / dr9.flux[red] - 1)
    assert 0 < np.median(change) < 0.02


def test_real_dr1_rows_and_old_cards(shared_data):
    path = real(shared_data, "spec-55862-B6212_sp06-003.fits")
    s = read_lamost(path)
    with fits.open(path) as hdul:
        data = hdul[0].data.astype(float)
        assert hdul[0].header["EXTEN0"] == "Flux Inverse Subcontinuum Andmask Ormask"
    np.testing.assert_allclose(s.wavelength.value, log_linear_grid(3.5682, 1e-4, 3904))
    np.testing.assert_array_equal(s.flux, data[0])
    np.testing.assert_array_equal(s.bad, (data[1] == 0) | (data[0] == 0) | (data[3] != 0))
    assert np.median(data[2]) == pytest.approx(1.0, abs=0.05)  # row 2: the sub-continuum flux
    assert "OBSID" not in s.meta and s.meta["SNRG"] == s.meta["SN_G"] == pytest.approx(71.41)


def test_real_mrs_file(shared_data):
    path = real(shared_data, "med-58625-TD192102N424113K01_sp12-076.fits.gz")
    s = read_spectrum(path)
    with fits.open(path) as hdul:
        loglam = np.concatenate([hdul[1].data["LOGLAM"], hdul[2].data["LOGLAM"]]).astype(float)
    np.testing.assert_allclose(s.wavelength.value, 10**loglam)
    assert (s.meta["ARM"] == "B").sum() == 4156 and (s.meta["ARM"] == "R").sum() == 3800
    with pytest.raises(SurveyFileError, match="medium-resolution"):
        read_lamost(path)


def test_real_galah_dr4_star(shared_data):
    from stereo_ppl.io import read_galah

    first = real(shared_data, "2101150022012391.fits")
    s = read_galah(first)
    assert (s.release, s.num_pixels, s.meta["CCDS"]) == ("DR4", 4 * 4096, (1, 2, 3, 4))
    with fits.open(first) as hdul:
        normalized = hdul["normalized"].data.astype(float)
        relative = hdul["relative_error"].data.astype(float)
        h = hdul[0].header
        grid = h["CRVAL1"] + np.arange(4096) * h["CDELT1"]
    np.testing.assert_array_equal(s.flux[:4096], normalized)
    np.testing.assert_allclose(s.ivar[:4096], 1 / (relative * normalized) ** 2, rtol=1e-6)
    np.testing.assert_allclose(s.wavelength.value[:4096], air_to_vacuum(grid))
