"""Model variants through the inference code: VI, curvature, and the base model unchanged."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from factories import small_paired
from helpers import assert_allclose

from stereo_ppl.data import add_labels
from stereo_ppl.inference import fit, model_data
from stereo_ppl.inference.arrays import VariantData
from stereo_ppl.inference.curvature import site_precision_diag
from stereo_ppl.models import label_inputs, labels_model


def _labelled(seed=0, num_stars=50):
    paired = small_paired(seed, num_stars=num_stars)
    rng = np.random.default_rng(seed)
    values = paired["apogee_flux"].values @ rng.normal(size=(paired.sizes["apogee_pixel"], 3))
    values += 0.05 * rng.normal(size=values.shape)
    values[rng.uniform(size=values.shape) < 0.1] = np.nan
    return add_labels(paired, values, np.full(values.shape, 0.05), names=["a", "b", "c"])


def test_labels_model_vi_draws_every_site_with_named_dims():
    paired = _labelled()
    tree = fit(
        jax.random.key(0),
        paired,
        num_latent=2,
        model="labels",
        method="vi",
        init="rrr",
        map_steps=200,
        num_steps=100,
        num_samples=6,
        eval_every=50,
    )
    posterior = tree["posterior"]
    assert posterior.sizes["draw"] == 6
    assert posterior["beta_l"].dims == ("chain", "draw", "label", "latent")
    assert posterior["label_scatter"].dims == ("chain", "draw", "label")
    assert list(posterior["label"].values) == ["a", "b", "c"]
    assert np.all(posterior["beta_l"].std("draw").values > 0)
    assert np.all(posterior["label_scatter"].values > 0)
    assert tree["log_likelihood"]["lamost_flux"].shape == (1, 6, 50)
    assert "elbo" in tree.children and tree.attrs["map_steps"] == 200
    assert tree["log_joint"]["step"].values[-1] == 200


@pytest.mark.core
def test_vi_scales_of_a_variant_site_match_its_closed_form():
    paired = _labelled(1)
    train = np.arange(paired.sizes["star"])
    dtype = jnp.result_type(float)
    arrays, shared, *_ = label_inputs(paired, train, dtype)
    data = VariantData(model_data(paired), arrays, shared)
    rng = np.random.default_rng(0)
    params = {
        "beta_z": jnp.asarray(rng.normal(size=(2, 40)) * 0.1, dtype),
        "beta_F": jnp.asarray(rng.normal(size=(30, 2)) * 0.1, dtype),
        "b_F": jnp.ones(30, dtype),
        "beta_l": jnp.asarray(rng.normal(size=(3, 2)), dtype),
        "b_l": jnp.zeros(3, dtype),
        "label_scatter": jnp.asarray([0.2, 0.3, 0.4], dtype),
    }
    kwargs = {**data.kwargs, "num_latent": 2}
    diag = site_precision_diag(labels_model, tuple(data.base), kwargs, params, ["b_l", "beta_l"])
    mask = np.asarray(arrays["labels_mask"])
    weight = mask / (np.asarray(arrays["labels_var"]) + np.asarray(params["label_scatter"]) ** 2)
    assert_allclose(diag["b_l"], 1.0 + weight.sum(0), rtol=1e-4)
    f1 = np.asarray(data.base.apogee_flux) - np.asarray(shared["apogee_center"])
    z = f1 @ np.asarray(params["beta_z"]).T
    assert_allclose(diag["beta_l"], 1.0 + weight.T @ z**2, rtol=1e-4)


@pytest.mark.core
def test_base_model_by_name_is_the_default_fit():
    paired = small_paired(2, num_stars=30)
    options = {"num_latent": 2, "max_iter": 20}
    default = fit(jax.random.key(4), paired, **options)
    named = fit(jax.random.key(4), paired, model="base", **options)
    assert default.attrs["model"] == named.attrs["model"] == "base"
    calibration = {"error_scale", "scatter", "prior_scale"}  # the default noise and prior
    assert set(named["posterior"].data_vars) == {"beta_z", "beta_F", "b_F", "z", *calibration}
    for name in ("beta_z", "beta_F", "b_F"):
        assert_allclose(
            named["posterior"][name].values, default["posterior"][name].values, rtol=0, atol=0
        )


#: Survey-2 noise of ``small_paired`` (its default).
_NOISE = 0.01
_REDUCED = {
    # sigma_z^2 |beta_F|^2 ivar ~ 4e-6: z's own scatter is negligible (z spread ~0.17)
    "latent-z": {"model": "latent-z", "model_options": {"sigma_z": 1e-5}},
    # apogee_ivar = 1e10: survey-1 variances of 1e-10 on a flux near 1
    "errors-in-f1": {"model": "errors-in-f1"},
}


@pytest.fixture(scope="module")
def reduced_fits():
    """map fits of the base model and of each variant in its base-model limit, same start.

    They start from the reduced-rank regression, so the AdamW paths descend and can be
    compared step by step (started at the exact MAP, Adam's normalised steps wander
    ~0.05 nats about the optimum in any model, which amplifies rounding differences).
    """
    paired = small_paired(5, num_stars=40)
    ivar = np.full(paired["apogee_flux"].shape, 1e10)
    paired = paired.assign(apogee_ivar=(("star", "apogee_pixel"), ivar))
    options = {"num_latent": 2, "method": "map", "init": "rrr", "num_steps": 300}
    options.update(learning_rate=1e-2, eval_every=100, patience=None)
    fits = {"base": fit(jax.random.key(2), paired, **options)}
    for name, model in _REDUCED.items():
        fits[name] = fit(jax.random.key(2), paired, **options, **model)
    return paired, fits


def _prediction(tree, paired):
    post = tree["posterior"].isel(chain=0, draw=0)
    z = paired["apogee_flux"].values @ post["beta_z"].values.T
    return z @ post["beta_F"].values.T + post["b_F"].values


@pytest.mark.core
@pytest.mark.parametrize("name", list(_REDUCED))
def test_variant_map_fit_reaches_the_base_models_in_its_limit(reduced_fits, name):
    paired, fits = reduced_fits
    base, variant = fits["base"], fits[name]
    assert variant.attrs["model"] == name
    # tolerance: the log joint (the variant's own, recorded every 100 steps, training
    # and held-out stars; -643 -> -434 for training) within 1e-4 relative (measured
    # <= 1e-5), each star's log likelihood within 1e-4 relative or 1e-3 nats, the
    # predictions within 1e-3 of the noise (measured 4e-5 in float32, 2e-6 in float64)
    for part in ("train", "heldout"):
        assert_allclose(
            variant["log_joint"][part].values, base["log_joint"][part].values, rtol=1e-4
        )
    assert_allclose(
        variant["log_likelihood"]["lamost_flux"].values,
        base["log_likelihood"]["lamost_flux"].values,
        rtol=1e-4,
        atol=1e-3,
    )
    gap = np.abs(_prediction(variant, paired) - _prediction(base, paired))
    assert gap.max() < 1e-3 * _NOISE, gap.max()
