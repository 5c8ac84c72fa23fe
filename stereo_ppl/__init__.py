"""stereo-ppl: learn how the same stars look to two spectroscopic surveys."""

from ._version import __version__

__all__ = ["__version__"]
