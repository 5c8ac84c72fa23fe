"""Tests of the built-in synthetic paired dataset (stereo_ppl.datasets)."""

import re

import numpy as np
import pytest
import xarray as xr

import stereo_ppl
from stereo_ppl.data import apogee_chip_mask, apogee_grid, lamost_grid, validate_paired
from stereo_ppl.datasets import (
    ARTEFACT_CODES,
    LABEL_NAMES,
    BuiltinSurvey,
    apogee_true_flux,
    lamost_true_flux,
    make_builtin,
)
from stereo_ppl.datasets.linelist import lamost_lines
from stereo_ppl.dims import APOGEE_PIXEL, LAMOST_PIXEL, STAR

SEED = 2024
NUM_STARS = 120


@pytest.fixture(scope="module")
def survey() -> BuiltinSurvey:
    return make_builtin(SEED, num_stars=NUM_STARS)


def _gain(truth: xr.Dataset) -> np.ndarray:
    """Factor each LAMOST pixel's flux was scaled by (arm steps), shape (star, pixel)."""
    step = truth["lamost_step_pixel"].values
    k = np.arange(truth.sizes[LAMOST_PIXEL])
    red = (step[:, None] >= 0) & (k[None, :] >= step[:, None])
    return np.where(
        red, truth["lamost_step_red"].values[:, None], truth["lamost_step_blue"].values[:, None]
    )


def _lamost_pull(survey: BuiltinSurvey) -> np.ndarray:
    paired, truth = survey
    flux = paired["lamost_flux"].values / _gain(truth)
    return (flux - truth["lamost_flux_true"].values) * np.sqrt(paired["lamost_ivar"].values)


def _pixel(wavelength: np.ndarray, target: float) -> int:
    return int(np.argmin(np.abs(wavelength - target)))


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_data():
    a = make_builtin(7, num_stars=15)
    b = make_builtin(7, num_stars=15)
    xr.testing.assert_identical(a.paired, b.paired)
    xr.testing.assert_identical(a.truth, b.truth)


def test_different_seeds_give_different_data():
    a = make_builtin(7, num_stars=15)
    b = make_builtin(8, num_stars=15)
    assert not np.allclose(a.truth["labels"].values, b.truth["labels"].values)
    assert not np.allclose(a.paired["lamost_flux"].values, b.paired["lamost_flux"].values)
    assert set(a.paired["apogee_id"].values).isdisjoint(b.paired["apogee_id"].values)


def test_generator_seed_is_recorded_and_reproducible():
    a = make_builtin(np.random.default_rng(3), num_stars=10)
    seed = a.paired.attrs["seed"]
    assert isinstance(seed, int)
    b = make_builtin(seed, num_stars=10)
    xr.testing.assert_identical(a.paired, b.paired)


def test_options_leave_labels_and_noise_streams_alone():
    a = make_builtin(5, num_stars=12)
    b = make_builtin(5, num_stars=12, artefacts=False, bad_pixels=False)
    np.testing.assert_array_equal(a.truth["labels"].values, b.truth["labels"].values)
    np.testing.assert_array_equal(a.paired["apogee_flux"].values, b.paired["apogee_flux"].values)
    assert not np.any(b.truth["lamost_artefact"].values)
    assert np.all(b.paired["lamost_ivar"].values > 0)
    clean = a.truth["lamost_artefact"].values == 0
    clean &= a.paired["lamost_ivar"].values > 0
    clean &= a.truth["lamost_step_pixel"].values[:, None] < 0
    np.testing.assert_array_equal(
        a.paired["lamost_flux"].values[clean], b.paired["lamost_flux"].values[clean]
    )


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_seed_is_rejected(bad):
    with pytest.raises(TypeError, match="seed"):
        make_builtin(bad, num_stars=2)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="num_stars"):
        make_builtin(0, num_stars=0)
    with pytest.raises(ValueError, match="lamost_snr"):
        make_builtin(0, num_stars=3, lamost_snr=np.ones(4))


# ------------------------------------------------------------ layout, coords


