"""Unflagged LAMOST artefacts injected into the observed flux, with a truth mask.

The survey's ``ivar`` stays > 0 at every artefact (these are the kind a
pipeline misses); the mask is returned separately as int8 codes
(:data:`ARTEFACT_CODES`). Artefacts are placed only on pixels with
``ivar > 0`` and never on top of one another.

============ ==== ==========================================================
kind         code what
============ ==== ==========================================================
cosmic_ray   1    0–3 per spectrum, 1–3 adjacent pixels, +10 to +100 σ each
step         2    in ~30% of stars a 2–10% multiplicative jump between the
                  blue and red arm somewhere in 5,700–6,000 Å; the flux on
                  one side is scaled; the 3 pixels at the join are flagged
                  and carry a splice glitch of 4–12 σ
bad_column   3    2–4 fixed pixel columns, each hitting 5–10% of stars with a
                  strong offset (hot: +15 to +50 σ; cold: down by the same,
                  at most 90% of the flux)
other        4    sky-line residuals ([O I] 5,578.9 and 6,302.0 Å, shifted
                  by the star's radial velocity) in ~10% of stars: 2 pixels,
                  ±5 to 20 σ
============ ==== ==========================================================
"""

from typing import NamedTuple

import numpy as np

__all__ = ["ARTEFACT_CODES", "ARTEFACT_VALUES", "Artefacts", "inject_artefacts"]

#: Integer code (int8 in the truth mask) → kind of artefact.
ARTEFACT_CODES = {0: "none", 1: "cosmic_ray", 2: "step", 3: "bad_column", 4: "other"}
#: Kind of artefact → code.
ARTEFACT_VALUES = {name: code for code, name in ARTEFACT_CODES.items()}

_SKY_LINES = (5_578.89, 6_302.05)  # vacuum Angstrom
_SPEED_OF_LIGHT = 299_792.458  # km/s
_STEP_RANGE = (5_700.0, 6_000.0)


class Artefacts(NamedTuple):
    """Result of :func:`inject_artefacts`.

    Attributes
    ----------
    flux : ndarray, shape (num_stars, num_pixels), float64
        Observed flux with the artefacts added.
    code : ndarray, shape (num_stars, num_pixels), int8
        :data:`ARTEFACT_CODES` of each pixel.
    step_pixel : ndarray, shape (num_stars,), int64
        First pixel on the red side of the arm step; -1 where there is none.
    step_blue, step_red : ndarray, shape (num_stars,), float64
        Factor multiplying the flux blueward of ``step_pixel - 1`` and from
        ``step_pixel + 2`` on (1 on the unscaled side and without a step).
    bad_columns : ndarray, shape (num_columns,), int64
        The bad pixel columns.
    """

    flux: np.ndarray
    code: np.ndarray
    step_pixel: np.ndarray
    step_blue: np.ndarray
    step_red: np.ndarray
    bad_columns: np.ndarray


def _free_run(code, good, star, start, width) -> bool:
    """Whether pixels ``start:start+width`` of ``star`` are usable and unflagged."""
    stop = start + width
    if start < 0 or stop > code.shape[1]:
        return False
    return bool(np.all(good[star, start:stop]) and not np.any(code[star, start:stop]))


def _bad_columns(rng, flux, sigma, code, good, wavelength):
    num_stars = flux.shape[0]
    allowed = np.flatnonzero((wavelength > 4_000.0) & (wavelength < 8_800.0))
    columns = np.sort(rng.choice(allowed, rng.integers(2, 5), replace=False))
    for column in columns:
        hot = rng.uniform() < 0.6
        hit = np.flatnonzero(rng.uniform(size=num_stars) < rng.uniform(0.05, 0.10))
        hit = hit[good[hit, column] & (code[hit, column] == 0)]
        size = rng.uniform(15.0, 50.0, hit.size) * sigma[hit, column]
        if not hot:
            size = -np.minimum(size, 0.9 * flux[hit, column])
        flux[hit, column] += size
        code[hit, column] = ARTEFACT_VALUES["bad_column"]
    return columns.astype(np.int64)


