import astropy.units as u
import numpy as np
import pytest
from astropy.table import Table

from stereo_ppl.prepare import CatalogueColumnError, match_by_id, match_by_sky


def joint_catalogue():
    t = Table()
    t["APOGEE_ID"] = ["2MA", "2MA", "2MB", "2MC", "2MD", "", "2ME"]
    t["obsid"] = np.array([1, 2, 3, 3, 4, 5, 6], dtype=np.int64)
    t["SNR"] = [350.0, 360.0, 400.0, 500.0, 320.0, 900.0, 310.0]
    t["snrz"] = [100.0, 200.0, 300.0, 300.0, np.nan, 400.0, 350.0]
    return t


@pytest.mark.core
def test_match_by_id_keeps_the_best_row_and_reports_duplicates():
    match = match_by_id(joint_catalogue())
    assert list(match.table["catalogue_row"]) == [1, 3, 4, 6]
    assert list(match.table["APOGEE_ID"]) == ["2MA", "2MC", "2MD", "2ME"]
    assert list(match.table["obsid"]) == [2, 3, 4, 6]
    assert match.num_unmatched == 0
    dropped = {d.row: d for d in match.dropped}
    assert sorted(dropped) == [0, 2, 5]
    assert dropped[0].apogee_id == "2MA" and dropped[0].obsid == 1
    assert "duplicate APOGEE_ID 2MA" in dropped[0].reason and "row 1" in dropped[0].reason
    assert "duplicate obsid 3" in dropped[2].reason and "2MC" in dropped[2].reason
    assert "has no APOGEE_ID" in dropped[5].reason


def test_match_by_id_without_ranking_columns_keeps_the_first_row():
    t = joint_catalogue()
    t.remove_columns(["SNR", "snrz"])
    match = match_by_id(t)
    assert list(match.table["catalogue_row"]) == [0, 2, 4, 6]


def test_match_by_id_names_a_missing_id_column():
    t = joint_catalogue()
    t.remove_column("obsid")
    t.meta["path"] = "joint.csv"
    with pytest.raises(CatalogueColumnError, match=r"joint\.csv: column .obsid. is missing"):
        match_by_id(t)


def offset(ra, dec, east_arcsec, north_arcsec):
    """A position ``east``/``north`` arcsec from (ra, dec) (small offsets)."""
    return (
        ra + east_arcsec / 3600.0 / np.cos(np.radians(dec)),
        dec + north_arcsec / 3600.0,
    )


def sky_catalogues():
    apogee = Table()
    apogee["APOGEE_ID"] = ["2MA", "2MB", "2MC", "2MD", "2ME", "2ME", "2MF"]
    positions = [
        (10.0, 20.0),  # A: two LAMOST visits within 3"
        (50.0, -5.0),  # B: LAMOST 5" away
        (120.0, 45.0),  # C: shares its LAMOST match with D
        offset(120.0, 45.0, 2.0, 0.0),  # D: 2" east of C
        (200.0, 10.0),  # E: listed twice in allStar
        (200.0, 10.0),
        (300.0, -30.0),  # F: nothing near
    ]
    apogee["RA"] = [p[0] for p in positions]
    apogee["DEC"] = [p[1] for p in positions]
    apogee["SNR"] = [400.0, 400.0, 400.0, 400.0, 350.0, 450.0, 400.0]
    lamost = Table()
    lam = [
        (offset(10.0, 20.0, 0.5, 0.0), 11, 150.0),  # A, nearest, lower snrz
        (offset(10.0, 20.0, 0.0, 2.0), 12, 320.0),  # A, farther, higher snrz
        (offset(50.0, -5.0, 0.0, 5.0), 21, 300.0),  # B at 5"
        (offset(120.0, 45.0, 0.4, 0.0), 31, 300.0),  # nearest to C (0.4") and D (1.6")
        (offset(200.0, 10.0, 0.0, -0.3), 51, 300.0),  # E
    ]
    lamost["obsid"] = np.array([item[1] for item in lam], dtype=np.int64)
    lamost["ra"] = [item[0][0] for item in lam]
    lamost["dec"] = [item[0][1] for item in lam]
    lamost["snrz"] = [item[2] for item in lam]
    lamost["SNR"] = [1.0] * len(lam)  # clashes with allStar's SNR
    return apogee, lamost


@pytest.mark.core
def test_match_by_sky_best_snrz_nearest_star_and_duplicates():
    apogee, lamost = sky_catalogues()
    match = match_by_sky(apogee, lamost)
    table = match.table
    assert list(table["APOGEE_ID"]) == ["2MA", "2MC", "2ME"]
    assert list(table["obsid"]) == [12, 31, 51]
    assert list(table["catalogue_row"]) == [0, 2, 5]
    np.testing.assert_allclose(table["separation"], [2.0, 0.4, 0.3], atol=1e-3)
    assert table["separation"].unit == u.arcsec
    assert list(table["SNR"]) == [400.0, 400.0, 450.0]  # allStar's, LAMOST's renamed
    assert list(table["SNR_lamost"]) == [1.0, 1.0, 1.0]
    assert match.num_unmatched == 2  # B (5") and F
    reasons = {(d.row, d.obsid): d.reason for d in match.dropped}
    assert set(reasons) == {(0, 11), (3, 31), (4, -1)}
    assert "another LAMOST observation of APOGEE_ID 2MA" in reasons[(0, 11)]
    assert "kept obsid 12" in reasons[(0, 11)]
    assert "also the match of APOGEE_ID 2MC" in reasons[(3, 31)]
    assert "duplicate APOGEE_ID 2ME" in reasons[(4, -1)]


def test_match_by_sky_radius_and_nearest_without_snrz():
    apogee, lamost = sky_catalogues()
    wide = match_by_sky(apogee, lamost, radius=6 * u.arcsec)
    assert "2MB" in list(wide.table["APOGEE_ID"]) and wide.num_unmatched == 1
    lamost.remove_column("snrz")
    nearest = match_by_sky(apogee, lamost)
    assert nearest.table["obsid"][0] == 11


def test_match_by_sky_ignores_missing_positions():
    apogee, lamost = sky_catalogues()
    apogee["RA"][0] = np.nan
    match = match_by_sky(apogee, lamost)
    assert "2MA" not in list(match.table["APOGEE_ID"])
    assert match.num_unmatched == 3
