"""``prepare`` with files of other releases: an MRS file is refused in one line, a match
table names LAMOST files (no obsid), DR17 allStar duplicates and STAR_BAD, DR12 chips."""

import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from stereo_ppl.io import read_allstar, write_catalogue
from stereo_ppl.io.catalogues import STAR_BAD
from stereo_ppl.prepare import Cuts, PrepareError, prepare_paired
from stereo_ppl.prepare.cuts import apply_cuts
from stereo_ppl.prepare.reading import PairTask, read_pairs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from release_fakes import write_lamost_dr1, write_lamost_mrs
from survey_fakes import write_allstar, write_aspcapstar, write_lamost_table

NO_CUTS = Cuts(
    min_apogee_snr=None,
    min_lamost_snr=None,
    starflag_zero=False,
    aspcapflag_zero=False,
    max_missing_apogee_pixels=None,
    require_labels=False,
    label_sigma_clip=None,
)


def two_stars(tmp_path, lamost_writers):
    """aspcapStar files of two stars and the LAMOST files the writers make."""
    names = []
    for i, (name, writer) in enumerate(lamost_writers):
        write_aspcapstar(tmp_path / f"aspcapStar-r12-2M0000000{i}+0000000.fits",
                         header_keys={"OBJ": f"2M0000000{i}+0000000"})  # fmt: skip
        writer(tmp_path / name)
        names.append(name)
    return names


DR1_AND_DR9 = [
    ("spec-55862-B6212_sp06-003.fits", write_lamost_dr1),
    ("spec-55859-F5902_sp01-013.fits", write_lamost_table),
]


def joint_table(names, obsids):
    t = Table()
    t["APOGEE_ID"] = [f"2M0000000{i}+0000000" for i in range(len(names))]
    if obsids is not None:
        t["obsid"] = np.array(obsids, dtype=np.int64)
    t["SNR"], t["snrz"] = [100.0] * len(names), [100.0] * len(names)
    t["STARFLAG"], t["ASPCAPFLAG"] = [0] * len(names), [0] * len(names)
    t["TEFF"], t["LOGG"], t["FE_H"] = [4500.0] * len(names), [2.5] * len(names), [0.0] * len(names)
    t["lamost_file"] = names
    return t


def test_prepare_refuses_an_mrs_file_in_one_line(tmp_path):
    names = two_stars(tmp_path, [("spec-55859-F5902_sp01-013.fits", write_lamost_table),
                                 ("med-58625-TD192102N424113K01_sp12-076.fits",
                                  write_lamost_mrs)])  # fmt: skip
    catalogue = write_catalogue(tmp_path / "joint.fits", joint_table(names, [101013, 744812076]))
    result = prepare_paired(catalogue=catalogue, apogee_dir=tmp_path, lamost_dir=tmp_path,
                            cuts=NO_CUTS, report=lambda r: None)  # fmt: skip
    assert result.paired.sizes["star"] == 1
    (rejection,) = result.rejected
    assert rejection.file.endswith(names[1]) and "\n" not in rejection.reason
    assert "LAMOST medium-resolution (MRS) spectrum" in rejection.reason
    assert "prepare and denoise take LAMOST low-resolution spectra only" in rejection.reason
    with pytest.raises(PrepareError, match="medium-resolution"):
        prepare_paired(catalogue=catalogue, apogee_dir=tmp_path, lamost_dir=tmp_path,
                       cuts=NO_CUTS, strict=True)  # fmt: skip


def test_match_table_naming_lamost_files_without_obsid(tmp_path):
    """As The Cannon's APOGEE x LAMOST DR2 table: LAMOST_ID = 'spec-....fits', no obsid.
    The obsid comes from the file; a DR1-DR2 file has none and is refused saying so."""
    names = two_stars(tmp_path, DR1_AND_DR9)
    t = joint_table(names, None)
    t.rename_column("lamost_file", "LAMOST_ID")
    catalogue = write_catalogue(tmp_path / "match.fits", t)
    result = prepare_paired(catalogue=catalogue, apogee_dir=tmp_path, lamost_dir=tmp_path,
                            cuts=NO_CUTS, report=lambda r: None)  # fmt: skip
    assert result.paired.sizes["star"] == 1
    assert list(result.paired["obsid"].values) == [101013]  # the file's OBSID
    (rejection,) = result.rejected
    assert rejection.file.endswith(names[0]) and "has no OBSID card" in rejection.reason


def test_match_table_duplicate_files_are_dropped(tmp_path):
    names = two_stars(tmp_path, DR1_AND_DR9)
    t = joint_table([names[1], names[1]], None)
    catalogue = write_catalogue(tmp_path / "match.fits", t)
    result = prepare_paired(catalogue=catalogue, apogee_dir=tmp_path, lamost_dir=tmp_path,
                            cuts=NO_CUTS, report=lambda r: None)  # fmt: skip
    assert result.paired.sizes["star"] == 1
    assert f"duplicate LAMOST file {names[1]}" in result.rejected[0].reason


def test_dr17_allstar_duplicates_and_star_bad(tmp_path):
    written = write_allstar(tmp_path / "allStar-dr17.fits", release="dr17", num_stars=5)
    written["EXTRATARG"] = np.array([0, 16 | 4, 0, 1, 0], dtype=">i4")
    written["ASPCAPFLAG"] = np.array([0, 0, STAR_BAD, 0, 0], dtype=">i8")
    write_catalogue(tmp_path / "allStar-dr17.fits", written)
    t = read_allstar(tmp_path / "allStar-dr17.fits")
    assert len(t) == 4 and t.meta["num_duplicates"] == 1
    assert "2M00000001+0000000" not in list(t["APOGEE_ID"])
    cuts = Cuts(min_apogee_snr=None, min_lamost_snr=None, require_labels=False,
                label_sigma_clip=None, max_missing_apogee_pixels=None)  # fmt: skip
    result = apply_cuts(t, cuts, until="aspcapflag")
    assert list(t["APOGEE_ID"][~result.keep]) == ["2M00000002+0000000"]  # STAR_BAD
    assert result.counts[-1].name == "aspcapflag" and result.counts[-1].num_removed == 1


def test_dr12_stars_count_missing_pixels_on_their_own_chips(tmp_path):
    """DR12 chips are narrower: the pixels a DR12 file never had are masked, not missing."""
    own = np.zeros(8575, bool)
    for start, stop in ((322, 3242), (3648, 6048), (6412, 8306)):
        own[start:stop] = True
    paths = {}
    for token in ("r5-v603", "r6-l30e.2"):
        path = tmp_path / f"aspcapStar-{token}-2M00000000+0000000.fits"
        write_aspcapstar(path, table=False)
        with fits.open(path, mode="update") as hdul:  # the same DR12-like file twice
            for index in (1, 2, 3):
                hdul[index].data[~own] = 0.0
        paths[token] = path
    lamost = tmp_path / "spec-55859-F5902_sp01-013.fits"
    write_lamost_table(lamost)
    results = read_pairs([PairTask(i, str(p), str(lamost), "2M00000000+0000000", 101013)
                          for i, p in enumerate(paths.values())])  # fmt: skip
    dr12, dr13 = results
    # the files are the same; read as DR13, the 300 pixels off the DR12 chips are missing
    assert dr13.num_missing - dr12.num_missing == 300
    np.testing.assert_array_equal(dr12.apogee_ivar, dr13.apogee_ivar)
