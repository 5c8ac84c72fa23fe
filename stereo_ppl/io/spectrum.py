"""The result of reading one survey spectrum, and optional ``specutils`` interop.

A :class:`Spectrum` holds one star's ``flux``, ``ivar`` and ``wavelength`` with
The Cannon's convention for bad pixels: a pixel is bad exactly where
``ivar == 0``, and ``bad`` repeats that as a boolean mask.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import astropy.units as u
import numpy as np

__all__ = ["LAYOUTS", "SURVEYS", "Spectrum", "from_spectrum1d", "to_spectrum1d"]

#: Survey names a reader gives (``Spectrum.survey``).
SURVEYS = ("APOGEE", "LAMOST", "LAMOST-MRS", "GALAH")
#: Layouts a reader gives (``Spectrum.layout``): APOGEE ``aspcapStar``, ``apStar``
#: (also the LCO ``asStar``) and ``apVisit``; LAMOST low resolution ``image`` (a primary
#: (5, N) image, DR1-DR8) and ``table`` (a one-row ``COADD`` table, DR9 on); LAMOST
#: medium resolution ``mrs-coadd`` (the ``COADD_B``/``COADD_R`` tables); GALAH ``ccd`` (one
#: file per CCD); ``memory`` for a spectrum made in memory.
LAYOUTS = ("aspcapStar", "apStar", "apVisit", "image", "table", "mrs-coadd", "ccd", "memory")


def _frozen(array, dtype) -> np.ndarray:
    """A read-only 1-D copy of ``array`` with ``dtype``."""
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One star's spectrum as read from one survey file.

    Attributes
    ----------
    flux : ndarray, shape (num_pixels,), float64
        Flux (normalised for aspcapStar, physical units otherwise). Finite
        everywhere; the value at a bad pixel is whatever the file held (or 0
        where that was NaN/inf).
    ivar : ndarray, shape (num_pixels,), float64
        Inverse variance of ``flux``; 0 exactly at bad pixels, finite and >= 0.
    wavelength : Quantity, shape (num_pixels,), Angstrom
        Vacuum wavelength of each pixel, strictly increasing.
    bad : ndarray, shape (num_pixels,), bool
        True where the pixel carries no information; always ``ivar == 0``.
    meta : Mapping
        Header metadata: FITS keywords (upper case, as in the file) and, for
        aspcapStar, the columns of the one-row results table. Read-only.
    path : Path or None
        The file read, None for a spectrum made in memory.
    needs_normalising : bool
        True when ``flux`` is not continuum-normalised (apStar, LAMOST).
    survey : str
        Which survey the file is from: ``"APOGEE"``, ``"LAMOST"`` (low
        resolution), ``"LAMOST-MRS"`` (medium resolution), ``"GALAH"``, or
        ``""`` for a spectrum made in memory.
    release : str
        The data release the file's content names, e.g. ``"DR17"``, ``"DR9"``
        (``""`` where the file does not say).
    layout : str
        Which layout was read (see :data:`LAYOUTS`).
    bitmask : ndarray, shape (num_pixels,), int64, or None
        The file's pixel bitmask where it has one (apStar ``APOGEE_PIXMASK``,
        LAMOST ``ORMASK``), else None.
    model : ndarray, shape (num_pixels,), float64, or None
        The ASPCAP best-fit model spectrum (aspcapStar only).

    Notes
    -----
    The arrays are read-only copies, so a ``Spectrum`` is immutable. Build a
    changed one with :func:`dataclasses.replace`.
    """

    flux: np.ndarray
    ivar: np.ndarray
    wavelength: u.Quantity
    bad: np.ndarray
    meta: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None
    needs_normalising: bool = False
    survey: str = ""
    release: str = ""
    layout: str = "memory"
    bitmask: np.ndarray | None = None
    model: np.ndarray | None = None

    def __post_init__(self):
        flux = _frozen(self.flux, np.float64)
        ivar = _frozen(self.ivar, np.float64)
        bad = _frozen(self.bad, bool)
        wavelength = u.Quantity(self.wavelength, u.AA, dtype=np.float64, copy=True)
        wavelength.setflags(write=False)
        shape = flux.shape
        if flux.ndim != 1:
            raise ValueError(f"flux must be 1-D, got shape {shape}")
        for name, value in (("ivar", ivar), ("bad", bad), ("wavelength", wavelength)):
            if value.shape != shape:
                raise ValueError(f"{name} has shape {value.shape}, flux has {shape}")
        if not np.all(np.isfinite(flux)):
            raise ValueError("flux must be finite (set bad pixels' ivar to 0)")
        if not np.all(np.isfinite(ivar) & (ivar >= 0)):
            raise ValueError("ivar must be finite and >= 0")
        if not np.array_equal(bad, ivar == 0):
            raise ValueError("bad must equal (ivar == 0)")
        if shape[0] > 1 and not np.all(np.diff(wavelength.value) > 0):
            raise ValueError("wavelength must be strictly increasing")
        if self.survey not in ("", *SURVEYS):
            raise ValueError(f"survey must be one of {SURVEYS} or '', got {self.survey!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        object.__setattr__(self, "flux", flux)
        object.__setattr__(self, "ivar", ivar)
        object.__setattr__(self, "bad", bad)
        object.__setattr__(self, "wavelength", wavelength)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))
        for name, dtype in (("bitmask", np.int64), ("model", np.float64)):
            value = getattr(self, name)
            if value is not None:
                value = _frozen(value, dtype)
                if value.shape != shape:
                    raise ValueError(f"{name} has shape {value.shape}, flux has {shape}")
                object.__setattr__(self, name, value)

    @property
    def num_pixels(self) -> int:
        """Number of pixels."""
        return int(self.flux.shape[0])

    @property
    def num_bad(self) -> int:
        """Number of bad pixels (``ivar == 0``)."""
        return int(self.bad.sum())

    def __repr__(self) -> str:
        wl = self.wavelength.value
        span = f"{wl[0]:.1f}-{wl[-1]:.1f} Angstrom" if wl.size else "empty"
        where = self.path.name if self.path is not None else "memory"
        return (
            f"Spectrum({self.survey or 'no survey'} {self.release} {self.layout}, {where}, "
            f"{self.num_pixels} pixels, {span}, {self.num_bad} bad, "
            f"needs_normalising={self.needs_normalising})"
        )


