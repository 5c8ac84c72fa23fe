"""GALAH DR3 reader and writer: four CCD files per star, synthetic files in the DR3 layout."""

import gzip
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from stereo_ppl.io.errors import SurveyFileError, SurveyFileWarning
from stereo_ppl.io.galah import (
    GALAH_CCDS,
    air_to_vacuum,
    ccd_index,
    galah_file_name,
    galah_files,
    read_galah,
    vacuum_to_air,
)
from stereo_ppl.io.galah_writer import GALAH_EXTNAMES, write_galah_ccd
from stereo_ppl.io.spectrum import Spectrum

SOBJECT_ID = 170418003701205
NUM_PIXELS = 300
#: Start (air Å) of each CCD's grid in the synthetic files, and the step.
STARTS = {1: 4713.0, 2: 5648.0, 3: 6478.0, 4: 7585.0}
STEPS = {1: 0.0464, 2: 0.0550, 3: 0.0633, 4: 0.0737}


def air_grid(ccd: int, num_pixels: int = NUM_PIXELS) -> np.ndarray:
    return STARTS[ccd] + np.arange(num_pixels) * STEPS[ccd]


def write_star(
    directory,
    *,
    sobject_id=SOBJECT_ID,
    ccds=GALAH_CCDS,
    gz=False,
    normalised=True,
    dtype=np.float32,
    crpix1=1.0,
    seed=0,
    ir_offset=0,
):
    """Write the CCD files of one star; returns {ccd: dict of the arrays written}."""
    rng = np.random.default_rng(seed)
    out = {}
    for ccd in ccds:
        norm = rng.normal(0.9, 0.05, NUM_PIXELS)
        continuum = rng.uniform(500.0, 800.0) * np.linspace(0.8, 1.2, NUM_PIXELS)
        relative = rng.uniform(0.01, 0.03, NUM_PIXELS)
        cut = ir_offset if ccd == 4 else 0
        arrays = {
            "flux": norm * continuum,
            "relative_error": relative,
            "normalised": norm[cut:] if normalised else None,
        }
        path = directory / galah_file_name(sobject_id, ccd, gz=gz)
        write_galah_ccd(
            path,
            **arrays,
            crval1=STARTS[ccd] + (crpix1 - 1.0 if crpix1 else 0.0) * STEPS[ccd],
            cdelt1=STEPS[ccd],
            crpix1=crpix1,
            normalised_offset=cut,
            header={"OBJECT": str(sobject_id), "SNR": 42.5},
            dtype=dtype,
        )
        # what the file holds, as float64
        stored = {
            key: None if value is None else np.asarray(value, dtype=dtype).astype(float)
            for key, value in arrays.items()
        }
        out[ccd] = {**stored, "path": path, "cut": cut}
    return out


def expected(written, *, normalised=True):
    """Concatenated flux, ivar, air grid and CCD index that read_galah should give."""
    flux, ivar, air, ccd = [], [], [], []
    for c, arrays in sorted(written.items()):
        cut = arrays["cut"] if normalised else 0
        f = arrays["normalised"] if normalised else arrays["flux"]
        flux.append(f)
        ivar.append(1.0 / (arrays["relative_error"][cut:] * np.abs(f)) ** 2)
        air.append(air_grid(c)[cut:])
        ccd.append(np.full(f.size, c))
    return tuple(np.concatenate(x) for x in (flux, ivar, air, ccd))


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_normalised(tmp_path, dtype):
    written = write_star(tmp_path, dtype=dtype)
    s = read_galah(SOBJECT_ID, directory=tmp_path)
    flux, ivar, air, ccd = expected(written)
    assert isinstance(s, Spectrum) and s.layout == "ccd" and not s.needs_normalising
    assert s.num_pixels == 4 * NUM_PIXELS and s.num_bad == 0
    np.testing.assert_array_equal(s.flux, flux)
    np.testing.assert_allclose(s.ivar, ivar, rtol=1e-12)
    np.testing.assert_allclose(s.wavelength.value, air_to_vacuum(air), rtol=1e-13)
    assert s.wavelength.unit == "Angstrom"
    np.testing.assert_array_equal(ccd_index(s), ccd)
    assert s.path == written[1]["path"]
    meta = s.meta
    assert meta["SOBJECT_ID"] == SOBJECT_ID and meta["CCDS"] == (1, 2, 3, 4)
    assert meta["CCD_FILES"] == tuple(f"{SOBJECT_ID}{c}.fits" for c in GALAH_CCDS)
    assert meta["NORMALISED"] is True and meta["AIR_TO_VACUUM"] is True
    assert meta["OBJECT"] == str(SOBJECT_ID) and meta["SNR"] == 42.5
    assert "CRVAL1" not in meta and "CDELT1" not in meta


