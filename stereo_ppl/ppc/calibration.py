"""Calibration of a predictive check: coverage, PIT, chi-square per star.

Only good pixels (``lamost_ivar > 0`` and finite observed flux) enter;
masked pixels have no predictive noise defined.

* **PIT** of pixel ``(i, p)``: ``u = (#{rep < y} + U (#{rep == y} + 1)) / (N + 1)``
  over the ``N`` replicates, ``U ~ Uniform(0, 1)``. For a calibrated model the
  rank of ``y`` among the replicates is uniform, so ``u`` is exactly
  Uniform(0, 1) whatever ``N`` (no discreteness bias).
* **Coverage** of the central ``prob`` predictive interval: the fraction of
  pixels with ``|u - 1/2| < prob / 2`` (ArviZ's ``coverage=True`` convention),
  overall, per wavelength region (:data:`~stereo_ppl.ppc.regions.LAMOST_REGIONS`)
  and per star S/N bin.
* **Chi-square per star**: ``T_d = sum_p ivar (y - mu_d)^2`` over good pixels,
  from the ``log_likelihood`` group; its expected distribution for replicated
  data is chi-square with ``num_good`` degrees of freedom, and
  ``chi2_pvalue = mean_d P(chi2_dof >= T_d)`` is the posterior predictive
  p-value of that discrepancy.
* **Per pixel** (over stars): coverage, mean squared standardised residual
  ``z = (y - mean rep) / sd rep``, and a two-sided binomial test of the
  number of stars outside each interval; ``miscalibrated`` marks pixels whose
  smallest p-value is below ``alpha / num_pixels`` (Bonferroni).
"""

import jax
import numpy as np
import xarray as xr
from arviz_stats.base import array_stats
from scipy import stats

from ..data.validate import dim_coords
from ..dims import LAMOST_PIXEL, LAMOST_WAVELENGTH, STAR
from ..models import eq12
from .draw import SITE
from .predictive import REP
from .regions import LAMOST_REGIONS, SNR_EDGES, region_mask, snr_bin_labels, star_snr

__all__ = ["PROB", "PROBS", "SUBSET", "calibrate"]

#: Dimension of the interval probabilities.
PROB = "prob"
#: Dimension of the pixel subsets (all, regions, S/N bins).
SUBSET = "subset"
#: Default central-interval probabilities.
PROBS = (0.5, 0.68, 0.95)
#: Largest number of PIT values given to the arviz-stats uniformity test.
MAX_UNIFORMITY = 5000


