"""The fixed line lists ("physics") shared by every built-in dataset.

Each survey has a list of weak-to-strong lines with Gaussian profiles and a
short table of strong lines with damping wings. The optical depth at the
centre of line ``l`` for a star with labels ``(Teff, log g, [Fe/H], [α/Fe])``
is ``tau_l = 10 ** (coeffs[l] @ features)``, with the features of
:func:`stereo_ppl.datasets.spectra.label_features`::

    log10 tau_l = s_l + a_fe [Fe/H] + a_alpha [α/Fe] + a_theta (θ - θ_ref)
                + a_logg (log g - 2.5) + a_mix m(log g)

where ``θ = 5040 K / Teff`` and ``m`` is the first-dredge-up mixing of
giants. The coefficients follow the textbook behaviour of line strength
relative to the H⁻ continuum: neutral lines of mostly-ionised elements grow
as ``10 ** (k θ (I - 0.75 - χ))`` (``I`` ionisation energy, ``χ`` excitation
potential, eV; ``k = 0.4`` tempers the textbook slope) and hardly depend on
gravity; lines of the dominant ion go as ``10 ** (-k θ (0.75 + χ))`` and
weaken with gravity; molecules (CO, CN, OH, CH, MgH, TiO) grow steeply in
cool stars (large ``a_theta``), faster than linearly with metallicity, and
CO/CN respond to the mixing of giants. α-element lines (Mg, Si, S, Ca, Ti, and
OH through O) also respond to [α/Fe]. The flux ``exp(-tau)`` saturates, so
line depths are non-linear functions of the labels even where ``log10 tau``
is linear in the features.

The lists are drawn once from :data:`LINELIST_SEED` with a NumPy
``Generator``, so every dataset, whatever its own seed, shares them.
"""

from functools import cache
from typing import NamedTuple

import numpy as np

__all__ = [
    "COEFFICIENT_NAMES",
    "LINELIST_SEED",
    "LineList",
    "StrongLines",
    "apogee_lines",
    "apogee_strong_lines",
    "assemble_lines",
    "atomic_lines",
    "lamost_lines",
    "lamost_strong_lines",
]

#: Seed of the NumPy ``Generator`` that draws the line lists. Changing it
#: changes the "physics" of every built-in dataset.
LINELIST_SEED = 20_240_617

#: Order of the columns of :attr:`LineList.coeffs` (matches the features).
COEFFICIENT_NAMES = ("s", "a_fe", "a_alpha", "a_theta", "a_logg", "a_mix")


class LineList(NamedTuple):
    """Lines with Gaussian profiles at the survey's resolution.

    Attributes
    ----------
    wavelength : ndarray, shape (num_lines,), float64
        Vacuum wavelength of the line centre, Angstrom.
    group : ndarray, shape (num_lines,), str
        Species group, e.g. ``"fe_peak_neutral"``, ``"alpha_neutral"``, ``"co"``.
    coeffs : ndarray, shape (num_lines, 6), float64
        Coefficients of ``log10 tau`` in the order of :data:`COEFFICIENT_NAMES`.
    """

    wavelength: np.ndarray
    group: np.ndarray
    coeffs: np.ndarray


class StrongLines(NamedTuple):
    """Strong lines: a Gaussian core plus Lorentzian damping wings.

    The optical depth of line ``l`` at offset ``Δ`` (Angstrom) from its centre is
    ``tau_l (G(Δ) + wing_l γ² / (Δ² + γ²))`` with ``G`` the instrumental
    Gaussian and ``γ = gamma_l 10 ** (gamma_logg_l (log g - 2.5))
    (Teff / 4700 K) ** gamma_teff_l``.

    Attributes
    ----------
    name : ndarray, shape (num_lines,), str
    wavelength : ndarray, shape (num_lines,), float64
        Vacuum wavelength, Angstrom.
    coeffs : ndarray, shape (num_lines, 6), float64
        As :attr:`LineList.coeffs`.
    wing, gamma, gamma_logg, gamma_teff : ndarray, shape (num_lines,), float64
        Wing amplitude relative to the core, damping half-width at the
        reference star (Angstrom) and its gravity and temperature exponents.
    """

    name: np.ndarray
    wavelength: np.ndarray
    coeffs: np.ndarray
    wing: np.ndarray
    gamma: np.ndarray
    gamma_logg: np.ndarray
    gamma_teff: np.ndarray


