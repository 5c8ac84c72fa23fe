"""VI: started at the MAP with the mean-field scales; means, widths and guides."""

import jax
import numpy as np
import pytest
from factories import small_paired

from stereo_ppl.inference import fit_vi, model_data, solve_exact
from stereo_ppl.models import get_model


def _data(num_stars, seed=0):
    paired = small_paired(seed, num_stars=num_stars, num_apogee=15, num_lamost=10, noise=0.02)
    return model_data(paired)


def _map(data, c=2):
    result = solve_exact(
        jax.random.key(0), data.apogee_flux, data.lamost_flux, data.lamost_ivar, num_latent=c
    )
    return result.params


@pytest.fixture(scope="module")
def fits():
    out = {}
    for n in (50, 400):
        data = _data(n)
        params = _map(data)
        vi = fit_vi(
            jax.random.key(1),
            data,
            num_latent=2,
            init_params=params,
            num_steps=300,
            num_samples=400,
        )
        out[n] = (params, vi)
    return out


def test_mean_stays_at_the_map_for_many_stars(fits):
    params, vi = fits[400]
    sd = vi.samples["b_F"].std(0)
    assert np.max(np.abs(vi.mean["b_F"] - params["b_F"]) / sd) < 1.0
    assert np.all(np.isfinite(vi.trace.elbo))


def test_b_F_width_shrinks_with_more_stars(fits):
    small = np.median(fits[50][1].samples["b_F"].std(0))
    large = np.median(fits[400][1].samples["b_F"].std(0))
    assert 2.0 < small / large < 4.5  # sqrt(400 / 50) = 2.8


def _start_widths(data, params, *, num_samples, **options):
    """Posterior sds per site of the mean-field and low-rank guides at their start."""
    widths = {}
    for guide in ("normal", "lowrank"):
        vi = fit_vi(
            jax.random.key(2),
            data,
            num_latent=2,
            init_params=params,
            guide=guide,
            rank=2,
            num_steps=1,
            learning_rate=1e-12,
            num_samples=num_samples,
            **options,
        )
        widths[guide] = {k: v.std(0) for k, v in vi.samples.items()}
    return widths


def test_low_rank_guide_starts_with_the_mean_field_widths():
    data = _data(60, seed=3)
    params = _map(data)
    widths = _start_widths(data, params, num_samples=3000)
    for name in ("beta_z", "beta_F", "b_F"):
        np.testing.assert_allclose(widths["lowrank"][name], widths["normal"][name], rtol=0.15)


def test_low_rank_guide_of_a_variant_starts_with_the_mean_field_widths_of_every_site():
    # the low-rank guide concatenates the sites in the model's order; a wrong order
    # would give one site another's widths
    data = _data(60, seed=4)
    rng = np.random.default_rng(0)
    params = {
        **_map(data),
        "W_in": rng.normal(size=(4, 2)).astype(np.float32),
        "b_in": rng.normal(size=4).astype(np.float32),
        "W_out": 0.01 * rng.normal(size=(10, 4)).astype(np.float32),
    }
    variant = get_model("mlp").configured({"num_hidden": 4})
    widths = _start_widths(data, params, num_samples=1500, model=variant)
    assert set(widths["lowrank"]) == set(params)
    for name in params:
        np.testing.assert_allclose(widths["lowrank"][name], widths["normal"][name], rtol=0.15)
    # W_out's closed-form width: 1 / sqrt(1 / mlp_scale^2 + ivar^T h^2)
    z = np.asarray(data.apogee_flux) @ params["beta_z"].T
    hidden = np.tanh(z @ params["W_in"].T + params["b_in"])
    want = 1 / np.sqrt(0.1**-2 + np.asarray(data.lamost_ivar).T @ hidden**2)
    np.testing.assert_allclose(widths["normal"]["W_out"], want, rtol=0.15)
