"""Synthetic GALAH DR3 spectra of the built-in dataset's stars.

The same labels and "physics" as the built-in APOGEE and LAMOST spectra
(:mod:`stereo_ppl.datasets.spectra`, :mod:`stereo_ppl.datasets.linelist`), seen
by HERMES: resolving power 28,000 in its four CCD windows (air 4713-4903,
5648-5873, 6478-6737 and 7585-7887 Å), each on a linear air-wavelength grid of
:data:`GALAH_PIXELS_PER_CCD` pixels as the DR3 files store it.

The line list is the LAMOST list's lines inside the windows (so a GALAH
spectrum resolves the lines a LAMOST spectrum blends) plus weak lines only a
high-resolution spectrum shows, drawn the same way from
``[LINELIST_SEED, 3]``; the strong lines (H-alpha, H-beta, the Na D wings)
are LAMOST's. S/N is GALAH-like: a per-star green-CCD S/N (lognormal, median
:data:`DEFAULT_GALAH_SNR` per pixel), lower in the blue for cool stars, falling
towards each CCD's edges. :func:`write_galah_files` writes the spectra as DR3
files (rest frame) that :func:`stereo_ppl.io.galah.read_galah` reads back.
"""

from functools import lru_cache
from pathlib import Path

import numpy as np
import xarray as xr

from ..dims import STAR, WAVELENGTH_UNIT
from ..io.galah import GALAH_CCD_NAMES, GALAH_CCDS, air_to_vacuum, galah_file_name
from ..io.galah_writer import write_galah_ccd
from .builtin import BuiltinSurvey
from .labels import LABEL_NAMES
from .linelist import LINELIST_SEED, LineList, assemble_lines, atomic_lines, lamost_lines
from .linelist import lamost_strong_lines as galah_strong_lines
from .noise import add_noise, draw_snr
from .spectra import LAMOST_RESOLUTION, MAX_LOG_TAU, label_features, strong_line_depth

__all__ = [
    "DEFAULT_GALAH_SNR",
    "GALAH_FLUX_FLOOR",
    "GALAH_PIXEL",
    "GALAH_PIXELS_PER_CCD",
    "GALAH_RESOLUTION",
    "GALAH_WINDOWS_AIR",
    "galah_ccd_grids",
    "galah_grid",
    "galah_lines",
    "galah_strong_lines",
    "galah_true_flux",
    "make_galah",
    "write_galah_files",
]

#: Resolving power of HERMES in the GALAH set-up.
GALAH_RESOLUTION = 28_000.0
#: Air-wavelength windows of the four CCDs, Angstrom (first and last pixel).
GALAH_WINDOWS_AIR = ((4713.0, 4903.0), (5648.0, 5873.0), (6478.0, 6737.0), (7585.0, 7887.0))
#: Pixels per CCD (the DR3 spectra have about 4,000).
GALAH_PIXELS_PER_CCD = 4096
#: Median per-star green-CCD S/N per pixel (GALAH DR3's snr_c2 is a few tens).
DEFAULT_GALAH_SNR = 60.0
#: Residual flux of a saturated line core at R = 28,000.
GALAH_FLUX_FLOOR = 0.03
#: Dimension of the GALAH pixels (four CCDs concatenated).
GALAH_PIXEL = "galah_pixel"

_CCD = "ccd"
_LABEL = "label"  # as in the built-in truth
_STREAM = 3  # the GALAH stream of a built-in seed (files.py uses 20_251_125)
#: S/N of each CCD relative to the green one for a 4,700 K star.
_CCD_SNR = (0.6, 1.0, 1.3, 1.2)
#: log10 of R_GALAH / R_LAMOST: added to ``log10 tau`` of the LAMOST lines, so that each
#: line's integrated optical depth (peak times width) is the same in both surveys.
_RESOLUTION_BOOST = float(np.log10(GALAH_RESOLUTION / LAMOST_RESOLUTION))
_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_CHUNK = 256


