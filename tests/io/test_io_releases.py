"""Files the tests write in the layouts of every release: LAMOST DR1 and medium resolution,
GALAH DR4, APOGEE apVisit and DR17; identified by content, read by ``read_spectrum``."""

import numpy as np
import pytest
from astropy.io import fits
from release_fakes import (
    write_apvisit,
    write_aspcapstar_dr17,
    write_galah_dr4_ccd,
    write_lamost_dr1,
    write_lamost_mrs,
)
from survey_fakes import write_apstar, write_aspcapstar, write_lamost_table

from stereo_ppl.data.grids import log_linear_grid
from stereo_ppl.io import (
    SurveyFileError,
    identify,
    read_apvisit,
    read_galah,
    read_lamost,
    read_lamost_mrs,
    read_spectrum,
)
from stereo_ppl.io.apogee import (
    APOGEE_CHIPS_DR11,
    APOGEE_CHIPS_DR13,
    apogee_chips,
    apogee_release,
)
from stereo_ppl.io.wavelength import air_to_vacuum


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_lamost_dr1_rows_named_by_exten0(tmp_path):
    path = tmp_path / "spec-55862-B6212_sp06-003.fits"
    written = write_lamost_dr1(path)
    s = read_lamost(path)
    assert (s.survey, s.release, s.layout) == ("LAMOST", "DR1", "image")
    assert s.num_pixels == 3904
    # the wavelength is the header grid, not row 2 (the sub-continuum flux, about 1)
    np.testing.assert_allclose(s.wavelength.value, log_linear_grid(3.5682, 1e-4, 3904))
    np.testing.assert_array_equal(s.flux, written["flux"])
    np.testing.assert_array_equal(s.bad, written["bad"])
    assert "OBSID" not in s.meta
    assert s.meta["SNRG"] == pytest.approx(153.72) and s.meta["SN_G"] == pytest.approx(153.72)


@pytest.mark.parametrize(
    "exten0",
    ["Flux Inverse Continuum Andmask Ormask", "Flux Inverse Subcontinuum Andmask", "Wavelength"],
)
def test_lamost_dr1_with_a_wrong_exten0_is_refused_in_one_line(tmp_path, exten0):
    path = tmp_path / "spec-55862-B6212_sp06-003.fits"
    write_lamost_dr1(path, exten0=exten0)
    with pytest.raises(SurveyFileError, match="keyword 'EXTEN0'") as info:
        read_lamost(path)
    assert one_line(info).startswith(str(path))


@pytest.mark.parametrize(("column", "gz"), [("LOGLAM", True), ("WAVELENGTH", False)])
def test_lamost_mrs_coadd_arms(tmp_path, column, gz):
    path = tmp_path / ("med-58625-TD192102N424113K01_sp12-076.fits" + (".gz" if gz else ""))
    arms = write_lamost_mrs(path, column=column, gz=gz)
    s = read_lamost_mrs(path)
    assert (s.survey, s.release, s.layout) == ("LAMOST-MRS", "DR7", "mrs-coadd")
    blue, red = arms["COADD_B"], arms["COADD_R"]
    assert s.num_pixels == blue["flux"].size + red["flux"].size
    np.testing.assert_allclose(
        s.wavelength.value, np.concatenate([blue["wavelength"], red["wavelength"]]), rtol=1e-6
    )
    np.testing.assert_array_equal(s.bad, np.concatenate([blue["bad"], red["bad"]]))
    assert list(np.unique(s.meta["ARM"])) == ["B", "R"] and s.meta["OBSID"] == 744812076
    assert identify(path).survey == "LAMOST-MRS"
    assert read_spectrum(path).layout == "mrs-coadd"
    with pytest.raises(SurveyFileError, match="medium-resolution") as info:
        read_lamost(path)
    assert "prepare and denoise" in one_line(info)


