"""Out-of-core denoising: a source, chunk by chunk, into a Zarr store or netCDF file.

Results are written into a Zarr store one chunk (``batch_size`` spectra along
``star``) at a time with region writes; after each chunk a marker file is
written into ``STORE.progress/`` beside the store, so an interrupted run
resumes with the unfinished chunks (the marker directory is removed when the
run completes). Memory
is bounded by one chunk per worker whatever the number of spectra. A netCDF
output is assembled from the finished Zarr store (streamed by dask) and
renamed into place atomically; the Zarr store beside it is then removed.

With ``scheduler`` the chunks run as tasks on a ``dask.distributed`` cluster
(each task reads its chunk, denoises it and writes its region); the numbers
are the same as in-process.
"""

import hashlib
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..dims import STAR
from ..errors import StereoPPLError
from ..inference.progress import progress_bar
from .arrays import setup_arrays, setup_from_arrays
from .columns import find_bad_columns
from .core import DenoiseSetup, resolved_thresholds
from .dataset import DENOISE_KIND, denoise, result_dataset
from .flags import ArtefactThresholds
from .sources import Chunk, FitsSource, StoreSource

__all__ = [
    "DenoiseRun",
    "compute_chunk",
    "denoise_source",
    "run_chunk",
    "setup_attrs",
    "write_chunk",
]

_DONE = ".progress"  # suffix of the marker directory beside the store
_SAMPLE = 2048  # spectra read for the automatic bad-column search
_PIXEL_VARS = (
    "lamost_flux_denoised",
    "lamost_flux_denoised_sigma",
    "lamost_residual",
    "lamost_artefact",
)
#: Per-spectrum float variables, stored as float32 like the pixel arrays.
_STAR_FLOATS = ("z", "z_sigma", "chi2_reduced", "anomaly_pvalue", "noise_scale", "misfit_scale")


class DenoiseRun(NamedTuple):
    """What :func:`denoise_source` did.

    Attributes
    ----------
    path : Path
        The output written.
    num_spectra : int
    num_chunks, num_resumed : int
        Chunks in all, and chunks found finished from an earlier run.
    errors : list of (int, str)
        Unreadable inputs (index, message), this run's chunks only.
    bad_columns : ndarray of int64
    warnings : list of (int, str)
        Inputs read but warned about (index, message), this run's chunks only.
    """

    path: Path
    num_spectra: int
    num_chunks: int
    num_resumed: int
    errors: list
    bad_columns: np.ndarray
    warnings: list


def compute_chunk(
    setup: DenoiseSetup,
    chunk: Chunk,
    start: int,
    *,
    batch_size: int,
    thresholds: ArtefactThresholds,
    wavelength: np.ndarray,
) -> xr.Dataset:
    """Denoise one chunk read from a source: the region of the output to write."""
    result = denoise(setup, chunk.flux, chunk.ivar, batch_size=batch_size, thresholds=thresholds)
    status = np.where(chunk.unreadable, 3, result.status).astype(np.int8)
    result = result._replace(status=status)
    ds = result_dataset(result, wavelength=wavelength, obsid=chunk.obsid)
    stop = start + len(chunk.obsid)
    ds = ds.assign_coords({STAR: np.arange(start, stop, dtype=np.int64)})
    ds = _cast(ds).drop_vars([n for n in ds.variables if STAR not in ds[n].dims])
    ds.attrs = {}
    return ds


def write_chunk(ds: xr.Dataset, store: Path, start: int, stop: int) -> None:
    """Write a computed chunk into ``store``'s region, then its marker file."""
    ds.to_zarr(store, region={STAR: slice(start, stop)}, mode="r+", consolidated=False)
    _markers(Path(store)).joinpath(f"{start}").write_text(f"{start} {stop}\n")


