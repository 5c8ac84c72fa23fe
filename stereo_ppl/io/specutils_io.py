"""Loaders for ``specutils``' I/O registry: LAMOST low and medium resolution, GALAH DR3/DR4.

``specutils`` ships readers for APOGEE's files but none for LAMOST's or GALAH
DR4's. After :func:`register_specutils_loaders` (nothing is registered, and
``specutils`` is not imported, when ``stereo_ppl`` is imported)::

    from specutils import Spectrum1D
    from stereo_ppl.io import register_specutils_loaders

    register_specutils_loaders()
    spectrum = Spectrum1D.read("spec-55859-F5902_sp01-005.fits.gz", format="LAMOST-LRS")

Each loader reads with this package's reader and converts with
:func:`~stereo_ppl.io.spectrum.to_spectrum1d`; without ``format``, specutils
asks each loader's identifier, which looks at the file's content
(:func:`~stereo_ppl.io.identify.identify`).
"""

from pathlib import Path

from ..errors import StereoPPLError
from .identify import identify, read_spectrum
from .lamost import read_lamost
from .lamost_mrs import read_lamost_mrs
from .spectrum import _specutils, to_spectrum1d

__all__ = ["SPECUTILS_FORMATS", "register_specutils_loaders"]

#: specutils format name: (survey, release or None for any, the reader).
SPECUTILS_FORMATS = {
    "LAMOST-LRS": ("LAMOST", None, read_lamost),
    "LAMOST-MRS": ("LAMOST-MRS", None, read_lamost_mrs),
    "GALAH-DR4": ("GALAH", "DR4", read_spectrum),
    "GALAH-DR3": ("GALAH", "DR3", read_spectrum),
}
_EXTENSIONS = ["fits", "fit", "fits.gz", "fit.gz"]


def _path_of(file_obj) -> Path | None:
    """The file a path or an open file (astropy passes one when no format is given) names."""
    name = file_obj if isinstance(file_obj, str | Path) else getattr(file_obj, "name", None)
    return Path(name) if isinstance(name, str | Path) and Path(name).is_file() else None


def _identifier(survey: str, release: str | None):
    def identify_file(origin, *args, **kwargs) -> bool:
        path = _path_of(args[0]) if args else None
        if path is None:
            return False
        try:
            kind = identify(path)
        except StereoPPLError:
            return False
        return kind.survey == survey and (release is None or kind.release == release)

    return identify_file


def _loader(reader):
    def load(file_obj, **kwargs):
        path = _path_of(file_obj)
        if path is None:
            raise TypeError(f"{file_obj!r}: these loaders read files on disk (give a path)")
        return to_spectrum1d(reader(path, **kwargs))

    return load


def register_specutils_loaders(*, force: bool = False) -> tuple[str, ...]:
    """Register the :data:`SPECUTILS_FORMATS` loaders with specutils' I/O registry.

    Parameters
    ----------
    force : bool, optional
        Replace loaders of the same names already registered (by an earlier
        call, or another package).

    Returns
    -------
    tuple of str
        The format names now registered (a second call without ``force``
        registers nothing new and returns the same names).

    Raises
    ------
    ImportError
        If ``specutils`` is not installed (``pip install 'stereo-ppl[specutils]'``).
    """
    _specutils()
    from specutils.io.registers import data_loader, io_registry

    cls = _spectrum_class()
    for name, (survey, release, reader) in SPECUTILS_FORMATS.items():
        if not force and name in io_registry.get_formats(cls)["Format"]:
            continue
        data_loader(
            name,
            identifier=_identifier(survey, release),
            dtype=cls,
            extensions=_EXTENSIONS,
            priority=10,
            force=force,
        )(_loader(reader))
    return tuple(SPECUTILS_FORMATS)


def _spectrum_class():
    """specutils' spectrum class (``Spectrum``, called ``Spectrum1D`` before specutils 2)."""
    specutils = _specutils()
    return getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
