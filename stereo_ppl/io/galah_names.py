"""GALAH file names: ``<sobject_id><ccd>.fits[.gz]``, one file per HERMES CCD (DR3 and DR4)."""

from pathlib import Path

from .errors import SurveyFileError

__all__ = ["GALAH_CCDS", "GALAH_CCD_NAMES", "galah_file_name", "galah_files", "split_source"]

#: HERMES CCDs, in wavelength order.
GALAH_CCDS = (1, 2, 3, 4)
#: Names of the CCDs (the HERMES cameras).
GALAH_CCD_NAMES = {1: "blue", 2: "green", 3: "red", 4: "IR"}


def galah_file_name(sobject_id: int | str, ccd: int, *, gz: bool = False) -> str:
    """The file name ``<sobject_id><ccd>.fits`` (``.fits.gz`` when ``gz``).

    Parameters
    ----------
    sobject_id : int or str
        The spectrum's id, e.g. ``170418003701205`` (digits only).
    ccd : int
        1 (blue), 2 (green), 3 (red) or 4 (IR).
    gz : bool, optional
        Name of the gzip'd file.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``sobject_id`` is not digits or ``ccd`` is not 1-4.
    """
    text = str(sobject_id).strip()
    if not text.isdigit() or isinstance(sobject_id, bool):
        raise ValueError(f"sobject_id must be digits, got {sobject_id!r}")
    if ccd not in GALAH_CCDS:
        raise ValueError(f"ccd must be one of {GALAH_CCDS}, got {ccd!r}")
    return f"{text}{int(ccd)}{'.fits.gz' if gz else '.fits'}"


def split_source(source, directory) -> tuple[str, Path]:
    """``(sobject_id, directory)`` from an id, a CCD file or a path prefix."""
    if directory is not None:
        return str(source).strip(), Path(directory)
    path = Path(source)
    name = path.name
    for suffix in (".fits.gz", ".fits"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if len(stem) < 2 or not stem.isdigit() or int(stem[-1]) not in GALAH_CCDS:
                raise ValueError(
                    f"{path}: not a GALAH file name <sobject_id><ccd>.fits[.gz] (ccd 1-4)"
                )
            return stem[:-1], path.parent
    return name, path.parent


def galah_files(
    source: str | Path | int,
    *,
    directory: str | Path | None = None,
    ccds: tuple[int, ...] = GALAH_CCDS,
) -> dict[int, Path]:
    """Find the CCD files of one GALAH spectrum.

    Parameters
    ----------
    source : str, Path or int
        A ``sobject_id`` (with ``directory``), one of the star's CCD files
        (``.../1704180037012051.fits[.gz]``), or the path prefix
        ``.../170418003701205``.
    directory : str or Path, optional
        Directory holding the files when ``source`` is a ``sobject_id``.
    ccds : tuple of int, optional
        CCDs wanted (default all four).

    Returns
    -------
    dict
        CCD number to the path of its file (``.fits`` preferred over ``.fits.gz``).

    Raises
    ------
    ValueError
        If ``source`` is not a ``sobject_id`` or a DR3 file name, or ``ccds``
        is empty or names another CCD.
    SurveyFileError
        If the file of a wanted CCD is missing (named in the message).
    """
    sobject_id, folder = split_source(source, directory)
    if not ccds or len(set(ccds)) != len(ccds) or any(c not in GALAH_CCDS for c in ccds):
        raise ValueError(f"ccds must be distinct values of {GALAH_CCDS}, got {ccds!r}")
    found = {}
    for ccd in ccds:
        names = [galah_file_name(sobject_id, ccd, gz=gz) for gz in (False, True)]
        paths = [folder / name for name in names]
        existing = [p for p in paths if p.is_file()]
        if not existing:
            raise SurveyFileError(
                f"no such file: the {GALAH_CCD_NAMES[ccd]} CCD ({ccd}) of sobject_id "
                f"{sobject_id} (also tried {names[1]})",
                path=paths[0],
            )
        found[ccd] = existing[0]
    return found
