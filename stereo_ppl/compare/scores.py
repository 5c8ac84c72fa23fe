"""Scores of a fit computed from its ``DataTree`` with NumPy alone."""

import numpy as np
import xarray as xr
from scipy import stats

from ..inference.predict import predict
from ..models import eq12

__all__ = ["fit_summary", "heldout_coverage", "predict_lamost"]


def predict_lamost(params: dict, apogee_flux: np.ndarray) -> np.ndarray:
    """Survey-2 flux predicted from survey-1 flux by eq. 1–2.

    :func:`stereo_ppl.models.eq12.predict_mean`; for any fit's own model use
    :func:`stereo_ppl.predict`.

    Parameters
    ----------
    params : dict
        ``beta_z`` (latent, apogee_pixel), ``beta_F`` (lamost_pixel, latent),
        ``b_F`` (lamost_pixel,).
    apogee_flux : ndarray, shape (num_stars, num_apogee_pixels)

    Returns
    -------
    ndarray, shape (num_stars, num_lamost_pixels)
    """
    return eq12.predict_mean(params, apogee_flux)


def fit_summary(tree: xr.DataTree) -> dict:
    """One row describing a fit: options, cost and held-out scores.

    Returns
    -------
    dict
        ``c``, ``method``, ``steps`` (AdamW steps or solver iterations), ``seconds``,
        ``train_log_joint`` and
        ``heldout_log_joint`` (at the returned step), and
        ``heldout_chi2_per_pixel``: mean of ``(F2 - F2_hat)^2 * ivar`` over the
        usable pixels of held-out stars, with ``F2_hat`` predicted from F1 by
        the fit's own model (:func:`stereo_ppl.predict`)
        (1 means the prediction is as good as the noise allows; artefacts
        such as cosmic rays raise it), and ``heldout_chi2_median``, its median
        over the same pixels (robust to artefacts; 0.455 for pure noise).
    """
    const = tree["constant_data"]
    heldout = np.asarray(const["heldout"].values, dtype=bool)
    row = {
        "c": int(tree.attrs["num_latent"]),
        "method": str(tree.attrs["method"]),
        # AdamW steps (map) or solver iterations (exact, and the MAP stage of laplace and vi)
        "steps": int(tree.attrs.get("num_steps", tree.attrs.get("num_iterations", 0))),
        "seconds": float(tree.attrs.get("elapsed_seconds", np.nan)),
        "train_log_joint": np.nan,
        "heldout_log_joint": np.nan,
        "heldout_chi2_per_pixel": np.nan,
        "heldout_chi2_median": np.nan,
    }
    if "log_joint" in tree.children:
        trace = tree["log_joint"]
        at = trace.sel(step=int(tree.attrs.get("best_step", trace["step"].values[-1])))
        row["train_log_joint"] = float(at["train"])
        row["heldout_log_joint"] = float(at["heldout"])
    if heldout.any():
        f1 = np.asarray(const["apogee_flux"].values[heldout], dtype=np.float64)
        ivar = np.asarray(const["lamost_ivar"].values[heldout], dtype=np.float64)
        flux = tree["observed_data"]["lamost_flux"].values[heldout]
        mean = predict(tree, apogee_flux=f1)["lamost_flux"].values
        chi2 = ((flux - mean) ** 2 * ivar)[ivar > 0]
        row["heldout_chi2_per_pixel"] = float(chi2.mean())
        row["heldout_chi2_median"] = float(np.median(chi2))
    return row


def heldout_coverage(tree: xr.DataTree, *, probs=(0.5, 0.68, 0.95)) -> dict:
    """Coverage of the central predictive intervals of the held-out stars' survey-2 pixels.

    The predictive of each held-out pixel is ``Normal(F2_hat, sd)`` with the
    mean and ``lamost_flux_predictive_sd`` of :func:`stereo_ppl.predict` from
    the star's survey-1 spectrum (for a point estimate, the plug-in predictive).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit with its data (``constant_data``, ``observed_data``).
    probs : sequence of float
        Nominal central probabilities.

    Returns
    -------
    dict
        ``{p: fraction of usable held-out pixels inside the central p interval}``.
    """
    const = tree["constant_data"]
    heldout = np.asarray(const["heldout"].values, dtype=bool)
    f1 = np.asarray(const["apogee_flux"].values[heldout], np.float64)
    ivar = np.asarray(const["lamost_ivar"].values[heldout], np.float64)
    flux = np.asarray(tree["observed_data"]["lamost_flux"].values[heldout], np.float64)
    pred = predict(tree, apogee_flux=f1, lamost_ivar=ivar)
    good = ivar > 0
    sd = pred["lamost_flux_predictive_sd"].values[good]
    z = np.abs(flux - pred["lamost_flux"].values)[good] / sd
    return {float(p): float(np.mean(z < stats.norm.ppf(0.5 + p / 2))) for p in probs}
