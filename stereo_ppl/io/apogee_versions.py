"""Which APOGEE data release a file belongs to, and where its detector chips lie.

The release is read from the reduction-version tokens a file's content carries
(``apStar-r6-...`` in the aspcapStar results row, ``apVisit-r6-...`` in the apStar
visit cards), else from the file name. DR10-DR12 files have narrower chips than
DR13-DR17 on the same 8,575-pixel grid.
"""

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["APOGEE_CHIPS_DR11", "APOGEE_CHIPS_DR13", "apogee_chips", "apogee_release"]

#: Zero-based ``[start, stop)`` pixels of the three chips on the 8,575-pixel grid,
#: DR13-DR17 (7,514 pixels) and DR10-DR12 (7,214 pixels).
APOGEE_CHIPS_DR13 = ((246, 3274), (3585, 6080), (6344, 8335))
APOGEE_CHIPS_DR11 = ((322, 3242), (3648, 6048), (6412, 8306))
#: Version tokens of the reductions (apred and ASPCAP), and their releases.
_VERSION_RELEASES = {
    "s3": "DR10", "r3": "DR10", "v304": "DR10",
    "r4": "DR11", "v402": "DR11",
    "r5": "DR12", "v603": "DR12",
    "r6": "DR13", "l30e": "DR13",
    "r8": "DR14", "l31c": "DR14",
    "r12": "DR16", "l33": "DR16",
    "dr17": "DR17", "dr16": "DR16", "dr14": "DR14", "dr13": "DR13", "dr12": "DR12",
}  # fmt: skip
_TOKEN = re.compile(r"(?:^|[-_/\s])([a-z]{1,2}\d+[a-z]?)(?=[-_./\s]|$)", flags=re.IGNORECASE)
#: Meta keys whose values name files or versions of the reduction, in the order tried.
_VERSION_KEYS = ("FILE", "SFILE1", "APRED", "APRED_VERS", "RED_VERS", "ASPCAP_VERSION",
                 "RESULTS_VERSION", "VERSION", "APSTAR", "ASPCAP", "FILENAME")  # fmt: skip


def _release_of(text: str) -> str:
    for token in _TOKEN.findall(text):
        release = _VERSION_RELEASES.get(token.lower().rstrip("abcdefghijklmnopqrstuvwxyz"))
        release = release or _VERSION_RELEASES.get(token.lower())
        if release:
            return release
    return ""


def apogee_release(meta: Mapping, path: str | Path | None = None) -> str:
    """The data release an APOGEE file belongs to, e.g. ``"DR17"`` (``""`` if unknown).

    Parameters
    ----------
    meta : Mapping
        The file's header cards (and results row): the version tokens in
        ``FILE`` (``apStar-r6-...``), ``SFILE1`` (``apVisit-r6-...``),
        ``APRED``, ``RED_VERS``... are read first.
    path : str or Path, optional
        The file, whose name is tried last (``aspcapStar-dr17-...``,
        ``apStar-r5-...``, ``aspcapStar-r6-l30e.2-...``).

    Returns
    -------
    str
        ``"DR10"`` .. ``"DR17"``, from the reduction versions s3/r3/v304 (DR10),
        r4/v402 (DR11), r5/v603 (DR12), r6/l30e (DR13), r8/l31c (DR14), r12/l33
        (DR16) and dr17.
    """
    for key in _VERSION_KEYS:
        value = meta.get(key)
        if isinstance(value, np.ndarray) and value.size:
            value = value.flat[0]
        if isinstance(value, bytes | np.bytes_):
            value = bytes(value).decode("ascii", "replace")
        if isinstance(value, str) and (release := _release_of(value.strip())):
            return release
    return _release_of(Path(path).name) if path is not None else ""


def apogee_chips(release: str) -> tuple[tuple[int, int], ...]:
    """The chips' ``[start, stop)`` pixels on the 8,575-pixel grid for ``release``.

    :data:`APOGEE_CHIPS_DR11` for DR10-DR12, else :data:`APOGEE_CHIPS_DR13`
    (DR13-DR17, and where the release is unknown).
    """
    return APOGEE_CHIPS_DR11 if release in ("DR10", "DR11", "DR12") else APOGEE_CHIPS_DR13
