"""Fit files of a sweep: write (atomically), check, and load with their data.

A sweep fit file is a fit file without the copies of the paired data
(:func:`stereo_ppl.io.save_fit`; it refers to the sweep's paired file), with a
``scores`` group and root attributes ``sweep_kind``, ``sweep_id``, ``repeat``
and ``fold`` (-1 without folds) that tie it to its sweep.
"""

import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import StereoPPLError
from ..io import load_fit, save_fit
from ..io.netcdf import ENGINE
from .manifest import SWEEP_KIND, file_sha256
from .plan import Job

__all__ = ["SweepFileError", "check_fit", "load_sweep_fit", "read_scores", "write_fit"]


class SweepFileError(StereoPPLError):
    """A file in a sweep directory is unreadable or belongs to another fit."""


def write_fit(tree: xr.DataTree, path: str | os.PathLike, *, sweep_id: str, job: Job) -> str:
    """Write one sweep fit atomically; return its SHA-256.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit with its ``scores`` group.
    path : path-like
        Destination (``DIR/<job.name>``).
    sweep_id : str
        Identity of the sweep (stored as attribute ``sweep_id``).
    job : Job
        The job the fit is for.
    """
    tagged = tree.copy()
    tagged.attrs = {
        **tree.attrs,
        "sweep_kind": SWEEP_KIND,
        "sweep_id": sweep_id,
        "repeat": int(job.repeat),
        "fold": -1 if job.fold is None else int(job.fold),
    }
    path = save_fit(tagged, path, include_data=False)
    return file_sha256(path)


def read_scores(path: str | os.PathLike) -> tuple[xr.Dataset, dict]:
    """The ``scores`` group and root attributes of a sweep fit file, read into memory.

    Raises
    ------
    SweepFileError
        If the file cannot be read or has no ``scores`` group.
    """
    path = Path(path)
    try:
        with xr.open_datatree(path, engine=ENGINE) as tree:
            attrs = dict(tree.attrs)
            if "scores" not in tree.children:
                raise SweepFileError(f"{path}: has no scores group")
            scores = tree["scores"].to_dataset().load()
            heldout = tree["constant_data"]["heldout"].load()
    except SweepFileError:
        raise
    except Exception as exc:  # h5py and xarray raise many kinds
        raise SweepFileError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    return scores.assign(heldout=heldout), attrs


def check_fit(path: str | os.PathLike, *, sweep_id: str, job: Job) -> tuple[xr.Dataset, dict]:
    """Read a sweep fit's scores and check that it is ``job`` of sweep ``sweep_id``.

    Returns
    -------
    scores : xarray.Dataset
        The ``scores`` group plus ``heldout`` (star).
    attrs : dict
        Root attributes of the fit.

    Raises
    ------
    SweepFileError
        If the file is unreadable or is another sweep's or another job's fit.
    """
    scores, attrs = read_scores(path)
    fold = -1 if job.fold is None else job.fold
    expected = {
        "sweep_kind": SWEEP_KIND,
        "sweep_id": sweep_id,
        "num_latent": job.num_latent,
        "repeat": job.repeat,
        "fold": fold,
    }
    for name, value in expected.items():
        found = attrs.get(name)
        if isinstance(found, np.generic):
            found = found.item()
        if found != value:
            raise SweepFileError(f"{path}: attribute {name} is {found!r}, expected {value!r}")
    return scores, attrs


def load_sweep_fit(path: str | os.PathLike, paired: xr.Dataset | None = None) -> xr.DataTree:
    """Load a sweep fit, optionally with the paired data put back.

    Parameters
    ----------
    path : path-like
        A ``fit_c*_r*.nc`` file of a sweep directory.
    paired : xarray.Dataset, optional
        The sweep's paired dataset. When given, ``observed_data`` and the
        ``constant_data`` arrays are restored (:func:`stereo_ppl.io.load_fit`),
        so the tree works everywhere a fit from
        :func:`stereo_ppl.inference.fit` does (e.g.
        :func:`stereo_ppl.compare.fit_summary`).

    Raises
    ------
    StereoPPLError
        If the file is not a fit, or ``paired`` holds other data.
    """
    return load_fit(path, paired=False if paired is None else paired)
