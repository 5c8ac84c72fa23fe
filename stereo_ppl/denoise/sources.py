"""Where the spectra to denoise come from: a netCDF/Zarr store, or LAMOST FITS files.

A source reads any range of spectra on the fit's grid without reading the
others, so the driver (:mod:`.stream`) can work through it chunk by chunk, in
this process or on ``dask.distributed`` workers (sources are plain picklable
dataclasses holding paths).
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..data.validate import check_same_grid
from ..dims import LAMOST_PIXEL, LAMOST_WAVELENGTH, STAR
from ..errors import StereoPPLError

__all__ = [
    "Chunk",
    "FitsSource",
    "StoreSource",
    "expand_inputs",
    "is_zarr",
    "open_source",
    "open_store",
]

_FITS_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fit.gz")


class Chunk(NamedTuple):
    """Spectra ``start .. stop - 1`` of a source.

    Attributes
    ----------
    flux, ivar : ndarray, shape (k, m)
        On the fit's grid; ``ivar`` 0 at bad pixels and for unreadable spectra.
    obsid : ndarray of int64, shape (k,)
        -1 where unknown.
    unreadable : ndarray of bool, shape (k,)
    errors : list of (int, str)
        Index in the source and message of each unreadable spectrum (what the
        reader warned about it included, once).
    warnings : list of (int, str)
        Index and message of each spectrum that was read but warned about (its
        distinct warnings joined in one line).
    """

    flux: np.ndarray
    ivar: np.ndarray
    obsid: np.ndarray
    unreadable: np.ndarray
    errors: list
    warnings: list


def is_zarr(path: Path) -> bool:
    """Whether ``path`` names a Zarr store (a ``.zarr`` name or a Zarr directory)."""
    path = Path(path)
    if path.suffix == ".zarr":
        return True
    return path.is_dir() and any((path / n).exists() for n in ("zarr.json", ".zgroup", ".zattrs"))


def open_store(path: Path, *, dask: bool = True) -> xr.Dataset:
    """Open a netCDF file or Zarr store lazily.

    Parameters
    ----------
    path : path
    dask : bool
        True: dask-backed with the native chunks; False: xarray's lazy
        indexing without dask (much faster for reading one slice).
    """
    path = Path(path)
    if not path.exists():
        raise StereoPPLError(f"{path}: no such file or store")
    chunks = {} if dask else None
    try:
        if is_zarr(path):
            return xr.open_zarr(path, chunks=chunks, consolidated=False)
        return xr.open_dataset(path, engine="h5netcdf", chunks=chunks)
    except Exception as exc:  # h5py, zarr and xarray raise many kinds
        raise StereoPPLError(f"{path}: cannot be opened as netCDF or Zarr ({exc})") from exc


@dataclass(frozen=True)
class StoreSource:
    """``lamost_flux`` and ``lamost_ivar`` (star, lamost_pixel) in a netCDF/Zarr store."""

    path: Path
    grid: np.ndarray = field(repr=False)

    def __post_init__(self):
        ds = open_store(self.path, dask=False)
        for name in ("lamost_flux", "lamost_ivar"):
            if name not in ds:
                raise StereoPPLError(f"{self.path}: has no variable {name!r}")
            if ds[name].dims != (STAR, LAMOST_PIXEL):
                raise StereoPPLError(
                    f"{self.path}: {name} has dims {ds[name].dims}, expected ({STAR}, "
                    f"{LAMOST_PIXEL})"
                )
        if LAMOST_WAVELENGTH in ds.coords:
            check_same_grid(
                self.grid, ds[LAMOST_WAVELENGTH].values, what=f"{LAMOST_WAVELENGTH} of {self.path}"
            )
        elif ds.sizes[LAMOST_PIXEL] != len(self.grid):
            raise StereoPPLError(
                f"{self.path}: {ds.sizes[LAMOST_PIXEL]} pixels, the fit has {len(self.grid)}"
            )

    @property
    def num_spectra(self) -> int:
        """Number of spectra."""
        with open_store(self.path, dask=False) as ds:
            return int(ds.sizes[STAR])

    def read(self, start: int, stop: int) -> Chunk:
        """Spectra ``start .. stop - 1``."""
        with open_store(self.path, dask=False) as full:
            ds = full.isel({STAR: slice(start, stop)})
            flux = np.asarray(ds["lamost_flux"].values)
            ivar = np.asarray(ds["lamost_ivar"].values)
            if "obsid" in ds.coords or "obsid" in ds:
                obsid = np.asarray(ds["obsid"].values, dtype=np.int64)
            else:
                obsid = np.full(stop - start, -1, np.int64)
        return Chunk(flux, ivar, obsid, np.zeros(stop - start, bool), [], [])


@dataclass(frozen=True)
class FitsSource:
    """LAMOST spectrum files, put onto the fit's grid as ``stereo-ppl prepare`` does."""

    files: tuple[Path, ...]
    grid: np.ndarray = field(repr=False)

    @property
    def num_spectra(self) -> int:
        """Number of files."""
        return len(self.files)

    def read(self, start: int, stop: int) -> Chunk:
        """Read and preprocess files ``start .. stop - 1``; failures are recorded, not raised."""
        from ..io import read_lamost
        from ..preprocess import preprocess_lamost

        k = stop - start
        m = len(self.grid)
        flux = np.ones((k, m))
        ivar = np.zeros((k, m))
        obsid = np.full(k, -1, np.int64)
        unreadable = np.zeros(k, bool)
        errors, warned = [], []
        for row, path in enumerate(self.files[start:stop]):
            failure = None
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always")
                try:
                    spectrum = read_lamost(path)
                    z = spectrum.meta.get("Z")
                    if z is None or not np.isfinite(z):
                        raise StereoPPLError(f"{path}: header keyword 'Z' is missing or -9999")
                    f, w = preprocess_lamost(
                        spectrum.wavelength, spectrum.flux, spectrum.ivar, float(z), grid=self.grid
                    )
                    flux[row], ivar[row] = f, w
                    if "OBSID" in spectrum.meta:
                        obsid[row] = int(spectrum.meta["OBSID"])
                except StereoPPLError as exc:
                    failure = str(exc)
            notes = _warning_text(records, path)
            if failure is not None:
                unreadable[row] = True
                errors.append((start + row, f"{failure} ({notes})" if notes else failure))
            elif notes:
                warned.append((start + row, f"{path}: {notes}"))
        return Chunk(flux, ivar, obsid, unreadable, errors, warned)


