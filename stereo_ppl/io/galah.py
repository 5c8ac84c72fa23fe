"""Reader for GALAH DR3 spectra: four HERMES CCD files per star.

Layout (``shared/FORMATS.md``, GALAH DR3 "from docs"; Data Central's "GALAH DR3
spectra" page and the release team's tutorial 3 in ``svenbuder/GALAH_DR3``):

* one file per CCD, ``<sobject_id><ccd>.fits`` (often gzip'd), ccd 1 blue,
  2 green, 3 red, 4 near-infrared;
* HDU 0 unnormalised sky-subtracted flux, HDU 1 its *relative* error (multiply
  by a flux to get its error), HDU 2 flux without sky subtraction, HDU 3 its
  error, HDU 4 the pseudo-continuum-normalised flux. Some releases stop at
  HDU 3 (no normalised flux).
* A linear grid in every HDU header: ``CRVAL1 + (k + 1 - CRPIX1) CDELT1`` for
  zero-based ``k``; ``CRPIX1 = 0`` is written by some files and means 1.
  HDU 4 of the IR CCD can be shorter than HDU 0 (the release cut its
  normalised spectrum); its own header grid says where it lies, and the
  relative error of the pixels it covers is used.

**Air wavelengths.** GALAH DR3 wavelengths are in air: the pipeline is IRAF
calibrated with ThXe arcs against air line lists, and the release team's own
tutorial marks H-beta at 4861.323 Å and H-alpha at 6562.797 Å on these spectra
(their air values; vacuum 4862.68 and 6564.61 Å). stereo-ppl works in vacuum,
so :func:`read_galah` converts the grid with :func:`air_to_vacuum` (the IAU
standard refractive index of Morton 2000, the default of
``specutils.utils.wcs_utils.air_to_vac``) unless ``air=False``.
"""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import SurveyFileError
from .fitsutil import (
    finish_pixels,
    get_hdu,
    header_meta,
    image_data,
    open_fits,
    reading,
)
from .spectrum import Spectrum
from .wavelength import air_to_vacuum, check_wavelength_range, linear_wavelength, vacuum_to_air

__all__ = [
    "GALAH_CCDS",
    "GALAH_CCD_NAMES",
    "GALAH_CCD_RANGES",
    "air_to_vacuum",
    "ccd_index",
    "galah_file_name",
    "galah_files",
    "linear_wavelength",
    "read_galah",
    "vacuum_to_air",
]

#: HERMES CCDs, in wavelength order.
GALAH_CCDS = (1, 2, 3, 4)
#: Names of the CCDs (the HERMES cameras).
GALAH_CCD_NAMES = {1: "blue", 2: "green", 3: "red", 4: "IR"}
#: Plausible air-wavelength range of each CCD's grid, Angstrom: the nominal
#: windows (4713-4903, 5648-5873, 6478-6737, 7585-7887) with about 100 Å spare.
GALAH_CCD_RANGES = {
    1: (4600.0, 5010.0),
    2: (5540.0, 5980.0),
    3: (6370.0, 6850.0),
    4: (7470.0, 8000.0),
}
#: Keywords of the grid, left out of ``Spectrum.meta`` (they differ per CCD).
_GRID_KEYS = ("CRVAL1", "CDELT1", "CRPIX1", "CD1_1", "CTYPE1", "CUNIT1", "DC-FLAG")
_SUFFIXES = (".fits", ".fits.gz")


