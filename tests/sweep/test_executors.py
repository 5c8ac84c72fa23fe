import jax
import numpy as np
import pytest
import xarray as xr

from stereo_ppl.errors import StereoPPLError
from stereo_ppl.sweep import SweepConfig, run_sweep
from stereo_ppl.sweep.executors import run_jobs

CONFIG = SweepConfig(
    method="exact", heldout_fraction=0.5, options={"noise": "reported", "prior": "unit"}
)  # as in conftest.py


@pytest.mark.slow
def test_a_dask_scheduler_runs_the_same_fits(finished_sweep, paired_file, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        report = run_sweep(
            jax.random.key(0),
            paired_file,
            tmp_path / "d",
            num_latents=[1],
            num_repeats=2,
            config=CONFIG,
            seed=0,
            workers=cluster.scheduler_address,
            log=lambda line: None,
        )
    assert [j.name for j in report.fitted] == ["fit_c001_r0.nc", "fit_c001_r1.nc"]
    serial = xr.load_dataset(finished_sweep[0] / "summary.nc")
    np.testing.assert_allclose(
        report.table["lpd"].sel(num_latent=1).values,
        serial["lpd"].sel(num_latent=1).values,
        rtol=1e-6,
    )


def test_bad_worker_counts_are_errors():
    with pytest.raises(StereoPPLError, match="workers must be a positive integer"):
        list(run_jobs([], workers=0))
