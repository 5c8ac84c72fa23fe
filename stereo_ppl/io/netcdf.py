"""Paired datasets and fit results as netCDF files, written atomically.

Every write goes to a temporary file in the destination's directory and is
renamed over the destination only when complete, so an interrupted write
never leaves a truncated file under the final name.
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from ..data.validate import validate_paired
from ..dims import FIT_KIND
from ..errors import StereoPPLError

__all__ = ["atomic_write", "load_fit", "load_paired", "save_dataset", "save_fit", "save_paired"]

ENGINE = "h5netcdf"


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path, then rename it to ``path``.

    Parameters
    ----------
    path : path-like
        Final destination; its directory is created if missing.
    write : callable
        Writes the complete file to the path it is given.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _open_error(path: Path, what: str, exc: Exception) -> StereoPPLError:
    if not path.exists():
        return StereoPPLError(f"{path}: no such file")
    return StereoPPLError(f"{path}: cannot be read as a {what} netCDF file ({exc})")


def save_dataset(data: xr.Dataset | xr.DataTree, path: str | os.PathLike) -> Path:
    """Write a Dataset or DataTree to ``path`` (netCDF4/HDF5) atomically."""
    return atomic_write(path, lambda tmp: data.to_netcdf(tmp, engine=ENGINE))


def save_paired(paired: xr.Dataset, path: str | os.PathLike) -> Path:
    """Validate and write a paired dataset to ``path`` (netCDF4/HDF5)."""
    return save_dataset(validate_paired(paired), path)


def load_paired(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate a paired dataset written by :func:`save_paired`.

    Raises
    ------
    StereoPPLError
        If the file is missing, not netCDF, or not a valid paired dataset
        (the message starts with the file name).
    """
    path = Path(path)
    try:
        paired = xr.load_dataset(path, engine=ENGINE)
    except Exception as exc:  # h5py and xarray raise many kinds
        raise _open_error(path, "paired", exc) from exc
    try:
        return validate_paired(paired)
    except StereoPPLError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def save_fit(tree: xr.DataTree, path: str | os.PathLike) -> Path:
    """Write a fit's ``DataTree`` to ``path`` (netCDF4/HDF5, one group per ArviZ group)."""
    return save_dataset(tree, path)


def load_fit(path: str | os.PathLike) -> xr.DataTree:
    """Read a fit written by :func:`save_fit` fully into memory.

    Raises
    ------
    StereoPPLError
        If the file is missing, not netCDF, or not a stereo-ppl fit.
    """
    path = Path(path)
    try:
        with xr.open_datatree(path, engine=ENGINE) as tree:
            tree = tree.load()
    except Exception as exc:
        raise _open_error(path, "fit", exc) from exc
    if tree.attrs.get("kind") != FIT_KIND or "posterior" not in tree.children:
        raise StereoPPLError(f"{path}: not a stereo-ppl fit (no posterior group or kind attribute)")
    return tree
