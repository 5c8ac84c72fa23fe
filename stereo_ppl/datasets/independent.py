"""A second synthetic paired survey, independent of the built-in generator.

:func:`make_independent` shares no line model, noise model or artefact code
with :func:`~stereo_ppl.datasets.make_builtin`, so the denoiser's flags can be
checked on spectra they were never designed around:

* **stars**: a temperature-like ``theta`` (5040 / Teff), a gravity-like
  ``logg`` and two hidden abundances ``x1``, ``x2``, shared by both surveys;
* **lines**: Voigt profiles (Faddeeva function) whose optical depth follows a
  Boltzmann-like excitation term, an abundance of one of three species and a
  gravity term, saturating as ``exp(-tau)`` (curve of growth); a share of the
  survey-2 lines have a centre that moves with ``x2`` (a blend whose
  components change weight), which a linear decoder cannot follow;
* **survey 1** (4,000 pixels, 15,100-17,000 Å, R = 22,500) and **survey 2**
  (the LAMOST grid, R = 1,800), each with its own line list;
* **noise**: survey-2 S/N drawn log-uniformly in 30-800, its reported errors
  wrong by a per-star factor of 0.7-1.5 (the true sigma is the reported one
  times it), a smooth continuum-normalisation residue of up to ±1.5 %, a few
  dead pixels;
* **artefacts** (survey 2 only; truth codes as the denoiser's
  :data:`~stereo_ppl.denoise.ARTEFACT_CODES`): cosmic rays of 1-3 pixels peaked
  at +10 to +50 sigma (code 1); in a share of the spectra a step of ±3-10 % in
  the flux redward of a random wavelength in 5,700-6,000 Å, the jump pixel and
  its two neighbours marked (code 2); runs of 5-20 adjacent pixels offset by
  ±5-20 sigma, 70 % positive (code 5).

Sigma for the artefacts is the true noise of the pixel.
"""

from typing import NamedTuple

import numpy as np
import xarray as xr
from scipy.special import wofz

from .. import __version__
from ..data.grids import lamost_grid
from ..data.paired import make_paired
from ..dims import LAMOST_PIXEL, STAR

__all__ = ["INDEPENDENT_CODES", "IndependentSurvey", "make_independent"]

#: Truth codes of the artefacts this generator injects.
INDEPENDENT_CODES = {0: "none", 1: "cosmic_ray", 2: "step", 5: "run"}

_LINES_SEED = 20_190_601  # the line lists are fixed: every call describes the same "physics"
_STEP_RANGE = (5_700.0, 6_000.0)


class IndependentSurvey(NamedTuple):
    """A dataset of :func:`make_independent` and its truth.

    Attributes
    ----------
    paired : xarray.Dataset
        Paired dataset (``apogee_*``: survey 1, ``lamost_*``: survey 2).
    truth : xarray.Dataset
        ``lamost_artefact`` (star, lamost_pixel) int8, ``lamost_flux_true``,
        ``lamost_step_pixel`` (-1: none), ``lamost_snr``, ``error_factor``
        (true sigma / reported sigma) and the hidden parameters.
    """

    paired: xr.Dataset
    truth: xr.Dataset


class _Lines(NamedTuple):
    centre: np.ndarray  # Angstrom
    log_gf: np.ndarray
    excitation: np.ndarray  # eV-like
    species: np.ndarray  # 0: x1, 1: x2, 2: both (metal-like)
    gravity: np.ndarray  # d log tau / d logg
    damping: np.ndarray  # Lorentz / Gauss width ratio at logg = 2.5
    shift: np.ndarray  # Angstrom of centre shift per unit x2 (0 for most)


def _line_list(rng, lo, hi, num, *, shifting: float) -> _Lines:
    centre = np.sort(rng.uniform(lo, hi, num))
    shift = np.where(rng.uniform(size=num) < shifting, rng.choice([-1, 1], num) * 1.5, 0.0)
    return _Lines(
        centre,
        rng.normal(-0.5, 0.8, num),
        rng.uniform(0.0, 5.0, num),
        rng.integers(0, 3, num),
        rng.uniform(-0.4, 0.4, num),
        rng.lognormal(np.log(0.15), 0.6, num),
        shift * hi / 16_000.0,
    )