def _steps(rng, flux, sigma, code, good, wavelength, fraction):
    num_stars = flux.shape[0]
    lo, hi = np.searchsorted(wavelength, _STEP_RANGE)
    step_pixel = np.full(num_stars, -1, dtype=np.int64)
    factor = np.ones((num_stars, 2))
    for star in np.flatnonzero(rng.uniform(size=num_stars) < fraction):
        for _ in range(20):
            k = int(rng.integers(lo, hi))
            if _free_run(code, good, star, k - 1, 3):
                break
        else:
            continue
        side = int(rng.integers(0, 2))  # 0: blue side scaled, 1: red side
        factor[star, side] = 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.02, 0.10)
        blue, red = factor[star]
        flux[star, : k - 1] *= blue
        flux[star, k + 2 :] *= red
        ramp = blue + (red - blue) * np.array([0.25, 0.5, 0.75])
        glitch = rng.choice([-1.0, 1.0]) * rng.uniform(4.0, 12.0) * np.array([0.5, 1.0, 0.5])
        flux[star, k - 1 : k + 2] = (
            flux[star, k - 1 : k + 2] * ramp + glitch * sigma[star, k - 1 : k + 2]
        )
        code[star, k - 1 : k + 2] = ARTEFACT_VALUES["step"]
        step_pixel[star] = k
    return step_pixel, factor[:, 0], factor[:, 1]


def _sky(rng, flux, sigma, code, good, wavelength, step_factor):
    num_stars = flux.shape[0]
    dlog = np.log(wavelength[1] / wavelength[0])
    for star in np.flatnonzero(rng.uniform(size=num_stars) < 0.10):
        velocity = rng.normal(0.0, 50.0)
        lines = [w for w in _SKY_LINES if rng.uniform() < 0.7] or [_SKY_LINES[0]]
        for line in lines:
            rest = line / (1.0 + velocity / _SPEED_OF_LIGHT)
            k = int(np.floor(np.log(rest / wavelength[0]) / dlog))
            if not _free_run(code, good, star, k, 2):
                continue
            size = rng.choice([-1.0, 1.0]) * rng.uniform(5.0, 20.0)
            part = slice(k, k + 2)
            flux[star, part] += size * sigma[star, part] * step_factor[star, part]
            code[star, part] = ARTEFACT_VALUES["other"]


def _cosmic_rays(rng, flux, sigma, code, good, step_factor):
    num_stars, num_pixels = flux.shape
    for star in range(num_stars):
        for _ in range(int(rng.integers(0, 4))):
            width = int(rng.integers(1, 4))
            for _ in range(20):
                k = int(rng.integers(0, num_pixels - width + 1))
                if _free_run(code, good, star, k, width):
                    break
            else:
                continue
            part = slice(k, k + width)
            size = np.exp(rng.uniform(np.log(10.0), np.log(100.0), width))
            flux[star, part] += size * sigma[star, part] * step_factor[star, part]
            code[star, part] = ARTEFACT_VALUES["cosmic_ray"]


def inject_artefacts(
    rng: np.random.Generator,
    flux: np.ndarray,
    sigma: np.ndarray,
    good: np.ndarray,
    wavelength: np.ndarray,
    *,
    step_fraction: float = 0.3,
) -> Artefacts:
    """Add cosmic rays, arm steps, bad columns and sky residuals to LAMOST flux.

    Parameters
    ----------
    rng : numpy.random.Generator
    flux : array, shape (num_stars, num_pixels)
        Noisy observed flux; not modified.
    sigma : array, shape (num_stars, num_pixels)
        Flux error (sets the artefacts' sizes).
    good : array of bool, shape (num_stars, num_pixels)
        Pixels with ``ivar > 0``; artefacts are placed only there.
    wavelength : array, shape (num_pixels,)
        Log-linear grid, Angstrom.
    step_fraction : float
        Expected fraction of stars with an arm step.

    Returns
    -------
    Artefacts
        Flux with artefacts, the int8 mask and the step parameters.
    """
    flux = np.array(flux, dtype=np.float64)
    code = np.zeros(flux.shape, dtype=np.int8)
    wavelength = np.asarray(wavelength, dtype=np.float64)
    columns = _bad_columns(rng, flux, sigma, code, good, wavelength)
    step_pixel, step_blue, step_red = _steps(
        rng, flux, sigma, code, good, wavelength, step_fraction
    )
    # the gain each pixel ended up with, so later artefacts scale like the flux
    index = np.arange(flux.shape[1])
    has = step_pixel >= 0
    step_factor = np.where(
        has[:, None] & (index[None, :] >= step_pixel[:, None]),
        step_red[:, None],
        step_blue[:, None],
    )
    _sky(rng, flux, sigma, code, good, wavelength, step_factor)
    _cosmic_rays(rng, flux, sigma, code, good, step_factor)
    return Artefacts(flux, code, step_pixel, step_blue, step_red, columns)
