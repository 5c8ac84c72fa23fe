"""Finding the survey file of each catalogue row in a directory tree.

* APOGEE: ``aspcapStar-<anything>-<APOGEE_ID>.fits[.gz]`` (every release
  ends the name with the id), found by id.
* LAMOST: ``spec-<LMJD>-<PLANID>_sp<SPID>-<FIBERID>[<suffix>].fits[.gz]``,
  found from the catalogue's ``lmjd``, ``planid``, ``spid`` and ``fiberid``
  (the obsid is not part of the name).

A directory is scanned once (recursively) and indexed, so locating ten
thousand files costs one walk, not ten thousand globs.
"""

import os
import re
from pathlib import Path

from .errors import SurveyFileError

__all__ = ["FileIndex", "index_apogee_files", "index_lamost_files", "lamost_key"]

_FITS_SUFFIXES = (".fits.gz", ".fit.gz", ".fits", ".fit")
_LAMOST_NAME = re.compile(r"^(spec-\d+-[^_]+_sp\d+-\d+)")


class FileIndex:
    """Files of one directory tree, looked up by key.

    Parameters
    ----------
    directory : Path
        The directory that was scanned.
    files : dict of str to list of Path
        Key to the files carrying it (sorted; more than one is a duplicate).
    """

    def __init__(self, directory: Path, files: dict[str, list[Path]]):
        self.directory = directory
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def get(self, key: str) -> list[Path]:
        """The files for ``key`` (empty when there is none)."""
        return self.files.get(key, [])


def _walk(directory: str | Path, what: str) -> list[Path]:
    """FITS files under ``directory``, sorted; raises if it is not a directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SurveyFileError(f"is not a directory of {what} files", path=directory)
    found = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        found.extend(Path(root, n) for n in names if n.lower().endswith(_FITS_SUFFIXES))
    return sorted(found)


def _stem(name: str) -> str:
    lower = name.lower()
    for suffix in _FITS_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def index_apogee_files(directory: str | Path, *, prefix: str = "aspcapStar-") -> FileIndex:
    """Index the aspcapStar files under ``directory`` by APOGEE id.

    Parameters
    ----------
    directory : str or Path
        Searched recursively.
    prefix : str, optional
        Start of the file names to index.

    Returns
    -------
    FileIndex
        Every ``-``-separated tail of a name is a key (``"2M11194647+0820356"``
        and ``"l30e.2-2M11194647+0820356"`` for
        ``aspcapStar-r6-l30e.2-2M11194647+0820356.fits``), so an id with a
        ``-`` (southern stars) is found too.

    Raises
    ------
    SurveyFileError
        If ``directory`` is not a directory.
    """
    directory = Path(directory)
    files: dict[str, list[Path]] = {}
    for path in _walk(directory, "APOGEE"):
        if not path.name.startswith(prefix):
            continue
        parts = _stem(path.name)[len(prefix) :].split("-")
        for start in range(len(parts)):
            files.setdefault("-".join(parts[start:]), []).append(path)
    return FileIndex(directory, files)


def lamost_key(lmjd: int, planid: str, spid: int, fiberid: int) -> str:
    """The key of a LAMOST file, ``spec-<LMJD>-<PLANID>_sp<SPID>-<FIBERID>``.

    Returns
    -------
    str
        E.g. ``"spec-58397-EG014118N254444M01_sp03-031"``.
    """
    return f"spec-{int(lmjd)}-{str(planid).strip()}_sp{int(spid):02d}-{int(fiberid):03d}"


def index_lamost_files(directory: str | Path) -> FileIndex:
    """Index the LAMOST ``spec-*`` files under ``directory`` by :func:`lamost_key`.

    Parameters
    ----------
    directory : str or Path
        Searched recursively; names may carry a suffix after the fibre
        (``..._sp01-013_dr8.fits.gz``).

    Returns
    -------
    FileIndex

    Raises
    ------
    SurveyFileError
        If ``directory`` is not a directory.
    """
    directory = Path(directory)
    files: dict[str, list[Path]] = {}
    for path in _walk(directory, "LAMOST"):
        match = _LAMOST_NAME.match(path.name)
        if match:
            files.setdefault(match.group(1), []).append(path)
    return FileIndex(directory, files)
