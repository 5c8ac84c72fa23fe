"""Built-in pairs with GALAH as survey 1 or survey 2 (issue 9 §5): roles, truth, fit, CLI."""

import jax
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import stereo_ppl
from stereo_ppl.cli import app
from stereo_ppl.data import survey_names
from stereo_ppl.datasets import PAIRS, make_builtin, make_builtin_pair, make_galah
from stereo_ppl.inference import fit
from stereo_ppl.io import load_fit, load_paired, save_fit, save_paired

SEED, NUM_STARS, PIXELS_PER_CCD = 4, 40, 256


@pytest.fixture(scope="module")
def sources():
    builtin = make_builtin(SEED, num_stars=NUM_STARS)
    return builtin, make_galah(builtin, pixels_per_ccd=PIXELS_PER_CCD)


@pytest.fixture(scope="module")
def pairs():
    return {
        name: make_builtin_pair(
            SEED,
            survey1=name.split("-")[0],
            survey2=name.split("-")[1],
            num_stars=NUM_STARS,
            galah_pixels_per_ccd=PIXELS_PER_CCD,
        )
        for name in PAIRS
    }


def test_roles_hold_the_chosen_surveys_of_the_same_stars(pairs, sources):
    builtin, galah = sources
    expected = {
        "apogee": ("APOGEE", builtin.paired, "apogee_flux", "apogee_ivar", "apogee_wavelength"),
        "lamost": ("LAMOST", builtin.paired, "lamost_flux", "lamost_ivar", "lamost_wavelength"),
        "galah": ("GALAH", galah, "galah_flux", "galah_ivar", "galah_wavelength"),
    }
    for name, survey in pairs.items():
        paired = survey.paired
        for role, key in zip(("apogee", "lamost"), name.split("-"), strict=True):
            label, source, flux, ivar, wavelength = expected[key]
            np.testing.assert_array_equal(paired[f"{role}_flux"].values, source[flux].values)
            np.testing.assert_array_equal(paired[f"{role}_ivar"].values, source[ivar].values)
            coord = paired[f"{role}_wavelength"]
            np.testing.assert_array_equal(coord.values, source[wavelength].values)
            assert coord.attrs == {"units": "Angstrom", "medium": "vacuum", "survey": label}
        assert survey_names(paired) == tuple(expected[k][0] for k in name.split("-"))
        assert paired.attrs["seed"] == SEED and paired.attrs["num_stars"] == NUM_STARS
        np.testing.assert_array_equal(survey.truth["labels"], builtin.truth["labels"])
    galah_lamost = pairs["galah-lamost"].paired
    assert dict(galah_lamost.sizes) == {
        "star": NUM_STARS,
        "apogee_pixel": 1024,
        "lamost_pixel": 3909,
    }
    assert (
        galah_lamost["apogee_id"].values.tolist() == galah["sobject_id"].astype(str).values.tolist()
    )
    np.testing.assert_array_equal(galah_lamost["obsid"], builtin.paired["obsid"])
    apogee_galah = pairs["apogee-galah"].paired
    np.testing.assert_array_equal(apogee_galah["obsid"], galah["sobject_id"])
    np.testing.assert_array_equal(apogee_galah["apogee_pixel"], builtin.paired["apogee_pixel"])
    assert "survey-2 (GALAH)" in apogee_galah["lamost_flux"].attrs["long_name"]
    # the default pair is the seed's, with the survey attributes added
    default = pairs["apogee-lamost"].paired
    xr.testing.assert_equal(default.drop_attrs(), builtin.paired.drop_attrs())


def test_truth_is_the_noiseless_spectra_of_each_role(pairs):
    for name, survey in pairs.items():
        paired, truth = survey.paired, survey.truth
        for role in ("apogee", "lamost"):
            ivar = paired[f"{role}_ivar"].values
            good = ivar > 0
            if name.endswith("lamost") and role == "lamost":
                good &= (truth["lamost_artefact"].values == 0) & (
                    truth["lamost_step_pixel"].values < 0
                )[:, None]
            chi = (paired[f"{role}_flux"].values - truth[f"{role}_flux_true"].values) * np.sqrt(
                ivar
            )
            assert abs(chi[good].mean()) < 0.05 and 0.95 < chi[good].std() < 1.05, (name, role)
        assert ("lamost_artefact" in truth) == name.endswith("lamost")
        assert truth["apogee_flux_true"].dims == ("star", "apogee_pixel")