#: Ionisation energies (eV) of the elements drawn for each atomic group.
_IONISATION = {
    "fe_peak": (7.90, 7.64, 6.77, 7.43, 6.75, 7.88),  # Fe Ni Cr Mn V Co
    "alpha": (7.65, 8.15, 6.11, 6.83, 10.36),  # Mg Si Ca Ti S
    "odd_z": (5.14, 5.99, 4.34, 6.56),  # Na Al K Sc
}


#: Fraction of the textbook temperature sensitivity kept by atomic lines: the
#: line-forming layers of cooler stars sit higher, at lower temperature
#: contrast, which flattens the Boltzmann–Saha factor of the line.
_THETA_SCALE = 0.4


def _strengths(rng: np.random.Generator, n: int, *, top: float, span: float) -> np.ndarray:
    """Reference ``log10 tau`` in ``[top - span, top]``, density rising linearly to weak lines."""
    return top - span * np.sqrt(rng.uniform(size=n))


def atomic_lines(rng, n, wl_range, *, kind, ion, chi, top, span, density_power):
    """Draw ``n`` atomic lines of one group (see the module docstring)."""
    lo, hi = wl_range
    # density ∝ λ**density_power: inverse-CDF draw of the wavelengths
    p = density_power + 1.0
    u = rng.uniform(size=n)
    wavelength = (lo**p + u * (hi**p - lo**p)) ** (1.0 / p)
    chi = rng.uniform(*chi, n)
    energy = rng.choice(_IONISATION[kind], n)
    coeffs = np.zeros((n, 6))
    coeffs[:, 0] = _strengths(rng, n, top=top, span=span)
    coeffs[:, 1] = 0.5 if ion else 1.0  # ions: continuum ∝ P_e ∝ Z**0.5
    coeffs[:, 2] = {"alpha": 1.0, "odd_z": rng.uniform(-0.3, 0.3, n)}.get(kind, 0.0)
    coeffs[:, 3] = _THETA_SCALE * (-(0.75 + chi) if ion else energy - 0.75 - chi)
    coeffs[:, 4] = -1.0 / 3.0 if ion else rng.normal(0.0, 0.05, n)
    group = np.full(n, f"{kind}_{'ion' if ion else 'neutral'}")
    return wavelength, group, coeffs


def _molecular(rng, n, heads, *, group, spacing, base, drop, sensitivity):
    """Draw bands of ``n`` lines in total from each band head (``spacing < 0``: blueward).

    ``sensitivity`` is ``(a_fe, a_alpha, a_theta, a_logg, a_mix)``, as in the strong-line tables.
    """
    per = n // len(heads)
    j = np.arange(per, dtype=np.float64)
    offset = spacing * j + 0.015 * spacing * j**2
    wavelength = (np.asarray(heads)[:, None] + offset[None, :]).ravel()
    wavelength = wavelength * (1.0 + rng.normal(0.0, 2e-6, wavelength.size))
    coeffs = np.zeros((wavelength.size, 6))
    # rotational distribution: strength peaks a few lines from the head
    profile = -drop * ((j - per / 4.0) / per) ** 2
    coeffs[:, 0] = (base + profile[None, :] + rng.normal(0.0, 0.25, (len(heads), per))).ravel()
    coeffs[:, 1:] = sensitivity
    coeffs[:, 3] += rng.normal(0.0, 0.3, wavelength.size)
    return wavelength, np.full(wavelength.size, group), coeffs


def _scattered(rng, n, wl_range, *, group, top, span, sensitivity):
    """Molecular lines scattered uniformly over a range (e.g. CN, OH)."""
    wavelength = rng.uniform(*wl_range, n)
    coeffs = np.zeros((n, 6))
    coeffs[:, 0] = _strengths(rng, n, top=top, span=span)
    coeffs[:, 1:] = sensitivity
    coeffs[:, 3] += rng.normal(0.0, 0.5, n)
    return wavelength, np.full(n, group), coeffs


def assemble_lines(parts) -> LineList:
    """One :class:`LineList` sorted by wavelength from ``(wavelength, group, coeffs)`` parts."""
    wavelength, group, coeffs = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.argsort(wavelength, kind="stable")
    out = LineList(wavelength[order], group[order], coeffs[order])
    for arr in out:
        arr.setflags(write=False)
    return out


