"""The one exception (and one warning) that the survey-file readers raise."""

from pathlib import Path

from ..errors import StereoPPLError

__all__ = ["SurveyFileError", "SurveyFileWarning", "describe_location"]


def describe_location(
    path: str | Path | None,
    *,
    hdu: int | str | None = None,
    column: str | None = None,
    keyword: str | None = None,
    pixel: int | None = None,
) -> str:
    """Name a place in a survey file, e.g. ``"spec.fits, HDU 1, column 'FLUX'"``.

    Parameters
    ----------
    path : str or Path or None
        The file.
    hdu : int or str, optional
        HDU index or name.
    column : str, optional
        Table column.
    keyword : str, optional
        Header keyword.
    pixel : int, optional
        Zero-based pixel index.

    Returns
    -------
    str
        The parts that are given, joined by commas.
    """
    parts = [str(path) if path is not None else "<no file>"]
    if hdu is not None:
        parts.append(f"HDU {hdu}" if isinstance(hdu, int) else f"HDU {hdu!r}")
    if keyword is not None:
        parts.append(f"keyword {keyword!r}")
    if column is not None:
        parts.append(f"column {column!r}")
    if pixel is not None:
        parts.append(f"pixel {pixel}")
    return ", ".join(parts)


class SurveyFileError(StereoPPLError):
    """A survey file cannot be read: truncated, not FITS, or not the expected layout.

    The message names the file and, where known, the HDU, column, header
    keyword and pixel. The same parts are kept as attributes so a caller that
    reads thousands of files can tabulate the failures.

    Parameters
    ----------
    problem : str
        What is wrong, e.g. ``"has no HDU 3"``.
    path : str or Path, optional
        The file.
    hdu, column, keyword, pixel : optional
        Where in the file (see :func:`describe_location`).
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        hdu: int | str | None = None,
        column: str | None = None,
        keyword: str | None = None,
        pixel: int | None = None,
    ):
        self.problem = problem
        self.path = None if path is None else Path(path)
        self.hdu = hdu
        self.column = column
        self.keyword = keyword
        self.pixel = pixel
        where = describe_location(path, hdu=hdu, column=column, keyword=keyword, pixel=pixel)
        super().__init__(f"{where}: {problem}")


class SurveyFileWarning(UserWarning):
    """A survey file was read, but some values had to be repaired (e.g. NaN flux).

    The message names the file and says how many pixels were affected.
    """