def test_shapes_dims_and_coords(survey):
    paired = survey.paired
    assert dict(paired.sizes) == {STAR: NUM_STARS, APOGEE_PIXEL: 7514, LAMOST_PIXEL: 3909}
    np.testing.assert_array_equal(paired[APOGEE_PIXEL].values, np.flatnonzero(apogee_chip_mask()))
    np.testing.assert_allclose(
        paired["apogee_wavelength"].values, apogee_grid()[apogee_chip_mask()]
    )
    np.testing.assert_allclose(paired["lamost_wavelength"].values, lamost_grid())
    for name in ("apogee_flux", "apogee_ivar"):
        assert paired[name].dims == (STAR, APOGEE_PIXEL)
    for name in ("lamost_flux", "lamost_ivar"):
        assert paired[name].dims == (STAR, LAMOST_PIXEL)

    ids = paired["apogee_id"].values
    assert all(re.fullmatch(r"2M\d{8}[+-]\d{7}", s) for s in ids)
    assert len(set(ids)) == NUM_STARS
    obsid = paired["obsid"].values
    assert obsid.dtype == np.int64 and len(set(obsid)) == NUM_STARS
    assert np.all((obsid >= 100_000_000) & (obsid < 1_000_000_000))

    assert paired.attrs["source"] == "stereo_ppl.datasets.make_builtin"
    assert paired.attrs["seed"] == SEED and paired.attrs["num_stars"] == NUM_STARS
    assert paired.attrs["stereo_ppl_version"] == stereo_ppl.__version__


def test_truth_layout(survey):
    paired, truth = survey
    for name in (
        STAR,
        "apogee_id",
        "obsid",
        APOGEE_PIXEL,
        LAMOST_PIXEL,
        "apogee_wavelength",
        "lamost_wavelength",
    ):
        xr.testing.assert_identical(truth[name], paired[name])
    assert truth["labels"].dims == (STAR, "label")
    assert tuple(truth["label"].values) == LABEL_NAMES == ("teff", "logg", "fe_h", "alpha_fe")
    assert "K" in truth["labels"].attrs["units"]
    assert truth["apogee_flux_true"].dims == (STAR, APOGEE_PIXEL)
    assert truth["lamost_flux_true"].dims == (STAR, LAMOST_PIXEL)
    assert truth["lamost_artefact"].dims == (STAR, LAMOST_PIXEL)
    assert truth["lamost_artefact"].dtype == np.int8
    assert truth["apogee_snr"].dims == truth["lamost_snr"].dims == (STAR,)
    meanings = truth["lamost_artefact"].attrs["flag_meanings"].split()
    values = truth["lamost_artefact"].attrs["flag_values"].tolist()
    assert dict(zip(values, meanings, strict=True)) == ARTEFACT_CODES
    assert ARTEFACT_CODES == {0: "none", 1: "cosmic_ray", 2: "step", 3: "bad_column", 4: "other"}


def test_paired_is_valid(survey):
    paired, _ = survey
    validate_paired(paired)
    assert np.all(np.isfinite(paired["apogee_flux"].values))
    assert np.all(paired["apogee_ivar"].values > 0)
    ivar = paired["lamost_ivar"].values
    assert np.all(np.isfinite(paired["lamost_flux"].values))
    assert np.any(ivar == 0) and np.all(ivar >= 0)
    # some stars lose pixels at the ends of the spectrum
    assert np.any(ivar[:, 0] == 0) and np.any(ivar[:, -1] == 0)


def test_labels_look_like_the_giant_sample(survey):
    teff, logg, feh, alpha = survey.truth["labels"].values.T
    assert teff.min() >= 3_900 and teff.max() <= 5_400
    assert feh.min() >= -1.0 and feh.max() <= 0.4
    assert alpha.min() >= 0.0 and alpha.max() <= 0.3
    giants = logg < 3.8
    assert giants.mean() > 0.85
    assert np.all((logg[giants] > 0.7) & (logg[giants] < 3.8))
    assert np.corrcoef(teff[giants], logg[giants])[0, 1] > 0.7  # giant branch
    assert np.corrcoef(feh, alpha)[0, 1] < -0.4


# ---------------------------------------------------------------- the physics


def test_continuum_near_one_with_absorption(survey):
    _, truth = survey
    for name in ("apogee_flux_true", "lamost_flux_true"):
        flux = truth[name].values
        assert np.all(flux > 0) and np.all(flux <= 1.0)
        top = np.percentile(flux, 98, axis=1)
        assert np.all(top > 0.985), name
        assert 0.9 < np.median(flux) < 0.99, name
        assert np.percentile(flux, 1) < 0.75, name  # strong lines exist


