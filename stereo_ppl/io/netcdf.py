"""Paired datasets and fit results as netCDF files, written atomically.

Every write goes to a temporary file in the destination's directory and is
renamed over the destination only when complete, so an interrupted write
never leaves a truncated file under the final name.

A fit file holds the fit, not the data: parameters, per-star results (``z``,
log likelihood), traces, the held-out mask and a reference to its paired
file (root attributes ``paired_path``, ``paired_size``, ``paired_checksum``;
see :mod:`stereo_ppl.io.fit_data`). :func:`load_fit` puts the data back
from that file, or from the paired dataset it is given, after checking its
checksum. ``save_fit(..., include_data=True)`` writes the self-contained
layout instead (as every fit file was before); such files load as they are.
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import xarray as xr

from ..data.validate import validate_paired
from ..dims import FIT_KIND, PAIRED_ENCODING, PAIRED_REFERENCE
from ..errors import PairedDataError, StereoPPLError
from .fit_data import attach_data, data_checksum, detach_data, has_data, tree_checksum

__all__ = [
    "atomic_write",
    "attach_paired",
    "describe_reference",
    "find_paired",
    "load_fit",
    "load_paired",
    "save_dataset",
    "save_fit",
    "save_paired",
]

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

    The result's ``encoding`` records the file's path, size and data checksum
    (:func:`~stereo_ppl.io.fit_data.data_checksum`), which a fit of it
    keeps so that :func:`save_fit` can refer to the file instead of copying it.

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
        paired = validate_paired(paired)
    except StereoPPLError as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    paired.encoding[PAIRED_ENCODING] = dict(
        zip(
            PAIRED_REFERENCE,
            (str(path.resolve()), path.stat().st_size, data_checksum(paired)),
            strict=True,
        )
    )
    return paired


def save_fit(
    tree: xr.DataTree,
    path: str | os.PathLike,
    *,
    paired: str | os.PathLike | xr.Dataset | None = None,
    include_data: bool | None = None,
) -> Path:
    """Write a fit's ``DataTree`` to ``path`` (netCDF4/HDF5, one group per ArviZ group).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (:func:`stereo_ppl.inference.fit`).
    path : path-like
        Destination.
    paired : path-like or xarray.Dataset, optional
        The paired dataset the fit was made from, to refer to; its checksum
        must match the data the fit holds. Default: the file the fit records
        (a fit of a dataset read by :func:`load_paired` records it).
    include_data : bool, optional
        True: also write the fit's copies of the paired data (a self-contained
        file). False: leave them out even when no paired file is known
        (``load_fit(path, paired=dataset)`` puts them back). Default: leave
        them out when the paired file is known, else include them.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    StereoPPLError
        If ``paired`` holds other data than the fit, or ``include_data`` is
        True for a fit loaded without its data.
    """
    if not has_data(tree):
        if include_data:
            raise StereoPPLError(
                "this fit was loaded without its data, so there is none to include; "
                "load it with load_fit(..., paired=PAIRED)"
            )
        return save_dataset(tree, path)
    reference = _reference(tree, paired)
    if include_data or (include_data is None and reference is None):
        return save_dataset(_with_reference(tree, reference), path)
    if reference is None:
        reference = dict(zip(PAIRED_REFERENCE, ("", -1, tree_checksum(tree)), strict=True))
    slim = detach_data(tree)
    slim.attrs.update(reference)
    return save_dataset(slim, path)


def _with_reference(tree: xr.DataTree, reference: dict | None) -> xr.DataTree:
    """``tree`` referring to ``reference`` only (a recorded one that does not match is dropped)."""
    attrs = {k: v for k, v in tree.attrs.items() if k not in PAIRED_REFERENCE}
    attrs.update(reference or {})
    out = tree.copy()
    out.attrs = attrs
    return out


def _reference(tree: xr.DataTree, paired) -> dict | None:
    """The reference to write for ``tree``'s data: ``paired``'s, the recorded one, or None."""
    checksum = tree_checksum(tree)
    recorded = {k: tree.attrs[k] for k in PAIRED_REFERENCE if k in tree.attrs}
    if paired is None:
        usable = len(recorded) == len(PAIRED_REFERENCE) and recorded["paired_path"]
        return recorded if usable and recorded["paired_checksum"] == checksum else None
    if isinstance(paired, xr.Dataset):
        theirs = data_checksum(paired)
        if theirs != checksum:
            raise StereoPPLError(
                f"the paired dataset given holds other data than the fit (checksum {theirs}, "
                f"the fit's data {checksum})"
            )
        found = paired.encoding.get(PAIRED_ENCODING) or {}
        if found.get("paired_checksum") == checksum:
            return dict(found)
        return dict(zip(PAIRED_REFERENCE, ("", -1, checksum), strict=True))
    where = Path(paired).resolve()
    same_file = (
        recorded.get("paired_path") == str(where)
        and recorded.get("paired_checksum") == checksum
        and where.is_file()
        and where.stat().st_size == recorded.get("paired_size")
    )
    if same_file:
        return recorded
    found = load_paired(where).encoding[PAIRED_ENCODING]
    if found["paired_checksum"] != checksum:
        raise StereoPPLError(
            f"{where}: is not the paired dataset this fit was made from (checksum "
            f"{found['paired_checksum']}, the fit's data {checksum})"
        )
    return dict(found)


def describe_reference(tree: xr.DataTree) -> str:
    """``"PATH (SIZE bytes, CHECKSUM)"`` of the paired file a fit refers to."""
    path = tree.attrs.get("paired_path") or "a paired dataset in memory"
    size = int(tree.attrs.get("paired_size", -1))
    checksum = str(tree.attrs.get("paired_checksum", "no checksum"))
    return f"{path} ({f'{size:,} bytes, ' if size >= 0 else ''}{checksum})"


def find_paired(tree: xr.DataTree, fit_path: str | os.PathLike) -> Path | None:
    """The paired file a fit without data refers to, if it is there.

    Looks at the recorded ``paired_path``, then beside the fit file under the
    same name (a directory moved as a whole). Returns None if neither exists.
    """
    recorded = str(tree.attrs.get("paired_path", ""))
    if not recorded:
        return None
    for candidate in (Path(recorded), Path(fit_path).parent / Path(recorded).name):
        if candidate.is_file():
            return candidate
    return None


def attach_paired(
    tree: xr.DataTree,
    paired: str | os.PathLike | xr.Dataset,
    *,
    fit_path: str | os.PathLike | None = None,
) -> xr.DataTree:
    """Put the paired data back into a fit loaded without it, checking the checksum.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit without data (:func:`load_fit` with ``paired=False``).
    paired : path-like or xarray.Dataset
        The paired dataset it was fitted to.
    fit_path : path-like, optional
        The fit's file, named in errors.

    Raises
    ------
    StereoPPLError
        If ``paired`` holds other data than the fit was made from (checksum),
        naming both files.
    """
    where = "the fit" if fit_path is None else str(fit_path)
    if isinstance(paired, xr.Dataset):
        data, source, checksum = paired, "the paired dataset given", data_checksum(paired)
    else:
        data, source = load_paired(paired), str(paired)
        checksum = data.encoding[PAIRED_ENCODING]["paired_checksum"]
    expected = tree.attrs.get("paired_checksum")
    if expected is not None and checksum != expected:
        raise StereoPPLError(
            f"{source}: is not the paired dataset {where} was made from (checksum {checksum}); "
            f"that was {describe_reference(tree)}"
        )
    try:
        return attach_data(tree, data)
    except PairedDataError as exc:
        raise type(exc)(f"{where}, {source}: {exc}") from exc


def load_fit(
    path: str | os.PathLike,
    *,
    paired: str | os.PathLike | xr.Dataset | Literal[False] | None = None,
) -> xr.DataTree:
    """Read a fit written by :func:`save_fit` fully into memory, with its data.

    Parameters
    ----------
    path : path-like
        A fit file.
    paired : path-like, xarray.Dataset or False, optional
        Where a fit without data gets them back (checked by checksum).
        Default: the paired file it refers to (:func:`find_paired`); if that
        is not there, the fit loads without data (parameters, ``z``, scores,
        ``heldout``). False: never read the paired data. A self-contained fit
        loads as it is.

    Raises
    ------
    StereoPPLError
        If the file is missing, not netCDF, or not a stereo-ppl fit, or the
        paired dataset holds other data than the fit was made from.
    """
    path = Path(path)
    try:
        with xr.open_datatree(path, engine=ENGINE) as tree:
            tree = tree.load()
    except Exception as exc:
        raise _open_error(path, "fit", exc) from exc
    if tree.attrs.get("kind") != FIT_KIND or "posterior" not in tree.children:
        raise StereoPPLError(f"{path}: not a stereo-ppl fit (no posterior group or kind attribute)")
    if paired is False or has_data(tree):
        return tree
    if paired is None:
        paired = find_paired(tree, path)
        if paired is None:
            return tree
    return attach_paired(tree, paired, fit_path=path)