@cache
def apogee_lines() -> LineList:
    """The APOGEE (H band, 15,100–17,000 Å) line list, 2,560 lines.

    Returns
    -------
    LineList
        Fe-peak and α-element neutral lines (high excitation, as in the H
        band), odd-Z lines, a few ions, CO second-overtone bands, CN and OH.
    """
    rng = np.random.default_rng([LINELIST_SEED, 1])
    wl = (15_120.0, 16_980.0)
    common = {"top": -0.25, "span": 1.6, "density_power": 0.0}
    parts = [
        atomic_lines(rng, 1_100, wl, kind="fe_peak", ion=False, chi=(2.5, 6.5), **common),
        atomic_lines(rng, 600, wl, kind="alpha", ion=False, chi=(2.5, 7.0), **common),
        atomic_lines(rng, 150, wl, kind="odd_z", ion=False, chi=(1.0, 5.0), **common),
        atomic_lines(
            rng,
            30,
            wl,
            kind="fe_peak",
            ion=True,
            chi=(3.0, 6.0),
            top=-0.5,
            span=2.0,
            density_power=0.0,
        ),
        # 12CO Δv = 3 band heads; lines run redward of each head
        _molecular(
            rng,
            280,
            (15_582.0, 15_780.0, 15_982.0, 16_189.0, 16_397.0, 16_610.0, 16_840.0),
            group="co",
            spacing=2.2,
            base=-1.0,
            drop=3.0,
            sensitivity=(1.0, 0.0, 4.0, -0.3, -0.3),
        ),
        _scattered(
            rng,
            260,
            wl,
            group="cn",
            top=-1.1,
            span=2.0,
            sensitivity=(1.5, 0.0, 5.0, -0.2, 0.4),
        ),
        _scattered(
            rng,
            140,
            (15_120.0, 16_400.0),
            group="oh",
            top=-1.4,
            span=2.0,
            sensitivity=(1.0, 1.0, 8.0, -0.2, 0.0),
        ),
    ]
    return assemble_lines(parts)


@cache
def lamost_lines() -> LineList:
    """The LAMOST (3,700–9,100 Å) line list, 2,910 lines, denser in the blue.

    Returns
    -------
    LineList
        Fe-peak and α-element neutral and ionised lines, odd-Z lines, and the
        molecular CN (3,883 and 4,216 Å), CH G band, MgH and TiO bands.
    """
    rng = np.random.default_rng([LINELIST_SEED, 2])
    wl = (3_700.0, 9_100.0)
    common = {"top": -0.2, "span": 2.0, "density_power": -2.5}
    parts = [
        atomic_lines(rng, 1_500, wl, kind="fe_peak", ion=False, chi=(0.0, 5.0), **common),
        atomic_lines(rng, 140, wl, kind="fe_peak", ion=True, chi=(2.5, 4.0), **common),
        atomic_lines(rng, 600, wl, kind="alpha", ion=False, chi=(0.0, 6.0), **common),
        atomic_lines(rng, 80, wl, kind="alpha", ion=True, chi=(1.0, 4.0), **common),
        atomic_lines(rng, 140, wl, kind="odd_z", ion=False, chi=(0.0, 4.0), **common),
        _molecular(
            rng,
            120,
            (3_884.0, 4_217.0),
            group="cn",
            spacing=-0.9,
            base=-1.6,
            drop=2.5,
            sensitivity=(1.5, 0.0, 5.0, -0.2, 0.4),
        ),
        _molecular(
            rng,
            100,
            (4_280.0, 4_315.0),
            group="ch",
            spacing=0.5,
            base=-1.2,
            drop=2.0,
            sensitivity=(1.0, 0.0, 4.0, -0.2, -0.3),
        ),
        _molecular(
            rng,
            80,
            (5_140.0, 5_212.0),
            group="mgh",
            spacing=-0.8,
            base=-1.5,
            drop=2.0,
            sensitivity=(1.0, 1.0, 5.0, 0.6, 0.0),
        ),
        _molecular(
            rng,
            150,
            (4_956.0, 5_168.0, 5_449.0, 6_160.0, 7_055.0),
            group="tio",
            spacing=1.0,
            base=-2.0,
            drop=2.0,
            sensitivity=(1.0, 1.0, 10.0, 0.0, 0.0),
        ),
    ]
    return assemble_lines(parts)


def _strong(rows) -> StrongLines:
    name, wavelength, coeffs, wing, gamma, gamma_logg, gamma_teff = zip(*rows, strict=True)
    out = StrongLines(
        np.array(name),
        np.array(wavelength),
        np.array(coeffs, dtype=np.float64),
        np.array(wing),
        np.array(gamma),
        np.array(gamma_logg),
        np.array(gamma_teff),
    )
    for arr in out:
        arr.setflags(write=False)
    return out


# (s, a_fe, a_alpha, a_theta, a_logg, a_mix) of the strong-line species.
# Hydrogen: a_theta is an effective value (NLTE and chromospheric filling
# flatten the textbook -10.95 of the n = 2 level relative to H⁻).
_HYDROGEN = (-0.2, -0.3, 0.0, -4.0, -0.2, 0.0)
_BRACKETT = (-0.9, -0.3, 0.0, -5.0, -0.2, 0.0)


