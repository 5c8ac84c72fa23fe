"""Bad survey-1 pixels masked by apogee_ivar == 0 instead of dropping stars (issue 9 §3)."""

import jax
import numpy as np
import pytest
from factories import small_paired

from stereo_ppl.data import make_paired, validate_paired
from stereo_ppl.errors import PairedDataError
from stereo_ppl.inference import fit
from stereo_ppl.inference.arrays import fill_as_fitted, fill_bad_apogee_pixels
from stereo_ppl.ppc import posterior_predictive
from stereo_ppl.sweep.scores import score_fit

#: (star, pixel) entries marked bad: a "chip gap" (pixels 30-32 of 6 stars) and strays.
GAP_STARS, GAP_PIXELS = [1, 4, 9, 17, 22, 31], [30, 31, 32]
STRAYS = [(2, 0), (5, 7), (40, 39)]


def masked(seed=0, *, junk=np.nan, num_stars=50):
    """A small paired set with apogee_ivar and bad survey-1 pixels holding ``junk``."""
    ds = small_paired(seed, num_stars=num_stars)
    flux = ds["apogee_flux"].values.copy()
    ivar = np.full(flux.shape, 1e4)
    bad = np.zeros(flux.shape, bool)
    bad[np.ix_(GAP_STARS, GAP_PIXELS)] = True
    bad[tuple(np.array(STRAYS).T)] = True
    flux[bad], ivar[bad] = junk, 0.0
    dims = ds["apogee_flux"].dims
    return ds.assign(apogee_flux=(dims, flux), apogee_ivar=(dims, ivar)), bad


@pytest.mark.core
def test_nan_where_apogee_ivar_is_zero_passes_validation():
    ds, bad = masked()
    validate_paired(ds)
    assert np.isnan(ds["apogee_flux"].values[bad]).all()
    rebuilt = make_paired(
        apogee_flux=ds["apogee_flux"].values,
        apogee_ivar=ds["apogee_ivar"].values,
        lamost_flux=ds["lamost_flux"].values,
        lamost_ivar=ds["lamost_ivar"].values,
        apogee_wavelength=ds["apogee_wavelength"].values,
        lamost_wavelength=ds["lamost_wavelength"].values,
        apogee_id=ds["apogee_id"].values,
        obsid=ds["obsid"].values,
    )
    assert int(np.isnan(rebuilt["apogee_flux"].values).sum()) == bad.sum()


@pytest.mark.core
def test_nan_where_apogee_ivar_is_positive_is_rejected_naming_star_and_pixel():
    ds, _ = masked()
    flux = ds["apogee_flux"].values.copy()
    flux[7, 12] = np.nan  # ivar 1e4 there
    with pytest.raises(
        PairedDataError,
        match=r"apogee_flux is NaN or inf where apogee_ivar > 0 at star 7 "
        r"\(apogee_id=2M00000007\+0000000, obsid=100000007\), apogee_pixel 12 "
        r"\(apogee_wavelength=\d+\.\d+ Angstrom\); set apogee_ivar = 0",
    ):
        validate_paired(ds.assign(apogee_flux=(ds["apogee_flux"].dims, flux)))
    # without apogee_ivar every survey-1 pixel must be finite
    plain = small_paired(0, num_stars=10)
    flux = plain["apogee_flux"].values.copy()
    flux[3, 4] = np.inf
    with pytest.raises(PairedDataError, match=r"apogee_flux is NaN or inf at star 3 .*pixel 4"):
        validate_paired(plain.assign(apogee_flux=(plain["apogee_flux"].dims, flux)))


def test_a_star_with_no_good_survey1_pixel_is_rejected():
    ds, _ = masked()
    ivar = ds["apogee_ivar"].values.copy()
    ivar[6] = 0.0
    with pytest.raises(PairedDataError, match="apogee_ivar is 0 at every pixel of star 6"):
        validate_paired(ds.assign(apogee_ivar=(ds["apogee_ivar"].dims, ivar)))


@pytest.mark.core
def test_fill_uses_the_training_stars_mean_of_the_good_pixels():
    ds, bad = masked()
    train = np.arange(0, 50, 2)
    filled = fill_bad_apogee_pixels(ds, train)
    assert (filled.num_pixels, filled.num_stars) == (bad.sum(), len(GAP_STARS) + len(STRAYS))
    out = filled.paired["apogee_flux"].values
    original = ds["apogee_flux"].values
    np.testing.assert_array_equal(out[~bad], original[~bad])
    for star, pixel in zip(*np.nonzero(bad), strict=True):
        sample = [original[s, pixel] for s in train if not bad[s, pixel]]
        np.testing.assert_allclose(out[star, pixel], np.mean(sample), rtol=1e-6)
    assert out.dtype == original.dtype
    np.testing.assert_array_equal(filled.paired["apogee_ivar"].values == 0, bad)
    # nothing to fill: the same dataset back
    clean = small_paired(0, num_stars=10)
    assert fill_bad_apogee_pixels(clean, np.arange(5)).paired is clean


