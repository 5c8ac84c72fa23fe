"""Read a sweep directory back: the table of every intact fit, and the fits of one ``c``."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from ..errors import StereoPPLError
from .files import check_fit
from .manifest import Manifest
from .plan import Job
from .table import build_table

__all__ = ["collect_sweep", "sweep_fits"]

_NAME = re.compile(r"^fit_c(\d+)_r(\d+)(?:_f(\d+))?\.nc$")


def _jobs_on_disk(out_dir: Path) -> dict[Job, Path]:
    found = {}
    for path in sorted(out_dir.glob("fit_c*_r*.nc")):
        match = _NAME.match(path.name)
        if match:
            c, r, f = match.groups()
            found[Job(int(c), int(r), None if f is None else int(f))] = path
    return found


def collect_sweep(out_dir, *, log: Callable[[str], None] | None = None) -> xr.Dataset:
    """The sweep table of every intact fit in ``out_dir``.

    Reads each fit's ``scores`` group, so the table is current even when the
    sweep was interrupted before writing ``summary.nc``.

    Parameters
    ----------
    out_dir : path-like
        A sweep directory.
    log : callable, optional
        Told about each fit file that is skipped because it is unreadable or
        belongs to another sweep.

    Returns
    -------
    xarray.Dataset
        See :mod:`stereo_ppl.sweep.table`.

    Raises
    ------
    SweepDirError
        If ``out_dir`` has no manifest, or no intact fit.
    """
    out_dir = Path(out_dir)
    manifest = Manifest.read(out_dir)
    sweep_id = manifest.identity["sweep_id"]
    results = {}
    for job, path in _jobs_on_disk(out_dir).items():
        try:
            results[job] = check_fit(path, sweep_id=sweep_id, job=job)
        except StereoPPLError as exc:
            if log is not None:
                log(f"skipped {exc}")
    if not results:
        raise StereoPPLError(f"{out_dir}: no finished fit to compare")
    folds = {job.fold is None for job in results}
    if len(folds) > 1:
        results = {job: v for job, v in results.items() if job.fold is not None}
    config = manifest.identity["config"]
    attrs = {
        "sweep_id": sweep_id,
        "method": config["method"],
        "config": json.dumps(config, sort_keys=True),
        "seed": -1 if manifest.identity.get("seed") is None else manifest.identity["seed"],
        "paired": manifest.identity["paired"]["path"],
    }
    return build_table(results, attrs=attrs)


def sweep_fits(out_dir, num_latent: int) -> list[Path]:
    """Paths of the fit files of ``c = num_latent`` in ``out_dir`` (every repeat and fold)."""
    jobs = _jobs_on_disk(Path(out_dir))
    return [path for job, path in sorted(jobs.items()) if job.num_latent == int(num_latent)]
