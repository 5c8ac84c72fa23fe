"""Scores of one fit: held-out log joint, per-star log predictive density, PSIS-LOO.

Point-estimate scores are computed with NumPy in float64 whatever dtype the
fit ran in (sums over thousands of pixels and stars lose the differences
between neighbouring ``c`` in float32). PSIS-LOO uses :func:`arviz_stats.loo`
on the fit's ``log_likelihood`` group where the fit has posterior draws.

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

import arviz_stats
import numpy as np
import xarray as xr
from scipy.special import logsumexp

from ..data.validate import dim_coords
from ..dims import STAR, STEP
from ..inference.fitted import point_params
from ..models import DEFAULT_B_F_PRIOR_MEAN, PARAM_SITES, eq12

__all__ = ["log_prior", "point_estimate", "point_log_likelihood", "score_fit"]

#: Log density of eq. 1–2's priors (float64), :func:`stereo_ppl.models.eq12.log_prior`.
log_prior = eq12.log_prior


def point_log_likelihood(params: dict, apogee_flux, lamost_flux, lamost_ivar) -> np.ndarray:
    """``log p(F2_i | params)`` of eq. 2 for every star, in float64.

    :func:`stereo_ppl.models.eq12.log_likelihood_per_star` with the noise
    parameters (``error_scale``, ``scatter``) that ``params`` holds, if any.

    Parameters
    ----------
    params : dict
        ``beta_z`` (latent, apogee_pixel), ``beta_F`` (lamost_pixel, latent),
        ``b_F`` (lamost_pixel,), and ``error_scale`` (), ``scatter`` (lamost_pixel,)
        of a calibrated fit.
    apogee_flux : array, shape (num_stars, num_apogee_pixels)
    lamost_flux, lamost_ivar : array, shape (num_stars, num_lamost_pixels)
        Pixels with ``lamost_ivar == 0`` are left out (their flux may be NaN).

    Returns
    -------
    ndarray, shape (num_stars,)
    """
    return eq12.log_likelihood_per_star(
        params, apogee_flux, lamost_flux, lamost_ivar, **eq12.noise_params(params)
    )


def point_estimate(tree: xr.DataTree) -> dict:
    """The fit's point estimate: its only draw, or the posterior mean of each parameter.

    Returns
    -------
    dict
        ``beta_z`` (latent, apogee_pixel), ``beta_F`` (lamost_pixel, latent),
        ``b_F`` (lamost_pixel,) as float64 NumPy arrays.
    """
    posterior = tree["posterior"]
    names = (*PARAM_SITES, *(k for k in (*eq12.NOISE_SITES, "prior_scale") if k in posterior))
    return point_params({name: posterior[name].values for name in names})


def _num_draws(tree: xr.DataTree) -> int:
    sizes = tree["posterior"].sizes
    return int(sizes["chain"] * sizes["draw"])


def score_fit(tree: xr.DataTree, paired: xr.Dataset) -> xr.Dataset:
    """Score a fit on the paired dataset it was fitted to.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (layout of :mod:`stereo_ppl.inference.results`); its
        ``constant_data/heldout`` marks the held-out stars.
    paired : xarray.Dataset
        The paired dataset (all stars, in the fit's star order).

    Returns
    -------
    xarray.Dataset
        The ``scores`` group of a sweep fit:

        ``lpd`` (star)
            Log predictive density of each star's LAMOST spectrum: at the
            point estimate for a point fit, ``log mean_s p(F2_i | theta_s)``
            over the draws otherwise. Out of sample for held-out stars.
        ``heldout_log_joint``, ``train_log_joint`` ()
            The seed study's score: log prior plus log likelihood of the
            held-out (training) stars at the point estimate.
        ``heldout_lpd``, ``heldout_lpd_se`` ()
            Sum of ``lpd`` over held-out stars and its standard error
            ``sqrt(n var(lpd))``.
        ``num_heldout``, ``num_draws`` ()
            Counts of held-out stars and of posterior draws.
        ``loo_elpd_i``, ``pareto_k`` (star); ``loo_elpd``, ``loo_se``, ``p_loo``, ``good_k`` ()
            PSIS-LOO of the training stars (NaN for held-out stars), only for
            fits with more than one posterior draw.
    """
    heldout = np.asarray(tree["constant_data"]["heldout"].values, dtype=bool)
    draws = _num_draws(tree)
    if tree.attrs.get("model", "base") == "base":
        b_mean = float(tree.attrs.get("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN))
        params = point_estimate(tree)
        # survey 1 as fitted: bad pixels (apogee_ivar == 0) filled with the training mean
        f1 = tree["constant_data"]["apogee_flux"].values
        point = point_log_likelihood(
            params, f1, paired["lamost_flux"].values, paired["lamost_ivar"].values
        )
        scale = float(params.get("prior_scale", 1.0))  # a learned prior scale, if any
        prior = log_prior(params, b_F_prior_mean=b_mean, prior_scale=scale)
    else:  # a variant's own likelihood (e.g. marginal over z) and its recorded log joint
        point, prior = _variant_point_scores(tree, heldout)
    lpd, kind = point, "point estimate"
    if draws > 1 and "log_likelihood" in tree.children:
        loglik = np.asarray(tree["log_likelihood"]["lamost_flux"].values, dtype=np.float64)
        lpd = logsumexp(loglik.reshape(draws, -1), axis=0) - np.log(draws)
        kind = f"posterior predictive over {draws} draws"
    held = lpd[heldout]
    star_coords = dim_coords(paired, STAR)
    scores = xr.Dataset(
        {
            "lpd": (STAR, lpd, {"long_name": "log predictive density of F2", "kind": kind}),
            "heldout_log_joint": ((), prior + point[heldout].sum()),
            "train_log_joint": ((), prior + point[~heldout].sum()),
            "heldout_lpd": ((), held.sum()),
            "heldout_lpd_se": ((), float(np.sqrt(held.size * held.var())) if held.size else 0.0),
            "num_heldout": ((), int(heldout.sum())),
            "num_draws": ((), draws),
        },
        coords=star_coords,
    )
    if draws > 1 and "log_likelihood" in tree.children:
        scores = scores.merge(_loo_scores(tree, heldout))
    return scores


def _variant_point_scores(tree: xr.DataTree, heldout: np.ndarray):
    """Per-star log likelihood and log prior of a model variant's fit.

    The variant's own survey-2 likelihood per star is the fit's
    ``log_likelihood`` (mean over draws for a posterior fit, a point estimate
    otherwise); its log prior is the recorded held-out log joint at the last
    record minus the held-out stars' likelihood (the fit returns that record's
    parameters).
    """
    loglik = np.asarray(tree["log_likelihood"]["lamost_flux"].values, dtype=np.float64)
    point = loglik.reshape(-1, loglik.shape[-1]).mean(axis=0)
    record = tree["log_joint"]["heldout"]
    if "best_step" in tree.attrs:
        record = record.sel({STEP: int(tree.attrs["best_step"])})
    else:
        record = record.isel({STEP: -1})
    return point, float(record) - point[heldout].sum()


def _loo_scores(tree: xr.DataTree, heldout: np.ndarray) -> xr.Dataset:
    """PSIS-LOO over the training stars with :func:`arviz_stats.loo`."""
    train = np.flatnonzero(~heldout)
    loglik = tree["log_likelihood"].to_dataset()[["lamost_flux"]].isel({STAR: train})
    sub = xr.DataTree.from_dict(
        {"posterior": tree["posterior"].to_dataset(), "log_likelihood": loglik}
    )
    result = arviz_stats.loo(sub, pointwise=True, var_name="lamost_flux")
    n = heldout.size
    elpd_i = np.full(n, np.nan)
    pareto_k = np.full(n, np.nan)
    elpd_i[train] = np.asarray(result.elpd_i.values, dtype=np.float64)
    pareto_k[train] = np.asarray(result.pareto_k.values, dtype=np.float64)
    return xr.Dataset(
        {
            "loo_elpd_i": (STAR, elpd_i, {"long_name": "PSIS-LOO elpd of training stars"}),
            "pareto_k": (STAR, pareto_k, {"long_name": "Pareto k of PSIS-LOO"}),
            "loo_elpd": ((), float(result.elpd)),
            "loo_se": ((), float(result.se)),
            "p_loo": ((), float(result.p)),
            "good_k": ((), float(result.good_k)),
        }
    )