def test_unnormalised_flux_from_hdu0(tmp_path):
    written = write_star(tmp_path)
    s = read_galah(SOBJECT_ID, directory=tmp_path, normalised=False)
    flux, ivar, _, _ = expected(written, normalised=False)
    assert s.needs_normalising and s.meta["NORMALISED"] is False
    np.testing.assert_array_equal(s.flux, flux)
    np.testing.assert_allclose(s.ivar, ivar, rtol=1e-12)
    assert s.flux.mean() > 100  # counts, not normalised


def test_source_forms_agree(tmp_path):
    write_star(tmp_path)
    reference = read_galah(SOBJECT_ID, directory=tmp_path)
    for source in (
        tmp_path / f"{SOBJECT_ID}3.fits",  # any CCD file
        tmp_path / str(SOBJECT_ID),  # path prefix
        str(tmp_path / f"{SOBJECT_ID}1.fits"),
    ):
        s = read_galah(source)
        np.testing.assert_array_equal(s.flux, reference.flux)
        np.testing.assert_array_equal(s.wavelength, reference.wavelength)
    assert read_galah(str(SOBJECT_ID), directory=tmp_path).meta["SOBJECT_ID"] == SOBJECT_ID


@pytest.mark.parametrize("gz", [True, False])
def test_gzipped_files(tmp_path, gz):
    written = write_star(tmp_path, gz=gz)
    raw = written[2]["path"].read_bytes()
    assert (raw[:2] == b"\x1f\x8b") is gz
    s = read_galah(tmp_path / f"{SOBJECT_ID}2.fits{'.gz' if gz else ''}")
    np.testing.assert_array_equal(s.flux, expected(written)[0])
    assert all(name.endswith(".fits.gz" if gz else ".fits") for name in s.meta["CCD_FILES"])


def test_gzipped_and_plain_mixed(tmp_path):
    write_star(tmp_path, ccds=(1, 2), gz=True)
    write_star(tmp_path, ccds=(3, 4), gz=False)
    s = read_galah(SOBJECT_ID, directory=tmp_path)
    assert s.meta["CCD_FILES"][1].endswith("2.fits.gz") and s.meta["CCD_FILES"][3].endswith(
        "4.fits"
    )


def test_four_extension_release(tmp_path):
    written = write_star(tmp_path, normalised=False)
    with fits.open(written[1]["path"]) as hdul:
        assert len(hdul) == 4
    s = read_galah(SOBJECT_ID, directory=tmp_path)  # normalised=None: HDU 0
    assert s.needs_normalising and s.meta["NORMALISED"] is False
    np.testing.assert_array_equal(s.flux, expected(written, normalised=False)[0])
    with pytest.raises(SurveyFileError, match="no HDU 4") as info:
        read_galah(SOBJECT_ID, directory=tmp_path, normalised=True)
    assert info.value.path == written[1]["path"]


def test_one_ccd_without_hdu4_gives_unnormalised_for_all(tmp_path):
    write_star(tmp_path, ccds=(1, 2, 3))
    write_star(tmp_path, ccds=(4,), normalised=False)
    s = read_galah(SOBJECT_ID, directory=tmp_path)
    assert s.needs_normalising and s.flux.mean() > 100


@pytest.mark.parametrize("crpix1", [0.0, 1.0, 151.0])
def test_reference_pixel(tmp_path, crpix1):
    write_star(tmp_path, crpix1=crpix1)
    with fits.open(tmp_path / f"{SOBJECT_ID}1.fits") as hdul:
        assert hdul[0].header["CRPIX1"] == crpix1
    s = read_galah(SOBJECT_ID, directory=tmp_path, air=False)
    grid = np.concatenate([air_grid(c) for c in GALAH_CCDS])
    np.testing.assert_allclose(s.wavelength.value, grid, rtol=1e-12)


