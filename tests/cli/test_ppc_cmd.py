"""``stereo-ppl ppc FIT.nc PAIRED.nc --out PPC.nc``."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.errors import StereoPPLError
from stereo_ppl.io import save_fit, save_paired

sys.path.insert(0, str(Path(__file__).parents[1] / "ppc"))
from ppc_eq2 import make_fit, simulate_eq2

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ppc_cli")
    paired, truth, heldout = simulate_eq2(4, num_stars=60, num_heldout=12, num_lamost=80)
    return {
        "paired": save_paired(paired, tmp / "PAIRED.nc"),
        "fit": save_fit(make_fit(paired, truth, heldout, method="exact"), tmp / "FIT.nc"),
        "obsids": paired["obsid"].values[heldout],
        "other": save_paired(simulate_eq2(5, num_lamost=70)[0], tmp / "OTHER.nc"),
    }


def test_ppc_writes_groups_prints_table_and_plots(files, tmp_path):
    out = tmp_path / "PPC.nc"
    args = ["ppc", str(files["fit"]), str(files["paired"]), "--out", str(out)]
    args += ["--num-samples", "20", "--plots", str(tmp_path / "plots"), "--seed", "3"]
    args += ["--obsid", str(files["obsids"][1])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for text in (
        "coverage of central",
        "95%",
        "all pixels",
        "4500-5800 Å",
        "S/N",
        "chi-square per star",
    ):
        assert text in result.output
    with xr.open_datatree(out, engine="h5netcdf") as tree:
        assert {
            "posterior_predictive",
            "prior_predictive",
            "observed_data",
            "log_likelihood",
            "constant_data",
            "calibration",
        } <= set(tree.children)
        assert tree.attrs["predictive"] == "plug-in" and tree.attrs["seed"] == 3
        assert tree["posterior_predictive"]["lamost_flux_rep"].shape == (1, 20, 12, 80)
        assert tree["prior_predictive"].sizes["draw"] == 20
        np.testing.assert_array_equal(tree["calibration"]["obsid"].values, files["obsids"])
        assert 0.8 < float(tree["calibration"]["coverage"].sel(subset="all pixels", prob=0.95))
    names = {p.name for p in (tmp_path / "plots").iterdir()}
    assert names == {"ppc_summaries.png", "pit_ecdf.png", "pixel_calibration.png", "spectra.png"}
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_all_stars_and_max_stars(files, tmp_path):
    out = tmp_path / "PPC.nc"
    args = ["ppc", str(files["fit"]), str(files["paired"]), "--out", str(out), "--all-stars"]
    # 12 of the 60 stars and 20 draws: the shapes of the test above, nothing to recompile
    result = runner.invoke(app, [*args, "--max-stars", "12", "--num-samples", "20"])
    assert result.exit_code == 0, result.output
    with xr.open_datatree(out, engine="h5netcdf") as tree:
        stars = tree["observed_data"]["star"].values
        assert stars.size == 12 and stars[0] == 0 and stars[-1] == 59


@pytest.mark.parametrize(
    ("paired", "extra", "message"),
    [
        ("paired", ["--num-samples", "0"], "num_samples must be at least 1"),
        ("paired", ["--obsid", "12345"], "obsid 12345 is not among the checked stars"),
        ("missing", [], "MISSING.nc: no such file"),
    ],
)
def test_user_errors_name_the_problem(files, tmp_path, paired, extra, message):
    paired = files.get(paired, tmp_path / "MISSING.nc")
    out = tmp_path / "P.nc"
    result = runner.invoke(app, ["ppc", str(files["fit"]), str(paired), "--out", str(out), *extra])
    assert isinstance(result.exception, StereoPPLError), result.output
    assert message in str(result.exception)
    assert not out.exists()


def test_user_errors_are_one_line_without_traceback(files, tmp_path):
    out = tmp_path / "P.nc"
    done = subprocess.run(
        [sys.executable, "-m", "stereo_ppl", "ppc", files["fit"], files["other"], "--out", out],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "OTHER.nc: the paired dataset has 70 lamost_pixels but the fit has 80" in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert not out.exists()


def test_help():
    result = runner.invoke(app, ["ppc", "--help"])
    assert result.exit_code == 0 and "--num-samples" in result.output
