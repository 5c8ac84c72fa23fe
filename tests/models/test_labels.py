"""The labels model (seed eq. 1–3): its density, its prior predictive, and recovering its truth."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from factories import small_paired
from helpers import assert_allclose, default_float
from numpyro.infer import Predictive
from numpyro.infer.util import log_density

from stereo_ppl.data import add_labels
from stereo_ppl.dims import LABEL, LATENT
from stereo_ppl.errors import FitConfigError, PairedDataError
from stereo_ppl.inference import fit
from stereo_ppl.labels import label_scores, labels_from_apogee, labels_from_lamost
from stereo_ppl.models import MODELS, get_model, labels_model


def _normal_logpdf(x, mean, sd):
    return -0.5 * ((x - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)


def _inputs(seed=0, n=9, p1=11, p2=5, num_labels=3):
    rng = np.random.default_rng(seed)
    dtype = default_float()
    f1 = jnp.asarray(1 + 0.1 * rng.normal(size=(n, p1)), dtype)
    ivar = jnp.asarray(rng.uniform(50, 200, size=(n, p2)), dtype)
    f2 = jnp.asarray(1 + 0.1 * rng.normal(size=(n, p2)), dtype)
    labels = jnp.asarray(rng.normal(size=(n, num_labels)), dtype)
    var = jnp.asarray(rng.uniform(0.01, 0.1, size=(n, num_labels)), dtype)
    mask = jnp.asarray(rng.uniform(size=(n, num_labels)) > 0.3)
    return f1, ivar, f2, labels, var, mask


@pytest.mark.core
def test_prior_predictive_shapes():
    f1, ivar, _, _, var, _ = _inputs()
    draws = Predictive(labels_model, num_samples=4)(
        jax.random.key(0), f1, ivar, labels_var=var, num_latent=2
    )
    assert draws["beta_l"].shape == (4, 3, 2)
    assert draws["b_l"].shape == draws["label_scatter"].shape == (4, 3)
    assert draws["labels"].shape == (4, 9, 3)
    assert draws["lamost_flux"].shape == (4, 9, 5)
    assert np.all(draws["label_scatter"] >= 0)


@pytest.mark.core
def test_log_density_is_base_plus_eq3_with_masked_labels():
    f1, ivar, f2, labels, var, mask = _inputs()
    rng = np.random.default_rng(1)
    dtype = default_float()
    params = {
        "beta_z": jnp.asarray(0.3 * rng.normal(size=(2, 11)), dtype),
        "beta_F": jnp.asarray(0.3 * rng.normal(size=(5, 2)), dtype),
        "b_F": jnp.asarray(1 + 0.1 * rng.normal(size=5), dtype),
        "beta_l": jnp.asarray(rng.normal(size=(3, 2)), dtype),
        "b_l": jnp.asarray(rng.normal(size=3), dtype),
        "label_scatter": jnp.asarray([0.1, 0.2, 0.3], dtype),
    }
    kwargs = {"labels": labels, "labels_var": var, "labels_mask": mask, "num_latent": 2}
    got = log_density(labels_model, (f1, ivar, f2), kwargs, params)[0]
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    f1, ivar, f2 = (np.asarray(a, np.float64) for a in (f1, ivar, f2))
    mu = f1 @ p["beta_z"].T @ p["beta_F"].T + p["b_F"]
    base = (
        _normal_logpdf(p["beta_z"], 0, 1).sum()
        + _normal_logpdf(p["beta_F"], 0, 1).sum()
        + _normal_logpdf(p["b_F"], 1, 1).sum()
        + _normal_logpdf(f2, mu, 1 / np.sqrt(ivar)).sum()
    )
    s = p["label_scatter"]
    prior = (
        _normal_logpdf(p["beta_l"], 0, 1).sum()
        + _normal_logpdf(p["b_l"], 0, 1).sum()
        + (np.log(2) + _normal_logpdf(s, 0, 1)).sum()
    )
    mean = f1 @ p["beta_z"].T @ p["beta_l"].T + p["b_l"]
    sd = np.sqrt(np.asarray(var, np.float64) + s**2)
    m = np.asarray(mask)
    lik = _normal_logpdf(np.asarray(labels, np.float64)[m], mean[m], sd[m]).sum()
    assert_allclose(got, base + prior + lik, rtol=1e-5 if dtype == jnp.float32 else 1e-10)


def _simulated(seed=0, *, n=240, p1=30, p2=20, c=2, num_labels=3, scatter=0.1, label_err=0.05):
    """Data drawn from the labels model itself (Predictive with fixed true parameters)."""
    rng = np.random.default_rng(seed)
    dtype = default_float()
    f1 = 1 + 0.1 * rng.normal(size=(n, p1))
    ivar = np.full((n, p2), 1e4)
    truth = {
        "beta_z": rng.normal(size=(c, p1)) * 2.0,
        "beta_F": 0.05 * rng.normal(size=(p2, c)),
        "b_F": 1 + 0.02 * rng.normal(size=p2),
        "beta_l": rng.normal(size=(num_labels, c)),
        "b_l": rng.normal(size=num_labels),
        "label_scatter": np.full(num_labels, scatter),
    }
    truth["b_F"] -= truth["beta_F"] @ truth["beta_z"] @ f1.mean(0)
    truth["b_l"] -= truth["beta_l"] @ truth["beta_z"] @ f1.mean(0)
    var = np.full((n, num_labels), label_err**2)
    draws = Predictive(
        labels_model, posterior_samples={k: jnp.asarray(v, dtype)[None] for k, v in truth.items()}
    )(
        jax.random.key(seed),
        jnp.asarray(f1, dtype),
        jnp.asarray(ivar, dtype),
        labels_var=jnp.asarray(var, dtype),
        num_latent=c,
    )
    arrays = {
        "apogee_flux": f1,
        "lamost_flux": np.asarray(draws["lamost_flux"][0], np.float64),
        "lamost_ivar": ivar,
    }
    paired = small_paired(seed, num_stars=n, num_apogee=p1, num_lamost=p2)
    paired = paired.assign({name: (paired[name].dims, value) for name, value in arrays.items()})
    labels = np.array(draws["labels"][0], np.float64)
    labels[rng.uniform(size=labels.shape) < 0.1] = np.nan  # some labels missing
    names = [f"l{k}" for k in range(num_labels)]
    paired = add_labels(paired, labels, np.sqrt(var), names=names)
    mean = f1 @ truth["beta_z"].T @ truth["beta_l"].T + truth["b_l"]
    return paired, truth, mean, names


@pytest.mark.core
def test_map_recovers_its_own_generative_truth():
    paired, truth, mean, names = _simulated()
    tree = fit(
        jax.random.key(0),
        paired,
        num_latent=2,
        model="labels",
        method="map",
        num_steps=3000,
        learning_rate=1e-2,
        eval_every=250,
        patience=None,
    )
    assert tree.attrs["model"] == "labels"
    posterior = tree["posterior"]
    assert posterior["beta_l"].dims == ("chain", "draw", LABEL, LATENT)
    assert list(posterior[LABEL].values) == names
    assert not [d for d in posterior.dims if d.endswith("_dim_0")]
    # labels predicted from APOGEE match the noiseless truth, far within its spread
    predicted = labels_from_apogee(tree, paired["apogee_flux"].values).values
    rms = np.sqrt(np.mean((predicted - mean) ** 2, axis=0))
    assert np.all(rms < 0.1 * mean.std(0)), (rms, mean.std(0))
    scale = tree["constant_data"]["label_scale"].values
    scatter = posterior["label_scatter"].values[0, 0] * scale
    assert_allclose(scatter, truth["label_scatter"], rtol=0.35, atol=0)
    # eq. 2 recovered: the identifiable product beta_F beta_z
    product = posterior["beta_F"].values[0, 0] @ posterior["beta_z"].values[0, 0]
    true_product = truth["beta_F"] @ truth["beta_z"]
    assert np.linalg.norm(product - true_product) < 0.1 * np.linalg.norm(true_product)


@pytest.mark.core
def test_labels_from_lamost_alone_beat_the_training_mean():
    paired, _, mean, names = _simulated(1)
    tree = fit(
        jax.random.key(1),
        paired,
        num_latent=2,
        model="labels",
        method="map",
        num_steps=2000,
        learning_rate=1e-2,
        eval_every=250,
    )
    held = tree["constant_data"]["heldout"].values
    predicted = labels_from_lamost(
        tree, paired["lamost_flux"].values[held], paired["lamost_ivar"].values[held]
    )
    assert predicted.ok.all() and predicted.values.shape == (held.sum(), 3)
    model = label_scores(predicted.values, mean[held], names=names)
    trivial = label_scores(
        np.broadcast_to(np.nanmean(paired["labels"].values[~held], 0), mean[held].shape),
        mean[held],
        names=names,
    )
    for name in names:
        assert model[name]["rms"] < 0.3 * trivial[name]["rms"], (name, model, trivial)
    assert np.all(predicted.sd > 0)


def test_heldout_labels_are_hidden_from_the_fit_and_its_score():
    paired, *_ = _simulated(2, n=60)
    options = {"num_latent": 2, "model": "labels", "num_steps": 20, "eval_every": 10}
    tree = fit(jax.random.key(3), paired, **options)
    held = tree["constant_data"]["heldout"].values
    changed = paired.copy(deep=True)
    changed["labels"].values[held] += 5.0
    other = fit(jax.random.key(3), changed, **options)
    for group, name in (("log_joint", "heldout"), ("log_joint", "train"), ("posterior", "b_l")):
        assert_allclose(other[group][name].values, tree[group][name].values)


def test_unknown_models_and_exact_methods_give_clear_errors():
    paired, *_ = _simulated(3, n=40)
    with pytest.raises(
        FitConfigError,
        match="unknown model 'nope'; choose one of base, labels, latent-z, errors-in-f1, mlp",
    ):
        fit(jax.random.key(0), paired, num_latent=2, model="nope")
    for method in ("exact", "laplace"):
        message = f"method '{method}' does not fit model 'labels' \\(it fits the base model only"
        with pytest.raises(FitConfigError, match=message):
            fit(jax.random.key(0), paired, num_latent=2, model="labels", method=method)
    with pytest.raises(PairedDataError, match="no labels"):
        fit(jax.random.key(0), small_paired(0, num_stars=30), num_latent=2, model="labels")
    assert get_model("labels") is MODELS["labels"]