def test_crpix1_zero_read_as_one(tmp_path):
    # CRPIX1 = 0 taken literally would shift the grid by one pixel
    write_star(tmp_path, crpix1=0.0)
    s = read_galah(SOBJECT_ID, directory=tmp_path, air=False)
    assert s.wavelength.value[0] == pytest.approx(STARTS[1], abs=1e-9)


def test_ir_normalised_spectrum_cut(tmp_path):
    written = write_star(tmp_path, ir_offset=40)
    s = read_galah(SOBJECT_ID, directory=tmp_path)
    _, ivar, air, _ = expected(written)
    assert s.num_pixels == 4 * NUM_PIXELS - 40 and (ccd_index(s) == 4).sum() == NUM_PIXELS - 40
    np.testing.assert_allclose(s.wavelength.value, air_to_vacuum(air), rtol=1e-13)
    np.testing.assert_allclose(s.ivar, ivar, rtol=1e-12)  # HDU 1's tail, not its head


def test_normalised_grid_off_the_pixels(tmp_path):
    written = write_star(tmp_path, ccds=(1,))
    path = written[1]["path"]
    with fits.open(path) as hdul:
        hdul[4].header["CRVAL1"] = STARTS[1] + 10.5 * STEPS[1]  # half-pixel shift, 10 px past
        hdul.writeto(path, overwrite=True)
    s = read_galah(SOBJECT_ID, directory=tmp_path, ccds=(1,), air=False)
    np.testing.assert_allclose(s.wavelength.value, air_grid(1) + 10.5 * STEPS[1])
    assert s.bad[-11:].all() and not s.bad[:-11].any()  # beyond HDU 0's last pixel
    relative = np.interp(s.wavelength.value[:-11], air_grid(1), written[1]["relative_error"])
    np.testing.assert_allclose(s.ivar[:-11], 1 / (relative * s.flux[:-11]) ** 2, rtol=1e-12)


def test_subset_of_ccds(tmp_path):
    write_star(tmp_path, ccds=(1, 2, 3))  # IR missing, as for some DR3 stars
    s = read_galah(SOBJECT_ID, directory=tmp_path, ccds=(1, 2, 3))
    assert s.meta["CCDS"] == (1, 2, 3) and set(ccd_index(s)) == {1, 2, 3}


# ------------------------------------------------------------ air and vacuum


def test_air_to_vacuum_known_lines():
    # H-alpha and H-beta (NIST air -> vacuum)
    np.testing.assert_allclose(air_to_vacuum([6562.797, 4861.323]), [6564.610, 4862.683], atol=2e-3)
    grid = np.linspace(4500.0, 8000.0, 101)
    np.testing.assert_allclose(vacuum_to_air(air_to_vacuum(grid)), grid, rtol=1e-14)
    assert np.all(air_to_vacuum(grid) - grid > 1.2)


def test_air_to_vacuum_matches_specutils():
    wcs_utils = pytest.importorskip("specutils.utils.wcs_utils")
    import astropy.units as u

    grid = np.linspace(4700.0, 7900.0, 57)
    theirs = wcs_utils.air_to_vac(grid * u.AA, method="Morton2000", scheme="iteration")
    np.testing.assert_allclose(air_to_vacuum(grid), theirs.to_value(u.AA), atol=1e-6)


# ----------------------------------------------------------------- bad pixels


def test_bad_pixels(tmp_path):
    written = write_star(tmp_path, ccds=(2,))
    path = written[2]["path"]
    with fits.open(path) as hdul:
        norm, rel = hdul[4].data.astype(float), hdul[1].data.astype(float)
        rel[[5, 6, 7]] = [0.0, -0.01, np.inf]
        norm[8] = 0.0
        hdul[1].data, hdul[4].data = rel.astype(">f4"), norm.astype(">f4")
        hdul.writeto(path, overwrite=True)
    s = read_galah(SOBJECT_ID, directory=tmp_path, ccds=(2,))
    assert np.flatnonzero(s.bad).tolist() == [5, 6, 7, 8]
    with fits.open(path) as hdul:
        rel, norm = hdul[1].data.astype(float), hdul[4].data.astype(float)
        rel[20], norm[30] = np.nan, np.nan
        hdul[1].data, hdul[4].data = rel.astype(">f4"), norm.astype(">f4")
        hdul.writeto(path, overwrite=True)
    with pytest.warns(SurveyFileWarning, match="2 of 300 pixels"):
        s = read_galah(SOBJECT_ID, directory=tmp_path, ccds=(2,))
    assert s.bad[[20, 30]].all() and s.flux[30] == 0.0 and np.isfinite(s.flux).all()


