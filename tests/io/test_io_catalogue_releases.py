"""Catalogues of every release, FITS or CSV, columns matched without regard to case: APOGEE
DR17 allStar/allStarLite, the LAMOST DR10 CSV, a match table naming LAMOST files, GALAH DR3/DR4."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from survey_fakes import write_allstar

from stereo_ppl.io import SurveyFileError, read_allstar, read_lamost_catalogue
from stereo_ppl.io.catalogues import ALLSTAR_COLUMNS
from stereo_ppl.io.galah_catalogue import read_galah_catalogue


def real(shared_data, name):
    path = shared_data / "real" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in ../shared/data/real")
    return path


def test_real_allstarlite_dr17_csv(shared_data):
    t = read_allstar(real(shared_data, "allStarLite_10rows.csv"), columns=["aspcapflags"])
    assert len(t) == 9 and t.meta["num_duplicates"] == 1  # 2M00000032+5737103 twice
    assert list(t["APOGEE_ID"]).count("2M00000032+5737103") == 1
    assert set(ALLSTAR_COLUMNS) <= set(t.colnames) and "LOCATION_ID" not in t.colnames
    assert t["ASPCAPFLAG"].dtype == np.int64 and t["TEFF"].dtype == np.float64
    assert t["ASPCAPFLAGS"].mask.sum() == 6  # empty in the CSV: masked, not ''
    every = read_allstar(real(shared_data, "allStarLite_10rows.csv"), drop_duplicates=False)
    assert len(every) == 10


def test_dr17_allstar_fits_and_csv_agree(tmp_path):
    written = write_allstar(tmp_path / "allStar-dr17.fits", release="dr17", num_stars=4)
    written["EXTRATARG"] = np.array([0, 16, 0, 0], dtype=">i4")
    written["FILE"] = ["apStar-dr17-a.fits", "", "asStar-dr17-c.fits", ""]
    written["TEFF"][2] = np.nan  # DR17: NaN for missing
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(written)])
    hdul.writeto(tmp_path / "allStar-dr17.fits", overwrite=True)
    lower = written.copy()
    lower.rename_columns(lower.colnames, [c.lower() for c in lower.colnames])
    lower.write(tmp_path / "allStar-dr17.csv", format="ascii.csv")
    from_fits = read_allstar(tmp_path / "allStar-dr17.fits")
    from_csv = read_allstar(tmp_path / "allStar-dr17.csv")
    assert len(from_fits) == len(from_csv) == 3 and from_csv.colnames == from_fits.colnames
    for name in ("APOGEE_ID", "ASPCAPFLAG", "EXTRATARG"):
        assert list(from_fits[name]) == list(from_csv[name])
    np.testing.assert_allclose(from_fits["TEFF"], from_csv["TEFF"], rtol=1e-6)
    assert list(np.isnan(from_csv["TEFF"])) == [False, True, False]
    assert list(np.ma.getmaskarray(from_csv["FILE"])) == [False, False, True]  # masked survives
    assert from_csv["FILE"][0] == "apStar-dr17-a.fits"


def test_real_lamost_dr10_csv(shared_data):
    t = read_lamost_catalogue(real(shared_data, "lamost_dr10_lrs_stellar_typeG_subset.csv"))
    assert len(t) == 1000 and t["obsid"].dtype == np.int64
    assert t.colnames == ["obsid", "class", "subclass", "snrg", "teff", "logg", "feh", "ra",
                          "dec", "z"]  # fmt: skip
    picked = read_lamost_catalogue(
        real(shared_data, "lamost_dr10_lrs_stellar_typeG_subset.csv"), columns=["SNRG", "Teff"]
    )
    assert picked.colnames == ["obsid", "snrg", "teff"]


def test_real_match_table_names_lamost_files(shared_data):
    t = read_lamost_catalogue(real(shared_data, "thecannon_lamost_labels.fits"))
    assert len(t) == 1387 and t["obsid"].mask.all()
    assert all(str(name).startswith("spec-") for name in t["lamost_file"])
    assert list(t["lamost_file"]) == list(t["LAMOST_ID"])


def test_table_without_obsid_or_file_names_is_refused(tmp_path):
    t = Table({"LAMOST_ID": ["J0001", "J0002"], "ra": [1.0, 2.0]})
    t.write(tmp_path / "t.fits")
    with pytest.raises(SurveyFileError, match="column 'obsid': is missing"):
        read_lamost_catalogue(tmp_path / "t.fits")


def test_real_galah_dr3_catalogue(shared_data):
    t = read_galah_catalogue(real(shared_data, "galah_dr3_allstar_m67_lite.csv"))
    assert len(t) == 813 and t["sobject_id"].dtype == np.int64
    assert t.meta["release"] == "DR3" and t.meta["snr_column"] == "snr_c2_iraf"
    assert {"flag_sp", "tmass_id", "teff", "fe_h"} <= set(t.colnames)


@pytest.mark.parametrize("suffix", [".fits", ".csv"])
def test_galah_dr4_catalogue_upper_case_file(tmp_path, suffix):
    t = Table()
    t["SOBJECT_ID"] = np.array([210115002201239, 131123003001096], dtype=np.int64)
    t["FLAG_SP"] = np.array([0, 8], dtype=np.int32)
    t["SNR_PX_CCD3"] = [603.1, np.nan]
    t["TEFF"] = [5655.0, 4800.0]
    path = tmp_path / f"galah_dr4_allstar{suffix}"
    t.write(path, format="fits" if suffix == ".fits" else "ascii.csv")
    read = read_galah_catalogue(path, columns=["teff", "snr_px_ccd3", "FLAG_SP"])
    assert read.colnames == ["sobject_id", "teff", "snr_px_ccd3", "flag_sp"]
    assert read.meta["release"] == "DR4" and np.isnan(read["snr_px_ccd3"][1])
    with pytest.raises(SurveyFileError, match="column 'logg'"):
        read_galah_catalogue(path, columns=["logg"])
