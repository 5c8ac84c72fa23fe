"""``stereo-ppl fit --method exact|vi``: the same layout, solver records in the file."""

import pytest
from factories import small_paired
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.io import load_fit, save_paired

runner = CliRunner()


@pytest.mark.parametrize(
    ("method", "extra", "num_draws"),
    [("exact", [], 1), ("vi", ["--num-samples", "5", "--steps", "50", "--guide", "lowrank"], 5)],
)
def test_fit_methods_write_the_same_layout(tmp_path, method, extra, num_draws):
    paired = save_paired(small_paired(1, num_stars=40), tmp_path / "PAIRED.nc")
    out = tmp_path / "FIT.nc"
    args = ["fit", str(paired), "-c", "3", "--out", str(out), "--method", method, *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "iterations, gradient norm" in result.output
    tree = load_fit(out)
    assert tree.attrs["method"] == method
    assert tree.attrs["num_iterations"] >= 1
    assert tree.attrs["grad_norm"] < tree.attrs["grad_norm_initial"]
    assert tree["posterior"].sizes["draw"] == num_draws
    assert tree["log_likelihood"]["lamost_flux"].dims == ("chain", "draw", "star")
    assert ("elbo" in tree.children) == (method == "vi")