# --------------------------------------------------------------------- errors


def test_missing_ccd_file(tmp_path):
    write_star(tmp_path, ccds=(1, 2, 3))
    with pytest.raises(SurveyFileError, match=r"IR CCD \(4\)") as info:
        read_galah(SOBJECT_ID, directory=tmp_path)
    assert info.value.path == tmp_path / f"{SOBJECT_ID}4.fits"
    assert f"{SOBJECT_ID}4.fits" in str(info.value)


def test_truncated_file(tmp_path):
    written = write_star(tmp_path, gz=True)
    path = written[3]["path"]
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(SurveyFileError) as info:
        read_galah(SOBJECT_ID, directory=tmp_path)
    assert info.value.path == path and str(path) in str(info.value)


def test_truncated_anywhere(tmp_path):
    written = write_star(tmp_path, ccds=(4,))
    path = written[4]["path"]
    raw = path.read_bytes()
    for cut in (0, 79, 2880, 3 * 2880 + 17, len(raw) // 2, len(raw) - 2880, len(raw) - 3):
        path.write_bytes(raw[:cut])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                s = read_galah(path, ccds=(4,))
            except SurveyFileError as exc:
                assert exc.path == path, cut
            else:  # only the padding of the last HDU was cut
                assert cut > len(raw) - 2880 and s.num_pixels == NUM_PIXELS
        for w in caught:
            assert issubclass(w.category, AstropyWarning | SurveyFileWarning), str(w.message)


@pytest.mark.parametrize("num_hdus", [3, 6])
def test_wrong_extension_count(tmp_path, num_hdus):
    written = write_star(tmp_path, ccds=(1,))
    path = written[1]["path"]
    with fits.open(path) as hdul:
        hdus = list(hdul)[:num_hdus] + [fits.ImageHDU(np.zeros(3))] * (num_hdus - 5)
        fits.HDUList(hdus).writeto(path, overwrite=True)
    with pytest.raises(SurveyFileError, match=f"has {num_hdus} HDUs") as info:
        read_galah(SOBJECT_ID, directory=tmp_path, ccds=(1,))
    assert info.value.path == path


@pytest.mark.parametrize("hdu", [1, 2, 3])
def test_mismatched_lengths(tmp_path, hdu):
    written = write_star(tmp_path, ccds=(3,))
    path = written[3]["path"]
    with fits.open(path) as hdul:
        hdul[hdu].data = hdul[hdu].data[:-7]
        hdul.writeto(path, overwrite=True)
    with pytest.raises(SurveyFileError, match="has 293 pixels, HDU 0 has 300") as info:
        read_galah(SOBJECT_ID, directory=tmp_path, ccds=(3,))
    assert info.value.path == path and info.value.hdu == hdu


def test_normalised_too_long_without_grid(tmp_path):
    written = write_star(tmp_path, ccds=(1,))
    path = written[1]["path"]
    with fits.open(path) as hdul:
        hdul[4] = fits.ImageHDU(np.ones(NUM_PIXELS + 5, dtype=">f4"))
        hdul.writeto(path, overwrite=True)
    with pytest.raises(SurveyFileError, match="no grid keywords") as info:
        read_galah(SOBJECT_ID, directory=tmp_path, ccds=(1,))
    assert info.value.hdu == 4


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("CRVAL1", None, "is missing"),
        ("CDELT1", "abc", "expected a finite number"),
        ("CDELT1", -0.05, "not plausible"),
        ("CRVAL1", 6500.0, "lies outside"),  # a red grid in the blue CCD's file
        ("DC-FLAG", 1, "log-linear"),
    ],
)
def test_bad_grid_keywords(tmp_path, key, value, match):
    written = write_star(tmp_path, ccds=(1,), normalised=False)
    path = written[1]["path"]
    with fits.open(path) as hdul:
        if value is None:
            del hdul[0].header[key]
        else:
            hdul[0].header[key] = value
        hdul.writeto(path, overwrite=True)
    with pytest.raises(SurveyFileError, match=match) as info:
        read_galah(SOBJECT_ID, directory=tmp_path, ccds=(1,))
    assert info.value.path == path


