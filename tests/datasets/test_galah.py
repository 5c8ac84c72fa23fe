"""Synthetic GALAH spectra of the built-in stars (stereo_ppl.datasets.galah)."""

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

from stereo_ppl.data import lamost_grid
from stereo_ppl.datasets import BuiltinSurvey, lamost_true_flux
from stereo_ppl.datasets.galah import (
    DEFAULT_GALAH_SNR,
    GALAH_PIXEL,
    GALAH_PIXELS_PER_CCD,
    GALAH_WINDOWS_AIR,
    galah_ccd_grids,
    galah_grid,
    galah_lines,
    galah_true_flux,
    make_galah,
    write_galah_files,
)
from stereo_ppl.datasets.labels import draw_labels
from stereo_ppl.datasets.linelist import lamost_lines
from stereo_ppl.io.galah import air_to_vacuum, ccd_index, read_galah

SEED = 11


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    return draw_labels(np.random.default_rng(5), 40)


@pytest.fixture(scope="module")
def galah(labels) -> xr.Dataset:
    return make_galah(labels, seed=SEED)


def test_same_seed_same_data(labels, galah):
    xr.testing.assert_identical(make_galah(labels, seed=SEED), galah)
    other = make_galah(labels, seed=SEED + 1)
    np.testing.assert_array_equal(other["galah_flux_true"], galah["galah_flux_true"])
    assert not np.array_equal(other["galah_flux"], galah["galah_flux"])


def test_shapes_and_types(labels, galah):
    num_pixels = 4 * GALAH_PIXELS_PER_CCD
    assert dict(galah.sizes) == {"star": 40, GALAH_PIXEL: num_pixels, "ccd": 4, "label": 4}
    assert galah["galah_flux"].dtype == np.float32 and galah["galah_ivar"].dtype == np.float32
    assert galah["galah_flux_true"].dtype == np.float64
    assert (galah["galah_ivar"] > 0).all() and np.isfinite(galah["galah_flux"]).all()
    np.testing.assert_array_equal(galah["labels"], labels)
    ids = galah["sobject_id"].values
    assert ids.dtype == np.int64 and np.unique(ids).size == 40
    assert all(len(str(i)) == 15 for i in ids.tolist())
    assert galah.attrs["seed"] == SEED and galah.attrs["resolution"] == 28_000.0


def test_windows_and_grid(galah):
    vacuum, air, ccd = galah_grid()
    np.testing.assert_array_equal(galah["galah_wavelength"], vacuum)
    np.testing.assert_array_equal(galah["galah_ccd"], ccd)
    assert galah["galah_wavelength"].attrs == {"units": "Angstrom", "medium": "vacuum"}
    assert np.all(np.diff(vacuum) > 0)
    for c, (lo, hi) in enumerate(GALAH_WINDOWS_AIR, 1):
        window = air[ccd == c]
        assert window.size == GALAH_PIXELS_PER_CCD
        assert window[0] == lo and window[-1] == pytest.approx(hi, abs=1e-9)
        np.testing.assert_allclose(np.diff(window), galah_ccd_grids()[c - 1][1], rtol=1e-9)
    np.testing.assert_array_equal(vacuum, air_to_vacuum(air))
    assert np.all((vacuum - air > 1.3) & (vacuum - air < 2.2))


def test_resolution_and_lines(galah):
    # H-alpha (vacuum 6564.61 Å) is deep in every star and about lambda/R wide
    vacuum = galah["galah_wavelength"].values
    true = galah["galah_flux_true"].values
    core = int(np.argmin(np.abs(vacuum - 6564.61)))
    assert np.all(true[:, core] < 0.75)
    assert 0.05 < (true < 0.9).mean() < 0.5
    assert np.all((true > 0) & (true <= 1))
    # every LAMOST line inside the windows is a GALAH line
    lamost = lamost_lines().wavelength
    windows = [air_to_vacuum(np.array(w)) for w in GALAH_WINDOWS_AIR]
    in_window = lamost[np.any([(lamost > a) & (lamost < b) for a, b in windows], axis=0)]
    assert np.isin(in_window, galah_lines().wavelength).all() and in_window.size > 300


def test_same_physics_as_lamost(labels):
    # GALAH degraded to LAMOST's resolution follows LAMOST's spectrum of the same star
    six = labels[:6]
    galah = galah_true_flux(six)
    lamost = lamost_true_flux(six)
    vacuum, _, ccd = galah_grid()
    grid = lamost_grid()
    correlations = []
    for c in (1, 2, 3, 4):
        wl = vacuum[ccd == c]
        near = (grid > wl[0] + 15) & (grid < wl[-1] - 15)
        sigma = grid[near] / 1_800 / 2.3548
        kernel = np.exp(-0.5 * ((wl[None, :] - grid[near][:, None]) / sigma[:, None]) ** 2)
        degraded = galah[:, ccd == c] @ (kernel / kernel.sum(1, keepdims=True)).T
        correlations += [
            np.corrcoef(d, s)[0, 1] for d, s in zip(degraded, lamost[:, near], strict=True)
        ]
    assert np.median(correlations) > 0.75 and min(correlations) > 0.4


