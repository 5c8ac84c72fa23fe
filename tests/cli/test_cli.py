import subprocess
import sys

import pytest
import xarray as xr
from factories import small_paired
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.io import load_fit, load_paired, save_paired

runner = CliRunner()


def run_cli(*args):
    """Run ``python -m stereo_ppl ARGS`` as a user would; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "stereo_ppl", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_demo_writes_paired_fits_figure_and_summary(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out-dir", str(out), "--num-stars", "60", "-c", "2,4"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {
        "PAIRED.nc",
        "TRUTH.nc",
        "fit_c002.nc",
        "fit_c004.nc",
        "log_joint.png",
        "summary.csv",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    paired = load_paired(out / "PAIRED.nc")
    # The demo's catalogue has rows the cuts must drop; the truth follows the kept stars.
    assert paired.sizes["star"] == paired.attrs["cut_remaining"][-1] < 60
    truth = xr.load_dataset(out / "TRUTH.nc")
    assert list(truth["apogee_id"].values) == list(paired["apogee_id"].values)
    fit = load_fit(out / "fit_c004.nc")
    assert fit.attrs["num_latent"] == 4
    assert (out / "log_joint.png").read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("c,method") and len(summary) == 3


def test_fit_command_writes_a_fit(tmp_path):
    paired = save_paired(small_paired(0, num_stars=30), tmp_path / "PAIRED.nc")
    out = tmp_path / "FIT.nc"
    result = runner.invoke(
        app,
        [
            "fit",
            str(paired),
            "-c",
            "2",
            "--out",
            str(out),
            "--method",
            "map",
            "--steps",
            "100",
            "--seed",
            "5",
            "--holdout-fraction",
            "0.3",
            "--batch-size",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    fit = load_fit(out)
    assert fit.attrs["seed"] == 5 and fit.attrs["num_heldout"] == 9
    assert fit["posterior"].sizes["latent"] == 2
    xr.testing.assert_equal(fit["observed_data"]["lamost_flux"], load_paired(paired)["lamost_flux"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "{tmp}/missing.nc", "-c", "2", "--out", "{tmp}/f.nc"], "missing.nc: no such file"),
        (["fit", "{paired}", "-c", "0", "--out", "{tmp}/f.nc"], "c (num_latent) must be"),
        (
            ["fit", "{paired}", "-c", "2", "--out", "{tmp}/f.nc", "--method", "nuts"],
            "unknown method 'nuts'",
        ),
        (["demo", "--out-dir", "{tmp}/d", "-c", "2,x"], "-c must be comma-separated integers"),
        (
            ["fit", "{paired}", "-c", "2", "--out", "{tmp}/f.nc", "--steps", "10"],
            "--steps does not apply to --method exact",
        ),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    paired = save_paired(small_paired(0, num_stars=20), tmp_path / "PAIRED.nc")
    args = [a.format(tmp=tmp_path, paired=paired) for a in args]
    done = run_cli(*args)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert message in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr


def test_help_everywhere():
    for args in ([], ["fit"], ["demo"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