def _warning_text(records, path) -> str:
    """The distinct messages of recorded warnings, in order, the file's own name left out."""
    seen = []
    for record in records:
        text = " ".join(str(record.message).split())
        prefix = f"{path}: "
        text = text[len(prefix) :] if text.startswith(prefix) else text
        if text and text not in seen:
            seen.append(text)
    return "; ".join(seen)


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files named directly, and ``*.fits[.gz]`` files inside directories (sorted)."""
    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir() and not is_zarr(path):
            found = sorted(p for p in path.iterdir() if p.name.lower().endswith(_FITS_SUFFIXES))
            if not found:
                raise StereoPPLError(f"{path}: directory holds no LAMOST .fits or .fits.gz files")
            files.extend(found)
        else:
            files.append(path)
    return files


def open_source(inputs: Sequence[str | Path], *, grid: np.ndarray) -> StoreSource | FitsSource:
    """A source for the command line's ``INPUT...``.

    Parameters
    ----------
    inputs : sequence of path
        One netCDF file or Zarr store, or LAMOST FITS files and directories.
    grid : array, shape (m,)
        The fit's LAMOST grid, Angstrom.

    Returns
    -------
    StoreSource or FitsSource
    """
    paths = [Path(p) for p in inputs]
    if not paths:
        raise StereoPPLError("no input given")
    grid = np.asarray(grid, dtype=np.float64)
    stores = [p for p in paths if is_zarr(p) or p.suffix.lower() in (".nc", ".nc4", ".h5")]
    if stores:
        if len(paths) != 1:
            raise StereoPPLError("give one netCDF/Zarr store, or LAMOST FITS files, not both")
        return StoreSource(stores[0], grid)
    files = expand_inputs(paths)
    return FitsSource(tuple(files), grid)
