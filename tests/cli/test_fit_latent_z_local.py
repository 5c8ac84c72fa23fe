"""``stereo-ppl fit --model latent-z --model-option marginal=false``: per-star z by vi."""

import jax.numpy as jnp
import numpy as np
from factories import small_paired
from helpers import assert_allclose
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.errors import FitConfigError
from stereo_ppl.inference import model_data
from stereo_ppl.io import load_fit, save_paired
from stereo_ppl.models.marginal import LatentNormal

runner = CliRunner()


def test_fit_latent_z_per_star_by_vi_writes_the_common_layout_and_its_z_draws(tmp_path):
    data = small_paired(3, num_stars=30)
    paired = save_paired(data, tmp_path / "PAIRED.nc")
    out = tmp_path / "FIT.nc"
    base = ["fit", str(paired), "-c", "2", "--out", str(out), "--model", "latent-z"]
    base += ["--noise", "reported", "--prior", "unit"]  # the likelihood checked below
    per_star = [*base, "--model-option", "marginal=false"]
    steps = ["--steps", "40", "--map-steps", "40", "--eval-every", "20", "--num-samples", "5"]
    result = runner.invoke(app, [*per_star, *steps])  # vi: the only method it takes
    assert result.exit_code == 0, result.output
    tree = load_fit(out)
    assert tree.attrs["method"] == "vi" and '"marginal": false' in tree.attrs["config"]
    posterior = tree["posterior"]
    assert posterior["sigma_z"].dims == ("chain", "draw") and posterior.sizes["draw"] == 5
    assert posterior["z"].dims == ("chain", "draw", "star", "latent")
    heldout = tree["constant_data"]["heldout"].values
    local = tree["local"]
    assert local["z"].dims == ("chain", "draw", "star", "latent")
    assert local["z"].shape == (1, 5, heldout.size, 2)
    assert local["z_decentered"].shape == local["z"].shape
    # training stars have draws, held-out stars none
    assert np.isfinite(local["z"].values[:, :, ~heldout]).all()
    assert np.isnan(local["z"].values[:, :, heldout]).all()
    assert 0 < local.attrs["z_centered"] < 1
    # every star, training and held out, is scored with z integrated out exactly
    log_lik = tree["log_likelihood"]["lamost_flux"]
    assert log_lik.dims == ("chain", "draw", "star")
    one = {k: jnp.asarray(v.values[0, 2]) for k, v in posterior.data_vars.items()}
    f1, ivar, f2 = model_data(data)
    expected = LatentNormal(
        f1 @ one["beta_z"].T @ one["beta_F"].T + one["b_F"],
        one["beta_F"],
        one["sigma_z"] ** 2 * jnp.eye(2, dtype=f1.dtype),
        ivar,
    ).log_prob(f2)
    assert_allclose(log_lik.values[0, 2], expected, rtol=1e-4)
    assert np.all(np.diff(tree["elbo"]["step"].values) > 0)

    out.unlink()
    result = runner.invoke(app, [*per_star, "--method", "map"])
    assert isinstance(result.exception, FitConfigError)
    assert "method 'map' does not fit model 'latent-z'" in str(result.exception)
    result = runner.invoke(app, [*base, "--model-option", "marginal=maybe"])
    assert isinstance(result.exception, FitConfigError)
    assert "option 'marginal' must be true or false" in str(result.exception)
    assert not out.exists()
