import json
import os

import jax
import numpy as np
import pytest
import xarray as xr

from stereo_ppl.compare import compare_c, fit_summary
from stereo_ppl.errors import FitConfigError
from stereo_ppl.io import load_fit, load_paired
from stereo_ppl.sweep import (
    MANIFEST_NAME,
    SweepConfig,
    SweepDirError,
    collect_sweep,
    load_sweep_fit,
    run_sweep,
    start_params,
)

#: As in conftest.py (the finished sweep's settings).
NUM_STARS = 40
CONFIG = SweepConfig(
    method="exact", heldout_fraction=0.5, options={"noise": "reported", "prior": "unit"}
)
NAMES = ["fit_c001_r0.nc", "fit_c001_r1.nc", "fit_c002_r0.nc", "fit_c002_r1.nc"]


def _stamps(out):
    return {n: (os.stat(out / n).st_ino, os.stat(out / n).st_mtime_ns) for n in NAMES}


def _rerun(paired_file, out, *, messages=None, **kwargs):
    options = {"num_latents": [1, 2], "num_repeats": 2, "config": CONFIG, "seed": 0}
    sink = messages.append if messages is not None else (lambda line: None)
    return run_sweep(jax.random.key(0), paired_file, out, log=sink, **(options | kwargs))


def test_sweep_writes_every_fit_manifest_and_table(finished_sweep, paired_file):
    out, report = finished_sweep
    assert sorted(p.name for p in out.glob("fit_*.nc")) == NAMES
    assert [j.name for j in report.fitted] == NAMES and not report.failed
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert sorted(manifest["fits"]) == NAMES
    assert {rec["status"] for rec in manifest["fits"].values()} == {"done"}
    table = xr.load_dataset(out / "summary.nc")
    assert dict(table.sizes) == {"num_latent": 2, "repeat": 2, "star": NUM_STARS}
    assert np.isfinite(table["heldout_lpd"]).all() and np.isfinite(table["seconds"]).all()
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("num_latent,repeat,")
    # every fit holds out the same stars, and the scores are stored in each fit
    heldouts = [load_fit(out / n, paired=False)["constant_data"]["heldout"].values for n in NAMES]
    assert all(np.array_equal(h, heldouts[0]) for h in heldouts)
    assert heldouts[0].sum() == NUM_STARS // 2
    fit = load_fit(out / "fit_c002_r1.nc", paired=False)
    assert "observed_data" not in fit.children and "scores" in fit.children
    assert fit.attrs["paired_path"] == str(paired_file.resolve())
    assert load_fit(out / "fit_c002_r1.nc")["observed_data"]["lamost_flux"].shape[0] == NUM_STARS
    assert float(fit["scores"]["heldout_lpd"]) == float(
        table["heldout_lpd"].sel(num_latent=2, repeat=1)
    )


def test_repeats_start_from_different_points(paired_file):
    paired = load_paired(paired_file)
    heldout = np.arange(0, NUM_STARS, 2)
    starts = [
        start_params(jax.random.key(k), paired, heldout, num_latent=2, how="jitter", jitter=0.3)
        for k in (1, 2)
    ]
    assert not np.allclose(starts[0]["beta_F"], starts[1]["beta_F"])
    random = start_params(jax.random.key(1), paired, heldout, num_latent=2, how="random", jitter=0)
    assert random["beta_z"].shape == (2, paired.sizes["apogee_pixel"])


def test_rerun_skips_finished_fits(finished_sweep, paired_file, sweep_copy):
    before = _stamps(sweep_copy)
    report = _rerun(paired_file, sweep_copy)
    assert report.fitted == [] and len(report.skipped) == 4
    assert _stamps(sweep_copy) == before


def test_corrupt_and_missing_fits_are_reported_and_refitted(paired_file, sweep_copy):
    (sweep_copy / "fit_c001_r1.nc").write_bytes(b"not a netCDF file")
    (sweep_copy / "fit_c002_r0.nc").unlink()
    (sweep_copy / ".fit_c002_r1.nc.abc123.tmp").write_bytes(b"half a file")
    kept = _stamps(sweep_copy.parent / "d") if False else None  # noqa: F841
    untouched = {
        n: os.stat(sweep_copy / n).st_mtime_ns for n in ("fit_c001_r0.nc", "fit_c002_r1.nc")
    }
    messages = []
    report = _rerun(paired_file, sweep_copy, messages=messages)
    assert sorted(j.name for j in report.fitted) == ["fit_c001_r1.nc", "fit_c002_r0.nc"]
    assert any("fit_c001_r1.nc: cannot be read" in m for m in messages), messages
    assert any("fit_c002_r0.nc is listed as done but missing" in m for m in messages), messages
    assert any(".fit_c002_r1.nc.abc123.tmp" in m for m in messages), messages
    assert not list(sweep_copy.glob(".*.tmp"))
    assert {n: os.stat(sweep_copy / n).st_mtime_ns for n in untouched} == untouched
    for name in NAMES:
        load_fit(sweep_copy / name)


