import json

import jax
import numpy as np
import pytest
import xarray as xr
from factories import small_paired
from helpers import assert_allclose

from stereo_ppl import __version__
from stereo_ppl.compare import fit_summary, predict_lamost
from stereo_ppl.errors import StereoPPLError
from stereo_ppl.inference import fit, params_from_datatree
from stereo_ppl.io import load_fit, load_paired, save_fit, save_paired


@pytest.fixture(scope="module")
def tree():
    paired = small_paired(4, num_stars=30)
    return fit(
        jax.random.key(3), paired, num_latent=3, method="map", num_steps=300, eval_every=100, seed=3
    )


def test_layout_dims_coords_attrs(tree):
    assert {"posterior", "observed_data", "constant_data", "log_joint"} <= set(tree.children)
    post = tree["posterior"]
    assert post["beta_z"].dims == ("chain", "draw", "latent", "apogee_pixel")
    assert post["beta_F"].dims == ("chain", "draw", "lamost_pixel", "latent")
    assert post["b_F"].dims == ("chain", "draw", "lamost_pixel")
    assert post["z"].dims == ("chain", "draw", "star", "latent")
    # the calibrated model's sites (fit's default noise and prior)
    assert post["scatter"].dims == ("chain", "draw", "lamost_pixel")
    assert post["error_scale"].dims == post["prior_scale"].dims == ("chain", "draw")
    assert (attrs := tree.attrs)["noise"] == "calibrated" and attrs["prior"] == "learned"
    assert post.sizes["chain"] == 1 and post.sizes["draw"] == 1
    assert post["lamost_wavelength"].attrs["units"] == "Angstrom"
    assert tree["observed_data"]["lamost_flux"].dims == ("star", "lamost_pixel")
    const = tree["constant_data"]
    assert {"apogee_flux", "lamost_ivar", "heldout"} <= set(const.data_vars)
    assert const["heldout"].sum() == 6 == tree.attrs["num_heldout"]
    assert tree["log_joint"]["heldout"].dims == ("step",)
    for group in tree.children.values():
        assert not [d for d in group.dims if str(d).endswith("_dim_0")]
    attrs = tree.attrs
    assert attrs["stereo_ppl_version"] == __version__
    assert attrs["num_latent"] == 3 and attrs["method"] == "map" and attrs["seed"] == 3
    assert json.loads(attrs["config"])["num_steps"] == 300


def test_z_is_beta_z_times_stored_flux(tree):
    params = params_from_datatree(tree)
    f1 = tree["constant_data"]["apogee_flux"].values
    assert_allclose(tree["posterior"]["z"].values[0, 0], f1 @ params["beta_z"].T, rtol=1e-4)
    summary = fit_summary(tree)
    assert summary["c"] == 3 and np.isfinite(summary["heldout_chi2_per_pixel"])
    assert predict_lamost(params, f1).shape == tree["observed_data"]["lamost_flux"].shape


def test_netcdf_round_trip_is_identical(tree, tmp_path):
    path = save_fit(tree, tmp_path / "fit.nc")
    again = load_fit(path)
    xr.testing.assert_identical(again, tree)
    assert again["constant_data"]["heldout"].dtype == bool
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]


def test_paired_round_trip(tmp_path):
    paired = small_paired(5, num_stars=12)
    xr.testing.assert_identical(load_paired(save_paired(paired, tmp_path / "p.nc")), paired)


def test_failed_write_leaves_no_file(tmp_path):
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"x": ("a", [object()])})})
    with pytest.raises(Exception):  # noqa: B017 - whatever h5netcdf raises for object dtype
        save_fit(tree, tmp_path / "fit.nc")
    assert list(tmp_path.iterdir()) == []


def test_loading_bad_files_names_the_file(tmp_path):
    with pytest.raises(StereoPPLError, match=r"missing\.nc: no such file"):
        load_fit(tmp_path / "missing.nc")
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"not a netcdf file")
    with pytest.raises(StereoPPLError, match=r"junk\.nc: cannot be read"):
        load_paired(junk)
    paired_path = save_paired(small_paired(6, num_stars=10), tmp_path / "p.nc")
    with pytest.raises(StereoPPLError, match=r"p\.nc: not a stereo-ppl fit"):
        load_fit(paired_path)