def _draw_stars(rng, num: int) -> dict[str, np.ndarray]:
    return {
        "theta": rng.uniform(0.9, 1.25, num),
        "logg": rng.uniform(0.8, 3.6, num),
        "x1": rng.normal(0.0, 0.25, num),
        "x2": rng.normal(0.0, 0.25, num),
    }


def _spectrum(lines: _Lines, wavelength, stars, resolution: float) -> np.ndarray:
    """Normalised flux (num_stars, num_pixels): ``exp(-0.5 sum_l tau_l V_l)``."""
    abundance = np.stack([stars["x1"], stars["x2"], 0.5 * (stars["x1"] + stars["x2"])], axis=-1)
    theta, logg = stars["theta"][:, None], stars["logg"][:, None]
    log_tau = (
        lines.log_gf[None, :]
        + 2.3 * abundance[:, lines.species]
        - lines.excitation[None, :] * theta
        + lines.gravity[None, :] * (logg - 2.5)
        + 0.8
    )
    tau = np.exp(np.clip(log_tau, -20.0, 4.0))  # (num_stars, num_lines)
    centre = lines.centre[None, :] + lines.shift[None, :] * stars["x2"][:, None] / 0.25
    sigma = centre / resolution / 2.355 * np.sqrt(1.0 + 0.3 / theta)
    gamma = sigma * lines.damping[None, :] * 10.0 ** (0.25 * (logg - 2.5))
    depth = np.zeros((theta.size, wavelength.size))
    for line in range(lines.centre.size):
        k = int(np.searchsorted(wavelength, lines.centre[line]))
        step = wavelength[min(k, wavelength.size - 1)] - wavelength[max(k - 1, 0)]
        reach = 40.0 * sigma[:, line].max() + abs(lines.shift[line]) * 4.0
        half = int(np.ceil(reach / step)) + 1
        win = slice(max(k - half, 0), min(k + half + 1, wavelength.size))
        z = (
            wavelength[None, win] - centre[:, line : line + 1] + 1j * gamma[:, line : line + 1]
        ) / (sigma[:, line : line + 1] * np.sqrt(2.0))
        depth[:, win] += tau[:, line : line + 1] * wofz(z).real
    return np.exp(-0.5 * depth)


def _continuum_residue(rng, wavelength, num) -> np.ndarray:
    """Smooth multiplicative residue of a continuum fit, up to about ±1.5 %."""
    x = 2.0 * (wavelength - wavelength[0]) / (wavelength[-1] - wavelength[0]) - 1.0
    basis = np.polynomial.legendre.legvander(x, 5)[:, 1:]  # (m, 5)
    coeff = rng.normal(0.0, 0.004, (num, 5))
    return 1.0 + coeff @ basis.T


def _runs(rng, flux, sigma, code, num_max=2):
    n, m = flux.shape
    for star in range(n):
        for _ in range(int(rng.integers(0, num_max + 1))):
            width = int(rng.integers(5, 21))
            start = int(rng.integers(5, m - width - 5))
            part = slice(start, start + width)
            if np.any(code[star, start - 3 : start + width + 3]):
                continue
            sign = 1.0 if rng.uniform() < 0.7 else -1.0
            flux[star, part] += sign * rng.uniform(5.0, 20.0) * sigma[star, part]
            code[star, part] = 5


def _cosmic_rays(rng, flux, sigma, code, num_max=3):
    n, m = flux.shape
    for star in range(n):
        for _ in range(int(rng.integers(0, num_max + 1))):
            width = int(rng.integers(1, 4))
            start = int(rng.integers(3, m - width - 3))
            part = slice(start, start + width)
            if np.any(code[star, start - 2 : start + width + 2]):
                continue
            peak = rng.uniform(10.0, 50.0)
            # charge spread from the hit pixel: the others at 30-100 % of the peak
            shape = np.ones(width) if width == 1 else rng.uniform(0.3, 1.0, width)
            shape[rng.integers(0, width)] = 1.0
            flux[star, part] += peak * shape * sigma[star, part]
            code[star, part] = 1


def _steps(rng, flux, code, wavelength, fraction) -> np.ndarray:
    n = flux.shape[0]
    lo, hi = np.searchsorted(wavelength, _STEP_RANGE)
    where = np.full(n, -1, np.int64)
    for star in np.flatnonzero(rng.uniform(size=n) < fraction):
        k = int(rng.integers(lo, hi))
        size = rng.choice([-1.0, 1.0]) * rng.uniform(0.03, 0.10)
        flux[star, k:] *= 1.0 + size
        code[star, k - 1 : k + 2] = 2
        where[star] = k
    return where