def galah_ccd_grids(pixels_per_ccd: int = GALAH_PIXELS_PER_CCD) -> tuple[tuple[float, float], ...]:
    """``(CRVAL1, CDELT1)`` of each CCD's linear air grid (``CRPIX1 = 1``).

    Returns
    -------
    tuple of 4 (float, float)
        First-pixel air wavelength and step, Angstrom.
    """
    if int(pixels_per_ccd) < 2:
        raise ValueError(f"pixels_per_ccd must be at least 2; got {pixels_per_ccd}")
    return tuple((lo, (hi - lo) / (int(pixels_per_ccd) - 1)) for lo, hi in GALAH_WINDOWS_AIR)


def galah_grid(pixels_per_ccd: int = GALAH_PIXELS_PER_CCD):
    """Wavelengths and CCD of the concatenated GALAH pixels.

    Returns
    -------
    vacuum, air : ndarray, shape (4 * pixels_per_ccd,), float64
        Vacuum and air wavelength, Angstrom (air exactly as
        :func:`~stereo_ppl.io.galah.linear_wavelength` computes it from the
        files' headers).
    ccd : ndarray, shape (4 * pixels_per_ccd,), int8
        CCD 1-4 of each pixel.
    """
    k = np.arange(int(pixels_per_ccd), dtype=np.float64)
    grids = galah_ccd_grids(pixels_per_ccd)
    air = np.concatenate([start + (k + 1.0 - 1.0) * step for start, step in grids])
    ccd = np.repeat(np.array(GALAH_CCDS, dtype=np.int8), int(pixels_per_ccd))
    return air_to_vacuum(air), air, ccd


@lru_cache(maxsize=1)
def galah_lines() -> LineList:
    """The GALAH line list: LAMOST's lines in the four windows plus weak high-resolution lines.

    Returns
    -------
    LineList
        Vacuum wavelengths; the extra lines are Fe-peak and α-element neutral
        lines and a few Fe-peak ions, drawn from ``[LINELIST_SEED, 3]``.
    """
    rng = np.random.default_rng([LINELIST_SEED, _STREAM])
    lamost = lamost_lines()
    parts = []
    counts = ((260, 100, 15), (220, 90, 12), (170, 70, 10), (130, 60, 8))
    for (lo, hi), (n_fe, n_alpha, n_ion) in zip(GALAH_WINDOWS_AIR, counts, strict=True):
        window = tuple(air_to_vacuum(np.array([lo - 2.0, hi + 2.0])))
        inside = (lamost.wavelength > window[0]) & (lamost.wavelength < window[1])
        coeffs = lamost.coeffs[inside].copy()
        coeffs[:, 0] += _RESOLUTION_BOOST
        parts.append((lamost.wavelength[inside], lamost.group[inside], coeffs))
        weak = {"top": -0.5, "span": 2.0, "density_power": 0.0}
        parts += [
            atomic_lines(rng, n_fe, window, kind="fe_peak", ion=False, chi=(0.0, 5.0), **weak),
            atomic_lines(rng, n_alpha, window, kind="alpha", ion=False, chi=(0.0, 6.0), **weak),
            atomic_lines(rng, n_ion, window, kind="fe_peak", ion=True, chi=(2.5, 4.0), **weak),
        ]
    return assemble_lines(parts)


