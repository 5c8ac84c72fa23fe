"""A sweep of a model variant: its own likelihood scores every fit."""

import jax
import numpy as np
import pytest

from stereo_ppl.errors import FitConfigError
from stereo_ppl.sweep import SweepConfig, run_sweep


def test_a_variant_sweep_scores_its_fits_with_its_own_likelihood(paired_file, tmp_path):
    config = SweepConfig(
        method="map",
        heldout_fraction=0.5,
        model="latent-z",
        model_options={"sigma_z": 0.05},
        options={"num_steps": 200, "eval_every": 50, "init": "exact"},
    )
    report = run_sweep(
        jax.random.key(0),
        paired_file,
        tmp_path / "s",
        num_latents=[2],
        config=config,
        log=lambda line: None,
    )
    assert not report.failed
    table = report.table
    assert np.isfinite(table["heldout_lpd"].values).all()
    assert np.isfinite(table["heldout_log_joint"].values).all()


def test_a_sweep_refuses_a_method_the_model_does_not_take(paired_file, tmp_path):
    config = SweepConfig(method="exact", heldout_fraction=0.5, model="mlp")
    with pytest.raises(FitConfigError, match="does not fit model 'mlp'"):
        run_sweep(jax.random.key(0), paired_file, tmp_path / "s", num_latents=[2], config=config)
