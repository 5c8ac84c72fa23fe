"""Predictive draws: layout, masking, the plug-in and prior predictives, errors."""

import warnings

import arviz_base
import jax
import numpy as np
import pytest
import xarray as xr
from helpers import assert_allclose, default_float
from ppc_eq2 import make_fit, simulate_eq2

from stereo_ppl.dims import LAMOST_PIXEL, LAMOST_WAVELENGTH, STAR, WAVELENGTH_UNIT
from stereo_ppl.errors import PairedDataError, StereoPPLError
from stereo_ppl.inference import log_likelihood_per_star, model_data
from stereo_ppl.io import save_dataset
from stereo_ppl.ppc import PPC_KIND, REP, PPCConfigError, arviz_view, posterior_predictive
from stereo_ppl.ppc import draw as draw_module

SAMPLE_GROUPS = ("posterior_predictive", "prior_predictive", "log_likelihood")


@pytest.fixture(scope="module")
def small_ppc(eq2, eq2_posterior_fit):
    paired, _, _ = eq2
    return posterior_predictive(
        jax.random.key(0), eq2_posterior_fit, paired, num_samples=40, num_prior_samples=8
    )


@pytest.mark.core
def test_groups_dims_and_coords_follow_the_schema(eq2, small_ppc):
    paired, _, heldout = eq2
    ppc = small_ppc
    assert set(ppc.children) == {*SAMPLE_GROUPS, "observed_data", "constant_data"}
    rep = ppc["posterior_predictive"][REP]
    assert rep.dims == ("chain", "draw", STAR, LAMOST_PIXEL)
    assert rep.shape == (1, 40, heldout.size, paired.sizes[LAMOST_PIXEL])
    assert rep.dtype == default_float()
    assert ppc["prior_predictive"][REP].shape == (1, 8, heldout.size, paired.sizes[LAMOST_PIXEL])
    assert ppc["observed_data"]["lamost_flux"].dims == (STAR, LAMOST_PIXEL)
    assert ppc["log_likelihood"]["lamost_flux"].dims == ("chain", "draw", STAR)
    np.testing.assert_array_equal(ppc["posterior_predictive"][STAR].values, heldout)
    np.testing.assert_array_equal(
        ppc["posterior_predictive"]["obsid"].values, paired["obsid"].values[heldout]
    )
    assert ppc["observed_data"][LAMOST_WAVELENGTH].attrs["units"] == WAVELENGTH_UNIT
    for node in ppc.subtree:
        assert not [d for d in node.dims if "_dim_" in str(d)]
    assert ppc.attrs["kind"] == PPC_KIND and ppc.attrs["predictive"] == "posterior"
    assert ppc.attrs["method"] == "vi" and ppc.attrs["num_latent"] == 3
    # 200 posterior draws thinned evenly to 40
    picked = ppc["posterior_predictive"]["source_draw"].values[0]
    assert picked[0] == 0 and picked[-1] == 199 and np.all(np.diff(picked) > 0)


def test_arviz_converters_read_every_group_without_warnings(small_ppc):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for group in SAMPLE_GROUPS:
            ds = small_ppc[group].to_dataset()
            name = next(iter(ds.data_vars))
            dims = {name: list(ds[name].dims[2:])}
            coords = {d: ds[d].values for d in dims[name]}
            again = arviz_base.from_dict({group: {name: ds[name].values}}, dims=dims, coords=coords)
            xr.testing.assert_equal(again[group][name], ds[name].reset_coords(drop=True))
        tree = arviz_base.convert_to_datatree(small_ppc)
        arviz_base.extract(tree, group="posterior_predictive", num_samples=5, random_seed=0)


def test_masked_pixels_are_nan_everywhere_and_good_pixels_finite(eq2, small_ppc):
    paired, _, heldout = eq2
    bad = paired["lamost_ivar"].values[heldout] == 0
    assert bad.any()
    for group in ("posterior_predictive", "prior_predictive"):
        values = small_ppc[group][REP].values
        assert np.isnan(values[..., bad]).all()
        assert np.isfinite(values[..., ~bad]).all()
    observed = small_ppc["observed_data"]["lamost_flux"].values
    assert np.isnan(observed[bad]).all()
    np.testing.assert_array_equal(observed[~bad], paired["lamost_flux"].values[heldout][~bad])