def test_a_fit_missing_from_the_manifest_is_adopted_not_redone(paired_file, sweep_copy):
    manifest = json.loads((sweep_copy / MANIFEST_NAME).read_text())
    del manifest["fits"]["fit_c002_r1.nc"]  # as if killed between the fit and the manifest
    (sweep_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    before = _stamps(sweep_copy)
    report = _rerun(paired_file, sweep_copy)
    assert report.fitted == [] and _stamps(sweep_copy) == before
    assert "fit_c002_r1.nc" in json.loads((sweep_copy / MANIFEST_NAME).read_text())["fits"]


def test_changed_fit_file_is_refitted(paired_file, sweep_copy):
    other = sweep_copy / "fit_c001_r0.nc"
    (sweep_copy / "fit_c001_r1.nc").replace(other)  # readable, but another job's fit
    messages = []
    report = _rerun(paired_file, sweep_copy, messages=messages)
    assert sorted(j.name for j in report.fitted) == ["fit_c001_r0.nc", "fit_c001_r1.nc"]
    assert any("attribute repeat is 1, expected 0" in m for m in messages), messages


def test_other_settings_in_the_same_directory_are_refused(paired_file, sweep_copy):
    other = SweepConfig(
        method="exact", heldout_fraction=0.3, options={"noise": "reported", "prior": "unit"}
    )
    with pytest.raises(SweepDirError, match="other settings \\(heldout_fraction differ"):
        _rerun(paired_file, sweep_copy, config=other)
    with pytest.raises(SweepDirError, match="another seed"):
        run_sweep(jax.random.key(5), paired_file, sweep_copy, num_latents=[1], config=CONFIG)


def test_a_locked_directory_is_refused(paired_file, sweep_copy):
    import fcntl

    with open(sweep_copy / ".sweep.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SweepDirError, match="another sweep is running"):
            _rerun(paired_file, sweep_copy)


def test_impossible_c_fails_before_any_fit(paired_file, tmp_path):
    with pytest.raises(FitConfigError, match="c \\(num_latent\\) must be"):
        _rerun(paired_file, tmp_path / "d", num_latents=[1, 500])
    assert not (tmp_path / "d").exists() or not list((tmp_path / "d").glob("fit_*"))


def test_loaded_fits_get_their_data_back(finished_sweep, paired_file):
    out, _ = finished_sweep
    paired = load_paired(paired_file)
    tree = load_sweep_fit(out / "fit_c002_r0.nc", paired)
    xr.testing.assert_equal(tree["observed_data"]["lamost_flux"], paired["lamost_flux"])
    row = fit_summary(tree)
    assert row["c"] == 2 and np.isfinite(row["heldout_chi2_per_pixel"])


def test_collect_rebuilds_the_table_from_the_fits(finished_sweep, sweep_copy):
    (sweep_copy / "summary.nc").unlink()
    (sweep_copy / "fit_c002_r1.nc").write_bytes(b"garbage")
    messages = []
    table = collect_sweep(sweep_copy, log=messages.append)
    reference = xr.load_dataset(finished_sweep[0] / "summary.nc")
    assert np.isnan(table["heldout_lpd"].sel(num_latent=2, repeat=1))
    np.testing.assert_array_equal(
        table["lpd"].sel(num_latent=1).values, reference["lpd"].sel(num_latent=1).values
    )
    assert len(messages) == 1 and "fit_c002_r1.nc" in messages[0]


def test_kfold_scores_every_star_once(paired_file, tmp_path):
    config = SweepConfig(
        method="exact", num_folds=2, options={"noise": "reported", "prior": "unit"}
    )
    report = run_sweep(
        jax.random.key(0),
        paired_file,
        tmp_path / "k",
        num_latents=[1, 2],
        config=config,
        log=lambda line: None,
    )
    table = report.table
    assert dict(table.sizes) == {"num_latent": 2, "repeat": 1, "fold": 2, "star": NUM_STARS}
    assert np.isfinite(table["kfold_lpd"]).all()
    assert sorted(np.bincount(table["star_fold"].values).tolist()) == [20, 20]
    star = int(np.flatnonzero(table["star_fold"].values == 1)[0])
    assert table["kfold_lpd"].values[1, 0, star] == table["lpd"].values[1, 0, 1, star]
    comparison = compare_c(table)
    assert comparison["score"].iloc[0] == "kfold"
    assert comparison.loc["c=2", "elpd"] == pytest.approx(table["kfold_lpd"].values[1, 0].sum())
