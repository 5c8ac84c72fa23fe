"""``stereo-ppl fit --model``: a model variant writes the same layout; unknown models are named."""

import numpy as np
from factories import small_paired
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.data import add_labels
from stereo_ppl.errors import FitConfigError
from stereo_ppl.io import load_fit, save_paired

runner = CliRunner()


def _labelled(num_stars=40):
    paired = small_paired(1, num_stars=num_stars)
    rng = np.random.default_rng(0)
    values = paired["apogee_flux"].values @ rng.normal(size=(paired.sizes["apogee_pixel"], 2))
    return add_labels(paired, values, np.full(values.shape, 0.1), names=["teff", "logg"])


def test_fit_model_labels_writes_labels_and_the_same_layout(tmp_path):
    paired = save_paired(_labelled(), tmp_path / "PAIRED.nc")
    out = tmp_path / "FIT.nc"
    args = ["fit", str(paired), "-c", "2", "--out", str(out), "--model", "labels"]
    result = runner.invoke(app, [*args, "--steps", "40", "--eval-every", "20"])
    assert result.exit_code == 0, result.output
    tree = load_fit(out)
    assert tree.attrs["model"] == "labels" and tree.attrs["method"] == "map"
    assert tree["posterior"]["beta_l"].dims == ("chain", "draw", "label", "latent")
    assert list(tree["posterior"]["label"].values) == ["teff", "logg"]
    assert tree["log_likelihood"]["lamost_flux"].dims == ("chain", "draw", "star")
    assert tree["constant_data"]["label_scale"].dims == ("label",)


def test_fit_unknown_model_and_base_only_method_are_errors(tmp_path):
    paired = save_paired(_labelled(30), tmp_path / "PAIRED.nc")
    out = tmp_path / "FIT.nc"
    base = ["fit", str(paired), "-c", "2", "--out", str(out)]
    result = runner.invoke(app, [*base, "--model", "mlp-please"])
    assert isinstance(result.exception, FitConfigError)
    assert "unknown model 'mlp-please'; choose one of base, labels, latent-z" in str(
        result.exception
    )
    result = runner.invoke(app, [*base, "--model", "labels", "--method", "exact"])
    assert isinstance(result.exception, FitConfigError)
    assert "it fits the base model only" in str(result.exception)
    assert not out.exists()