def make_independent(
    seed: int,
    *,
    num_stars: int = 600,
    artefacts: bool = True,
    step_fraction: float = 0.3,
    snr_range: tuple[float, float] = (30.0, 800.0),
) -> IndependentSurvey:
    """Paired survey-1 and survey-2 spectra of ``num_stars`` stars, with the truth.

    Parameters
    ----------
    seed : int
        Seeds the stars, noise and artefacts (the line lists are fixed).
    num_stars : int
    artefacts : bool
        False: no artefacts (for false-alarm rates).
    step_fraction : float
        Expected share of survey-2 spectra with a step.
    snr_range : (float, float)
        Survey-2 S/N, drawn log-uniformly.

    Returns
    -------
    IndependentSurvey
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise TypeError(f"seed must be a non-negative int; got {seed!r}")
    lines_rng = np.random.default_rng(_LINES_SEED)
    wl1 = np.geomspace(15_100.0, 17_000.0, 4_000)
    wl2 = lamost_grid()
    lines1 = _line_list(lines_rng, wl1[0], wl1[-1], 350, shifting=0.0)
    lines2 = _line_list(lines_rng, wl2[0], wl2[-1], 900, shifting=0.08)
    rng = np.random.default_rng([seed, 7_355_608])
    stars = _draw_stars(rng, num_stars)
    true1 = _spectrum(lines1, wl1, stars, 22_500.0)
    true2 = _spectrum(lines2, wl2, stars, 1_800.0) * _continuum_residue(rng, wl2, num_stars)
    snr1 = rng.uniform(200.0, 600.0, num_stars)
    sigma1 = true1 / snr1[:, None]
    flux1 = true1 + sigma1 * rng.normal(size=true1.shape)
    snr2 = np.exp(rng.uniform(*np.log(snr_range), num_stars))
    # S/N falls to the blue end like a spectrograph's throughput
    shape = 0.45 + 0.55 * np.clip((wl2 - 3_700.0) / 2_500.0, 0.0, 1.0)
    sigma2 = np.abs(true2) / (snr2[:, None] * shape[None, :]) + 1e-4
    factor = rng.uniform(0.7, 1.5, num_stars)
    flux2 = true2 + sigma2 * rng.normal(size=true2.shape)
    ivar2 = (factor[:, None] / sigma2) ** 2  # the reported sigma is sigma2 / factor
    dead = rng.uniform(size=ivar2.shape) < 2e-4
    ivar2[dead] = 0.0
    code = np.zeros(flux2.shape, np.int8)
    step = np.full(num_stars, -1, np.int64)
    if artefacts:
        step = _steps(rng, flux2, code, wl2, step_fraction)
        _runs(rng, flux2, sigma2, code)
        _cosmic_rays(rng, flux2, sigma2, code)
    code[dead] = 0
    paired = make_paired(
        apogee_flux=flux1.astype(np.float32),
        apogee_ivar=(1.0 / sigma1**2).astype(np.float32),
        lamost_flux=flux2.astype(np.float32),
        lamost_ivar=ivar2.astype(np.float32),
        apogee_wavelength=wl1,
        lamost_wavelength=wl2,
        apogee_id=[f"2M{seed:04d}{i:06d}+IND" for i in range(num_stars)],
        obsid=700_000_000 + 10_000 * seed + np.arange(num_stars),
        attrs={"source": "stereo_ppl.datasets.make_independent", "seed": int(seed)},
        survey1="independent-ir",
        survey2="independent-optical",
    )
    truth = xr.Dataset(
        {
            "lamost_artefact": ((STAR, LAMOST_PIXEL), code),
            "lamost_flux_true": ((STAR, LAMOST_PIXEL), true2),
            "lamost_step_pixel": (STAR, step),
            "lamost_snr": (STAR, snr2),
            "error_factor": (STAR, factor),
            **{name: (STAR, value) for name, value in stars.items()},
        },
        coords={STAR: paired[STAR].values},
        attrs={"stereo_ppl_version": __version__, "seed": int(seed)},
    )
    truth["lamost_artefact"].attrs["flag_meanings"] = " ".join(INDEPENDENT_CODES.values())
    return IndependentSurvey(paired, truth)
