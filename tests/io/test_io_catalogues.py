"""Catalogue readers: allStar (DR14-DR17 conventions) and LAMOST (FITS or CSV)."""

import numpy as np
import pytest
from survey_fakes import write_allstar, write_lamost_catalogue

from stereo_ppl.io.catalogues import ALLSTAR_COLUMNS, read_allstar, read_lamost_catalogue
from stereo_ppl.io.errors import SurveyFileError


@pytest.mark.parametrize("release", ["dr14", "dr16", "dr17"])
def test_allstar_missing_values_become_nan(tmp_path, release):
    written = write_allstar(tmp_path / "allStar.fits", release=release)
    t = read_allstar(tmp_path / "allStar.fits")
    for name in ALLSTAR_COLUMNS:
        assert name in t.colnames
    assert ("RESULTS_VERSION" in t.colnames) == (release != "dr17")
    assert t["APOGEE_ID"][0] == "2M00000000+0000000"  # stripped whatever the width
    for label in ("TEFF", "LOGG", "FE_H", "O_FE"):
        assert t[label].dtype == np.float64
        assert np.isnan(t[label][1]) and np.isfinite(t[label][[0, 2, 3, 4]]).all()
        np.testing.assert_allclose(t[label][0], written[label][0], rtol=1e-6)
    assert t["ASPCAPFLAG"].dtype == np.int64 and list(t["ASPCAPFLAG"]) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(t["RA"], written["RA"])


def test_allstar_extra_and_missing_columns(tmp_path):
    write_allstar(tmp_path / "a.fits")
    t = read_allstar(tmp_path / "a.fits", columns=["telescope"])
    assert t["TELESCOPE"][0] == "apo25m"
    with pytest.raises(SurveyFileError, match="column 'NOPE'"):
        read_allstar(tmp_path / "a.fits", columns=["NOPE"])
    write_allstar(tmp_path / "b.fits", drop_column="O_FE_ERR")
    with pytest.raises(SurveyFileError, match=r"b\.fits, HDU 1, column 'O_FE_ERR': is missing"):
        read_allstar(tmp_path / "b.fits")


def test_allstar_wrong_hdu(tmp_path):
    write_allstar(tmp_path / "a.fits")
    with pytest.raises(SurveyFileError, match=r"HDU 0.*expected a table"):
        read_allstar(tmp_path / "a.fits", hdu=0)


@pytest.mark.parametrize(
    ("name", "fmt", "delimiter", "gz"),
    [
        ("cat.fits", "fits", None, False),
        ("cat.fits.gz", "fits", None, True),
        ("cat.csv", "csv", ",", False),
        ("cat.csv.gz", "csv", "|", True),
        ("cat.dat", "csv", "\t", False),
    ],
)
def test_lamost_catalogue_formats(tmp_path, name, fmt, delimiter, gz):
    write_lamost_catalogue(tmp_path / name, fmt=fmt, delimiter=delimiter or ",", gz=gz)
    t = read_lamost_catalogue(tmp_path / name)
    assert list(t["obsid"]) == [101013, 677503031, 359910161] and t["obsid"].dtype == np.int64
    assert np.isnan(t["snrg"][2]) and np.isnan(t["teff"][1]) and np.isnan(t["logg"][2])
    assert t["snrz"][0] == pytest.approx(4.67, rel=1e-6)
    assert t["subclass_id"].mask.tolist() == [False, True, False]
    assert t["designation"][0] == "J1"


def test_lamost_catalogue_column_selection(tmp_path):
    write_lamost_catalogue(tmp_path / "c.csv", fmt="csv")
    t = read_lamost_catalogue(tmp_path / "c.csv", columns=["snrz", "teff"])
    assert t.colnames == ["obsid", "snrz", "teff"]
    with pytest.raises(SurveyFileError, match="column 'nope'"):
        read_lamost_catalogue(tmp_path / "c.csv", columns=["nope"])


def test_lamost_catalogue_without_obsid(tmp_path):
    (tmp_path / "c.csv").write_text("ra,dec\n1.0,2.0\n")
    with pytest.raises(SurveyFileError, match="column 'obsid'"):
        read_lamost_catalogue(tmp_path / "c.csv")
    (tmp_path / "d.csv").write_text("OBSID,ra\nabc,2.0\n")
    with pytest.raises(SurveyFileError, match="whole number"):
        read_lamost_catalogue(tmp_path / "d.csv")
    (tmp_path / "e.csv").write_text("OBSID,SNR\n5,2.0\n")
    assert read_lamost_catalogue(tmp_path / "e.csv").colnames == ["obsid", "SNR"]


def test_lamost_catalogue_garbage(tmp_path):
    (tmp_path / "c.csv").write_bytes(b"\x00\xff\x10" * 100)
    with pytest.raises(SurveyFileError, match=r"c\.csv"):
        read_lamost_catalogue(tmp_path / "c.csv")
    with pytest.raises(SurveyFileError, match="no such file"):
        read_lamost_catalogue(tmp_path / "none.csv")