def test_metal_line_depth_rises_with_metallicity(survey):
    wavelength = lamost_grid()
    lines = lamost_lines()
    pick = (
        (lines.group == "fe_peak_neutral")
        & (lines.wavelength > 6_000)
        & (lines.coeffs[:, 0] > -1.0)
    )
    pixels = np.unique([_pixel(wavelength, w) for w in lines.wavelength[pick]])
    assert pixels.size > 20
    # controlled: only [Fe/H] changes
    labels = np.tile([4_700.0, 2.5, 0.0, 0.1], (5, 1))
    labels[:, 2] = np.linspace(-1.0, 0.4, 5)
    depth = 1.0 - lamost_true_flux(labels)[:, pixels].mean(axis=1)
    assert np.all(np.diff(depth) > 0)
    assert depth[-1] > 2.0 * depth[0]
    # in the sample: correlated with [Fe/H], after regressing out the other labels
    labels = survey.truth["labels"].values
    depth = 1.0 - survey.truth["lamost_flux_true"].values[:, pixels].mean(axis=1)
    design = np.column_stack([np.ones(len(labels)), labels])
    coef, *_ = np.linalg.lstsq(design, depth, rcond=None)
    assert coef[3] > 0
    assert np.corrcoef(depth, labels[:, 2])[0, 1] > 0.5


def test_balmer_depth_rises_with_temperature(survey):
    wavelength = lamost_grid()
    h_alpha = _pixel(wavelength, 6564.61)
    h_beta = _pixel(wavelength, 4862.68)
    labels = np.tile([4_700.0, 2.5, -0.2, 0.1], (5, 1))
    labels[:, 0] = np.linspace(3_900.0, 5_400.0, 5)
    flux = lamost_true_flux(labels)
    assert np.all(np.diff(flux[:, h_alpha]) < 0)
    assert np.all(np.diff(flux[:, h_beta]) < 0)
    teff = survey.truth["labels"].values[:, 0]
    depth = 1.0 - survey.truth["lamost_flux_true"].values[:, h_alpha]
    assert np.corrcoef(depth, teff)[0, 1] > 0.4


def test_molecular_bands_grow_in_cool_giants():
    wavelength = apogee_grid()[apogee_chip_mask()]
    co = (wavelength > 15_582.0) & (wavelength < 15_600.0)  # 12CO band head
    labels = np.array([[4_000.0, 1.3, 0.0, 0.1], [4_800.0, 2.6, 0.0, 0.1]])
    flux = apogee_true_flux(labels)
    assert flux[0, co].mean() < flux[1, co].mean() - 0.05


def test_spectra_are_nonlinear_in_the_labels(survey):
    labels = survey.truth["labels"].values
    z = (labels - labels.mean(0)) / labels.std(0)
    linear = np.column_stack([np.ones(len(z)), z])
    i, j = np.triu_indices(4)
    quadratic = np.column_stack([linear, z[:, i] * z[:, j]])
    for name in ("apogee_flux_true", "lamost_flux_true"):
        flux = survey.truth[name].values
        total = np.sum((flux - flux.mean(0)) ** 2)
        left = {}
        for kind, design in (("linear", linear), ("quadratic", quadratic)):
            coef, *_ = np.linalg.lstsq(design, flux, rcond=None)
            left[kind] = np.sum((flux - design @ coef) ** 2) / total
        assert left["linear"] > 0.05, name
        assert left["quadratic"] < left["linear"] / 3.0, name


def test_true_flux_is_low_rank(survey):
    flux = survey.truth["lamost_flux_true"].values
    s = np.linalg.svd(flux - flux.mean(0), compute_uv=False) ** 2
    explained = np.cumsum(s) / s.sum()
    assert explained[9] > 0.99
    assert explained[1] < 0.97
    assert explained[5] > explained[1] + 0.03


# --------------------------------------------------------------------- noise


def test_noise_matches_ivar(survey):
    paired, truth = survey
    pull = _lamost_pull(survey)
    clean = (paired["lamost_ivar"].values > 0) & (truth["lamost_artefact"].values == 0)
    assert abs(pull[clean].mean()) < 0.02
    assert abs(pull[clean].std() - 1.0) < 0.02
    assert np.abs(pull[clean]).max() < 6.0  # nothing unflagged hides outside the mask
    apogee = (paired["apogee_flux"] - truth["apogee_flux_true"]) * np.sqrt(paired["apogee_ivar"])
    assert abs(float(apogee.mean())) < 0.02
    assert abs(float(apogee.std()) - 1.0) < 0.02