def galah_file_name(sobject_id: int | str, ccd: int, *, gz: bool = False) -> str:
    """The DR3 file name ``<sobject_id><ccd>.fits`` (``.fits.gz`` when ``gz``).

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


def _split_source(source, directory) -> tuple[str, Path]:
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
                    f"{path}: not a GALAH DR3 file name <sobject_id><ccd>.fits[.gz] (ccd 1-4)"
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
    sobject_id, folder = _split_source(source, directory)
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


class _CCD(NamedTuple):
    """One CCD as read: grid (file medium), flux, its error, pixels HDU 0 does not cover."""

    wavelength: np.ndarray
    flux: np.ndarray
    sigma: np.ndarray
    extra_bad: np.ndarray
    meta: dict


def _hdu_count(hdul, path: Path) -> int:
    with reading(path):
        count = len(hdul)
    if count not in (4, 5):
        raise SurveyFileError(
            f"has {count} HDUs; a GALAH DR3 CCD file has 5 (4 in releases without the "
            "normalised spectrum)",
            path=path,
        )
    return count


def _spectrum_hdu(hdul, index: int, path: Path) -> tuple[np.ndarray, object]:
    """Image ``index`` as a 1-D float64 array, and its header."""
    data = image_data(hdul, index, path)
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.floating):
        raise SurveyFileError(
            f"holds {data.dtype} of shape {data.shape}, expected a 1-D float spectrum",
            path=path,
            hdu=index,
        )
    with reading(path, hdu=index):
        header = hdul[index].header
    return data, header


def _normalised_error(rel, grid0, grid4, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The relative error at the pixels of HDU 4, and which of them HDU 0 does not cover."""
    step = grid0[1] - grid0[0]
    offset = (grid4[0] - grid0[0]) / step
    start = round(float(offset))
    if (
        abs(offset - start) < 1e-3
        and 0 <= start
        and start + grid4.size <= grid0.size
        and np.allclose(grid4, grid0[start : start + grid4.size], rtol=0, atol=1e-3 * step)
    ):
        return rel[start : start + grid4.size], np.zeros(grid4.size, dtype=bool)
    outside = (grid4 < grid0[0]) | (grid4 > grid0[-1])
    if outside.all():
        raise SurveyFileError(
            f"normalised grid {grid4[0]:.2f}-{grid4[-1]:.2f} Å does not overlap HDU 0's "
            f"{grid0[0]:.2f}-{grid0[-1]:.2f} Å",
            path=path,
            hdu=4,
        )
    return np.interp(grid4, grid0, rel), outside


def _read_ccd(path: Path, ccd: int, *, normalised: bool | None) -> _CCD:
    with open_fits(path) as hdul:
        count = _hdu_count(hdul, path)
        meta = header_meta(get_hdu(hdul, 0, path).header)
        flux, header0 = _spectrum_hdu(hdul, 0, path)
        if flux.size < 2:
            raise SurveyFileError(f"has {flux.size} pixels", path=path, hdu=0)
        others = [_spectrum_hdu(hdul, index, path)[0] for index in (1, 2, 3)]
        for index, data in enumerate(others, 1):
            if data.shape != flux.shape:
                raise SurveyFileError(
                    f"has {data.size} pixels, HDU 0 has {flux.size}", path=path, hdu=index
                )
        rel = others[0]
        grid = linear_wavelength(header0, flux.size, path, hdu=0)
        use_normalised = count == 5 if normalised is None else normalised
        if use_normalised and count < 5:
            raise SurveyFileError(
                "has no HDU 4 (normalised flux); pass normalised=False to read HDU 0",
                path=path,
            )
        outside = np.zeros(flux.size, dtype=bool)
        if use_normalised:
            norm, header4 = _spectrum_hdu(hdul, 4, path)
            if "CRVAL1" in header4:
                grid4 = linear_wavelength(header4, norm.size, path, hdu=4)
            elif norm.size == flux.size:
                grid4 = grid
            else:
                raise SurveyFileError(
                    f"has {norm.size} pixels and no grid keywords; HDU 0 has {flux.size}",
                    path=path,
                    hdu=4,
                )
            rel, outside = _normalised_error(rel, grid, grid4, path)
            flux, grid = norm, grid4
    low, high = GALAH_CCD_RANGES[ccd]
    check_wavelength_range(grid, low, high, path, hdu=4 if use_normalised else 0)
    sigma = rel * np.abs(flux)
    meta["NORMALISED"] = bool(use_normalised)
    return _CCD(grid, flux, sigma, outside, meta)


