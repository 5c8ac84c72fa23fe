"""One row of facts per spectrum file (what ``stereo-ppl inspect`` prints).

:func:`describe_file` reads a file with :func:`~stereo_ppl.io.identify.read_spectrum`
and returns the keys of :data:`SUMMARY_KEYS`; a file that cannot be read gets a
row too, with what :func:`~stereo_ppl.io.identify.identify` could tell and the
one-line reason in ``status``. Warnings raised while reading (repaired pixels,
non-standard header cards) are added to ``status`` once each.
"""

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StereoPPLError
from .identify import identify, read_spectrum
from .lamost import lamost_file_key
from .spectrum import Spectrum

__all__ = ["SUMMARY_KEYS", "SUMMARY_SURVEYS", "describe_file", "spectrum_id", "spectrum_snr"]

#: Keys of a row, in order.
SUMMARY_KEYS = (
    "file",
    "survey",
    "release",
    "layout",
    "id",
    "num_pixels",
    "wavelength_min",
    "wavelength_max",
    "snr",
    "status",
)
#: Values of a row's ``survey`` (LAMOST medium resolution is ``LAMOST``, layout ``mrs-coadd``).
SUMMARY_SURVEYS = ("APOGEE", "LAMOST", "GALAH")


def spectrum_id(spectrum: Spectrum) -> str | None:
    """The object id a file gives: APOGEE_ID; LAMOST OBSID (else the file key from its
    header, as in DR1-DR2); GALAH sobject_id. None when the file gives none."""
    meta = spectrum.meta
    if spectrum.survey == "APOGEE":
        value = meta.get("APOGEE_ID")
    elif spectrum.survey.startswith("LAMOST"):
        value = meta.get("OBSID")
        if value is None:
            value = lamost_file_key(meta) or meta.get("DESIG")
    else:
        value = meta.get("SOBJECT_ID")
    text = "" if value is None else str(value).strip()
    return text or None


def spectrum_snr(spectrum: Spectrum) -> float | None:
    """The S/N the file's header states: APOGEE ``SNR``; LAMOST ``SNRG`` (g band,
    ``SN_G`` in DR1-DR2); GALAH ``SNR`` (DR4). None when the header states none."""
    key = "SNRG" if spectrum.survey == "LAMOST" else "SNR"
    value = spectrum.meta.get(key)
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        value = float(value)
        return value if math.isfinite(value) else None
    return None


#: Lines of astropy's verification warnings that say nothing about the file.
_BOILERPLATE = ("Verification reported errors", "Note: astropy.io.fits uses zero-based indexing")


def _warning_lines(record, path: Path) -> list[str]:
    lines = [line.strip() for line in str(record.message).splitlines()]
    lines = [line for line in lines if line and not line.startswith(_BOILERPLATE)]
    return [_without_path(line, path) for line in lines]


def _without_path(text: str, path: Path) -> str:
    """``"spec.fits, HDU 1: is truncated"`` -> ``"HDU 1: is truncated"`` (the row has the file)."""
    return text[len(str(path)) :].lstrip(":, ") if text.startswith(str(path)) else text


def describe_file(path: str | Path) -> dict[str, Any]:
    """Read one spectrum file and describe it in one row.

    Parameters
    ----------
    path : str or Path
        Any file; unsupported or broken ones get a row whose ``status`` says why.

    Returns
    -------
    dict
        The keys of :data:`SUMMARY_KEYS`: ``file`` (the path as given),
        ``survey`` (one of :data:`SUMMARY_SURVEYS`, or None when unknown),
        ``release``, ``layout``, ``id`` (str), ``num_pixels`` (int),
        ``wavelength_min`` and ``wavelength_max`` (vacuum Angstrom), ``snr``
        (float), each None where unknown, and ``status``: ``"ok"``, ``"ok; "``
        followed by the warnings raised while reading, or the one-line reason
        the file cannot be read.
    """
    path = Path(path)
    row: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
    row["file"] = str(path)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        try:
            spectrum = read_spectrum(path)
        except StereoPPLError as exc:
            spectrum, problem = None, _without_path(str(exc), path)
    notes = list(dict.fromkeys(line for r in records for line in _warning_lines(r, path)))
    if spectrum is None:
        try:
            kind = identify(path)
        except StereoPPLError:
            kind = None
        if kind is not None:
            row.update(survey=kind.survey.split("-")[0], release=kind.release or None)
            row["layout"] = kind.layout
        row["status"] = problem
        return row
    wavelength = spectrum.wavelength.value
    row.update(
        survey=spectrum.survey.split("-")[0],
        release=spectrum.release or None,
        layout=spectrum.layout,
        id=spectrum_id(spectrum),
        num_pixels=spectrum.num_pixels,
        wavelength_min=float(wavelength[0]),
        wavelength_max=float(wavelength[-1]),
        snr=spectrum_snr(spectrum),
        status="; ".join(["ok", *notes]),
    )
    return row