def test_two_dimensional_image(tmp_path):
    written = write_star(tmp_path, ccds=(2,))
    path = written[2]["path"]
    with fits.open(path) as hdul:
        hdul[0].data = np.ones((2, NUM_PIXELS), dtype=">f4")
        hdul.writeto(path, overwrite=True)
    with pytest.raises(SurveyFileError, match="expected a 1-D float spectrum") as info:
        read_galah(SOBJECT_ID, directory=tmp_path, ccds=(2,))
    assert info.value.hdu == 0


def test_ccd_without_usable_pixel(tmp_path):
    written = write_star(tmp_path, ccds=(1, 2))
    path = written[2]["path"]
    with fits.open(path) as hdul:
        hdul[1].data = np.zeros(NUM_PIXELS, dtype=">f4")
        hdul.writeto(path, overwrite=True)
    with pytest.raises(SurveyFileError, match="no usable pixel") as info:
        read_galah(SOBJECT_ID, directory=tmp_path, ccds=(1, 2))
    assert info.value.path == path


def test_not_fits(tmp_path):
    write_star(tmp_path, ccds=(1,))
    (tmp_path / f"{SOBJECT_ID}1.fits").write_bytes(b"SIMPLE  = nonsense" * 10)
    with pytest.raises(SurveyFileError):
        read_galah(SOBJECT_ID, directory=tmp_path, ccds=(1,))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="sobject_id must be digits"):
        galah_file_name("17x", 1)
    with pytest.raises(ValueError, match="ccd must be one of"):
        galah_file_name(SOBJECT_ID, 5)
    with pytest.raises(ValueError, match="not a GALAH file name"):
        galah_files(tmp_path / "spec-1.fits")
    with pytest.raises(ValueError, match="ccds must be distinct"):
        galah_files(SOBJECT_ID, directory=tmp_path, ccds=(1, 1))
    s = Spectrum(flux=np.ones(3), ivar=np.ones(3), wavelength=[1.0, 2.0, 3.0], bad=np.zeros(3))
    with pytest.raises(ValueError, match="no per-pixel CCD index"):
        ccd_index(s)


# --------------------------------------------------------------------- writer


@pytest.mark.parametrize(("dtype", "bitpix"), [(np.float32, -32), (np.float64, -64)])
def test_writer_layout(tmp_path, dtype, bitpix):
    path = write_galah_ccd(
        tmp_path / "x1.fits",
        flux=np.full(10, 500.0),
        relative_error=np.full(10, 0.02),
        crval1=4713.0,
        cdelt1=0.05,
        crpix1=0,
        normalised=np.ones(6),
        normalised_offset=4,
        dtype=dtype,
    )
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", *(n.upper() for n in GALAH_EXTNAMES)]
        assert all(h.header["BITPIX"] == bitpix for h in hdul)
        assert [h.data.size for h in hdul] == [10, 10, 10, 10, 6]
        assert hdul[0].header["CRPIX1"] == 0 and hdul[4].header["CRVAL1"] == 4713.2
        np.testing.assert_array_equal(hdul[3].data, hdul[1].data)  # default no-sky error


def test_writer_rejects_bad_input(tmp_path):
    ok = {"flux": np.ones(10), "relative_error": np.ones(10), "crval1": 4713.0, "cdelt1": 0.05}
    with pytest.raises(ValueError, match="relative_error must have shape"):
        write_galah_ccd(tmp_path / "a.fits", **{**ok, "relative_error": np.ones(9)})
    with pytest.raises(ValueError, match="does not fit"):
        write_galah_ccd(tmp_path / "a.fits", **ok, normalised=np.ones(8), normalised_offset=3)
    with pytest.raises(ValueError, match="dtype must be float"):
        write_galah_ccd(tmp_path / "a.fits", **ok, dtype=np.int32)
    assert not (tmp_path / "a.fits").exists()