def run_chunk(
    arrays: dict,
    source: StoreSource | FitsSource,
    store: Path,
    start: int,
    stop: int,
    *,
    batch_size: int,
    thresholds: ArtefactThresholds,
    wavelength: np.ndarray,
) -> list:
    """Read, denoise and write spectra ``start .. stop - 1`` (one task of a cluster).

    Returns
    -------
    list of (int, str, bool)
        The unreadable (True) and warned-about (False) inputs of the chunk.
    """
    chunk = source.read(start, stop)
    options = {"batch_size": batch_size, "thresholds": thresholds, "wavelength": wavelength}
    setup = setup_from_arrays(arrays)
    write_chunk(compute_chunk(setup, chunk, start, **options), store, start, stop)
    return _notes(chunk)


def _notes(chunk: Chunk) -> list:
    """``(index, message, unreadable)`` of every input of ``chunk`` with something to say."""
    return [(i, text, True) for i, text in chunk.errors] + [
        (i, text, False) for i, text in chunk.warnings
    ]


def _run_local(arrays, source, store, todo, num, options, bar) -> list:
    """Chunks in this process: the next one is read and the last one written
    in background threads while this one is denoised (numbers as ``run_chunk``).
    """
    size = options["batch_size"]
    errors = []
    if not todo:
        return errors
    setup = setup_from_arrays(arrays)  # as each task of a cluster builds it
    with ThreadPoolExecutor(max_workers=2) as pool:
        reading = pool.submit(source.read, todo[0], min(todo[0] + size, num))
        writing = None
        for i, start in enumerate(todo):
            stop = min(start + size, num)
            chunk = reading.result()
            if i + 1 < len(todo):
                reading = pool.submit(source.read, todo[i + 1], min(todo[i + 1] + size, num))
            ds = compute_chunk(setup, chunk, start, **options)
            if writing is not None:
                writing.result()
                bar.update(size)
            writing = pool.submit(write_chunk, ds, store, start, stop)
            errors += _notes(chunk)
        writing.result()
        bar.update(stop - start)
    return errors


def setup_attrs(setup: DenoiseSetup, thresholds: ArtefactThresholds | None = None) -> dict:
    """Root attributes that say how the flags were decided: noise model, searches, thresholds."""
    out = {str(k): str(v) for k, v in setup.info}
    for name, value in resolved_thresholds(setup, thresholds).describe().items():
        key = name if name == "false_alarm" else f"threshold_{name}"
        out[key] = value
    out["false_alarm_meaning"] = (
        "probability that a spectrum the calibrated noise model describes gets any flag"
    )
    return out


def _markers(store: Path) -> Path:
    """Directory beside the store holding one marker file per finished chunk."""
    return store.with_name(store.name + _DONE)


def _cast(ds: xr.Dataset) -> xr.Dataset:
    """float32 for the pixel arrays (as the surveys store spectra)."""
    names = (*_PIXEL_VARS, *_STAR_FLOATS)
    return ds.assign(
        {n: ds[n].astype(np.float32, copy=False) for n in names if ds[n].dtype.kind == "f"}
    )


def _fingerprint(source, arrays: dict, thresholds, batch_size: int) -> str:
    digest = hashlib.sha256()
    name = (
        str(source.path) if isinstance(source, StoreSource) else "\n".join(map(str, source.files))
    )
    digest.update(name.encode())
    for key in sorted(arrays):
        if key != "bad_column":
            digest.update(key.encode() + np.ascontiguousarray(arrays[key]).tobytes())
    digest.update(json.dumps(asdict(thresholds), sort_keys=True).encode())
    digest.update(str(batch_size).encode())
    return digest.hexdigest()[:16]