@lru_cache(maxsize=2)
def _profiles(pixels_per_ccd: int) -> tuple[tuple[slice, np.ndarray, np.ndarray], ...]:
    """Peak-normalised Gaussian profiles of :func:`galah_lines` on the (non-log) grid, by CCD.

    Returns
    -------
    tuple of 4 (pixels, lines, profiles)
        For each CCD: its slice of the pixels, the indices of the lines that
        reach it (shape (num_ccd_lines,)), and their profiles on its pixels,
        float32 of shape (num_ccd_lines, pixels_per_ccd).
    """
    wavelength = galah_grid(pixels_per_ccd)[0]
    centres = galah_lines().wavelength
    sigma = centres * _FWHM_TO_SIGMA / GALAH_RESOLUTION
    out = []
    for k in range(len(GALAH_CCDS)):
        pixels = slice(k * pixels_per_ccd, (k + 1) * pixels_per_ccd)
        grid = wavelength[pixels]
        lo = np.searchsorted(grid, centres - 5.0 * sigma)
        hi = np.searchsorted(grid, centres + 5.0 * sigma)
        lines = np.flatnonzero(hi > lo)
        block = np.zeros((lines.size, grid.size), dtype=np.float32)
        for row, line in enumerate(lines):
            delta = grid[lo[line] : hi[line]] - centres[line]
            block[row, lo[line] : hi[line]] = np.exp(-0.5 * (delta / sigma[line]) ** 2)
        for array in (lines, block):
            array.setflags(write=False)
        out.append((pixels, lines, block))
    return tuple(out)


def galah_true_flux(labels: np.ndarray, *, pixels_per_ccd: int = GALAH_PIXELS_PER_CCD):
    """Noiseless normalised GALAH flux at the vacuum wavelengths of :func:`galah_grid`.

    Parameters
    ----------
    labels : array, shape (num_stars, 4)
        Teff, log g, [Fe/H], [α/Fe] (:data:`~stereo_ppl.datasets.LABEL_NAMES`).
    pixels_per_ccd : int, optional
        Pixels of each CCD.

    Returns
    -------
    ndarray, shape (num_stars, 4 * pixels_per_ccd), float64
        ``F = floor + (1 - floor) exp(-tau)`` as for APOGEE and LAMOST, in ``(0, 1]``.
    """
    labels = np.asarray(labels, dtype=np.float64)
    features = label_features(labels)
    wavelength = galah_grid(pixels_per_ccd)[0]
    lines, profiles = galah_lines(), _profiles(int(pixels_per_ccd))
    out = np.empty((labels.shape[0], wavelength.size), dtype=np.float64)
    for start in range(0, labels.shape[0], _CHUNK):
        part = slice(start, start + _CHUNK)
        depth = 10.0 ** np.minimum(features[part] @ lines.coeffs.T, MAX_LOG_TAU)
        tau = np.empty((depth.shape[0], wavelength.size), dtype=np.float32)
        for pixels, index, block in profiles:
            tau[:, pixels] = depth[:, index].astype(np.float32) @ block
        tau += strong_line_depth(
            features[part],
            labels[part],
            wavelength,
            galah_strong_lines(),
            GALAH_RESOLUTION,
            dtype=np.float32,
        )
        out[part] = GALAH_FLUX_FLOOR + (1.0 - GALAH_FLUX_FLOOR) * np.exp(-tau)
    return out


def _snr_pixel(rng, labels, ccd, pixels_per_ccd, snr):
    """Per-pixel S/N, shape (num_stars, num_pixels), from a per-star green-CCD S/N."""
    num_stars = labels.shape[0]
    if snr is None or np.ndim(snr) == 0:
        median = DEFAULT_GALAH_SNR if snr is None else float(snr)
        per_star = draw_snr(rng, num_stars, median=median, sigma=0.45)
    else:
        per_star = np.asarray(snr, dtype=np.float64)
        if per_star.shape != (num_stars,) or not np.all(np.isfinite(per_star) & (per_star > 0)):
            raise ValueError(f"snr must be a positive number or {num_stars} positive values")
    warmth = labels[:, 0] / 4_700.0
    ratio = np.asarray(_CCD_SNR)[None, :] * np.stack(
        [warmth**2, np.ones_like(warmth), np.ones_like(warmth), warmth**-0.5], axis=1
    )
    x = np.linspace(-1.0, 1.0, int(pixels_per_ccd))
    edge = np.tile(1.0 - 0.3 * x**2, len(GALAH_CCDS))
    return per_star[:, None] * ratio[:, ccd - 1] * edge[None, :]


