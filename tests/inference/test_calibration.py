"""The calibrated model: noise and prior scale learned from the training stars."""

import warnings

import jax
import numpy as np
import pytest

import stereo_ppl
from stereo_ppl.compare import heldout_coverage
from stereo_ppl.datasets import make_calibration_data
from stereo_ppl.errors import FitWarning
from stereo_ppl.inference import solve_exact
from stereo_ppl.inference.arrays import model_data
from stereo_ppl.inference.noise import MIN_SCATTER_PIXELS, estimate_noise
from stereo_ppl.models import MODELS
from tests.factories import small_paired


def test_estimate_noise_recovers_scale_and_scatter():
    rng = np.random.default_rng(0)
    n, p = 400, 30
    sd = 0.01 * np.exp(rng.uniform(-0.7, 0.7, size=(n, 1))) * np.ones(p)
    scatter = np.where(np.arange(p) < 10, 0.02, 0.0)
    resid = np.sqrt((1.3 * sd) ** 2 + scatter**2) * rng.normal(size=(n, p))
    ivar = sd**-2
    ivar[:, -1] = 0.0  # a pixel with no usable residual gets the stated fallback
    ivar[: n - MIN_SCATTER_PIXELS + 1, -2] = 0.0
    found = estimate_noise(resid, ivar)
    assert found.identifiable
    assert abs(found.error_scale - 1.3) < 4 * 1.3 / np.sqrt(2 * n * (p - 12))
    np.testing.assert_allclose(found.scatter[:10], 0.02, atol=0.004)
    assert np.all(found.scatter[10:-2] < 0.006)
    assert found.num_fallback == 2
    assert np.isfinite(found.scatter).all()
    assert found.scatter[-1] == found.scatter[-2] == found.fallback == np.median(found.scatter[:-2])


@pytest.mark.parametrize("outliers", [0, 1, 2])
def test_estimate_noise_is_the_maximum_it_states(outliers):
    """With and without huge residuals (which move the maximum far out), the scatter is the
    maximum of the stated objective (checked on a fine grid)."""
    rng = np.random.default_rng(1)
    n = 300
    sd = 0.01 * np.exp(rng.uniform(-0.7, 0.7, size=(n, 1)))
    resid = np.sqrt(sd**2 + 0.02**2) * rng.normal(size=(n, 1))
    resid[:outliers, 0] = 2.0
    found = estimate_noise(resid, sd**-2, fit_error_scale=False)
    assert found.error_scale == 1.0
    grid = np.linspace(0.0, 0.5, 100001)
    var = sd**2 + grid[None, :] ** 2
    objective = -0.5 * np.sum(np.log(var) + resid**2 / var, axis=0) - 0.5 * (grid / 0.1) ** 2
    assert abs(found.scatter[0] - grid[np.argmax(objective)]) < 1e-4


def _log_posterior(resid, sd, a, s):
    var = (a * sd) ** 2 + s**2
    prior = -0.5 * np.sum((s / 0.1) ** 2) - np.log(a) ** 2 / (2 * 0.5**2) - np.log(a)
    return -0.5 * np.sum(np.log(var) + resid**2 / var) + prior


def test_estimate_noise_reaches_the_profile_maximum_with_heavy_tailed_misfit():
    """Stars from S/N 30 to 800 whose misfit at line pixels varies by e^±2 between stars:
    far from its maximum the profile over ``s_p`` is not quadratic in ``log a``. The
    estimate must beat every ``a`` on a grid (each with its own best ``s_p``)."""
    rng = np.random.default_rng(2)
    n, p = 480, 60
    sd = np.exp(rng.uniform(np.log(1 / 800), np.log(1 / 30), size=(n, 1))) * np.ones(p)
    lines = rng.uniform(size=p) < 0.4
    per_star = np.exp(rng.normal(np.log(0.003), 2.0, size=(n, 1)))
    misfit = per_star * np.where(lines, rng.uniform(0.5, 3.0, p), 0.05)
    resid = 1.2 * sd * rng.normal(size=(n, p)) + misfit * rng.normal(size=(n, p))
    found = estimate_noise(resid, sd**-2)
    value = _log_posterior(resid, sd, found.error_scale, found.scatter)
    grid_s = np.concatenate([[0.0], np.geomspace(1e-5, 0.5, 400)])
    profile = []
    for a in np.geomspace(0.05, 20.0, 25):
        var = (a * sd[:, :, None]) ** 2 + grid_s**2
        loglik = -0.5 * np.sum(np.log(var) + resid[:, :, None] ** 2 / var, axis=0)
        best_s = grid_s[np.argmax(loglik - 0.5 * (grid_s / 0.1) ** 2, axis=1)]
        profile.append(_log_posterior(resid, sd, a, best_s))
    assert value >= max(profile) - 1e-6 * abs(value)


@pytest.fixture(scope="module")
def under_reported():
    """Eq. 1–2 data whose errors are under-reported by 30%, with misfit-free pixels."""
    return make_calibration_data(
        1, num_stars=400, error_scale=1.3, scatter=0.02, scatter_fraction=0.3
    )


@pytest.fixture(scope="module")
def calibrated_fit(under_reported):
    return stereo_ppl.fit(jax.random.key(0), under_reported.paired, num_latent=5)


