"""The built-in paired dataset: synthetic APOGEE × LAMOST stars with known truth.

``make_builtin(seed)`` draws stellar labels, computes noiseless spectra from
them with the fixed line lists (:mod:`stereo_ppl.datasets.linelist`), adds
noise, LAMOST bad pixels and unflagged LAMOST artefacts, and returns the
paired dataset (as :func:`stereo_ppl.data.make_paired` builds it) together
with a truth dataset on the same coordinates.
"""

from typing import NamedTuple

import numpy as np
import xarray as xr

from .. import __version__
from ..data.grids import apogee_grid, lamost_grid
from ..data.paired import make_paired
from ..dims import APOGEE_PIXEL, LAMOST_PIXEL, STAR
from .artefacts import ARTEFACT_CODES, Artefacts, inject_artefacts
from .labels import LABEL_NAMES, LABEL_UNITS, draw_apogee_ids, draw_labels, draw_obsids
from .linelist import LINELIST_SEED
from .noise import (
    APOGEE_SNR_CUT,
    DEFAULT_APOGEE_SNR,
    DEFAULT_LAMOST_SNR,
    add_noise,
    apogee_snr_shape,
    draw_snr,
    lamost_bad_pixels,
    lamost_snr_shape,
)
from .spectra import apogee_pixels, apogee_true_flux, lamost_true_flux

__all__ = ["BuiltinSurvey", "make_builtin"]

_SOURCE = "stereo_ppl.datasets.make_builtin"


class BuiltinSurvey(NamedTuple):
    """A built-in dataset and its truth.

    Attributes
    ----------
    paired : xarray.Dataset
        The paired dataset (validated by :func:`stereo_ppl.data.make_paired`).
    truth : xarray.Dataset
        Labels, noiseless spectra, the artefact mask and S/N of every star, on
        the same ``star`` and pixel coordinates as ``paired``.
    """

    paired: xr.Dataset
    truth: xr.Dataset


def _seed_int(seed: int | np.random.Generator) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise TypeError(f"seed must be a non-negative int or a numpy Generator; got {seed!r}")
    return int(seed)


def _lamost_snr(rng, num_stars, lamost_snr):
    if lamost_snr is None or np.ndim(lamost_snr) == 0:
        median = DEFAULT_LAMOST_SNR if lamost_snr is None else float(lamost_snr)
        return draw_snr(rng, num_stars, median=median, sigma=0.35)
    values = np.asarray(lamost_snr, dtype=np.float64)
    if values.shape != (num_stars,) or not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"lamost_snr must be a positive number or {num_stars} positive values")
    return values