def _template(num: int, m: int, c: int, chunk: int, wavelength, attrs) -> xr.Dataset:
    """The full-size output with lazy zeros, to create the Zarr store's metadata."""
    import dask.array as da

    from .core import DenoiseResult

    one = DenoiseResult(
        latent=np.zeros((1, c)),
        latent_cov=np.zeros((1, c, c)),
        flux=np.zeros((1, m)),
        sigma=np.zeros((1, m)),
        residual=np.zeros((1, m)),
        artefact=np.zeros((1, m), np.int8),
        chi2_reduced=np.zeros(1),
        anomaly_pvalue=np.ones(1),
        status=np.zeros(1, np.int8),
        step_pixel=np.zeros(1, np.int32),
        step_scale=np.ones((1, 2)),
        noise_scale=np.ones(1),
        misfit_scale=np.ones(1),
    )
    small = _cast(result_dataset(one, wavelength=wavelength, attrs=attrs))
    full = {}
    for name, var in small.data_vars.items():
        dtype = np.float32 if var.dtype.kind == "f" else var.dtype
        shape = (num, *var.shape[1:])
        lazy = da.zeros(shape, dtype=dtype, chunks=(min(chunk, num), *var.shape[1:]))
        full[name] = (var.dims, lazy, var.attrs)
    coords = {k: v for k, v in small.coords.items() if STAR not in v.dims}
    coords[STAR] = (STAR, np.arange(num, dtype=np.int64))
    coords["obsid"] = (STAR, np.full(num, -1, np.int64))
    return xr.Dataset(full, coords=coords, attrs=small.attrs)


def denoise_source(
    setup: DenoiseSetup,
    source: StoreSource | FitsSource,
    out: str | Path,
    *,
    wavelength: np.ndarray,
    batch_size: int = 2048,
    thresholds: ArtefactThresholds | None = None,
    bad_columns: str | np.ndarray | None = "auto",
    scheduler: str | None = None,
    progress: bool = False,
    attrs: dict | None = None,
) -> DenoiseRun:
    """Denoise every spectrum of ``source`` into ``out`` (``.zarr`` or netCDF).

    Parameters
    ----------
    setup : DenoiseSetup
    source : StoreSource or FitsSource
    out : path
        A ``.zarr`` store, or a netCDF file (written via ``OUT.partial.zarr``).
    wavelength : array, shape (m,)
        The fit's grid (stored as the ``lamost_wavelength`` coordinate).
    batch_size : int
        Spectra per chunk (read, denoised and written together); also the
        output chunk size. The kernel itself runs on blocks of 256 spectra.
    thresholds : ArtefactThresholds, optional
    bad_columns : "auto", array of int or None
        "auto": columns found by :func:`~.columns.find_bad_columns` in a first
        pass over the first 2,048 spectra; an array: these; None: the setup's.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler to run the chunks on.
    progress : bool
        Show a progress bar on stderr.
    attrs : dict, optional
        More root attributes (fit file, config).

    Returns
    -------
    DenoiseRun

    Raises
    ------
    StereoPPLError
        If ``out`` holds a partial result of a different run.
    """
    thresholds = ArtefactThresholds() if thresholds is None else thresholds
    out = Path(out)
    zarr_out = out.suffix == ".zarr"
    store = out if zarr_out else out.with_name(out.name + ".partial.zarr")
    num = source.num_spectra
    if num == 0:
        raise StereoPPLError("no spectra to denoise")
    m = int(setup.decoder.b_F.shape[0])
    c = setup.decoder.num_latent - setup.num_continuum
    arrays = setup_arrays(setup)
    key = _fingerprint(source, arrays, thresholds, batch_size)
    starts = list(range(0, num, batch_size))
    markers = _markers(store)
    resumed = store.exists() and markers.is_dir()
    if resumed:
        meta = xr.open_zarr(store, chunks=None, consolidated=False).attrs
        if meta.get("denoise_fingerprint") != key:
            raise StereoPPLError(
                f"{store} holds a partial result of a different run (other fit, inputs or "
                "options); delete it or choose another --out"
            )
        columns = np.asarray(meta.get("bad_columns", []), dtype=np.int64)
    else:
        if store.exists():
            raise StereoPPLError(
                f"{store} exists (a finished result or another program's); delete it or "
                "choose another --out"
            )
        if isinstance(bad_columns, str) and bad_columns == "auto":
            sample = source.read(0, min(num, _SAMPLE))
            first = denoise(setup, sample.flux, sample.ivar, batch_size=batch_size)
            usable = (sample.ivar > 0) & ~sample.unreadable[:, None]
            columns = find_bad_columns(first.artefact, usable, exclude=np.asarray(setup.sky))
        elif bad_columns is None:
            columns = np.flatnonzero(np.asarray(setup.bad_column)).astype(np.int64)
        else:
            columns = np.asarray(bad_columns, dtype=np.int64)
        root = {
            **dict(attrs or {}),
            "denoise_fingerprint": key,
            "bad_columns": [int(v) for v in columns],
            "thresholds": json.dumps(asdict(thresholds), sort_keys=True),
            **setup_attrs(setup, thresholds),
            "batch_size": int(batch_size),
        }
        template = _template(num, m, c, batch_size, wavelength, root)
        # uncompressed: residuals do not compress and compression would bound the rate
        encoding = {name: {"compressors": None} for name in template.data_vars}
        # the star coordinates chunked like the data: each chunk's region write
        # then owns its Zarr chunks (workers writing one shared chunk lose updates)
        for name in (STAR, "obsid"):
            encoding[name] = {"chunks": (min(batch_size, num),)}
        template.to_zarr(store, compute=False, mode="w-", consolidated=False, encoding=encoding)
        if markers.exists():  # left by a run whose store was deleted
            shutil.rmtree(markers)
        markers.mkdir()
    mask = np.zeros(m, dtype=bool)
    mask[columns] = True
    arrays["bad_column"] = mask
    done = {int(p.name) for p in markers.iterdir()}
    todo = [s for s in starts if s not in done]
    options = {"batch_size": batch_size, "thresholds": thresholds, "wavelength": wavelength}
    errors = []
    with progress_bar(num, enabled=progress, description="denoise") as bar:
        bar.update(sum(min(s + batch_size, num) - s for s in starts if s in done))
        if scheduler is None:
            errors += _run_local(arrays, source, store, todo, num, options, bar)
        else:
            errors += _run_distributed(scheduler, arrays, source, store, todo, num, options, bar)
    if not zarr_out:
        _to_netcdf(store, out, batch_size)
    shutil.rmtree(markers)
    unreadable = [(i, text) for i, text, bad in errors if bad]
    warned = [(i, text) for i, text, bad in errors if not bad]
    return DenoiseRun(out, num, len(starts), len(starts) - len(todo), unreadable, columns, warned)