def test_replicates_scatter_around_the_model_with_the_noise_of_eq2(eq2, eq2_truth_fit):
    paired, truth, heldout = eq2
    ppc = posterior_predictive(jax.random.key(1), eq2_truth_fit, paired, num_samples=300)
    assert ppc.attrs["predictive"] == "plug-in"
    assert ppc["posterior_predictive"].attrs["predictive"] == "plug-in"
    assert ppc["posterior_predictive"].sizes["draw"] == 300
    assert ppc["log_likelihood"].sizes["draw"] == 1
    f1 = paired["apogee_flux"].values[heldout]
    mu = (f1 @ truth["beta_z"].T) @ truth["beta_F"].T + truth["b_F"]
    ivar = paired["lamost_ivar"].values[heldout]
    rep = ppc["posterior_predictive"][REP].values[0]
    z = (rep - mu) * np.sqrt(ivar)
    good = np.broadcast_to(ivar > 0, z.shape)
    assert abs(np.mean(z[good])) < 0.01
    assert abs(np.std(z[good]) - 1.0) < 0.01


def test_prior_predictive_follows_the_prior(eq2, eq2_truth_fit):
    """With F1 = 0, z = 0 and the prior predictive is N(b_F_prior_mean, 1 + 1/ivar)."""
    paired, _, _ = eq2
    zero = paired.assign(apogee_flux=paired["apogee_flux"] * 0.0)
    ppc = posterior_predictive(
        jax.random.key(2), eq2_truth_fit, zero, stars=[0, 1], num_samples=2, num_prior_samples=2000
    )
    prior = ppc["prior_predictive"][REP].values[0]
    ivar = zero["lamost_ivar"].values[[0, 1]]
    good = ivar > 0
    scaled = (prior - 1.0) / np.sqrt(1.0 + 1.0 / np.where(good, ivar, 1.0))
    assert abs(np.mean(scaled[:, good])) < 0.01
    assert abs(np.var(scaled[:, good]) - 1.0) < 0.02


def test_log_likelihood_matches_the_inference_function(eq2, eq2_posterior_fit, small_ppc):
    paired, _, heldout = eq2
    post = eq2_posterior_fit["posterior"]
    picks = small_ppc["posterior_predictive"]["source_draw"].values[0]
    params = {k: post[k].values[:, picks] for k in ("beta_z", "beta_F", "b_F")}
    expected = log_likelihood_per_star(params, model_data(paired.isel(star=heldout)))
    assert_allclose(small_ppc["log_likelihood"]["lamost_flux"].values, expected)


def test_same_key_same_draws_other_key_other_draws(eq2, eq2_truth_fit):
    paired, _, _ = eq2
    kwargs = {"stars": [0, 5], "num_samples": 3, "num_prior_samples": 0}
    one = posterior_predictive(jax.random.key(7), eq2_truth_fit, paired, **kwargs)
    two = posterior_predictive(jax.random.key(7), eq2_truth_fit, paired, **kwargs)
    three = posterior_predictive(jax.random.key(8), eq2_truth_fit, paired, **kwargs)
    assert "prior_predictive" not in one.children
    a, b, c = (t["posterior_predictive"][REP].values for t in (one, two, three))
    np.testing.assert_array_equal(a, b)
    good = np.isfinite(a)
    assert not np.any(a[good] == c[good])


def test_small_uneven_chunks_fill_every_star(eq2, eq2_posterior_fit):
    paired, _, _ = eq2
    ppc = posterior_predictive(
        jax.random.key(0), eq2_posterior_fit, paired, num_samples=10, chunk_size=7, max_stars=20
    )
    rep = ppc["posterior_predictive"][REP].values
    ivar = ppc["constant_data"]["lamost_ivar"].values
    assert rep.shape[2] == 20
    assert np.isfinite(rep[..., ivar > 0]).all() and np.isnan(rep[..., ivar == 0]).all()


