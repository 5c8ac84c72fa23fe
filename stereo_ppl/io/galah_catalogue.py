"""Reader for the GALAH allstar catalogues, DR3 and DR4, FITS or CSV.

Both releases use lower-case columns: ``sobject_id`` (the spectrum's id, which
names its CCD files), ``tmass_id``, ``flag_sp`` (0: spectroscopic analysis
fine), ``teff``, ``logg``, ``fe_h`` and their ``e_*`` errors. The S/N column
differs: DR3 ``snr_c2_iraf`` (green CCD), DR4 ``snr_px_ccd3`` (red CCD, per pixel).
Missing values are NaN (floats) or masked.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from .catalogues import read_table
from .errors import SurveyFileError

__all__ = ["GALAH_SNR_COLUMNS", "read_galah_catalogue"]

#: The S/N column of each release's allstar catalogue.
GALAH_SNR_COLUMNS = {"DR4": "snr_px_ccd3", "DR3": "snr_c2_iraf"}


def read_galah_catalogue(
    path: str | Path, *, columns: Sequence[str] | None = None, hdu: int | str = 1
) -> Table:
    """Read a GALAH DR3 or DR4 allstar catalogue (or a subset of its columns).

    Parameters
    ----------
    path : str or Path
        ``.fits[.gz]`` or ``.csv[.gz]``.
    columns : sequence of str, optional
        Columns to keep (any case); all by default. ``sobject_id`` is always kept.
    hdu : int or str, optional
        The table HDU of a FITS catalogue.

    Returns
    -------
    astropy.table.Table, shape (num_rows,)
        Names lower case; ``sobject_id`` int64; floats float64 with NaN for
        missing values. ``meta["release"]`` is ``"DR4"`` or ``"DR3"`` where the
        S/N column says (:data:`GALAH_SNR_COLUMNS`), else ``""``, and
        ``meta["snr_column"]`` that column (or None).

    Raises
    ------
    SurveyFileError
        If the file cannot be read, lacks ``sobject_id`` or a requested column,
        or a ``sobject_id`` is not a whole number.
    """
    path = Path(path)
    table = read_table(path, hdu=hdu)
    table.rename_columns(table.colnames, [name.lower() for name in table.colnames])
    if "sobject_id" not in table.colnames:
        raise SurveyFileError("is missing", path=path, column="sobject_id")
    ids = table["sobject_id"]
    if ids.dtype.kind not in "iu" or np.ma.getmaskarray(ids).any():
        raise SurveyFileError(
            f"must be a whole number in every row (got {ids.dtype})", path=path, column="sobject_id"
        )
    release = next((r for r, c in GALAH_SNR_COLUMNS.items() if c in table.colnames), "")
    if columns is not None:
        keep = ["sobject_id", *(c.lower() for c in columns if c.lower() != "sobject_id")]
        for name in keep:
            if name not in table.colnames:
                raise SurveyFileError("is missing", path=path, column=name)
        table = table[keep]
    table.meta.update(path=str(path), release=release, snr_column=GALAH_SNR_COLUMNS.get(release))
    return table
