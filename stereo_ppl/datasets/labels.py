"""Stellar labels and survey identifiers of the built-in dataset's stars.

The stars mimic APOGEE's high-S/N sample cross-matched with LAMOST: mostly
red giants (a red giant branch with a metallicity-dependent temperature, plus
a red clump), a small fraction of K dwarfs, a thin disk and an α-enhanced
thick disk.
"""

import numpy as np

__all__ = [
    "LABEL_NAMES",
    "LABEL_UNITS",
    "draw_apogee_ids",
    "draw_labels",
    "draw_obsids",
]

#: Names of the truth labels, in the order of the ``label`` coordinate.
LABEL_NAMES = ("teff", "logg", "fe_h", "alpha_fe")
#: Units of the truth labels, in the same order.
LABEL_UNITS = ("K", "log10(cm s-2)", "dex", "dex")

_TEFF_RANGE = (3_900.0, 5_400.0)
_FEH_RANGE = (-1.0, 0.4)
_ALPHA_RANGE = (0.0, 0.3)


def _truncnorm(rng: np.random.Generator, mean, sd, lo: float, hi: float) -> np.ndarray:
    """Normal draws with per-element ``mean`` and ``sd``, redrawn until in ``[lo, hi]``."""
    mean, sd = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sd, float))
    out = rng.normal(mean, sd)
    bad = (out < lo) | (out > hi)
    while np.any(bad):
        out[bad] = rng.normal(mean[bad], sd[bad])
        bad = (out < lo) | (out > hi)
    return out


def draw_labels(
    rng: np.random.Generator, num_stars: int, *, dwarf_fraction: float = 0.05
) -> np.ndarray:
    """Draw stellar labels.

    Parameters
    ----------
    rng : numpy.random.Generator
    num_stars : int
    dwarf_fraction : float
        Expected fraction of K dwarfs (log g ≈ 4.4–4.7); the rest are giants
        with 1 ≤ log g ≤ 3.5, a quarter of them in the red clump.

    Returns
    -------
    ndarray, shape (num_stars, 4), float64
        Columns in the order of :data:`LABEL_NAMES`: Teff in 3,900–5,400 K,
        log g, [Fe/H] in −1.0–+0.4 and [α/Fe] in 0–0.3, anticorrelated with
        [Fe/H] (thin disk) with an α-rich thick disk.
    """
    thick = rng.uniform(size=num_stars) < 0.25
    feh = _truncnorm(rng, np.where(thick, -0.45, -0.05), np.where(thick, 0.25, 0.2), *_FEH_RANGE)
    alpha_mean = np.where(thick, 0.22 - 0.10 * (feh + 0.45), 0.03 - 0.08 * feh)
    alpha = _truncnorm(rng, alpha_mean, 0.03, *_ALPHA_RANGE)

    kind = rng.choice(
        3, num_stars, p=[0.75 * (1 - dwarf_fraction), 0.25 * (1 - dwarf_fraction), dwarf_fraction]
    )
    # giant branch: more stars at higher log g (luminosity function)
    logg = 1.0 + 2.5 * rng.uniform(size=num_stars) ** 0.7
    teff_mean = 4_600.0 + 330.0 * (logg - 2.2) - 280.0 * feh
    teff_sd = np.full(num_stars, 60.0)
    clump = kind == 1
    logg[clump] = rng.normal(2.45, 0.08, clump.sum())
    teff_mean[clump] = 4_680.0 - 250.0 * feh[clump]
    teff_sd[clump] = 70.0
    dwarf = kind == 2
    teff_mean[dwarf] = rng.uniform(4_300.0, 5_400.0, dwarf.sum())
    teff_sd[dwarf] = 1.0
    teff = _truncnorm(rng, teff_mean, teff_sd, *_TEFF_RANGE)
    logg[dwarf] = 4.62 - 2.0e-4 * (teff[dwarf] - 4_300.0) + rng.normal(0.0, 0.06, dwarf.sum())
    return np.stack([teff, logg, feh, alpha], axis=1)


def _unique_draws(rng: np.random.Generator, num: int, draw) -> np.ndarray:
    """Call ``draw(rng, n)`` until ``num`` distinct values were drawn (draw order kept)."""
    values = draw(rng, num)
    while True:
        _, first = np.unique(values, return_index=True)
        if first.size == num:
            return values
        keep = np.sort(first)
        values = np.concatenate([values[keep], draw(rng, num - keep.size)])


def _apogee_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    ra_cs = rng.integers(0, 24 * 3600 * 100, n)  # RA in centiseconds of time
    dec = rng.uniform(-10.0, 60.0, n)  # LAMOST footprint
    dec_ds = np.round(np.abs(dec) * 36_000).astype(np.int64)  # deciarcseconds
    sign = np.where(dec < 0, "-", "+")
    return np.array(
        [
            f"2M{r // 360_000:02d}{r // 6_000 % 60:02d}{r % 6_000:04d}"
            f"{s}{d // 36_000:02d}{d // 600 % 60:02d}{d % 600:03d}"
            for r, s, d in zip(ra_cs.tolist(), sign.tolist(), dec_ds.tolist(), strict=True)
        ]
    )


def draw_apogee_ids(rng: np.random.Generator, num_stars: int) -> np.ndarray:
    """Draw unique 2MASS-style APOGEE ids from random sky positions.

    Returns
    -------
    ndarray, shape (num_stars,), str
        E.g. ``"2M05123456+1234567"``: ``2M``, RA as ``hhmmss.ss`` and Dec as
        ``±ddmmss.s`` without the points.
    """
    return _unique_draws(rng, num_stars, _apogee_ids)


def draw_obsids(rng: np.random.Generator, num_stars: int) -> np.ndarray:
    """Draw unique 9-digit LAMOST observation ids.

    Returns
    -------
    ndarray, shape (num_stars,), int64
        Values in ``[100_000_000, 800_000_000)``.
    """
    return _unique_draws(rng, num_stars, lambda r, n: r.integers(100_000_000, 800_000_000, n))
