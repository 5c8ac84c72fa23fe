import gzip

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from stereo_ppl.data import apogee_chip_mask, lamost_grid
from stereo_ppl.io import (
    index_apogee_files,
    index_lamost_files,
    lamost_file_name,
    lamost_key,
    read_aspcapstar,
    read_lamost,
    read_lamost_catalogue,
    write_aspcapstar,
    write_catalogue,
    write_lamost_dr4,
)
from stereo_ppl.io.writers import _card


def aspcap_arrays(seed=0):
    rng = np.random.default_rng(seed)
    chips = apogee_chip_mask()
    flux = np.where(chips, rng.normal(0.95, 0.03, chips.size), 0.0).astype(np.float32)
    error = np.where(chips, rng.uniform(0.005, 0.01, chips.size), 0.0).astype(np.float32)
    return flux, error


def structure(path):
    """HDU classes, data shapes and dtypes, grid keys, table formats of a FITS file."""
    with fits.open(path) as hdul:
        out = []
        for hdu in hdul:
            item = [type(hdu).__name__]
            if isinstance(hdu, fits.BinTableHDU):
                item.append({c.name: c.format for c in hdu.columns})
            elif hdu.data is not None:
                item += [hdu.data.shape, hdu.data.dtype.str]
            out.append(item)
        return out


def test_aspcapstar_layout_is_the_real_dr13_one(tmp_path, shared_data):
    flux, error = aspcap_arrays()
    path = write_aspcapstar(
        tmp_path / "aspcapStar-r12-2M11194647+0820356.fits",
        flux=flux,
        error=error,
        apogee_id="2M11194647+0820356",
        header={"RA": 169.943658, "DEC": 8.343246, "SNR": 350.5},
        results={"SNR": 350.5, "STARFLAG": 0, "ASPCAPFLAG": 0, "PARAM": np.zeros(9)},
    )
    real = structure(shared_data / "real" / "aspcapStar-r6-l30e.2-2M11194647+0820356.fits")
    ours = structure(path)
    assert [item[:3] for item in ours[:4]] == [item[:3] for item in real[:4]]
    assert ours[4][0] == real[4][0] == "BinTableHDU"
    for name, form in ours[4][1].items():
        assert real[4][1][name] == form, name
    real_header = fits.getheader(
        shared_data / "real" / "aspcapStar-r6-l30e.2-2M11194647+0820356.fits", 1
    )
    ours_header = fits.getheader(path, 1)
    for key in ("CRVAL1", "CDELT1", "CRPIX1", "CTYPE1", "DC-FLAG"):
        assert ours_header[key] == real_header[key]


def test_aspcapstar_round_trip_through_the_reader(tmp_path):
    flux, error = aspcap_arrays(1)
    error[300] = 10.0  # ASPCAP's bad-pixel error
    path = write_aspcapstar(
        tmp_path / "a.fits",
        flux=flux,
        error=error,
        model=flux + 0.01,
        apogee_id="2M00000000-1234567",
        header={"SNR": float("nan")},
        results={"SNR": 401.0, "STARFLAG": 4, "ASPCAPFLAG": 2**31, "PARAM": [4500.0, np.nan]},
    )
    spectrum = read_aspcapstar(path)
    chips = apogee_chip_mask()
    np.testing.assert_array_equal(spectrum.flux, flux)
    good = chips.copy()
    good[300] = False
    np.testing.assert_allclose(spectrum.ivar[good], 1.0 / error[good].astype(float) ** 2)
    assert np.all(spectrum.ivar[~good] == 0)
    np.testing.assert_allclose(spectrum.model, (flux + 0.01).astype(np.float32))
    meta = spectrum.meta
    assert meta["APOGEE_ID"] == "2M00000000-1234567" and meta["STARFLAG"] == 4
    assert meta["ASPCAPFLAG"] == 2**31  # int64 column
    assert np.isnan(meta["PARAM"][1]) and meta["SNR"] == 401.0  # the table's SNR wins
    assert fits.getval(path, "SNR") == -9999.0  # NaN in a header is written as -9999