def test_default_fit_learns_noise_and_prior(under_reported, calibrated_fit):
    tree = calibrated_fit
    assert tree.attrs["noise"] == "calibrated" and tree.attrs["prior"] == "learned"
    post = tree["posterior"]
    assert post["scatter"].dims == ("chain", "draw", "lamost_pixel")
    assert post["error_scale"].dims == post["prior_scale"].dims == ("chain", "draw")
    a = float(post["error_scale"].values.squeeze())
    assert abs(a - 1.3) < 0.08
    s = post["scatter"].values.squeeze()
    on = under_reported.scatter > 0
    assert abs(np.median(s[on]) - 0.02) < 0.005
    assert np.median(s[~on]) < 0.006
    assert float(post["prior_scale"].values.squeeze()) > 0


def test_default_fit_intervals_are_calibrated(calibrated_fit):
    heldout = calibrated_fit["constant_data"]["heldout"].values
    num = int(heldout.sum()) * calibrated_fit["constant_data"].sizes["lamost_pixel"]
    coverage = heldout_coverage(calibrated_fit)
    for p, got in coverage.items():
        # binomial sd of independent pixels, widened for pixels that share a star
        tol = 4 * np.sqrt(p * (1 - p) / num) * 3
        assert abs(got - p) < max(tol, 0.02), (p, got)


def test_seed_model_is_unchanged(under_reported):
    """``noise="reported", prior="unit"`` is exactly the seed's exact MAP."""
    paired = under_reported.paired.isel(star=slice(0, 120))
    tree = stereo_ppl.fit(jax.random.key(3), paired, num_latent=3, noise="reported", prior="unit")
    assert "error_scale" not in tree["posterior"] and tree.attrs["noise"] == "reported"
    train = ~tree["constant_data"]["heldout"].values
    data = model_data(paired)
    key_fit = jax.random.split(jax.random.key(3))[1]
    direct = solve_exact(
        key_fit,
        *(np.asarray(x)[train] for x in (data.apogee_flux, data.lamost_flux, data.lamost_ivar)),
        num_latent=3,
    )
    for name in ("beta_z", "beta_F", "b_F"):
        np.testing.assert_array_equal(tree["posterior"][name].values[0, 0], direct.params[name])
    under = heldout_coverage(tree)
    assert under[0.68] < 0.6  # the reported errors are too small: intervals too narrow


def test_unidentifiable_error_scale_says_so():
    paired = small_paired(0, num_stars=60)  # the same reported error for every star
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = stereo_ppl.fit(jax.random.key(0), paired, num_latent=2, max_iter=30)
    said = [w for w in caught if issubclass(w.category, FitWarning)]
    assert len(said) == 1 and "not identifiable" in str(said[0].message)
    assert float(tree["posterior"]["error_scale"].values.squeeze()) == 1.0
    assert tree.attrs["error_scale_identifiable"] == 0


def test_too_few_training_stars_for_calibration_is_one_line():
    paired = small_paired(0, num_stars=20)
    with pytest.raises(stereo_ppl.FitConfigError, match="--noise reported --prior unit"):
        stereo_ppl.fit(jax.random.key(0), paired, num_latent=2, max_iter=5)


_METHOD_OPTIONS = {
    "exact": {"max_iter": 20},
    "laplace": {"max_iter": 20, "num_samples": 4},
    "map": {"num_steps": 60, "eval_every": 30},
    "vi": {"max_iter": 20, "num_steps": 40, "num_samples": 4, "map_steps": 60},
}


@pytest.mark.slow
@pytest.mark.parametrize("noise, prior", [("reported", "unit"), ("calibrated", "learned")])
@pytest.mark.parametrize("model", ["base", "latent-z", "errors-in-f1", "mlp"])
def test_every_method_and_model_takes_both(model, noise, prior):
    paired = small_paired(4, num_stars=60)
    ivar = np.full(paired["apogee_flux"].shape, 1e4)
    paired = paired.assign(apogee_ivar=(("star", "apogee_pixel"), ivar))
    rng = np.random.default_rng(0)  # reported errors that vary by star: a is identifiable
    paired["lamost_ivar"] = paired["lamost_ivar"] * np.exp(rng.uniform(-1, 1, (60, 1)))
    for method in MODELS[model].methods:
        options = dict(_METHOD_OPTIONS[method])
        if model != "base":
            options.pop("max_iter", None)
        else:
            options.pop("map_steps", None)
        tree = stereo_ppl.fit(
            jax.random.key(0),
            paired,
            num_latent=2,
            model=model,
            method=method,
            noise=noise,
            prior=prior,
            **options,
        )
        post = tree["posterior"]
        assert tree.attrs["noise"] == noise and tree.attrs["prior"] == prior
        assert ("scatter" in post) == (noise == "calibrated")
        assert ("prior_scale" in post) == (prior == "learned")
        assert np.isfinite(tree["log_likelihood"]["lamost_flux"].values).all()
        assert np.isfinite(stereo_ppl.predict(tree)["lamost_flux"].values).all()


def test_a_nonlinear_decoder_cannot_denoise_in_one_line():
    from stereo_ppl.denoise import make_setup

    paired = small_paired(4, num_stars=40)
    tree = stereo_ppl.fit(
        jax.random.key(0),
        paired,
        num_latent=2,
        model="mlp",
        num_steps=20,
        eval_every=10,
        noise="reported",
        prior="unit",
    )
    with pytest.raises(stereo_ppl.FitConfigError, match="model 'mlp' has a non-linear decoder"):
        make_setup(tree)
    with pytest.raises(stereo_ppl.FitConfigError, match="predict from lamost_flux"):
        stereo_ppl.predict(
            tree, lamost_flux=paired["lamost_flux"].values, lamost_ivar=paired["lamost_ivar"].values
        )
    assert np.isfinite(stereo_ppl.predict(tree)["lamost_flux"].values).all()  # from survey 1
