"""Sweeps over ``c``: resumable fits, held-out and cross-validated scores, the sweep table.

Typical use::

    from stereo_ppl.sweep import SweepConfig, run_sweep
    report = run_sweep(jax.random.key(0), "PAIRED.nc", "sweep_dir",
                       num_latents=[2, 4, 8], num_repeats=3,
                       config=SweepConfig(method="exact"))
    report.table          # xarray.Dataset of scores (also sweep_dir/summary.nc)

Inference runs in the workers; this package only plans, records and reads files.
"""

from .collect import collect_sweep, sweep_fits
from .files import SweepFileError, check_fit, load_sweep_fit, read_scores, write_fit
from .fitting import fit_job, start_params
from .manifest import MANIFEST_NAME, SWEEP_KIND, Manifest, SweepDirError, file_sha256
from .plan import (
    FOLD,
    INIT_CHOICES,
    NUM_LATENT,
    REPEAT,
    Job,
    SweepConfig,
    fold_assignment,
    job_key,
    plan_jobs,
    split_key,
)
from .runner import SweepReport, heldout_sets, run_sweep
from .scores import log_prior, point_estimate, point_log_likelihood, score_fit
from .table import SUMMARY_CSV, SUMMARY_NC, build_table, write_table
from .worker import JobSpec, run_job

__all__ = [
    "FOLD",
    "INIT_CHOICES",
    "MANIFEST_NAME",
    "NUM_LATENT",
    "REPEAT",
    "SUMMARY_CSV",
    "SUMMARY_NC",
    "SWEEP_KIND",
    "Job",
    "JobSpec",
    "Manifest",
    "SweepConfig",
    "SweepDirError",
    "SweepFileError",
    "SweepReport",
    "build_table",
    "check_fit",
    "collect_sweep",
    "file_sha256",
    "fit_job",
    "fold_assignment",
    "heldout_sets",
    "job_key",
    "load_sweep_fit",
    "log_prior",
    "plan_jobs",
    "point_estimate",
    "point_log_likelihood",
    "read_scores",
    "run_job",
    "run_sweep",
    "score_fit",
    "split_key",
    "start_params",
    "sweep_fits",
    "write_fit",
    "write_table",
]
