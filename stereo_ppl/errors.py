"""Exceptions raised for user mistakes (bad input files, bad options)."""

__all__ = ["FitConfigError", "FitWarning", "PairedDataError", "StereoPPLError"]


class StereoPPLError(Exception):
    """Base class for errors caused by input or options, not by a bug.

    The command-line interface prints these as one line without a traceback.
    """


class PairedDataError(StereoPPLError, ValueError):
    """A paired dataset is malformed: bad values, shapes, grids or ids."""


class FitConfigError(StereoPPLError, ValueError):
    """A fit was asked for with impossible options (e.g. a wrong ``c``)."""


class FitWarning(UserWarning):
    """Something about a fit the user should know, that does not stop it (one line)."""
