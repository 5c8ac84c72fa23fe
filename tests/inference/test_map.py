import jax
import numpy as np
import pytest
from factories import low_rank_arrays, small_paired
from helpers import assert_allclose

from stereo_ppl.compare import predict_lamost
from stereo_ppl.errors import FitConfigError
from stereo_ppl.inference import fit, fit_map, model_data, split_stars


@pytest.mark.core
def test_map_recovers_noiseless_rank3_flux_within_noise():
    noise = 0.01
    arrays = low_rank_arrays(0, num_stars=80, num_apogee=40, num_lamost=30, rank=3, noise=noise)
    paired = small_paired(0, num_stars=80, num_apogee=40, num_lamost=30, rank=3, noise=noise)
    data = model_data(paired)
    result = fit_map(
        jax.random.key(1),
        data,
        num_latent=3,
        num_steps=4000,
        learning_rate=1e-2,
        eval_every=250,
        patience=None,
    )
    predicted = predict_lamost(result.params, arrays["apogee_flux"])
    rms = np.sqrt(np.mean((predicted - arrays["lamost_flux_true"]) ** 2))
    assert rms < noise, f"prediction rms {rms:.4f} is above the noise {noise}"
    assert result.trace.train[-1] > result.trace.train[0]
    assert np.all(np.isnan(result.trace.heldout))


@pytest.mark.core
def test_heldout_trace_early_stop_and_best_step():
    paired = small_paired(1, num_stars=40)
    data = model_data(paired)
    train, heldout = split_stars(jax.random.key(0), 40, 0.25)
    assert len(heldout) == 10 and not set(train) & set(heldout)
    result = fit_map(
        jax.random.key(2),
        data.take(train),
        data.take(heldout),
        num_latent=2,
        num_steps=20_000,
        learning_rate=3e-2,
        eval_every=50,
        patience=5,
    )
    trace = result.trace
    assert trace.step[0] == 0 and np.all(np.diff(trace.step) == 50)
    assert np.all(np.isfinite(trace.heldout))
    assert result.best_step == trace.step[np.argmax(trace.heldout)]
    assert result.stopped_early and result.num_steps < 20_000
    assert result.num_steps == trace.step[-1]


def test_fit_is_deterministic_for_a_seed():
    paired = small_paired(2, num_stars=30)
    options = {"num_latent": 2, "method": "map", "num_steps": 200, "eval_every": 100}
    trees = [fit(jax.random.key(7), paired, **options, batch_size=10) for _ in range(2)]
    for name in ("beta_z", "beta_F", "b_F"):
        assert_allclose(
            trees[0]["posterior"][name].values, trees[1]["posterior"][name].values, rtol=0, atol=0
        )
    other = fit(jax.random.key(8), paired, **options)
    assert not np.array_equal(other["posterior"]["b_F"].values, trees[0]["posterior"]["b_F"].values)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_latent": 0}, r"c \(num_latent\) must be an integer from 1 to"),
        ({"num_latent": 500}, r"from 1 to 24 .* got 500"),
        ({"num_latent": 2.5}, "got 2.5"),
        ({"num_latent": 2, "batch_size": 1000}, "batch size must be between 1 and the 24"),
        ({"num_latent": 2, "heldout_fraction": 1.0}, r"holdout fraction must be in \[0, 1\)"),
        ({"num_latent": 2, "method": "magic"}, "unknown method 'magic'"),
        ({"num_latent": 2, "num_steps": 0}, "steps"),
    ],
)
def test_bad_fit_options_raise_clear_errors(options, message):
    paired = small_paired(3, num_stars=30)
    with pytest.raises(FitConfigError, match=message):
        fit(jax.random.key(0), paired, **{"method": "map", **options})