def test_lamost_dr4_layout_and_round_trip(tmp_path, shared_data):
    rng = np.random.default_rng(2)
    flux = rng.uniform(500, 1500, 3909).astype(np.float32)
    ivar = rng.uniform(1e-3, 2e-3, 3909).astype(np.float32)
    ivar[:20] = 0.0
    coeff0 = 3.5682 + np.log10(1 + 1.2e-4)
    path = write_lamost_dr4(
        tmp_path / lamost_file_name(56000, "PLAN01", 3, 31),
        flux=flux,
        ivar=ivar,
        obsid=123456789,
        coeff0=coeff0,
        header={"Z": 1.2e-4, "SNRZ": 321.5, "CLASS": "STAR", "RA": 1.5, "DEC": -2.5},
    )
    assert path.name == "spec-56000-PLAN01_sp03-031.fits"
    real = structure(shared_data / "real" / "spec-58397-EG014118N254444M01_sp03-031.fits")
    assert structure(path) == real
    spectrum = read_lamost(path)
    assert spectrum.layout == "image"
    np.testing.assert_array_equal(spectrum.flux, flux)
    np.testing.assert_array_equal(spectrum.ivar, ivar)
    np.testing.assert_allclose(spectrum.wavelength.value, lamost_grid() * (1 + 1.2e-4), rtol=1e-12)
    assert spectrum.meta["OBSID"] == 123456789 and spectrum.meta["Z"] == 1.2e-4
    assert spectrum.meta["SNRZ"] == 321.5 and spectrum.meta["CLASS"] == "STAR"


def test_writers_refuse_wrong_shapes(tmp_path):
    with pytest.raises(ValueError, match="8575"):
        write_aspcapstar(tmp_path / "a.fits", flux=np.ones(10), error=np.ones(10), apogee_id="x")
    with pytest.raises(ValueError, match="1-D"):
        write_lamost_dr4(tmp_path / "l.fits", flux=np.ones(10), ivar=np.ones(11), obsid=1)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        0,
        -12,
        2**40,
        0.1,
        -1.6690218446728523e-04,
        1e-300,
        3.5681787151078184,
        "",
        "it's",
        "LAMOST J013730.44+252537.7",
    ],
)
def test_header_cards_parse_back_to_the_same_value(value):
    card = _card("KEY", value, "a comment")
    assert len(card) == 80
    parsed = fits.Card.fromstring(card)
    assert parsed.keyword == "KEY" and parsed.comment == "a comment"
    if isinstance(value, float):
        assert parsed.value == pytest.approx(value, rel=1e-14)
    else:
        assert parsed.value == value and type(parsed.value) is type(value)


def test_catalogue_round_trip(tmp_path):
    t = Table()
    t["APOGEE_ID"] = ["2M1", "2M2"]
    t["obsid"] = np.array([1, 2], dtype=np.int64)
    t["snrz"] = np.array([300.5, -9999.0], dtype=np.float32)
    path = write_catalogue(tmp_path / "joint.fits", t)
    back = read_lamost_catalogue(path)
    assert list(back["APOGEE_ID"]) == ["2M1", "2M2"] and list(back["obsid"]) == [1, 2]
    assert back["snrz"][0] == pytest.approx(300.5) and np.isnan(back["snrz"][1])


def test_file_indexes(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in (
        "a/aspcapStar-r6-l30e.2-2M11194647+0820356.fits",
        "a/deep/aspcapStar-r12-2M05123456-1234567.fits.gz",
        "a/aspcapStar-dr17-2M00000001+0000001.fits",
        "a/deep/aspcapStar-r12-2M00000001+0000001.fits",
        "a/apStar-r6-2M99999999+9999999.fits",
        "a/notes.txt",
    ):
        (tmp_path / name).write_bytes(gzip.compress(b"x") if name.endswith(".gz") else b"x")
    index = index_apogee_files(tmp_path / "a")
    assert [p.name for p in index.get("2M11194647+0820356")] == [
        "aspcapStar-r6-l30e.2-2M11194647+0820356.fits"
    ]
    assert [p.name for p in index.get("2M05123456-1234567")] == [
        "aspcapStar-r12-2M05123456-1234567.fits.gz"
    ]
    assert len(index.get("2M00000001+0000001")) == 2  # a duplicate is visible
    assert index.get("2M99999999+9999999") == []
    (tmp_path / "l").mkdir()
    for name in ("spec-55859-F5902_sp01-013_dr8.fits.gz", "spec-58397-EG01_sp03-031.fits"):
        (tmp_path / "l" / name).write_bytes(b"x")
    lamost = index_lamost_files(tmp_path / "l")
    assert lamost.get(lamost_key(55859, "F5902", 1, 13))[0].name.endswith("_dr8.fits.gz")
    assert lamost.get(lamost_key("58397", "EG01", "3", "31"))
    with pytest.raises(Exception, match="not a directory"):
        index_lamost_files(tmp_path / "missing")