def test_a_pixel_bad_in_every_training_star_is_named():
    ds, _ = masked()
    with pytest.raises(
        PairedDataError,
        match=r"apogee_pixel 30 \(apogee_wavelength=\d+\.\d+ Angstrom\) is bad "
        r"\(apogee_ivar == 0\) in every training star.*\(2 more pixels like it\)",
    ):
        fill_bad_apogee_pixels(ds, np.array(GAP_STARS))


@pytest.mark.core
def test_exact_fit_on_masked_pixels_is_finite_and_ignores_their_values():
    _, bad = masked()
    trees = [
        fit(jax.random.key(1), masked(junk=junk)[0], num_latent=3, method="exact")
        for junk in (np.nan, 1e3)
    ]
    tree = trees[0]
    assert tree.attrs["num_filled_apogee_pixels"] == bad.sum()
    assert tree.attrs["num_stars_filled_apogee"] == len(GAP_STARS) + len(STRAYS)
    for group, name in (
        ("posterior", "beta_z"),
        ("posterior", "z"),
        ("log_likelihood", "lamost_flux"),
    ):
        assert np.isfinite(tree[group][name].values).all(), name
    stored = tree["constant_data"]["apogee_flux"].values
    assert (
        np.isfinite(stored).all()
        and "filled" in tree["constant_data"]["apogee_flux"].attrs["comment"]
    )
    np.testing.assert_array_equal(tree["constant_data"]["apogee_ivar"].values == 0, bad)
    # the flux at a masked pixel never reaches the model: junk 1e3 fits the same as NaN
    for name in ("beta_z", "beta_F", "b_F", "z"):
        np.testing.assert_array_equal(
            trees[1]["posterior"][name].values, tree["posterior"][name].values
        )


def test_sweep_scores_of_a_masked_fit_use_the_filled_flux():
    ds, _ = masked()
    tree = fit(jax.random.key(3), ds, num_latent=2, method="exact")
    scores = score_fit(tree, ds)
    np.testing.assert_allclose(
        scores["lpd"].values, tree["log_likelihood"]["lamost_flux"].values[0, 0], rtol=1e-4
    )
    assert np.isfinite(float(scores["heldout_log_joint"]))


def test_posterior_predictive_fills_masked_pixels_as_the_fit_did():
    ds, bad = masked()
    tree = fit(jax.random.key(1), ds, num_latent=3, method="exact")
    refilled = fill_as_fitted(tree, ds)
    np.testing.assert_allclose(
        refilled.paired["apogee_flux"].values, tree["constant_data"]["apogee_flux"].values
    )
    assert refilled.num_pixels == bad.sum()
    ppc = posterior_predictive(jax.random.key(0), tree, ds, stars="all", num_samples=4)
    replicates = ppc["posterior_predictive"]["lamost_flux_rep"].values
    assert np.isfinite(replicates).all()
    assert np.isfinite(ppc["constant_data"]["apogee_flux"].values).all()


def test_masked_fit_predicts_held_out_spectra_about_as_well_as_complete_data():
    ds, bad = masked(num_stars=120)
    held = {}
    for name, data in (("masked", ds), ("complete", small_paired(0, num_stars=120))):
        tree = fit(jax.random.key(1), data, num_latent=3, method="exact")
        heldout = tree["constant_data"]["heldout"].values
        assert bad[heldout].any()  # some held-out stars have filled pixels
        log_lik = tree["log_likelihood"]["lamost_flux"].values[0, 0, heldout]
        held[name] = log_lik.sum() / (heldout.sum() * ds.sizes["lamost_pixel"])
    assert abs(held["masked"] - held["complete"]) < 0.5  # nats per pixel (zeros instead: ~3)


def test_errors_in_f1_fit_on_masked_pixels_is_finite():
    ds, bad = masked()
    tree = fit(
        jax.random.key(2), ds, num_latent=2, model="errors-in-f1", num_steps=60, eval_every=30
    )
    assert tree.attrs["model"] == "errors-in-f1"
    assert tree.attrs["num_filled_apogee_pixels"] == bad.sum()
    for name in ("beta_z", "beta_F", "b_F", "z"):
        assert np.isfinite(tree["posterior"][name].values).all(), name
    assert np.isfinite(tree["log_likelihood"]["lamost_flux"].values).all()
    assert np.isfinite(tree["log_joint"]["heldout"].values).all()
