"""Fixtures of the sweep tests: one small rank-3 paired file and one finished sweep.

Every in-process sweep test uses the same stars and split (40 stars, half held
out, or two folds of 20), so JAX compiles each ``c`` once per test session.
"""

import shutil

import jax
import pytest
from factories import small_paired

from stereo_ppl.io import save_paired
from stereo_ppl.sweep import SweepConfig, run_sweep

NUM_STARS = 40
CONFIG = SweepConfig(
    method="exact", heldout_fraction=0.5, options={"noise": "reported", "prior": "unit"}
)


@pytest.fixture(scope="session")
def paired_file(tmp_path_factory):
    """A rank-3 paired file of 40 stars."""
    return save_paired(small_paired(0, num_stars=NUM_STARS), tmp_path_factory.mktemp("p") / "P.nc")


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory, paired_file):
    """A finished sweep (c = 1, 2; two repeats) and its report; copy before changing it."""
    out = tmp_path_factory.mktemp("sweep") / "d"
    report = run_sweep(
        jax.random.key(0),
        paired_file,
        out,
        num_latents=[1, 2],
        num_repeats=2,
        config=CONFIG,
        seed=0,
        log=lambda line: None,
    )
    return out, report


@pytest.fixture
def sweep_copy(finished_sweep, tmp_path):
    """A private copy of the finished sweep directory."""
    return shutil.copytree(finished_sweep[0], tmp_path / "d")
