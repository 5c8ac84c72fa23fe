"""``stereo-ppl fit --method exact|vi``: the same layout, solver records in the file."""

import numpy as np
import pytest
from factories import small_paired
from helpers import assert_allclose
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.compare import fit_summary
from stereo_ppl.errors import FitConfigError
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


def test_fit_exact_with_patience_keeps_the_best_heldout_iterate(tmp_path):
    paired = save_paired(small_paired(1, num_stars=40), tmp_path / "PAIRED.nc")
    runs = {}
    for name, extra in (("map_fit", []), ("early", ["--patience", "1"])):
        out = tmp_path / f"{name}.nc"
        args = ["fit", str(paired), "-c", "3", "--out", str(out), "--method", "exact", *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        runs[name] = load_fit(out)
    full, early = runs["map_fit"], runs["early"]
    trace = early["log_joint"]
    held = trace["heldout"].values
    best = int(np.argmax(held))
    # the fit records the step it returns: the best held-out one, and the last without patience
    assert early.attrs["best_step"] == int(trace["step"].values[best])
    assert full.attrs["best_step"] == int(full["log_joint"]["step"].values[-1])
    assert early.attrs["stop_reason"] in ("heldout", "gtol", "tol", "stall")
    if early.attrs["stop_reason"] == "heldout":
        assert best == held.size - 2 and not early.attrs["converged"]
    # the summary (and so sweep and compare) reads the held-out score at that step
    assert_allclose(fit_summary(early)["heldout_log_joint"], held[best])
    bad = runner.invoke(app, ["fit", str(paired), "-c", "3", "--out", "x.nc", "--patience", "0"])
    assert isinstance(bad.exception, FitConfigError)
    assert "patience must be >= 1" in str(bad.exception)