def make_galah(
    survey: BuiltinSurvey | np.ndarray,
    *,
    seed: int | None = None,
    snr: float | np.ndarray | None = None,
    pixels_per_ccd: int = GALAH_PIXELS_PER_CCD,
) -> xr.Dataset:
    """GALAH spectra (normalised, noisy, with truth) of the built-in stars.

    Parameters
    ----------
    survey : BuiltinSurvey or array of shape (num_stars, 4)
        The built-in survey (its true labels and ids are used) or labels.
    seed : int, optional
        Seeds the noise and ids; default the survey's ``attrs["seed"]``
        (required with plain labels). Same inputs give identical output.
    snr : float or array of shape (num_stars,), optional
        Median of the lognormal (σ = 0.45 in ln) per-star green-CCD S/N per
        pixel (default :data:`DEFAULT_GALAH_SNR`), or the values themselves.
    pixels_per_ccd : int, optional
        Pixels of each CCD (default :data:`GALAH_PIXELS_PER_CCD`).

    Returns
    -------
    xarray.Dataset
        Dims ``star``, ``galah_pixel`` (4 * pixels_per_ccd), ``ccd`` (4),
        ``label``. ``galah_flux``, ``galah_ivar`` (float32; ivar > 0) and
        ``galah_flux_true`` (float64) (star, galah_pixel); ``galah_snr``
        (star, ccd), the median S/N of each CCD; ``labels`` (star, label).
        Coordinates ``sobject_id`` (star; plus ``apogee_id`` and ``obsid``
        from a survey), ``galah_wavelength`` (vacuum Å), ``galah_wavelength_air``
        and ``galah_ccd`` (galah_pixel), ``ccd``, ``label``.
    """
    coords = {}
    if isinstance(survey, BuiltinSurvey):
        labels = survey.truth["labels"].values
        seed = int(survey.paired.attrs["seed"]) if seed is None else seed
        coords["apogee_id"] = (STAR, survey.paired["apogee_id"].values)
        coords["obsid"] = (STAR, survey.paired["obsid"].values)
    else:
        labels = np.asarray(survey, dtype=np.float64)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise TypeError(f"seed must be a non-negative int; got {seed!r}")
    if labels.ndim != 2 or labels.shape[1] != len(LABEL_NAMES) or labels.shape[0] < 1:
        raise ValueError(f"labels must have shape (num_stars, 4); got {labels.shape}")
    noise_rng, id_rng = np.random.default_rng([int(seed), _STREAM]).spawn(2)
    vacuum, air, ccd = galah_grid(pixels_per_ccd)
    true = galah_true_flux(labels, pixels_per_ccd=pixels_per_ccd)
    snr_pixel = _snr_pixel(noise_rng, labels, ccd, pixels_per_ccd, snr)
    flux, ivar = add_noise(noise_rng, true, snr_pixel)
    snr_ccd = np.stack([np.median(snr_pixel[:, ccd == c], axis=1) for c in GALAH_CCDS], axis=1)
    coords.update(
        sobject_id=(STAR, _sobject_ids(id_rng, labels.shape[0])),
        galah_wavelength=(GALAH_PIXEL, vacuum, {"units": WAVELENGTH_UNIT, "medium": "vacuum"}),
        galah_wavelength_air=(GALAH_PIXEL, air, {"units": WAVELENGTH_UNIT, "medium": "air"}),
        galah_ccd=(GALAH_PIXEL, ccd, {"flag_meanings": " ".join(GALAH_CCD_NAMES.values())}),
        ccd=(_CCD, np.array(GALAH_CCDS, dtype=np.int8)),
        label=(_LABEL, list(LABEL_NAMES)),
    )
    pixel_dims = (STAR, GALAH_PIXEL)
    data = {
        "galah_flux": (pixel_dims, flux.astype(np.float32), {"long_name": "normalised flux"}),
        "galah_ivar": (pixel_dims, ivar.astype(np.float32), {"long_name": "inverse variance"}),
        "galah_flux_true": (pixel_dims, true, {"long_name": "noiseless normalised flux"}),
        "galah_snr": ((STAR, _CCD), snr_ccd, {"long_name": "median S/N per pixel of each CCD"}),
        "labels": ((STAR, _LABEL), labels, {"long_name": "true stellar labels"}),
    }
    attrs = {
        "source": "stereo_ppl.datasets.make_galah",
        "seed": int(seed),
        "linelist_seed": LINELIST_SEED,
        "resolution": GALAH_RESOLUTION,
        "pixels_per_ccd": int(pixels_per_ccd),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _sobject_ids(rng: np.random.Generator, num_stars: int) -> np.ndarray:
    """Unique 15-digit ids ``yymmdd`` + run (4) + ``01`` + pivot (3), 350 stars a field."""
    index = np.arange(num_stars)
    field = index // 350
    night = int(rng.integers(0, 12 * 28)) + field // 60  # 60 fields a night
    year, month, day = 16 + night // (12 * 28), 1 + night // 28 % 12, 1 + night % 28
    run, pivot = 1 + field % 60, 1 + index % 350
    return (((year * 100 + month) * 100 + day) * 10**9 + run * 10**5 + 1 * 10**3 + pivot).astype(
        np.int64
    )


def write_galah_files(
    galah: xr.Dataset,
    directory: str | Path,
    *,
    gz: bool = False,
    normalised: bool = True,
    dtype: type = np.float32,
) -> list[Path]:
    """Write every star of :func:`make_galah` as four GALAH DR3 CCD files.

    HDU 0 holds counts, the normalised flux times a continuum ``S/N**2`` (so
    that the counts' shot noise matches the S/N), HDU 1 the relative error
    ``sigma / flux``, HDUs 2-3 the flux and error with a sky of 5% of the
    continuum added back, HDU 4 the normalised flux. Wavelengths are the
    rest-frame air grid.

    Parameters
    ----------
    galah : xarray.Dataset
        Output of :func:`make_galah`.
    directory : str or Path
        Where to write ``<sobject_id><ccd>.fits`` (``.fits.gz`` with ``gz``).
    gz : bool, optional
        Gzip the files.
    normalised : bool, optional
        Write HDU 4; False writes the four-HDU layout.
    dtype : numpy dtype, optional
        float32 (default) or float64 data.

    Returns
    -------
    list of Path, length 4 * num_stars
        The files, star by star, CCD 1 to 4.
    """
    pixels = int(galah.attrs["pixels_per_ccd"])
    grids = galah_ccd_grids(pixels)
    flux = galah["galah_flux"].values.astype(np.float64)
    sigma = 1.0 / np.sqrt(galah["galah_ivar"].values.astype(np.float64))
    continuum = galah["galah_flux_true"].values ** 2 * galah["galah_ivar"].values
    written = []
    for i, sobject_id in enumerate(galah["sobject_id"].values.tolist()):
        for c, (crval1, cdelt1) in zip(GALAH_CCDS, grids, strict=True):
            part = slice((c - 1) * pixels, c * pixels)
            f, s, counts = flux[i, part], sigma[i, part], continuum[i, part]
            sky = 0.05 * counts
            with np.errstate(divide="ignore"):
                relative = s / np.abs(f)
            written.append(
                write_galah_ccd(
                    Path(directory) / galah_file_name(sobject_id, c, gz=gz),
                    flux=f * counts,
                    relative_error=relative,
                    crval1=crval1,
                    cdelt1=cdelt1,
                    normalised=f if normalised else None,
                    no_sky_flux=f * counts + sky,
                    no_sky_error=np.sqrt((s * counts) ** 2 + sky) / np.abs(f * counts + sky),
                    header={
                        "OBJECT": str(sobject_id),
                        "CAMERA": GALAH_CCD_NAMES[c],
                        "SNR": float(galah["galah_snr"].values[i, c - 1]),
                        "ORIGIN": "stereo-ppl synthetic GALAH DR3",
                    },
                    dtype=dtype,
                )
            )
    return written