def test_lamost_mrs_arms_out_of_order_are_refused(tmp_path):
    path = tmp_path / "med.fits"
    write_lamost_mrs(path)
    with fits.open(path, mode="update") as hdul:
        hdul[1].name, hdul[2].name = "COADD_R", "COADD_B"
    with pytest.raises(SurveyFileError, match="expected 'COADD_B'"):
        read_lamost_mrs(path)


def test_galah_dr4_ccd_files(tmp_path):
    written = {ccd: write_galah_dr4_ccd(tmp_path / f"210115002201239{ccd}.fits", ccd) for ccd in
               (1, 2, 3, 4)}  # fmt: skip
    s = read_galah(tmp_path / "210115002201239", normalised=None)
    assert (s.survey, s.release, s.layout) == ("GALAH", "DR4", "ccd") and not s.needs_normalising
    assert s.num_pixels == 4 * 4096 and s.meta["SOBJECT_ID"] == 210115002201239
    first = written[1]
    np.testing.assert_array_equal(s.flux[:4096], first["normalized"])
    np.testing.assert_allclose(s.wavelength.value[:4096], air_to_vacuum(first["grid"]))
    sigma = first["relative"] * first["normalized"]
    good = sigma > 0
    np.testing.assert_allclose(s.ivar[:4096][good], 1 / sigma[good] ** 2, rtol=1e-6)
    assert s.bad[:4096][~good].all()
    counts = read_galah(tmp_path / "210115002201239", normalised=False, ccds=(2,))
    assert counts.needs_normalising
    np.testing.assert_array_equal(counts.flux, written[2]["counts"])
    one = read_spectrum(tmp_path / "2101150022012393.fits")
    assert one.meta["CCDS"] == (3,) and one.release == "DR4"


def test_galah_releases_are_not_mixed(tmp_path):
    from stereo_ppl.io import write_galah_ccd

    write_galah_dr4_ccd(tmp_path / "2101150022012391.fits", 1)
    write_galah_ccd(
        tmp_path / "2101150022012392.fits",
        flux=np.full(4096, 100.0),
        relative_error=np.full(4096, 0.01),
        crval1=5648.25,
        cdelt1=0.0547,
        normalised=np.ones(4096),
    )
    with pytest.raises(SurveyFileError, match="releases"):
        read_galah(tmp_path / "2101150022012391.fits", ccds=(1, 2))


def test_galah_wrong_hdu_count_names_both_releases(tmp_path):
    path = tmp_path / "2101150022012391.fits"
    write_galah_dr4_ccd(path, 1)
    with fits.open(path) as hdul:
        fits.HDUList(hdul[:6]).writeto(path, overwrite=True)
    with pytest.raises(SurveyFileError, match=r"has 6 HDUs.*5 in DR3.*8 in DR4"):
        read_galah(path, ccds=(1,))


def test_apvisit_three_chips_high_to_low(tmp_path):
    path = tmp_path / "apVisit-dr17-7351-56674-265.fits"
    written = write_apvisit(path)
    s = read_apvisit(path)
    assert (s.survey, s.release, s.layout) == ("APOGEE", "DR17", "apVisit")
    assert s.num_pixels == 3 * 4096 and np.all(np.diff(s.wavelength.value) > 0)
    np.testing.assert_array_equal(s.flux, written["flux"].astype(np.float32)[::-1, ::-1].ravel())
    np.testing.assert_array_equal(s.meta["CHIP"][:4096], 2)  # chip c is the bluest
    crpix = written["mask"][::-1, ::-1].reshape(-1) == 2
    assert s.bad[crpix].all() and s.num_bad == crpix.sum()
    assert s.meta["APOGEE_ID"] == "2M11194647+0820356"
    assert identify(path).layout == "apVisit" and read_spectrum(path).num_pixels == 3 * 4096


def test_apvisit_overlapping_wavelengths_are_refused(tmp_path):
    path = tmp_path / "apVisit.fits"
    write_apvisit(path)
    with fits.open(path, mode="update") as hdul:
        hdul[4].data[1, 0] = hdul[4].data[0, 5]
    with pytest.raises(SurveyFileError, match="wavelength does not increase"):
        read_apvisit(path)


