"""Every registered model fits through ``fit(model=...)`` with its own likelihood per star."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from factories import small_paired
from helpers import assert_allclose

from stereo_ppl.errors import FitConfigError, PairedDataError
from stereo_ppl.inference import fit, model_data
from stereo_ppl.models import MODELS, eq12
from stereo_ppl.models.marginal import LatentNormal


def _paired(num_stars=30):
    paired = small_paired(4, num_stars=num_stars)
    ivar = np.full(paired["apogee_flux"].shape, 1e4)
    ivar[3, 5] = 0.0  # one bad APOGEE pixel: filled and widened by errors-in-f1
    return paired.assign(apogee_ivar=(("star", "apogee_pixel"), ivar))


@pytest.mark.parametrize("name", ["latent-z", "errors-in-f1", "mlp"])
def test_variant_map_fit_has_its_sites_and_the_common_layout(name):
    tree = fit(
        jax.random.key(0),
        _paired(),
        num_latent=2,
        model=name,
        num_steps=60,
        eval_every=30,
        noise="reported",
        prior="unit",  # the likelihoods below are the seed's
    )
    variant = MODELS[name]
    posterior = tree["posterior"]
    for site, dims in variant.site_dims.items():
        assert posterior[site].dims == ("chain", "draw", *dims)
    assert tree.attrs["model"] == name
    assert tree["log_likelihood"]["lamost_flux"].dims == ("chain", "draw", "star")
    assert np.all(np.isfinite(tree["log_likelihood"]["lamost_flux"].values))
    assert np.all(np.isfinite(tree["log_joint"]["heldout"].values))


@pytest.mark.core
def test_latent_z_log_likelihood_is_the_marginal_over_z():
    paired = _paired()
    tree = fit(
        jax.random.key(1), paired, num_latent=2, model="latent-z", num_steps=60, eval_every=30
    )
    post = {k: jnp.asarray(v.values[0, 0]) for k, v in tree["posterior"].data_vars.items()}
    # star 3's bad APOGEE pixel enters as the fit filled it (the training mean)
    f1, ivar, f2 = model_data(paired.assign(apogee_flux=tree["constant_data"]["apogee_flux"]))
    sigma = post["sigma_z"]
    expected = LatentNormal(
        (f1 @ post["beta_z"].T) @ post["beta_F"].T + post["b_F"],
        post["beta_F"],
        sigma**2 * jnp.eye(2, dtype=f1.dtype),
        eq12.noise_precision(ivar, error_scale=post["error_scale"], scatter=post["scatter"]),
    ).log_prob(f2)
    got = tree["log_likelihood"]["lamost_flux"].values[0, 0]
    assert_allclose(got, expected, rtol=1e-4)
    assert float(sigma) > 0


def test_variant_methods_and_inputs_are_checked():
    with pytest.raises(FitConfigError, match="method 'map' does not fit model 'latent-z'"):
        fit(
            jax.random.key(0),
            _paired(),
            num_latent=2,
            model="latent-z",
            model_options={"marginal": False},
            method="map",
        )
    with pytest.raises(PairedDataError, match="needs apogee_ivar"):
        fit(jax.random.key(0), small_paired(0, num_stars=20), num_latent=2, model="errors-in-f1")