def _specutils():
    """Import ``specutils`` or explain how to get it."""
    try:
        import specutils
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "specutils is needed for Spectrum1D interop but is not installed; "
            "install it with `pip install specutils` (optional dependency)"
        ) from exc
    return specutils


def to_spectrum1d(spectrum: Spectrum):
    """Convert a :class:`Spectrum` to a ``specutils`` spectrum.

    Parameters
    ----------
    spectrum : Spectrum
        The spectrum, with ``num_pixels`` pixels.

    Returns
    -------
    specutils.Spectrum
        ``flux`` (dimensionless), ``spectral_axis`` (Angstrom), uncertainty an
        :class:`astropy.nddata.InverseVariance` of ``ivar``, ``mask`` = ``bad``
        (True means bad, as in specutils) and ``meta`` holding the header
        metadata plus ``path``, ``survey``, ``release``, ``layout`` and
        ``needs_normalising``.

    Raises
    ------
    ImportError
        If ``specutils`` is not installed.
    """
    specutils = _specutils()
    from astropy.nddata import InverseVariance

    cls = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    meta = dict(spectrum.meta)
    meta.update(
        path=None if spectrum.path is None else str(spectrum.path),
        survey=spectrum.survey,
        release=spectrum.release,
        layout=spectrum.layout,
        needs_normalising=spectrum.needs_normalising,
    )
    return cls(
        flux=np.array(spectrum.flux) * u.dimensionless_unscaled,
        spectral_axis=u.Quantity(spectrum.wavelength, u.AA),
        uncertainty=InverseVariance(np.array(spectrum.ivar)),
        mask=np.array(spectrum.bad),
        meta=meta,
    )


def from_spectrum1d(obj) -> Spectrum:
    """Convert a ``specutils`` spectrum (1-D) to a :class:`Spectrum`.

    Parameters
    ----------
    obj : specutils.Spectrum or Spectrum1D
        A spectrum with one flux axis. Its uncertainty may be an inverse
        variance, a variance or a standard deviation, or absent (then
        ``ivar = 1`` where the flux is finite). ``mask`` (True = bad), NaN flux
        and non-positive uncertainty all give ``ivar == 0``.

    Returns
    -------
    Spectrum
        Wavelength in Angstrom (vacuum is assumed), ``layout="memory"``;
        ``survey`` and ``release`` from ``meta`` where a :func:`to_spectrum1d`
        left them there.

    Raises
    ------
    ImportError
        If ``specutils`` is not installed.
    ValueError
        If the spectrum is not 1-D.
    """
    _specutils()
    from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

    flux = np.asarray(u.Quantity(obj.flux).value, dtype=np.float64)
    if flux.ndim != 1:
        raise ValueError(f"only 1-D spectra can be converted, got flux shape {flux.shape}")
    wavelength = u.Quantity(obj.spectral_axis).to(u.AA, equivalencies=u.spectral())
    unc = obj.uncertainty
    with np.errstate(divide="ignore", invalid="ignore"):
        if unc is None:
            ivar = np.ones_like(flux)
        elif isinstance(unc, InverseVariance):
            ivar = np.asarray(unc.array, dtype=np.float64)
        elif isinstance(unc, VarianceUncertainty):
            ivar = 1.0 / np.asarray(unc.array, dtype=np.float64)
        elif isinstance(unc, StdDevUncertainty):
            ivar = 1.0 / np.asarray(unc.array, dtype=np.float64) ** 2
        else:
            raise ValueError(f"unsupported uncertainty type {type(unc).__name__}")
    ivar = np.broadcast_to(ivar, flux.shape).copy()
    good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0)
    if obj.mask is not None:
        good &= ~np.broadcast_to(np.asarray(obj.mask, dtype=bool), flux.shape)
    meta = {k: v for k, v in dict(obj.meta or {}).items() if isinstance(k, str)}
    path = meta.pop("path", None)
    needs = bool(meta.pop("needs_normalising", False))
    meta.pop("layout", None)
    survey = meta.pop("survey", "")
    release = meta.pop("release", "")
    return Spectrum(
        flux=np.where(np.isfinite(flux), flux, 0.0),
        ivar=np.where(good, ivar, 0.0),
        wavelength=wavelength,
        bad=~good,
        meta=meta,
        path=None if path is None else Path(path),
        needs_normalising=needs,
        survey=survey if survey in SURVEYS else "",
        release=str(release),
        layout="memory",
    )