@cache
def lamost_strong_lines() -> StrongLines:
    """Balmer lines, Ca II H&K and triplet, Ca I 4228, Mg b and Na D (vacuum)."""
    rows = [
        ("H-alpha", 6564.61, _HYDROGEN, 0.020, 3.0, 0.2, 3.0),
        ("H-beta", 4862.68, (-0.35, *_HYDROGEN[1:]), 0.020, 2.4, 0.2, 3.0),
        ("H-gamma", 4341.69, (-0.5, *_HYDROGEN[1:]), 0.020, 2.0, 0.2, 3.0),
        ("H-delta", 4102.89, (-0.6, *_HYDROGEN[1:]), 0.020, 1.8, 0.2, 3.0),
        ("Ca II K", 3934.78, (3.0, 0.5, 1.0, -0.75, -1 / 3, 0.0), 0.004, 1.5, 0.3, 0.0),
        ("Ca II H", 3969.59, (2.7, 0.5, 1.0, -0.75, -1 / 3, 0.0), 0.004, 1.5, 0.3, 0.0),
        ("Ca II 8500", 8500.36, (0.0, 0.5, 1.0, -2.45, -1 / 3, 0.0), 0.010, 1.0, 0.3, 0.0),
        ("Ca II 8544", 8544.44, (0.4, 0.5, 1.0, -2.45, -1 / 3, 0.0), 0.010, 1.0, 0.3, 0.0),
        ("Ca II 8665", 8664.52, (0.3, 0.5, 1.0, -2.45, -1 / 3, 0.0), 0.010, 1.0, 0.3, 0.0),
        ("Ca I 4228", 4227.92, (1.2, 1.0, 1.0, 5.35, 0.0, 0.0), 0.010, 0.6, 0.4, 0.0),
        ("Mg b1", 5185.05, (1.0, 1.0, 1.0, 4.2, 0.0, 0.0), 0.010, 0.5, 0.4, 0.0),
        ("Mg b2", 5174.13, (0.9, 1.0, 1.0, 4.2, 0.0, 0.0), 0.010, 0.5, 0.4, 0.0),
        ("Mg b4", 5168.76, (0.7, 1.0, 1.0, 4.2, 0.0, 0.0), 0.010, 0.5, 0.4, 0.0),
        ("Na D2", 5891.58, (1.0, 1.0, 0.0, 4.35, 0.0, 0.0), 0.010, 0.4, 0.4, 0.0),
        ("Na D1", 5897.56, (0.8, 1.0, 0.0, 4.35, 0.0, 0.0), 0.010, 0.4, 0.4, 0.0),
    ]
    return _strong(rows)


@cache
def apogee_strong_lines() -> StrongLines:
    """Brackett lines (Br 11–20), the Mg I triplet, K I and Al I (vacuum)."""
    brackett = (
        16_811.1,
        16_411.7,
        16_113.7,
        15_884.9,
        15_704.9,
        15_560.7,
        15_443.1,
        15_345.9,
        15_264.7,
        15_196.0,
    )
    rows = [
        (f"Br {11 + k}", w, (_BRACKETT[0] - 0.05 * k, *_BRACKETT[1:]), 0.05, 2.0, 0.2, 3.0)
        for k, w in enumerate(brackett)
    ]
    metals = [
        ("Mg I 15745", 15_744.99, (-0.3, 1.0, 1.0, 1.4, 0.0, 0.0)),
        ("Mg I 15753", 15_753.29, (-0.2, 1.0, 1.0, 1.4, 0.0, 0.0)),
        ("Mg I 15770", 15_770.15, (-0.1, 1.0, 1.0, 1.4, 0.0, 0.0)),
        ("K I 15167", 15_167.21, (-0.2, 1.0, 0.0, 0.6, 0.0, 0.0)),
        ("K I 15172", 15_172.52, (-0.4, 1.0, 0.0, 0.6, 0.0, 0.0)),
        ("Al I 16723", 16_723.52, (-0.4, 1.0, 0.2, 1.2, 0.0, 0.0)),
        ("Al I 16755", 16_755.14, (-0.2, 1.0, 0.2, 1.2, 0.0, 0.0)),
        ("Al I 16768", 16_767.94, (-0.5, 1.0, 0.2, 1.2, 0.0, 0.0)),
    ]
    rows += [(n, w, c, 0.02, 0.4, 0.4, 0.0) for n, w, c in metals]
    return _strong(rows)
