"""Fit files hold the fit, not the data: the reference, re-attachment, checksums, layouts."""

import json
import shutil

import jax
import numpy as np
import pytest
import xarray as xr
from factories import small_paired

from stereo_ppl.errors import PairedDataError, StereoPPLError
from stereo_ppl.inference import fit
from stereo_ppl.inference.results import fit_datatree
from stereo_ppl.io import load_fit, load_paired, save_dataset, save_fit, save_paired
from stereo_ppl.io.fit_data import data_checksum, has_data

BAD = ((3, 5), (7, 5), (4, 9))


def _with_bad_pixels(paired: xr.Dataset) -> xr.Dataset:
    """``paired`` with survey-1 pixels marked bad (one of them NaN), which a fit fills."""
    ivar = np.ones(paired["apogee_flux"].shape)
    flux = paired["apogee_flux"].values.copy()
    for star, pixel in BAD:
        ivar[star, pixel] = 0.0
    flux[BAD[0]] = np.nan
    dims = paired["apogee_flux"].dims
    return paired.assign(apogee_flux=(dims, flux), apogee_ivar=(dims, ivar))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A paired file with bad survey-1 pixels and an exact fit of it, in memory."""
    where = tmp_path_factory.mktemp("fitted")
    path = save_paired(_with_bad_pixels(small_paired(0, num_stars=30)), where / "PAIRED.nc")
    tree = fit(jax.random.key(0), load_paired(path), num_latent=2, method="exact", seed=0)
    return path, tree


def test_a_fit_file_refers_to_its_paired_file_and_gets_the_data_back(fitted, tmp_path):
    paired_path, tree = fitted
    assert tree.attrs["num_filled_apogee_pixels"] == len(BAD)
    path = save_fit(tree, tmp_path / "fit.nc")
    bare = load_fit(path, paired=False)
    assert not has_data(bare) and "observed_data" not in bare.children
    assert list(bare["constant_data"].data_vars) == ["heldout", "apogee_fill"]
    assert bare.attrs["paired_path"] == str(paired_path.resolve())
    assert bare.attrs["paired_size"] == paired_path.stat().st_size
    assert bare.attrs["paired_checksum"] == data_checksum(load_paired(paired_path))
    assert {"z", "beta_z"} <= set(bare["posterior"].data_vars)
    assert {"log_likelihood", "log_joint"} <= set(bare.children)
    # the filled survey-1 flux, the held-out mask and every attribute come back exactly
    xr.testing.assert_identical(load_fit(path), tree)
    xr.testing.assert_identical(load_fit(path, paired=paired_path), tree)
    xr.testing.assert_identical(load_fit(path, paired=load_paired(paired_path)), tree)


def test_include_data_writes_the_self_contained_layout(fitted, tmp_path):
    paired_path, tree = fitted
    path = save_fit(tree, tmp_path / "full.nc", include_data=True)
    assert load_fit(path, paired=False).attrs["paired_path"] == str(paired_path.resolve())
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(path, moved / "full.nc")
    xr.testing.assert_identical(load_fit(moved / "full.nc", paired=False), tree)
    # a file written before fits referred to their data (no reference) loads as it is
    old = tree.copy()
    old.attrs = {k: v for k, v in tree.attrs.items() if not k.startswith("paired_")}
    save_dataset(old, tmp_path / "old.nc")
    xr.testing.assert_identical(load_fit(tmp_path / "old.nc"), old)
    assert (
        save_fit(tree, tmp_path / "slim.nc").stat().st_size
        < 0.8 * (moved / "full.nc").stat().st_size
    )


def test_other_data_are_refused_with_the_reason(fitted, tmp_path):
    paired_path, tree = fitted
    path = save_fit(tree, tmp_path / "fit.nc")
    other = small_paired(1, num_stars=30)
    other_path = save_paired(other, tmp_path / "OTHER.nc")
    with pytest.raises(StereoPPLError, match=r"OTHER\.nc: is not the paired dataset .*fit\.nc"):
        load_fit(path, paired=other_path)
    with pytest.raises(StereoPPLError, match="is not the paired dataset"):
        load_fit(path, paired=other)
    # the file at the recorded path changed since: one value of one good pixel
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    changed = load_paired(paired_path)
    flux = changed["lamost_flux"].values.copy()
    flux[0, 0] += 1e-3
    save_paired(changed.assign(lamost_flux=(changed["lamost_flux"].dims, flux)), copy_dir / "P.nc")
    tree_of_copy = tree.copy()
    tree_of_copy.attrs = {**tree.attrs, "paired_path": str(copy_dir / "P.nc")}
    with pytest.raises(StereoPPLError, match="is not the paired dataset"):
        load_fit(save_fit(tree_of_copy, copy_dir / "fit.nc", include_data=False))
    with pytest.raises(StereoPPLError, match=r"OTHER\.nc: is not the paired dataset"):
        save_fit(tree, tmp_path / "x.nc", paired=other_path)


def test_without_its_paired_file_a_fit_loads_its_parameters(fitted, tmp_path):
    paired_path, tree = fitted
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(paired_path, work / "PAIRED.nc")
    tree = fit(jax.random.key(0), load_paired(work / "PAIRED.nc"), num_latent=2, method="exact")
    path = save_fit(tree, work / "fit.nc")
    # moved together: found beside the fit
    shutil.move(work, tmp_path / "moved")
    back = load_fit(tmp_path / "moved" / "fit.nc")
    assert has_data(back)
    np.testing.assert_array_equal(
        back["observed_data"]["lamost_flux"], tree["observed_data"]["lamost_flux"]
    )
    (tmp_path / "moved" / "PAIRED.nc").unlink()
    bare = load_fit(tmp_path / "moved" / path.name)
    assert not has_data(bare)
    np.testing.assert_array_equal(
        bare["constant_data"]["heldout"], tree["constant_data"]["heldout"]
    )
    np.testing.assert_array_equal(bare["posterior"]["z"], tree["posterior"]["z"])


def test_a_fit_of_data_in_memory(tmp_path):
    paired = _with_bad_pixels(small_paired(2, num_stars=30))
    tree = fit(jax.random.key(1), paired, num_latent=2, method="exact")
    assert "paired_path" not in tree.attrs
    # no paired file known: self-contained by default, or without data when asked
    xr.testing.assert_identical(load_fit(save_fit(tree, tmp_path / "full.nc")), tree)
    path = save_fit(tree, tmp_path / "bare.nc", include_data=False)
    assert not has_data(load_fit(path))
    assert (load_fit(path).attrs["paired_path"], load_fit(path).attrs["paired_size"]) == ("", -1)
    back = load_fit(path, paired=paired)
    assert back.attrs["paired_checksum"] == data_checksum(paired)
    back.attrs = {k: v for k, v in back.attrs.items() if not k.startswith("paired_")}
    xr.testing.assert_identical(back, tree)
    with pytest.raises(StereoPPLError, match="none to include"):
        save_fit(load_fit(path), tmp_path / "again.nc", include_data=True)


def test_a_fit_of_part_of_a_file_keeps_its_data(fitted, tmp_path):
    paired_path, _ = fitted
    part = load_paired(paired_path).isel(star=slice(0, 20))
    tree = fit(jax.random.key(0), part, num_latent=2, noise="reported", prior="unit")
    path = save_fit(tree, tmp_path / "part.nc")
    back = load_fit(path, paired=False)
    assert has_data(back) and "paired_path" not in back.attrs
    with pytest.raises(StereoPPLError, match="holds other data than the fit"):
        save_fit(tree, tmp_path / "x.nc", paired=load_paired(paired_path))


def test_stars_and_pixels_must_match_on_reattachment(fitted, tmp_path):
    _, tree = fitted
    path = save_fit(tree, tmp_path / "fit.nc", include_data=False)
    bare = load_fit(path, paired=False)
    bare.attrs.pop("paired_checksum")  # left only the star and pixel checks
    other = small_paired(0, num_stars=31)
    from stereo_ppl.io.netcdf import attach_paired

    with pytest.raises(PairedDataError, match="31 stars, the fit 30"):
        attach_paired(bare, other)


def test_data_checksum_identifies_values_not_files(fitted, tmp_path):
    paired_path, _ = fitted
    paired = load_paired(paired_path)
    checksum = data_checksum(paired)
    assert checksum.startswith("sha256:") and len(checksum) == 7 + 64
    again = save_paired(paired, tmp_path / "again.nc")
    assert data_checksum(load_paired(again)) == checksum
    # bad pixels count as 0, whatever they hold (a fit fills them)
    flux = paired["apogee_flux"].values.copy()
    flux[BAD[1]] = 123.0
    dims = paired["apogee_flux"].dims
    assert data_checksum(paired.assign(apogee_flux=(dims, flux))) == checksum
    flux[0, 0] += 1e-6
    assert data_checksum(paired.assign(apogee_flux=(dims, flux))) != checksum
    ids = paired["obsid"].values.copy()
    ids[0] += 1
    assert data_checksum(paired.assign_coords(obsid=("star", ids))) != checksum


def test_paired_data_without_index_coordinates(tmp_path):
    paired = small_paired(3, num_stars=30).drop_vars(["star", "lamost_pixel"])
    assert "star" not in paired.coords and "apogee_id" in paired.coords
    path = save_paired(paired, tmp_path / "PAIRED.nc")
    tree = fit(jax.random.key(0), load_paired(path), num_latent=2, method="exact")
    saved = save_fit(tree, tmp_path / "fit.nc")
    assert not has_data(load_fit(saved, paired=False))
    xr.testing.assert_identical(load_fit(saved), tree)


def test_the_fit_file_is_a_few_percent_of_its_paired_file_at_c_10(tmp_path):
    """1,100 stars on the seed study's grids: the layout of an exact fit at c = 10."""
    from stereo_ppl.datasets import make_builtin

    paired = make_builtin(0, num_stars=1100).paired
    paired_path = save_paired(paired, tmp_path / "PAIRED.nc")
    paired = load_paired(paired_path)
    rng = np.random.default_rng(0)
    c, p1, p2, n = 10, paired.sizes["apogee_pixel"], paired.sizes["lamost_pixel"], 1100
    dtype = np.float32
    params = {
        "beta_z": rng.normal(size=(c, p1)).astype(dtype),
        "beta_F": rng.normal(size=(p2, c)).astype(dtype),
        "b_F": rng.normal(size=p2).astype(dtype),
    }
    steps = np.arange(200)
    tree = fit_datatree(
        paired,
        params,
        heldout=np.arange(0, n, 5),
        method="exact",
        seed=0,
        config={"num_latent": c},
        log_joint=(steps, -steps * 1.0, -steps * 2.0, steps * 0.1),
        log_likelihood=rng.normal(size=(1, 1, n)),
    )
    path = save_fit(tree, tmp_path / "fit.nc")
    ratio = path.stat().st_size / paired_path.stat().st_size
    assert ratio <= 0.05, ratio
    assert json.loads(load_fit(path, paired=False)["constant_data"].attrs["paired_variables"])
    xr.testing.assert_identical(load_fit(path), tree)