def test_dr17_aspcapstar_float64_without_primary_id(tmp_path):
    path = tmp_path / "aspcapStar-dr17-2M00000002+7417074.fits"
    written = write_aspcapstar_dr17(path)
    s = read_spectrum(path)
    assert (s.survey, s.release, s.layout) == ("APOGEE", "DR17", "aspcapStar")
    assert s.meta["APOGEE_ID"] == "2M00000002+7417074" and np.isnan(s.meta["TEFF"])
    assert s.meta["ASPCAPFLAG"] == 1 << 23
    np.testing.assert_array_equal(s.flux, written["flux"])
    assert s.bad[~written["chips"]].all()


def test_truncated_dr17_aspcapstar_is_one_line(tmp_path):
    path = tmp_path / "aspcapStar-dr17-2M00000002+7417074.fits"
    write_aspcapstar_dr17(path)
    path.write_bytes(path.read_bytes()[: 2880 * 20])
    with pytest.raises(SurveyFileError, match="truncated") as info:
        read_spectrum(path)
    one_line(info)


@pytest.mark.parametrize("nvisits", [1, 3])
def test_dr17_apstar_float64_int64(tmp_path, nvisits):
    path = tmp_path / "asStar-dr17-2M11111111+2222222.fits"
    written = write_apstar(path, nvisits=nvisits, dtype=">f8", mask_dtype=">i8")
    s = read_spectrum(path)
    assert (s.survey, s.release, s.layout) == ("APOGEE", "DR17", "apStar")
    row = written["bad"] if nvisits == 1 else written["bad"][0]
    np.testing.assert_array_equal(s.bad, row)


@pytest.mark.parametrize(
    ("name", "release", "chips"),
    [
        ("aspcapStar-v402-2M00000000+0000000.fits", "DR11", APOGEE_CHIPS_DR11),
        ("aspcapStar-r5-v603-2M00000000+0000000.fits", "DR12", APOGEE_CHIPS_DR11),
        ("aspcapStar-r6-l30e.2-2M00000000+0000000.fits", "DR13", APOGEE_CHIPS_DR13),
        ("aspcapStar-r8-l31c.2-2M00000000+0000000.fits", "DR14", APOGEE_CHIPS_DR13),
        ("aspcapStar-r12-2M00000000+0000000.fits", "DR16", APOGEE_CHIPS_DR13),
        ("aspcapStar-dr17-2M00000000+0000000.fits", "DR17", APOGEE_CHIPS_DR13),
    ],
)
def test_apogee_release_and_chips(tmp_path, name, release, chips):
    path = tmp_path / name
    write_aspcapstar(path)
    s = read_spectrum(path)
    assert s.release == release and apogee_chips(s.release) == chips
    assert sum(b - a for a, b in apogee_chips(release)) == (7214 if release < "DR13" else 7514)


def test_release_comes_from_the_content_before_the_name(tmp_path):
    path = tmp_path / "aspcapStar-dr17-2M00000000+0000000.fits"
    write_aspcapstar(path, header_keys={"FILE": "apStar-r5-2M00000000+0000000.fits"})
    assert read_spectrum(path).release == "DR12"
    assert apogee_release({"SFILE1": "apVisit-r8-1-2-3.fits"}) == "DR14"
    renamed = tmp_path / "mystery.fits"
    write_lamost_table(renamed)
    assert tuple(identify(renamed)) == ("LAMOST", "DR9", "table")


def test_not_a_spectrum_file(tmp_path):
    csv = tmp_path / "catalogue.csv"
    csv.write_text("obsid,ra\n1,2\n")
    with pytest.raises(SurveyFileError, match="is not a FITS file") as info:
        read_spectrum(csv)
    one_line(info)
    table = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(np.zeros(3, [("a", "f4")]))]).writeto(table)
    with pytest.raises(SurveyFileError, match="not a spectrum file of APOGEE, LAMOST or GALAH"):
        identify(table)
