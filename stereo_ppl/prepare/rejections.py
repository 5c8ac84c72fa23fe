"""Rejected files: the record, the warning, the error, and the ``rejected`` table.

A file that cannot be used (unreadable, wrong layout, wrong ids, no usable
pixel, missing, or a duplicate id) is skipped with one message naming the
file, the catalogue row and the star's ids; ``prepare`` goes on (or stops
with :class:`PrepareError` when strict) and lists it in the output's
``rejected`` table.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..dims import REJECTED
from ..errors import StereoPPLError

__all__ = [
    "REJECTED",
    "PrepareError",
    "PrepareWarning",
    "Rejection",
    "rejected_variables",
]

#: Dimension of the ``rejected`` table in a prepared paired dataset.


class PrepareError(StereoPPLError, ValueError):
    """``prepare`` cannot go on (strict mode, or no star left)."""


class PrepareWarning(UserWarning):
    """A file was rejected and skipped; the message names it and the star."""


class Rejection(NamedTuple):
    """One rejected catalogue row or file.

    Attributes
    ----------
    file : str
        The file at fault ("" when the problem is not a file's).
    row : int
        Row of the catalogue (the joint one, or the APOGEE one when matching
        by sky).
    apogee_id : str
    obsid : int
        -1 where unknown.
    reason : str
        What is wrong (the reader's message, which names the HDU, column or
        pixel where it can).
    """

    file: str
    row: int
    apogee_id: str
    obsid: int
    reason: str

    @property
    def message(self) -> str:
        """One line: the reason, then which star (row, APOGEE_ID, obsid)."""
        star = f"catalogue row {self.row}, APOGEE_ID {self.apogee_id or '?'}, obsid {self.obsid}"
        where = "" if not self.file or self.reason.startswith(self.file) else f"{self.file}: "
        return f"{where}{self.reason} ({star}); skipped"


def rejected_variables(rejections: Sequence[Rejection]) -> dict:
    """The ``rejected`` table as xarray variables (dimension :data:`REJECTED`).

    Returns
    -------
    dict of str to (dims, values, attrs)
        ``rejected_file``, ``rejected_reason``, ``rejected_apogee_id`` (str)
        and ``rejected_row``, ``rejected_obsid`` (int64), each of shape
        (num_rejected,).
    """

    def strings(values):
        return np.array(list(values), dtype=str) if rejections else np.array([], dtype=str)

    dims = (REJECTED,)
    return {
        "rejected_file": (dims, strings(r.file for r in rejections), {"long_name": "file"}),
        "rejected_row": (
            dims,
            np.array([r.row for r in rejections], dtype=np.int64),
            {"long_name": "catalogue row"},
        ),
        "rejected_apogee_id": (dims, strings(r.apogee_id for r in rejections), {}),
        "rejected_obsid": (
            dims,
            np.array([r.obsid for r in rejections], dtype=np.int64),
            {"long_name": "LAMOST obsid; -1 where unknown"},
        ),
        "rejected_reason": (dims, strings(r.reason for r in rejections), {"long_name": "reason"}),
    }