def read_galah(
    source: str | Path | int,
    *,
    directory: str | Path | None = None,
    ccds: tuple[int, ...] = GALAH_CCDS,
    normalised: bool | None = None,
    air: bool = True,
) -> Spectrum:
    """Read one GALAH DR3 spectrum from its CCD files, concatenated in wavelength order.

    Parameters
    ----------
    source : str, Path or int
        A ``sobject_id`` (with ``directory``), one of the star's CCD files, or
        the path prefix ``<directory>/<sobject_id>`` (see :func:`galah_files`).
    directory : str or Path, optional
        Where the files are when ``source`` is a ``sobject_id``.
    ccds : tuple of int, optional
        CCDs to read (default all four; DR3 lacks some CCDs of ~12,000 stars).
    normalised : bool or None, optional
        True: the normalised flux of HDU 4 (an error if a file has none);
        False: the unnormalised sky-subtracted flux of HDU 0; None (default):
        HDU 4 when every file has it, else HDU 0 for all CCDs.
    air : bool, optional
        The files' grids are in air (GALAH DR3) and are converted to vacuum
        with :func:`air_to_vacuum`. False: use the grids as they are.

    Returns
    -------
    Spectrum
        ``flux`` and ``ivar = 1 / (relative_error * |flux|)**2``: 0 where the
        error is not finite or <= 0, flux is 0 or not finite, or (IR CCD) HDU 4
        reaches beyond HDU 0. ``wavelength`` vacuum Å, strictly increasing.
        ``needs_normalising`` is True for HDU 0 flux. ``kind="galah-dr3"``,
        ``path`` the first CCD's file. ``meta``: the first file's primary
        header (without the grid keywords), ``SOBJECT_ID``, ``CCDS`` (those
        read), ``CCD_FILES`` (their names), ``NORMALISED``, ``AIR_TO_VACUUM``
        and ``CCD``, an int8 array of shape (num_pixels,) giving each pixel's
        CCD (also :func:`ccd_index`).

    Raises
    ------
    SurveyFileError
        If a wanted CCD file is missing, truncated or not FITS, has other than
        4 or 5 HDUs, HDU 1-3 differ in length from HDU 0, a grid keyword is
        missing or implausible, the grid is outside the CCD's range
        (:data:`GALAH_CCD_RANGES`), or a CCD has no usable pixel.
    ValueError
        If ``source`` or ``ccds`` is malformed.

    Warns
    -----
    SurveyFileWarning
        Counting pixels of a file with NaN/inf flux or NaN error (their ivar is 0).
    """
    files = galah_files(source, directory=directory, ccds=ccds)
    parts = {ccd: _read_ccd(path, ccd, normalised=normalised) for ccd, path in files.items()}
    if normalised is None and len({p.meta["NORMALISED"] for p in parts.values()}) > 1:
        parts = {ccd: _read_ccd(path, ccd, normalised=False) for ccd, path in files.items()}
    # Each CCD's grid was checked to lie in its own range (GALAH_CCD_RANGES, disjoint
    # and increasing), so CCD order is wavelength order and the CCDs cannot overlap.
    order = sorted(parts)
    pieces = []
    for ccd in order:
        part = parts[ccd]
        wavelength = air_to_vacuum(part.wavelength) if air else part.wavelength
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            ivar = 1.0 / part.sigma**2
        bad = part.extra_bad | ~(part.sigma > 0) | ~np.isfinite(part.sigma)
        ivar = np.where(np.isnan(part.sigma), np.nan, np.where(bad, 0.0, ivar))
        flux, ivar, bad = finish_pixels(
            part.flux, ivar, extra_bad=bad & ~np.isnan(part.sigma), path=files[ccd]
        )
        pieces.append((wavelength, flux, ivar, bad, np.full(flux.size, ccd, dtype=np.int8)))
    wavelength, flux, ivar, bad, ccd_of_pixel = (
        np.concatenate(p) for p in zip(*pieces, strict=True)
    )
    ccd_of_pixel.setflags(write=False)
    first = files[order[0]]
    meta = {k: v for k, v in parts[order[0]].meta.items() if k not in _GRID_KEYS}
    meta.update(
        SOBJECT_ID=int(_split_source(first, None)[0]),
        CCDS=tuple(order),
        CCD_FILES=tuple(files[c].name for c in order),
        NORMALISED=parts[order[0]].meta["NORMALISED"],
        AIR_TO_VACUUM=bool(air),
        CCD=ccd_of_pixel,
    )
    return Spectrum(
        flux=flux,
        ivar=ivar,
        wavelength=wavelength,
        bad=bad,
        meta=meta,
        path=first,
        needs_normalising=not meta["NORMALISED"],
        kind="galah-dr3",
    )


def ccd_index(spectrum: Spectrum) -> np.ndarray:
    """The CCD (1-4) of each pixel of a spectrum read by :func:`read_galah`.

    Parameters
    ----------
    spectrum : Spectrum
        A GALAH spectrum (``kind="galah-dr3"``).

    Returns
    -------
    ndarray, shape (num_pixels,), int8

    Raises
    ------
    ValueError
        If the spectrum carries no per-pixel CCD index.
    """
    ccd = spectrum.meta.get("CCD")
    if not isinstance(ccd, np.ndarray) or ccd.shape != spectrum.flux.shape:
        raise ValueError(f"{spectrum!r} has no per-pixel CCD index (meta['CCD'])")
    return ccd
