import jax
import numpy as np
import pytest

from stereo_ppl.errors import FitConfigError
from stereo_ppl.sweep import Job, SweepConfig, fold_assignment, job_key, plan_jobs, split_key


def test_jobs_are_named_deterministically_and_sorted():
    jobs = plan_jobs([10, 2, 10], num_repeats=2)
    assert [j.name for j in jobs] == [
        "fit_c002_r0.nc",
        "fit_c002_r1.nc",
        "fit_c010_r0.nc",
        "fit_c010_r1.nc",
    ]
    folds = plan_jobs([500], num_repeats=1, num_folds=2)
    assert [j.name for j in folds] == ["fit_c500_r0_f0.nc", "fit_c500_r0_f1.nc"]


def test_job_keys_differ_per_job_and_not_with_the_split_key():
    key = jax.random.key(3)
    jobs = plan_jobs([1, 2], num_repeats=2, num_folds=2)
    data = {tuple(np.asarray(jax.random.key_data(job_key(key, j)))) for j in jobs}
    data.add(tuple(np.asarray(jax.random.key_data(split_key(key)))))
    assert len(data) == len(jobs) + 1
    again = job_key(jax.random.key(3), Job(2, 1, 0))
    assert np.array_equal(jax.random.key_data(again), jax.random.key_data(job_key(key, jobs[-2])))


def test_fold_assignment_balances_folds():
    folds = fold_assignment(jax.random.key(0), 11, 3)
    assert sorted(np.bincount(folds).tolist()) == [3, 4, 4]
    with pytest.raises(FitConfigError, match="3 folds"):
        fold_assignment(jax.random.key(0), 2, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"init": "zeros"}, "init must be one of"),
        ({"num_folds": 1}, "at least 2"),
        ({"heldout_fraction": 0.0}, "needs held-out stars"),
        ({"init_jitter": -1.0}, "jitter must be"),
    ],
)
def test_bad_configs_raise(kwargs, message):
    with pytest.raises(FitConfigError, match=message):
        SweepConfig(method="exact", **kwargs)


def test_config_round_trips_through_json():
    import json

    config = SweepConfig(method="map", num_folds=3, options={"num_steps": 5})
    assert SweepConfig.from_dict(json.loads(config.to_json())) == config
