import jax
import numpy as np
import pytest
from factories import small_paired
from helpers import assert_allclose
from scipy.special import logsumexp

from stereo_ppl.inference import fit_datatree, log_joint_fn, model_data
from stereo_ppl.sweep import log_prior, point_log_likelihood, score_fit


def _params(rng, paired, c=2, draws=None):
    p1, p2 = paired.sizes["apogee_pixel"], paired.sizes["lamost_pixel"]
    lead = () if draws is None else (1, draws)
    return {
        "beta_z": 0.1 * rng.normal(size=(*lead, c, p1)),
        "beta_F": 0.01 * rng.normal(size=(*lead, p2, c)),
        "b_F": 1.0 + 0.001 * rng.normal(size=(*lead, p2)),
    }


@pytest.mark.core
def test_point_scores_match_the_models_log_joint():
    paired = small_paired(1, num_stars=12)
    params = _params(np.random.default_rng(0), paired)
    data = model_data(paired)
    dtype = data.apogee_flux.dtype
    expected = log_joint_fn(num_latent=2, b_F_prior_mean=1.0)(
        {k: jax.numpy.asarray(v, dtype) for k, v in params.items()}, data
    )
    cast = {k: np.asarray(v, dtype) for k, v in params.items()}
    arrays = [np.asarray(a) for a in (data.apogee_flux, data.lamost_flux, data.lamost_ivar)]
    ours = log_prior(cast) + point_log_likelihood(cast, *arrays).sum()
    assert_allclose(ours, float(expected), rtol=1e-5 if dtype == np.float32 else 1e-10)


def test_bad_pixels_are_left_out_of_the_likelihood():
    paired = small_paired(1, num_stars=5)
    params = _params(np.random.default_rng(0), paired)
    f1, f2, ivar = (paired[k].values.copy() for k in ("apogee_flux", "lamost_flux", "lamost_ivar"))
    full = point_log_likelihood(params, f1, f2, ivar)
    ivar[2, 3], f2[2, 3] = 0.0, np.nan
    masked = point_log_likelihood(params, f1, f2, ivar)
    assert np.isfinite(masked).all()
    assert np.array_equal(masked[[0, 1, 3, 4]], full[[0, 1, 3, 4]]) and masked[2] != full[2]


def test_scores_of_a_fit_with_draws_include_psis_loo():
    paired = small_paired(2, num_stars=30)
    rng = np.random.default_rng(1)
    draws = _params(rng, paired, draws=40)
    heldout = np.arange(0, 30, 3)
    arrays = [paired[k].values for k in ("apogee_flux", "lamost_flux", "lamost_ivar")]
    one = [point_log_likelihood({k: v[0, d] for k, v in draws.items()}, *arrays) for d in range(40)]
    loglik = np.stack(one)[None]
    tree = fit_datatree(
        paired,
        draws,
        heldout=heldout,
        method="vi",
        seed=0,
        config={},
        log_likelihood=loglik,
    )
    with pytest.warns(UserWarning, match="Pareto"):  # 40 unrelated draws: poor importance weights
        scores = score_fit(tree, paired)
    expected = logsumexp(loglik[0], axis=0) - np.log(40)
    np.testing.assert_allclose(scores["lpd"].values, expected, rtol=1e-12)
    assert int(scores["num_draws"]) == 40
    k = scores["pareto_k"].values
    assert np.isnan(k[heldout]).all() and np.isfinite(np.delete(k, heldout)).all()
    train_elpd = np.delete(scores["loo_elpd_i"].values, heldout)
    np.testing.assert_allclose(float(scores["loo_elpd"]), train_elpd.sum(), rtol=1e-10)
    # LOO can only lower each training star's predictive density
    assert np.all(train_elpd <= np.delete(scores["lpd"].values, heldout) + 1e-6)
