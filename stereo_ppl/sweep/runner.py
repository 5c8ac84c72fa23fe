"""Run a sweep over ``c``: resumable, each fit written as soon as it finishes.

The sweep directory holds one file per fit (``fit_c010_r0.nc``, written
atomically by whoever ran the fit), ``manifest.json`` (rewritten atomically
after every fit) and, at the end, the sweep table ``summary.nc`` /
``summary.csv``. Running the same sweep again skips every fit whose file is
intact, refits missing, failed or unreadable ones (saying so), and deletes the
temporary files an interrupted write leaves. A kill at any moment therefore
loses at most the fits in progress.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import inference
from .._version import __version__
from ..errors import FitConfigError, StereoPPLError
from ..inference import split_stars
from ..inference.arrays import check_num_latent
from ..io import load_fit, load_paired
from ..models import get_model
from .executors import describe_workers, run_jobs
from .files import SweepFileError, check_fit
from .manifest import Manifest, file_sha256, remove_stale_temporaries, sweep_lock
from .plan import Job, SweepConfig, fold_assignment, job_key, plan_jobs, split_key
from .table import build_table, write_table
from .worker import JobSpec, scalar_scores

__all__ = ["SweepReport", "heldout_sets", "run_sweep"]


@dataclass
class SweepReport:
    """What a call of :func:`run_sweep` did.

    Attributes
    ----------
    out_dir : pathlib.Path
    jobs : list of Job
        Every job of the sweep.
    skipped : list of Job
        Jobs whose fit was already there and intact.
    fitted : list of Job
        Jobs fitted by this call.
    refitted : dict of Job to str
        Jobs whose file was missing or bad although recorded, and why
        (they are also in ``fitted`` or ``failed``).
    failed : dict of Job to str
        Jobs whose fit raised, with the error.
    table : xarray.Dataset or None
        The sweep table (:mod:`stereo_ppl.sweep.table`); None when no fit is done.
    """

    out_dir: Path
    jobs: list[Job]
    skipped: list[Job] = field(default_factory=list)
    fitted: list[Job] = field(default_factory=list)
    refitted: dict[Job, str] = field(default_factory=dict)
    failed: dict[Job, str] = field(default_factory=dict)
    table: xr.Dataset | None = None


def heldout_sets(rng_key, num_stars: int, config: SweepConfig) -> dict[int | None, np.ndarray]:
    """Held-out star indices of a sweep, by fold (key ``None`` without folds).

    Parameters
    ----------
    rng_key : jax.Array
        The sweep's key (its split key is derived from it).
    num_stars : int
    config : SweepConfig

    Returns
    -------
    dict
        Fold (or None) to sorted ``int`` indices, shape (num_heldout,).
    """
    key = split_key(rng_key)
    if config.num_folds is None:
        return {None: split_stars(key, num_stars, config.heldout_fraction)[1]}
    folds = fold_assignment(key, num_stars, config.num_folds)
    return {f: np.flatnonzero(folds == f) for f in range(config.num_folds)}


def _identity(rng_key, paired_path: Path, sha: str, num_stars: int, config, seed) -> dict:
    key_data = np.asarray(jax.random.key_data(rng_key)).ravel().tolist()
    core = {"config": json.loads(config.to_json()), "paired_sha256": sha, "key_data": key_data}
    sweep_id = hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()
    return {
        "sweep_id": sweep_id,
        "config": core["config"],
        "paired": {"path": str(paired_path), "sha256": sha, "num_stars": num_stars},
        "seed": seed,
        "key_data": key_data,
    }


def run_sweep(
    rng_key,
    paired_path,
    out_dir,
    *,
    num_latents: Sequence[int],
    config: SweepConfig,
    num_repeats: int = 1,
    seed: int | None = None,
    workers: int | str = 1,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Fit a paired file once per ``(c, repeat[, fold])``, resumably.

    Parameters
    ----------
    rng_key : jax.Array
        The sweep's key: it chooses the held-out stars (the same for every
        fit) and, folded with ``c``, repeat and fold, each fit's key.
    paired_path : path-like
        A paired dataset file (:func:`stereo_ppl.io.save_paired`).
    out_dir : path-like
        The sweep directory (created if missing).
    num_latents : sequence of int
        The ``c`` values.
    config : SweepConfig
        Method, options, held-out fraction or folds, how repeats start. Its
        ``dtype`` is set to the float dtype JAX computes in now.
    num_repeats : int
        Fits per ``c`` (and fold), with different keys and starting points.
    seed : int, optional
        The integer ``rng_key`` was made from (recorded).
    workers : int or str
        See :func:`~stereo_ppl.sweep.executors.run_jobs`.
    progress : bool
        Show a progress bar over the fits (stderr).
    log : callable, optional
        Receives one line per event worth telling (a refit, a failure, a
        leftover file); default: print to stderr.

    Returns
    -------
    SweepReport

    Raises
    ------
    FitConfigError
        Unknown method, or a ``c`` larger than the training stars allow.
    SweepDirError
        ``out_dir`` is in use by another sweep process or holds a sweep with
        other settings.
    StereoPPLError
        The paired file is unreadable or invalid.
    """
    err = Console(stderr=True, highlight=False)
    say = log or (lambda line: err.print(line, soft_wrap=True))
    if config.method not in inference.METHODS:
        known = ", ".join(inference.METHODS)
        raise FitConfigError(f"unknown method {config.method!r}; choose one of {known}")
    variant = get_model(config.model).configured(config.model_options)
    if config.method not in variant.methods:
        raise FitConfigError(
            f"method {config.method!r} does not fit model {variant.name!r}; "
            f"it takes {', '.join(variant.methods)}"
        )
    config = replace(config, dtype=jnp.result_type(float).name)
    paired_path = Path(paired_path).resolve()
    out_dir = Path(out_dir)
    paired = load_paired(paired_path)
    sha = file_sha256(paired_path)
    num_stars = paired.sizes["star"]
    heldout = heldout_sets(rng_key, num_stars, config)
    largest = max(len(h) for h in heldout.values())
    jobs = plan_jobs(num_latents, num_repeats=num_repeats, num_folds=config.num_folds)
    for c in sorted({j.num_latent for j in jobs}):
        check_num_latent(c, num_stars - largest, paired.sizes["apogee_pixel"])
    identity = _identity(rng_key, paired_path, sha, num_stars, config, seed)
    report = SweepReport(out_dir=out_dir, jobs=jobs)

    with sweep_lock(out_dir):
        for path in remove_stale_temporaries(out_dir):
            say(f"removed {path.name}, left by an interrupted write")
        manifest = Manifest.open(out_dir, identity)
        if manifest.problem:
            say(manifest.problem)
        results, todo = {}, []
        for job in jobs:
            found = _check_existing(out_dir / job.name, job, manifest, identity["sweep_id"])
            if isinstance(found, tuple):
                results[job] = found
                report.skipped.append(job)
                continue
            if found is not None:
                report.refitted[job] = found
                say(f"{found}; fitting it again")
            todo.append(job)
        manifest.save()

        specs = [
            JobSpec(
                job=job,
                out_path=str(out_dir / job.name),
                paired_path=str(paired_path),
                paired_sha256=sha,
                config_json=config.to_json(),
                sweep_id=identity["sweep_id"],
                key_data=tuple(
                    int(k) for k in np.asarray(jax.random.key_data(job_key(rng_key, job))).ravel()
                ),
                heldout=tuple(int(i) for i in heldout[job.fold]),
                seed=seed,
            )
            for job in todo
        ]
        if todo:
            say(
                f"{len(todo)} of {len(jobs)} fits to run {describe_workers(workers)}, "
                f"writing to {out_dir}"
            )
        with _FitsBar(len(specs), enabled=progress and bool(specs), console=err) as bar:
            for spec, outcome in run_jobs(specs, workers=workers, paired=paired):
                job = spec.job
                if isinstance(outcome, BaseException):
                    message = f"{type(outcome).__name__}: {outcome}"
                    manifest.record(job, status="failed", error=message)
                    report.failed[job] = message
                    say(f"{job.name} ({job.label}) failed: {message}")
                else:
                    results[job] = check_fit(
                        out_dir / job.name, sweep_id=identity["sweep_id"], job=job
                    )
                    manifest.record(job, **outcome)
                    report.fitted.append(job)
                manifest.save()
                bar(job)

        if results:
            attrs = {
                "sweep_id": identity["sweep_id"],
                "method": config.method,
                "config": config.to_json(),
                "seed": -1 if seed is None else int(seed),
                "paired": str(paired_path),
                "stereo_ppl_version": __version__,
            }
            report.table = build_table(results, attrs=attrs)
            write_table(report.table, out_dir)
    return report