def make_builtin(
    seed: int | np.random.Generator,
    *,
    num_stars: int = 1100,
    lamost_snr: float | np.ndarray | None = None,
    apogee_snr: float | None = None,
    dwarf_fraction: float = 0.05,
    step_fraction: float = 0.3,
    artefacts: bool = True,
    bad_pixels: bool = True,
) -> BuiltinSurvey:
    """Generate the built-in paired dataset with known truth.

    Parameters
    ----------
    seed : int or numpy.random.Generator
        Seeds everything. A Generator is used only to draw an int seed, which
        is stored in ``attrs["seed"]``: ``make_builtin(attrs["seed"], ...)``
        regenerates the same data.
    num_stars : int
        Number of stars.
    lamost_snr : float or array of shape (num_stars,), optional
        Median of the lognormal (σ = 0.35 in ln) per-star LAMOST ``snrz``-like
        S/N (default 250), or the per-star values themselves.
    apogee_snr : float, optional
        Median per-star APOGEE S/N (default 400; σ = 0.3 in ln). When the
        median exceeds 300, stars with S/N ≤ 300 are redrawn, as in the
        high-S/N sample.
    dwarf_fraction : float
        Expected fraction of K dwarfs; the rest are red giants.
    step_fraction : float
        Expected fraction of stars with a LAMOST arm step.
    artefacts : bool
        Inject unflagged LAMOST artefacts (cosmic rays, steps, bad columns,
        sky residuals). Labels, spectra and noise do not depend on it.
    bad_pixels : bool
        Mark LAMOST bad pixels with ``ivar = 0``.

    Returns
    -------
    BuiltinSurvey
        ``paired``: dims ``star`` (num_stars), ``apogee_pixel`` (7,514 on-chip
        pixels of the 8,575-pixel grid), ``lamost_pixel`` (3,909); variables
        ``apogee_flux``, ``apogee_ivar`` (> 0 everywhere), ``lamost_flux``,
        ``lamost_ivar``. ``truth``: ``labels`` (star, label),
        ``apogee_flux_true`` (star, apogee_pixel), ``lamost_flux_true`` and
        ``lamost_artefact`` (int8 codes of ``ARTEFACT_CODES``) (star,
        lamost_pixel), ``apogee_snr`` and ``lamost_snr`` (star,), and the arm
        steps ``lamost_step_pixel``, ``lamost_step_blue``, ``lamost_step_red``
        (star,).
    """
    if int(num_stars) < 1:
        raise ValueError(f"num_stars must be at least 1; got {num_stars}")
    num_stars = int(num_stars)
    seed = _seed_int(seed)
    streams = np.random.default_rng(seed).spawn(7)
    labels = draw_labels(streams[0], num_stars, dwarf_fraction=dwarf_fraction)
    apogee_id = draw_apogee_ids(streams[1], num_stars)
    obsid = draw_obsids(streams[1], num_stars)

    pixel = apogee_pixels()
    apogee_true = apogee_true_flux(labels)
    median1 = DEFAULT_APOGEE_SNR if apogee_snr is None else float(apogee_snr)
    snr1 = draw_snr(
        streams[2],
        num_stars,
        median=median1,
        sigma=0.3,
        minimum=APOGEE_SNR_CUT if median1 > APOGEE_SNR_CUT else 0.0,
    )
    apogee_flux, apogee_ivar = add_noise(
        streams[2], apogee_true, snr1[:, None] * apogee_snr_shape(pixel)[None, :]
    )

    wavelength = lamost_grid()
    lamost_true = lamost_true_flux(labels)
    snr2 = _lamost_snr(streams[3], num_stars, lamost_snr)
    # cooler stars are redder: lower blue S/N relative to z
    blue_ratio = (0.22 + 0.15 * (labels[:, 0] - 3_900.0) / 1_500.0) * np.exp(
        0.15 * streams[3].standard_normal(num_stars)
    )
    snr_pixel = snr2[:, None] * lamost_snr_shape(wavelength, blue_ratio)
    lamost_flux, lamost_ivar = add_noise(streams[3], lamost_true, snr_pixel)

    isolated, ends = lamost_bad_pixels(streams[4], num_stars, wavelength.size)
    if not bad_pixels:
        isolated[:], ends[:] = False, False
    good = ~(isolated | ends)
    if artefacts:
        art = inject_artefacts(
            streams[5],
            lamost_flux,
            lamost_true / snr_pixel,
            good,
            wavelength,
            step_fraction=step_fraction,
        )
    else:
        art = Artefacts(
            lamost_flux,
            np.zeros(lamost_flux.shape, np.int8),
            np.full(num_stars, -1, np.int64),
            np.ones(num_stars),
            np.ones(num_stars),
            np.zeros(0, np.int64),
        )
    lamost_flux = art.flux
    # flagged pixels: junk values (why they were flagged), zeros at the ends
    lamost_flux[isolated] += streams[6].uniform(-0.5, 1.0, int(isolated.sum()))
    lamost_flux[ends] = 0.0
    lamost_ivar[~good] = 0.0

    attrs = {
        "source": _SOURCE,
        "seed": seed,
        "num_stars": num_stars,
        "stereo_ppl_version": __version__,
        "linelist_seed": LINELIST_SEED,
    }
    # float32, as the surveys store their spectra
    apogee_flux, apogee_ivar, lamost_flux, lamost_ivar = (
        np.asarray(a, dtype=np.float32)
        for a in (apogee_flux, apogee_ivar, lamost_flux, lamost_ivar)
    )
    paired = make_paired(
        apogee_flux=apogee_flux,
        apogee_ivar=apogee_ivar,
        lamost_flux=lamost_flux,
        lamost_ivar=lamost_ivar,
        apogee_wavelength=apogee_grid()[pixel],
        lamost_wavelength=wavelength,
        apogee_id=apogee_id,
        obsid=obsid,
        apogee_pixel=pixel,
        attrs=attrs,
    )
    truth = _truth(paired, labels, apogee_true, lamost_true, art, snr1, snr2, attrs)
    return BuiltinSurvey(paired, truth)


def _truth(paired, labels, apogee_true, lamost_true, art, snr1, snr2, attrs) -> xr.Dataset:
    codes = sorted(ARTEFACT_CODES)
    meanings = " ".join(ARTEFACT_CODES[c] for c in codes)
    coords = dict(paired.coords)
    coords["label"] = ("label", list(LABEL_NAMES))
    coords["label_unit"] = ("label", list(LABEL_UNITS))
    data = {
        "labels": (
            (STAR, "label"),
            labels,
            {
                "long_name": "true stellar labels",
                "units": "; ".join(
                    f"{n}: {u}" for n, u in zip(LABEL_NAMES, LABEL_UNITS, strict=True)
                ),
            },
        ),
        "apogee_flux_true": (
            (STAR, APOGEE_PIXEL),
            apogee_true,
            {"long_name": "noiseless survey-1 normalised flux"},
        ),
        "lamost_flux_true": (
            (STAR, LAMOST_PIXEL),
            lamost_true,
            {"long_name": "noiseless survey-2 normalised flux"},
        ),
        "lamost_artefact": (
            (STAR, LAMOST_PIXEL),
            art.code,
            {
                "long_name": "unflagged artefact injected into lamost_flux",
                "flag_values": np.array(codes, dtype=np.int8),
                "flag_meanings": meanings,
            },
        ),
        "apogee_snr": (STAR, snr1, {"long_name": "survey-1 per-star S/N (median per pixel)"}),
        "lamost_snr": (STAR, snr2, {"long_name": "survey-2 per-star z-band (snrz-like) S/N"}),
        "lamost_step_pixel": (
            STAR,
            art.step_pixel,
            {"long_name": "first red-side pixel of the arm step; -1: no step"},
        ),
        "lamost_step_blue": (
            STAR,
            art.step_blue,
            {"long_name": "factor on lamost_flux blueward of lamost_step_pixel - 1"},
        ),
        "lamost_step_red": (
            STAR,
            art.step_red,
            {"long_name": "factor on lamost_flux from lamost_step_pixel + 2 on"},
        ),
    }
    truth_attrs = {
        **attrs,
        "artefact_flag_values": np.array(codes, dtype=np.int8),
        "artefact_flag_meanings": meanings,
        "lamost_bad_columns": art.bad_columns,
    }
    return xr.Dataset(data, coords=coords, attrs=truth_attrs)