def test_pair_options_are_checked():
    with pytest.raises(ValueError, match="survey1 must be one of apogee, galah"):
        make_builtin_pair(0, survey1="lamost", num_stars=2)
    with pytest.raises(ValueError, match="survey2 must be one of lamost, galah"):
        make_builtin_pair(0, survey2="APOGEE", num_stars=2)
    with pytest.raises(ValueError, match="must differ"):
        make_builtin_pair(0, survey1="GALAH", survey2="galah", num_stars=2)
    assert stereo_ppl.make_builtin_pair is make_builtin_pair


@pytest.mark.parametrize("name", ["galah-lamost", "apogee-galah"])
def test_exact_fit_of_a_galah_pair_predicts_held_out_spectra(pairs, name, tmp_path):
    paired = pairs[name].paired
    path = save_paired(paired, tmp_path / "PAIRED.nc")
    assert survey_names(load_paired(path)) == survey_names(paired)
    tree = fit(jax.random.key(0), load_paired(path), num_latent=4, method="exact", seed=0)
    assert (tree.attrs["survey1"], tree.attrs["survey2"]) == survey_names(paired)
    assert tree.attrs["converged"] == 1
    back = load_fit(save_fit(tree, tmp_path / "fit.nc"))
    assert survey_names(back) == survey_names(paired)
    # held-out survey-2 spectra from survey 1 alone: far better than the training mean spectrum
    held = back["constant_data"]["heldout"].values
    params = stereo_ppl.params_from_datatree(back)
    f1 = back["constant_data"]["apogee_flux"].values[held]
    f2, ivar = paired["lamost_flux"].values[held], paired["lamost_ivar"].values[held]
    predicted = stereo_ppl.predict_lamost(params, f1)
    mean = paired["lamost_flux"].values[~held].mean(axis=0)
    good = ivar > 0
    chi2 = ((f2 - predicted) ** 2 * ivar)[good].mean()
    chi2_mean = ((f2 - mean) ** 2 * ivar)[good].mean()
    assert np.isfinite(chi2) and chi2 < 0.5 * chi2_mean


@pytest.mark.slow
def test_galah_pair_through_sweep_compare_and_denoise(pairs, tmp_path):
    runner = CliRunner()
    paired = save_paired(pairs["apogee-galah"].paired, tmp_path / "PAIRED.nc")
    sweep = tmp_path / "sweep"
    args = ["sweep", str(paired), "--out-dir", str(sweep), "-c", "1,4", "--method", "exact"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    fits = sorted(sweep.glob("fit_*.nc"))
    assert len(fits) == 2 and all(load_fit(p).attrs["survey2"] == "GALAH" for p in fits)
    result = runner.invoke(app, ["compare", str(sweep), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "chosen c = " in result.output
    table = (tmp_path / "cmp.csv").read_text().splitlines()
    assert len(table) == 3 and "elpd" in table[0]
    # fit with the CLI, then denoise the paired set's survey-2 (GALAH) spectra with its decoder
    fit_file, out = tmp_path / "FIT.nc", tmp_path / "denoised.nc"
    args = ["fit", str(paired), "-c", "4", "--method", "exact", "--out", str(fit_file)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert survey_names(load_fit(fit_file)) == ("APOGEE", "GALAH")
    result = runner.invoke(app, ["denoise", str(fit_file), str(paired), "--out", str(out)])
    assert result.exit_code == 0, result.output
    truth = pairs["apogee-galah"].truth["lamost_flux_true"].values
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.sizes["star"] == NUM_STARS and ds.sizes["lamost_pixel"] == 4 * PIXELS_PER_CCD
        denoised = ds["lamost_flux_denoised"].values
    observed = pairs["apogee-galah"].paired["lamost_flux"].values
    assert np.isfinite(denoised).all()
    assert np.abs(denoised - truth).mean() < 0.7 * np.abs(observed - truth).mean()


@pytest.mark.slow
def test_demo_fits_a_galah_pair(tmp_path):
    runner = CliRunner()
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--num-stars", "40", "-c", "2", "--pair", "galah-lamost"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert not (out / "files").exists()
    paired = load_paired(out / "PAIRED.nc")
    assert survey_names(paired) == ("GALAH", "LAMOST") and paired.sizes["apogee_pixel"] == 16384
    truth = xr.open_dataset(out / "TRUTH.nc", engine="h5netcdf")
    with truth:
        np.testing.assert_array_equal(truth["obsid"], paired["obsid"])
    assert survey_names(load_fit(out / "fit_c002.nc")) == ("GALAH", "LAMOST")
    assert (out / "summary.csv").read_text().count("\n") == 2
    result = runner.invoke(app, ["demo", "--out", str(out), "--pair", "lamost-apogee"])
    assert "--pair lamost-apogee: choose one of apogee-lamost, galah-lamost" in str(
        result.exception
    )
