"""Where the jobs of a sweep run: here, in worker processes, or on a dask cluster."""

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

import xarray as xr

from ..errors import StereoPPLError
from .worker import JobSpec, run_job

__all__ = ["Outcome", "describe_workers", "run_jobs"]

#: ``(spec, record)`` of a finished job or ``(spec, exception)`` of a failed one.
Outcome = tuple[JobSpec, dict | BaseException]


def describe_workers(workers: int | str) -> str:
    """Say where the jobs run, for messages."""
    if isinstance(workers, str):
        return f"on the dask scheduler {workers}"
    return "in this process" if workers == 1 else f"in {workers} worker processes"


def run_jobs(
    specs: Sequence[JobSpec], *, workers: int | str = 1, paired: xr.Dataset | None = None
) -> Iterator[Outcome]:
    """Run jobs, yielding each outcome as soon as the job finishes.

    Parameters
    ----------
    specs : sequence of JobSpec
        The jobs, in the order to start them.
    workers : int or str
        ``1``: one after another in this process; ``N > 1``: ``N`` worker
        processes started with ``spawn`` (JAX is not fork-safe); a string: the
        address of a ``dask.distributed`` scheduler (e.g.
        ``"tcp://10.0.0.1:8786"``) whose workers can read the paired file and
        write to the sweep directory.
    paired : xarray.Dataset, optional
        The paired dataset, reused by jobs run in this process.

    Yields
    ------
    Outcome
        A failed job yields its exception; the other jobs go on. Interrupting
        the iteration (``KeyboardInterrupt``, closing the generator) cancels
        the jobs not yet started.
    """
    if isinstance(workers, str):
        yield from _run_dask(specs, workers)
    elif workers == 1:
        for spec in specs:
            try:
                yield spec, run_job(spec, paired)
            except (KeyboardInterrupt, StereoPPLError):
                raise
            except Exception as exc:
                yield spec, exc
    elif isinstance(workers, int) and workers > 1:
        yield from _run_processes(specs, workers)
    else:
        raise StereoPPLError(
            f"workers must be a positive integer or a scheduler address; got {workers!r}"
        )


def _run_processes(specs: Sequence[JobSpec], workers: int) -> Iterator[Outcome]:
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        futures = {pool.submit(run_job, spec): spec for spec in specs}
        for future in as_completed(futures):
            spec = futures[future]
            error = future.exception()
            if isinstance(error, StereoPPLError):
                raise error
            yield spec, error if error is not None else future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(specs: Sequence[JobSpec], address: str) -> Iterator[Outcome]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise StereoPPLError(f"a scheduler address needs dask.distributed ({exc})") from exc
    try:
        client = Client(address, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise StereoPPLError(f"cannot connect to the dask scheduler {address}: {exc}") from exc
    futures = {}
    try:
        for spec in specs:
            futures[client.submit(run_job, spec, pure=False)] = spec
        for future in dask_completed(list(futures)):
            spec = futures[future]
            if future.status == "error":
                error = future.exception()
                if isinstance(error, StereoPPLError):
                    raise error
                yield spec, error
            else:
                yield spec, future.result()
    finally:
        for future in futures:
            future.cancel()
        client.close()