def calibrate(
    rng_key,
    ppc: xr.DataTree,
    *,
    probs=PROBS,
    regions=LAMOST_REGIONS,
    snr_edges=SNR_EDGES,
    alpha: float = 0.01,
    chunk_size: int = 16,
) -> xr.Dataset:
    """Calibration numbers of a predictive-check tree.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key of the PIT tie-breaking uniforms and of the subsample given
        to the arviz-stats uniformity test.
    ppc : xarray.DataTree
        From :func:`~stereo_ppl.ppc.posterior_predictive` (or read back from
        its file; a lazily opened file is read ``chunk_size`` stars at a time).
    probs : sequence of float
        Central predictive interval probabilities.
    regions : mapping
        Name -> ((start, stop), ...) vacuum wavelength windows in Angstrom.
    snr_edges : sequence of float
        Edges of the per-star S/N bins.
    alpha : float
        Family-wise level of the per-pixel miscalibration flag.
    chunk_size : int
        Stars read at a time.

    Returns
    -------
    xarray.Dataset
        ``pit`` (star, lamost_pixel), NaN where masked; ``coverage`` (subset,
        prob); ``num_pixels``, ``num_stars``, ``mean_z2``, ``pit_ks_pvalue``
        (subset); ``chi2``, ``chi2_dof``, ``chi2_pvalue``, ``snr`` (star);
        ``pixel_coverage`` (lamost_pixel, prob); ``pixel_num_stars``,
        ``pixel_z2``, ``pixel_pvalue``, ``miscalibrated`` (lamost_pixel);
        ``pit_uniformity_pvalue`` (scalar, arviz-stats ``pot_c`` test on at
        most 5,000 PIT values). The ``subset`` coordinate names each subset and
        ``subset_kind`` is ``"all"``, ``"region"`` or ``"snr"``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    key_pit, key_sub = jax.random.split(rng_key)
    pit, z, good = _pit_and_z(key_pit, ppc, chunk_size)
    ivar = np.asarray(ppc["constant_data"]["lamost_ivar"].values, dtype=np.float64)
    flux = np.asarray(ppc["observed_data"][SITE].values, dtype=np.float64)
    wavelength = np.asarray(ppc["observed_data"][LAMOST_WAVELENGTH].values)
    snr = star_snr(flux, ivar)
    inside = np.abs(pit[..., None] - 0.5) < probs / 2  # (star, pixel, prob)

    masks, labels, kinds = [good], ["all pixels"], ["all"]
    for name, windows in regions.items():
        masks.append(good & region_mask(wavelength, windows)[None, :])
        labels.append(name)
        kinds.append("region")
    which = np.digitize(snr, snr_edges[1:-1])
    for b, label in enumerate(snr_bin_labels(snr_edges)):
        masks.append(good & (which == b)[:, None] & np.isfinite(snr)[:, None])
        labels.append(label)
        kinds.append("snr")
    keep = [k for k, m in enumerate(masks) if k == 0 or m.any()]
    subsets = {
        "coverage": np.array([_masked_mean(inside, masks[k]) for k in keep]),
        "num_pixels": np.array([int(masks[k].sum()) for k in keep]),
        "num_stars": np.array([int(masks[k].any(axis=1).sum()) for k in keep]),
        "mean_z2": np.array([_nanmean(z[masks[k]] ** 2) for k in keep]),
        "pit_ks_pvalue": np.array([_ks(pit[masks[k]]) for k in keep]),
    }

    pixel_n = good.sum(axis=0)
    outside = (good[..., None] & ~inside).sum(axis=0)  # (pixel, prob)
    pixel_p = _binomial_two_sided(outside, pixel_n[:, None], 1.0 - probs).min(axis=1)
    tested = int((pixel_n > 0).sum())
    chi2, dof, chi2_p = _chi2_per_star(ppc, good, ivar)
    pits = pit[good]
    pick = np.asarray(jax.random.permutation(key_sub, pits.size))[:MAX_UNIFORMITY]
    uniform_p = _uniformity_pvalue(pits[pick]) if pits.size else np.nan

    star_coords = dim_coords(ppc["observed_data"], STAR)
    pixel_coords = dim_coords(ppc["observed_data"], LAMOST_PIXEL)
    subset_coords = {
        SUBSET: np.array([labels[k] for k in keep]),
        "subset_kind": (SUBSET, np.array([kinds[k] for k in keep])),
        PROB: probs,
    }
    with np.errstate(invalid="ignore"):
        pixel_cov = (good[..., None] & inside).sum(axis=0) / pixel_n[:, None]
        pixel_z2 = np.nansum(np.where(good, z**2, np.nan), axis=0) / pixel_n
    data = {
        "pit": ((STAR, LAMOST_PIXEL), pit, {"long_name": "randomised PIT, NaN if masked"}),
        "coverage": ((SUBSET, PROB), subsets["coverage"], {"long_name": "interval coverage"}),
        "num_pixels": (SUBSET, subsets["num_pixels"]),
        "num_stars": (SUBSET, subsets["num_stars"]),
        "mean_z2": (SUBSET, subsets["mean_z2"], {"long_name": "mean squared z-score"}),
        "pit_ks_pvalue": (SUBSET, subsets["pit_ks_pvalue"], {"long_name": "KS test of PIT"}),
        "chi2": (STAR, chi2, {"long_name": "mean over draws of sum ivar (y - mu)^2"}),
        "chi2_dof": (STAR, dof, {"long_name": "number of good pixels"}),
        "chi2_pvalue": (STAR, chi2_p, {"long_name": "P(chi2_dof >= T), mean over draws"}),
        "snr": (STAR, snr, {"long_name": "median S/N per good pixel"}),
        "pixel_coverage": ((LAMOST_PIXEL, PROB), pixel_cov),
        "pixel_num_stars": (LAMOST_PIXEL, pixel_n),
        "pixel_z2": (LAMOST_PIXEL, pixel_z2, {"long_name": "mean squared z-score over stars"}),
        "pixel_pvalue": (LAMOST_PIXEL, pixel_p, {"long_name": "binomial test of coverage"}),
        "miscalibrated": (LAMOST_PIXEL, pixel_p < alpha / max(tested, 1)),
        "pit_uniformity_pvalue": ((), uniform_p, {"long_name": "arviz-stats pot_c test"}),
    }
    attrs = {
        "alpha": alpha,
        "num_replicates": _num_replicates(ppc),
        "predictive": str(ppc.attrs.get("predictive", "")),
        "num_latent": int(ppc.attrs.get("num_latent", -1)),
        "method": str(ppc.attrs.get("method", "")),
        "masked_pixels": "lamost_ivar == 0 or non-finite observed flux: excluded",
    }
    return xr.Dataset(data, coords=star_coords | pixel_coords | subset_coords, attrs=attrs)


def _num_replicates(ppc: xr.DataTree) -> int:
    pp = ppc["posterior_predictive"]
    return int(pp.sizes["chain"] * pp.sizes["draw"])


def _pit_and_z(rng_key, ppc: xr.DataTree, chunk_size: int):
    """Randomised PIT and z-scores (star, pixel), and the good-pixel mask."""
    rep = ppc["posterior_predictive"][REP]
    observed = ppc["observed_data"][SITE]
    ivar = ppc["constant_data"]["lamost_ivar"]
    num_stars, num_pixels = observed.shape
    pit = np.full((num_stars, num_pixels), np.nan)
    z = np.full((num_stars, num_pixels), np.nan)
    good = np.zeros((num_stars, num_pixels), dtype=bool)
    for k, start in enumerate(range(0, num_stars, chunk_size)):
        part = {STAR: slice(start, start + chunk_size)}
        y = np.asarray(observed.isel(part).values, dtype=np.float64)
        draws = np.asarray(rep.isel(part).values).reshape(-1, *y.shape)
        ok = (np.asarray(ivar.isel(part).values) > 0) & np.isfinite(y)
        ok &= np.isfinite(draws).all(axis=0)
        less = (draws < y).sum(axis=0)
        equal = (draws == y).sum(axis=0)
        u = np.asarray(jax.random.uniform(jax.random.fold_in(rng_key, k), y.shape))
        rows = slice(start, start + y.shape[0])
        pit[rows] = np.where(ok, (less + u * (equal + 1)) / (draws.shape[0] + 1), np.nan)
        sd = draws.std(axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = draws.mean(axis=0, dtype=np.float64)
            z[rows] = np.where(ok & (sd > 0), (y - mean) / sd, np.nan)
        good[rows] = ok
    return pit, z, good


def _chi2_per_star(ppc: xr.DataTree, good: np.ndarray, ivar: np.ndarray):
    """``T_d`` from the log likelihood; its mean, dof and predictive p-value per star."""
    loglik = np.asarray(ppc["log_likelihood"][SITE].values, dtype=np.float64)
    loglik = loglik.reshape(-1, loglik.shape[-1])  # (draw, star)
    const_data = ppc["constant_data"]
    noise = {k: np.asarray(const_data[k].values) for k in eq12.NOISE_SITES if k in const_data}
    precision = eq12.noise_precision(np.asarray(ivar, np.float64), **noise)
    # T = -2 log p + sum(log precision - log 2 pi): the chi^2 of eq. 2
    const = -2.0 * eq12.pixel_log_likelihood(0.0, 0.0, precision).sum(1)
    t = -2.0 * loglik - const
    dof = good.sum(axis=1)
    with np.errstate(invalid="ignore"):
        pvalue = stats.chi2.sf(t, np.maximum(dof, 1)).mean(axis=0)
    return t.mean(axis=0), dof, np.where(dof > 0, pvalue, np.nan)


def _masked_mean(inside: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over masked (star, pixel) of ``inside`` (star, pixel, prob)."""
    count = mask.sum()
    return inside[mask].mean(axis=0) if count else np.full(inside.shape[-1], np.nan)


def _nanmean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else np.nan


def _ks(values: np.ndarray) -> float:
    return float(stats.kstest(values, "uniform").pvalue) if values.size else np.nan


def _binomial_two_sided(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Two-sided p-value ``2 min(P(X <= k), P(X >= k))``, ``X ~ Binomial(n, p)``; 1 if n = 0."""
    low = stats.binom.cdf(k, n, p)
    high = stats.binom.sf(k - 1, n, p)
    out = np.minimum(1.0, 2.0 * np.minimum(low, high))
    return np.where(n > 0, out, 1.0)


def _uniformity_pvalue(values: np.ndarray) -> float:
    p_value, _, _ = array_stats.uniformity_test(np.asarray(values), axis=-1)
    return float(p_value)