def test_signal_to_noise(survey):
    paired, truth = survey
    assert np.all(truth["apogee_snr"].values > 300)
    assert 330 < np.median(truth["apogee_snr"].values) < 480
    assert 150 < np.median(truth["lamost_snr"].values) < 400
    snr = np.sqrt(paired["lamost_ivar"].values) * truth["lamost_flux_true"].values
    wavelength = lamost_grid()
    blue = np.median(snr[:, (wavelength > 3_950) & (wavelength < 4_050)], axis=1)
    red = np.median(snr[:, (wavelength > 8_300) & (wavelength < 8_500)], axis=1)
    ratio = blue[blue > 0] / red[blue > 0]
    assert np.all(ratio < 0.7) and np.median(ratio) > 0.15


def test_lamost_snr_option():
    low = make_builtin(1, num_stars=200, lamost_snr=100.0, artefacts=False)
    assert 85 < np.median(low.truth["lamost_snr"].values) < 118
    given = np.linspace(50.0, 500.0, 6)
    exact = make_builtin(1, num_stars=6, lamost_snr=given)
    np.testing.assert_array_equal(exact.truth["lamost_snr"].values, given)


# ----------------------------------------------------------------- artefacts


def test_artefacts_where_the_mask_says(survey):
    paired, truth = survey
    code = truth["lamost_artefact"].values
    assert set(np.unique(code)) <= set(ARTEFACT_CODES)
    assert np.all(paired["lamost_ivar"].values[code > 0] > 0)
    pull = _lamost_pull(survey)
    assert np.all(pull[code == 1] > 8.0)  # cosmic rays: upward, 10–100 σ
    assert np.all(np.abs(pull[code == 3]) > 10.0)  # bad columns
    assert np.all(np.abs(pull[code == 4]) > 3.0)  # sky residuals
    for kind in (1, 2, 3):
        assert np.any(code == kind), ARTEFACT_CODES[kind]
    # cosmic rays: 0–3 per spectrum, runs of at most 3 pixels
    hits = code == 1
    starts = hits & ~np.pad(hits, ((0, 0), (1, 0)))[:, :-1]
    assert starts.sum(axis=1).max() <= 3
    assert not np.any(hits[:, 3:] & hits[:, 2:-1] & hits[:, 1:-2] & hits[:, :-3])
    # bad columns: fixed pixels
    columns = truth.attrs["lamost_bad_columns"]
    assert 2 <= len(columns) <= 4
    np.testing.assert_array_equal(
        np.unique(np.nonzero(code == 3)[1]), np.intersect1d(columns, np.nonzero(code == 3)[1])
    )


def test_steps(survey):
    paired, truth = survey
    code = truth["lamost_artefact"].values
    step = truth["lamost_step_pixel"].values
    blue, red = truth["lamost_step_blue"].values, truth["lamost_step_red"].values
    has = step >= 0
    assert 0.1 < has.mean() < 0.5
    assert np.all(blue[~has] == 1.0) and np.all(red[~has] == 1.0)
    wavelength = lamost_grid()
    flux = paired["lamost_flux"].values
    true = truth["lamost_flux_true"].values
    for star in np.flatnonzero(has):
        k = step[star]
        assert 5_700 <= wavelength[k] <= 6_000
        np.testing.assert_array_equal(np.flatnonzero(code[star] == 2), [k - 1, k, k + 1])
        assert (blue[star] == 1.0) != (red[star] == 1.0)
        jump = red[star] / blue[star]
        assert 0.02 <= abs(jump - 1.0) <= 0.11
        side = slice(k + 2, k + 40)
        ok = code[star, side] == 0
        measured = np.median(flux[star, side][ok] / true[star, side][ok])
        assert measured == pytest.approx(red[star], abs=0.01)
    assert not np.any(code[~has] == 2)


def test_default_size_dataset():
    paired, truth = make_builtin(0)
    assert paired.sizes[STAR] == 1100
    code = truth["lamost_artefact"].values
    hits = code == 1
    rays = (hits & ~np.pad(hits, ((0, 0), (1, 0)))[:, :-1]).sum(axis=1)
    assert 1.2 < rays.mean() < 1.8
    assert 0.25 < np.mean(truth["lamost_step_pixel"].values >= 0) < 0.35
    for column in truth.attrs["lamost_bad_columns"]:
        assert 0.03 < np.mean(code[:, column] == 3) < 0.12
    assert np.any(code == 4)
    validate_paired(paired)