def test_ctrl_c_keeps_the_finished_stars(eq2, eq2_posterior_fit, monkeypatch):
    paired, _, _ = eq2
    real, calls = draw_module._masked, []

    def interrupt_second_chunk(values, num, bad):
        calls.append(num)
        if len(calls) > 2:  # posterior and prior of chunk 0 done
            raise KeyboardInterrupt
        return real(values, num, bad)

    monkeypatch.setattr(draw_module, "_masked", interrupt_second_chunk)
    # the shapes of test_small_uneven_chunks_fill_every_star: no new compilation
    ppc = posterior_predictive(
        jax.random.key(0), eq2_posterior_fit, paired, num_samples=10, chunk_size=7, max_stars=20
    )
    assert ppc.attrs["interrupted"] == 1
    assert ppc["posterior_predictive"].sizes[STAR] == 7
    assert ppc["log_likelihood"].sizes[STAR] == 7
    assert np.isfinite(ppc["prior_predictive"][REP].values).any()


def test_interrupt_before_any_star_is_raised(eq2, eq2_truth_fit, monkeypatch):
    paired, _, _ = eq2

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(draw_module, "_masked", interrupt)
    with pytest.raises(KeyboardInterrupt):
        posterior_predictive(jax.random.key(0), eq2_truth_fit, paired, num_samples=2)


def test_arviz_view_renames_for_the_ppc_plots(small_ppc):
    view = arviz_view(small_ppc)
    for group in ("posterior_predictive", "prior_predictive"):
        assert set(view[group].data_vars) == {"lamost_flux"}
        assert REP in small_ppc[group].data_vars
    assert view.attrs == small_ppc.attrs


def test_netcdf_round_trip(tmp_path, small_ppc):
    path = save_dataset(small_ppc, tmp_path / "PPC.nc")
    with xr.open_datatree(path, engine="h5netcdf") as back:
        xr.testing.assert_identical(
            back["posterior_predictive"][REP].load(), small_ppc["posterior_predictive"][REP]
        )
        assert back.attrs["predictive"] == "posterior"


def test_paired_on_another_grid_is_refused_naming_the_pixel(eq2_truth_fit):
    other, _, _ = simulate_eq2(3, num_lamost=150)
    with pytest.raises(PairedDataError, match="150 lamost_pixels but the fit has 160"):
        posterior_predictive(jax.random.key(0), eq2_truth_fit, other)
    shifted, _, _ = simulate_eq2(3)
    wl = shifted["lamost_wavelength"].values.copy()
    wl[5:] *= 1.001
    shifted = shifted.assign_coords(lamost_wavelength=("lamost_pixel", wl, {"units": "Angstrom"}))
    with pytest.raises(PairedDataError, match="lamost_pixel 5"):
        posterior_predictive(jax.random.key(0), eq2_truth_fit, shifted)


def test_bad_options_and_fits_are_user_errors(eq2, eq2_truth_fit):
    paired, truth, _ = eq2
    key = jax.random.key(0)
    with pytest.raises(PPCConfigError, match="num_samples must be at least 1"):
        posterior_predictive(key, eq2_truth_fit, paired, num_samples=0)
    with pytest.raises(PPCConfigError, match="num_prior_samples must be 0 or more"):
        posterior_predictive(key, eq2_truth_fit, paired, num_prior_samples=-1)
    with pytest.raises(PPCConfigError, match="out of range"):
        posterior_predictive(key, eq2_truth_fit, paired, stars=[0, 10_000])
    all_trained = make_fit(paired, truth, np.array([], dtype=int), method="exact")
    with pytest.raises(PPCConfigError, match="none held out"):
        posterior_predictive(key, all_trained, paired)
    broken = eq2_truth_fit.copy()
    broken["posterior"] = broken["posterior"].to_dataset().drop_vars("b_F")
    with pytest.raises(StereoPPLError, match="no variable 'b_F'"):
        posterior_predictive(key, broken, paired)