def test_noise_matches_ivar(galah):
    pull = (galah["galah_flux"] - galah["galah_flux_true"]) * np.sqrt(galah["galah_ivar"])
    assert abs(float(pull.mean())) < 0.01 and float(pull.std()) == pytest.approx(1.0, abs=0.01)


def test_snr_like_galah(galah, labels):
    snr = galah["galah_snr"].values  # (star, ccd)
    assert np.median(snr[:, 1]) == pytest.approx(0.925 * DEFAULT_GALAH_SNR, rel=0.3)
    assert np.all(snr[:, 2] > snr[:, 1])  # red above green
    cool = labels[:, 0] < 4_500
    assert cool.any() and np.all(snr[cool, 0] < 0.6 * snr[cool, 1])  # blue lowest for cool stars
    # S/N falls towards each CCD's edges
    vacuum_snr = galah["galah_flux_true"] * np.sqrt(galah["galah_ivar"])
    first = vacuum_snr.isel({GALAH_PIXEL: 0}).values
    middle = vacuum_snr.isel({GALAH_PIXEL: GALAH_PIXELS_PER_CCD // 2}).values
    np.testing.assert_allclose(first / middle, 0.7, rtol=1e-4)


def test_snr_per_star_values(labels):
    snr = np.linspace(20.0, 200.0, labels.shape[0])
    galah = make_galah(labels, seed=1, snr=snr, pixels_per_ccd=512)
    np.testing.assert_allclose(galah["galah_snr"].values[:, 1], 0.925 * snr, rtol=2e-3)
    assert galah.sizes[GALAH_PIXEL] == 4 * 512


def test_from_builtin_survey(labels):
    paired = xr.Dataset(
        coords={
            "apogee_id": ("star", [f"2M{i:016d}" for i in range(5)]),
            "obsid": ("star", np.arange(5) + 100),
        },
        attrs={"seed": 42},
    )
    truth = xr.Dataset({"labels": (("star", "label"), labels[:5])})
    galah = make_galah(BuiltinSurvey(paired, truth), pixels_per_ccd=256)
    assert galah.attrs["seed"] == 42
    np.testing.assert_array_equal(galah["apogee_id"], paired["apogee_id"])
    np.testing.assert_array_equal(galah["obsid"], paired["obsid"])
    plain = make_galah(labels[:5], seed=42, pixels_per_ccd=256)
    xr.testing.assert_identical(galah.drop_vars(["apogee_id", "obsid"]), plain)


def test_bad_arguments(labels):
    with pytest.raises(TypeError, match="seed"):
        make_galah(labels)
    with pytest.raises(TypeError, match="seed"):
        make_galah(labels, seed=-1)
    with pytest.raises(ValueError, match="shape"):
        make_galah(labels[:, :3], seed=0)
    with pytest.raises(ValueError, match="snr"):
        make_galah(labels, seed=0, snr=np.ones(3))
    with pytest.raises(ValueError, match="pixels_per_ccd"):
        galah_ccd_grids(1)


@pytest.mark.parametrize(("gz", "normalised"), [(True, True), (False, False)])
def test_written_files_read_back(tmp_path, labels, gz, normalised):
    galah = make_galah(labels[:3], seed=2, pixels_per_ccd=600)
    files = write_galah_files(galah, tmp_path, gz=gz, normalised=normalised)
    assert len(files) == 12 and all(f.name.endswith(".gz") is gz for f in files)
    with fits.open(files[0]) as hdul:
        assert len(hdul) == (5 if normalised else 4)
        assert hdul[0].header["CRVAL1"] == GALAH_WINDOWS_AIR[0][0]
    for i in range(3):
        s = read_galah(files[4 * i])
        assert s.meta["SOBJECT_ID"] == galah["sobject_id"].values[i]
        np.testing.assert_array_equal(s.wavelength.value, galah["galah_wavelength"].values)
        np.testing.assert_array_equal(ccd_index(s), galah["galah_ccd"].values)
        flux = galah["galah_flux"].values[i]
        ivar = galah["galah_ivar"].values[i]
        if normalised:
            np.testing.assert_array_equal(s.flux, flux)
            np.testing.assert_allclose(s.ivar, ivar, rtol=1e-6)
        else:
            assert s.needs_normalising
            continuum = galah["galah_flux_true"].values[i] ** 2 * ivar  # S/N**2 counts
            np.testing.assert_allclose(s.flux / continuum, flux, rtol=1e-6)
            np.testing.assert_allclose(s.ivar * continuum**2, ivar, rtol=1e-5)