def _run_distributed(scheduler, arrays, source, store, todo, num, options, bar) -> list:
    from distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout="30s")
    except OSError as exc:
        raise StereoPPLError(f"cannot reach the dask scheduler at {scheduler} ({exc})") from exc
    errors = []
    with client:
        shared = client.scatter(arrays, broadcast=True)
        futures = {}
        for start in todo:
            stop = min(start + options["batch_size"], num)
            future = client.submit(
                run_chunk, shared, source, store, start, stop, pure=False, **options
            )
            futures[future] = stop - start
        for future in as_completed(futures):
            errors += future.result()
            bar.update(futures[future])
    return errors


def _to_netcdf(store: Path, out: Path, batch_size: int) -> None:
    from ..io import atomic_write

    with xr.open_zarr(store, consolidated=False) as ds:
        ds = ds.load() if ds.nbytes < 2**28 else ds
        ds.attrs.pop("denoise_fingerprint", None)
        encoding = {
            name: {"chunksizes": (min(batch_size, ds.sizes[STAR]), *ds[name].shape[1:])}
            for name in ds.data_vars
            if ds[name].dims and ds[name].dims[0] == STAR
        }
        atomic_write(out, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))
    shutil.rmtree(store)


def is_denoise_result(ds: xr.Dataset) -> bool:
    """Whether ``ds`` is a denoise result written by stereo-ppl."""
    return ds.attrs.get("kind") == DENOISE_KIND