def _check_existing(path: Path, job: Job, manifest: Manifest, sweep_id: str):
    """``(scores, attrs)`` of an intact fit, else None (not there) or why it is bad."""
    record = manifest.fits.get(job.name)
    if not path.exists():
        manifest.forget(job)
        if record and record.get("status") == "done":
            return f"{path.name} is listed as done but missing"
        return None
    try:
        scores, attrs = check_fit(path, sweep_id=sweep_id, job=job)
        sha = file_sha256(path)
        if record and record.get("status") == "done":
            if record.get("sha256") != sha:
                raise SweepFileError(f"{path}: contents changed since it was written (checksum)")
        else:  # finished but not recorded (killed in between): read all of it once
            load_fit(path, paired=False)
            manifest.record(
                job,
                status="done",
                sha256=sha,
                seconds=float(attrs.get("sweep_seconds", np.nan)),
                **scalar_scores(scores.drop_vars("heldout")),
            )
    except (StereoPPLError, OSError) as exc:  # any unreadable file is refitted
        manifest.forget(job)
        return str(exc)
    return scores, attrs


class _FitsBar:
    """A rich progress bar over fits on stderr (or nothing)."""

    def __init__(self, total: int, *, enabled: bool, console: Console):
        self.progress = None
        if enabled:
            self.progress = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[last]}"),
                console=console,
            )
            self.task = self.progress.add_task("sweep", total=total, last="")

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, job: Job) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, last=f"done: {job.label}")
