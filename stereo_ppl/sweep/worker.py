"""Run one job of a sweep where it is sent: this process, a worker process, a dask worker.

A job travels as a :class:`JobSpec` of plain values (paths, integers, the
job's key data), so it can be sent to a ``spawn``-ed process or a
``dask.distributed`` worker; the worker reads the paired file itself (once
per process) and writes the fit file itself, atomically.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..errors import StereoPPLError
from ..io import load_paired
from .files import write_fit
from .fitting import fit_job
from .manifest import file_sha256
from .plan import Job, SweepConfig

__all__ = ["JobSpec", "run_job", "scalar_scores"]

_PAIRED_CACHE: dict[tuple[str, str], xr.Dataset] = {}


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """Everything a worker needs to run one job.

    Attributes
    ----------
    job : Job
    out_path : str
        Where the fit is written.
    paired_path, paired_sha256 : str
        The paired file and its checksum (checked by the worker).
    config_json : str
        :meth:`SweepConfig.to_json` of the sweep.
    sweep_id : str
    key_data : tuple of int
        ``jax.random.key_data`` of the job's key.
    heldout : tuple of int
        Held-out star indices.
    seed : int or None
        The sweep's seed (recorded in the fit).
    progress : bool
        Show the method's progress bar.
    """

    job: Job
    out_path: str
    paired_path: str
    paired_sha256: str
    config_json: str
    sweep_id: str
    key_data: tuple[int, ...]
    heldout: tuple[int, ...]
    seed: int | None = None
    progress: bool = False


def _paired(spec: JobSpec) -> xr.Dataset:
    cache_key = (spec.paired_path, spec.paired_sha256)
    if cache_key not in _PAIRED_CACHE:
        sha = file_sha256(spec.paired_path)
        if sha != spec.paired_sha256:
            raise StereoPPLError(
                f"{spec.paired_path}: changed since the sweep started (checksum differs)"
            )
        _PAIRED_CACHE.clear()
        _PAIRED_CACHE[cache_key] = load_paired(spec.paired_path)
    return _PAIRED_CACHE[cache_key]


def scalar_scores(scores: xr.Dataset) -> dict[str, float]:
    """The 0-d variables of a ``scores`` group as a dict of floats."""
    return {name: float(var.values) for name, var in scores.data_vars.items() if var.ndim == 0}


def run_job(spec: JobSpec, paired: xr.Dataset | None = None) -> dict:
    """Fit, score and write one job.

    Parameters
    ----------
    spec : JobSpec
    paired : xarray.Dataset, optional
        The paired dataset when already in memory (same process); otherwise
        it is read from ``spec.paired_path``.

    Returns
    -------
    dict
        The manifest record: ``status`` ("done"), ``sha256``, ``seconds`` and
        the fit's scalar scores.

    Raises
    ------
    StereoPPLError
        If this process computes in another float dtype than the sweep, or
        the paired file changed.
    """
    config = SweepConfig.from_dict(json.loads(spec.config_json))
    dtype = jnp.result_type(float).name
    if dtype != config.dtype:
        raise StereoPPLError(
            f"this worker computes in {dtype} but the sweep runs in {config.dtype}; "
            "set JAX_ENABLE_X64=1 (float64) or unset it (float32) where workers start"
        )
    start = time.perf_counter()
    paired = _paired(spec) if paired is None else paired
    key = jax.random.wrap_key_data(np.asarray(spec.key_data, dtype=np.uint32))
    tree = fit_job(
        key,
        paired,
        heldout=np.asarray(spec.heldout, dtype=np.int64),
        num_latent=spec.job.num_latent,
        repeat=spec.job.repeat,
        config=config,
        seed=spec.seed,
        progress=spec.progress,
    )
    seconds = time.perf_counter() - start
    tree.attrs["sweep_seconds"] = seconds
    sha = write_fit(tree, Path(spec.out_path), sweep_id=spec.sweep_id, job=spec.job)
    return {
        "status": "done",
        "sha256": sha,
        "seconds": seconds,
        **scalar_scores(tree["scores"].to_dataset()),
    }
