"""Reader for GALAH DR3 and DR4 spectra: four HERMES CCD files per star.

DR3 layout (``shared/FORMATS.md``; Data Central's "GALAH DR3 spectra" page and
the release team's tutorial 3 in ``svenbuder/GALAH_DR3``):

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

DR4 layout (the IRAF reduction pipeline 6.0, ``PIPE_VER = '6.0'``): the same
file names, eight image HDUs per CCD file: 0 flux (counts), 1 ``normalized``,
2 ``relative_error``, 3 ``sky``, 4 ``teluric``, 5 ``scattered``, 6
``cross_talk``, 7 ``resolution_profile``, all on the linear grid of HDU 0.

**Air wavelengths.** GALAH DR3 and DR4 wavelengths are in air: the pipeline is IRAF
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
    count_hdus,
    finish_pixels,
    get_hdu,
    header_meta,
    image_data,
    open_fits,
    reading,
)
from .galah_names import GALAH_CCD_NAMES, GALAH_CCDS, galah_file_name, galah_files, split_source
from .spectrum import Spectrum
from .wavelength import air_to_vacuum, check_wavelength_range, linear_wavelength, vacuum_to_air

__all__ = [
    "GALAH_CCDS",
    "GALAH_CCD_NAMES",
    "GALAH_CCD_RANGES",
    "GALAH_HDU_COUNTS",
    "air_to_vacuum",
    "ccd_index",
    "galah_file_name",
    "galah_files",
    "galah_release",
    "linear_wavelength",
    "read_galah",
    "vacuum_to_air",
]

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


class _CCD(NamedTuple):
    """One CCD as read: grid (file medium), flux, its error, pixels HDU 0 does not cover."""

    wavelength: np.ndarray
    flux: np.ndarray
    sigma: np.ndarray
    extra_bad: np.ndarray
    meta: dict


#: HDUs of a CCD file per release: DR3 (5, or 4 without the normalised flux), DR4 (8).
GALAH_HDU_COUNTS = {"DR3": (4, 5), "DR4": (8,)}


def galah_release(header, num_hdus: int) -> str:
    """``"DR4"`` or ``"DR3"`` for a CCD file, from ``PIPE_VER`` (6.x: DR4, 5.x: DR3), else
    from its number of HDUs (8: DR4, 4-5: DR3); ``""`` if neither says."""
    version = header.get("PIPE_VER")
    try:
        major = int(float(str(version).strip()))
    except (TypeError, ValueError):
        major = None
    if major == 6 or (major is None and num_hdus in GALAH_HDU_COUNTS["DR4"]):
        return "DR4"
    if major == 5 or (major is None and num_hdus in GALAH_HDU_COUNTS["DR3"]):
        return "DR3"
    return ""


def _hdu_count(hdul, path: Path) -> int:
    count = count_hdus(hdul, path, at_most=9)
    if count not in (*GALAH_HDU_COUNTS["DR3"], *GALAH_HDU_COUNTS["DR4"]):
        raise SurveyFileError(
            f"has {count if count < 9 else 'more than 8'} HDUs; a GALAH CCD file has 5 in DR3 "
            "(4 in releases without the normalised spectrum) and 8 in DR4",
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


def _same_length(arrays: dict, flux: np.ndarray, path: Path) -> None:
    for index, data in arrays.items():
        if data.shape != flux.shape:
            raise SurveyFileError(
                f"has {data.size} pixels, HDU 0 has {flux.size}", path=path, hdu=index
            )


def _dr4_ccd(hdul, path: Path, normalised: bool | None):
    """Flux, relative error, grid, use of the normalised flux of a DR4 CCD file."""
    flux, header0 = _spectrum_hdu(hdul, 0, path)
    norm, rel = (_spectrum_hdu(hdul, index, path)[0] for index in (1, 2))
    _same_length({1: norm, 2: rel}, flux, path)
    grid = linear_wavelength(header0, flux.size, path, hdu=0)
    use_normalised = normalised is not False
    return (norm if use_normalised else flux), rel, grid, use_normalised


def _read_ccd(path: Path, ccd: int, *, normalised: bool | None) -> _CCD:
    with open_fits(path) as hdul:
        count = _hdu_count(hdul, path)
        meta = header_meta(get_hdu(hdul, 0, path).header)
        release = galah_release(meta, count)
        outside = None
        if count in GALAH_HDU_COUNTS["DR4"]:
            flux, rel, grid, use_normalised = _dr4_ccd(hdul, path, normalised)
            where = 0
        else:
            flux, header0 = _spectrum_hdu(hdul, 0, path)
            if flux.size < 2:
                raise SurveyFileError(f"has {flux.size} pixels", path=path, hdu=0)
            others = {index: _spectrum_hdu(hdul, index, path)[0] for index in (1, 2, 3)}
            _same_length(others, flux, path)
            rel = others[1]
            grid = linear_wavelength(header0, flux.size, path, hdu=0)
            use_normalised = count == 5 if normalised is None else normalised
            if use_normalised and count < 5:
                raise SurveyFileError(
                    "has no HDU 4 (normalised flux); pass normalised=False to read HDU 0",
                    path=path,
                )
            where = 4 if use_normalised else 0
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
    if flux.size < 2:
        raise SurveyFileError(f"has {flux.size} pixels", path=path, hdu=0)
    low, high = GALAH_CCD_RANGES[ccd]
    check_wavelength_range(grid, low, high, path, hdu=where)
    sigma = rel * np.abs(flux)
    meta["NORMALISED"] = bool(use_normalised)
    meta["RELEASE"] = release
    if outside is None:
        outside = np.zeros(flux.size, dtype=bool)
    return _CCD(grid, flux, sigma, outside, meta)


def read_galah(
    source: str | Path | int,
    *,
    directory: str | Path | None = None,
    ccds: tuple[int, ...] = GALAH_CCDS,
    normalised: bool | None = None,
    air: bool = True,
) -> Spectrum:
    """Read one GALAH DR3 or DR4 spectrum from its CCD files, concatenated in wavelength order.

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
        True: the normalised flux (DR3 HDU 4, DR4 HDU 1; an error if a DR3
        file has none); False: the unnormalised flux of HDU 0; None (default):
        the normalised flux when every file has it, else HDU 0 for all CCDs.
    air : bool, optional
        The files' grids are in air (GALAH DR3, DR4) and are converted to vacuum
        with :func:`air_to_vacuum`. False: use the grids as they are.

    Returns
    -------
    Spectrum
        ``flux`` and ``ivar = 1 / (relative_error * |flux|)**2``: 0 where the
        error is not finite or <= 0, flux is 0 or not finite, or (IR CCD) HDU 4
        reaches beyond HDU 0. ``wavelength`` vacuum Å, strictly increasing.
        ``needs_normalising`` is True for HDU 0 flux. ``survey="GALAH"``,
        ``layout="ccd"``, ``release`` ``"DR3"`` or ``"DR4"`` (:func:`galah_release`;
        every file must be of one release), ``path`` the first CCD's file.
        ``meta``: the first file's primary header (without the grid keywords),
        ``SOBJECT_ID``, ``CCDS`` (those read), ``CCD_FILES`` (their names),
        ``NORMALISED``, ``AIR_TO_VACUUM`` and ``CCD``, an int8 array of shape
        (num_pixels,) giving each pixel's CCD (also :func:`ccd_index`).

    Raises
    ------
    SurveyFileError
        If a wanted CCD file is missing, truncated or not FITS, has other than
        4 or 5 (DR3) or 8 (DR4) HDUs, the files are of different releases, the
        spectrum HDUs differ in length from HDU 0, a grid keyword is
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
    releases = {p.meta["RELEASE"] for p in parts.values()}
    if len(releases) > 1:
        raise SurveyFileError(
            f"CCD files of releases {sorted(releases)} cannot be read as one spectrum",
            path=files[min(files)],
        )
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
        SOBJECT_ID=int(split_source(first, None)[0]),
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
        survey="GALAH",
        release=meta.pop("RELEASE"),
        layout="ccd",
    )


def ccd_index(spectrum: Spectrum) -> np.ndarray:
    """The CCD (1-4) of each pixel of a spectrum read by :func:`read_galah`.

    Parameters
    ----------
    spectrum : Spectrum
        A GALAH spectrum (``survey="GALAH"``).

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
