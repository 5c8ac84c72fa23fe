"""Labels from a fit of the labels model, for stars with survey-1 or survey-2 spectra alone.

From a LAMOST spectrum ``F2`` with noise precision ``w`` (the reported
inverse variance, calibrated by the fit's noise model) the latent vector is
estimated by weighted least squares
(:func:`stereo_ppl.models.eq12.latent_from_lamost`)::

    z_hat = (beta_F^T W beta_F)^-1 beta_F^T W (F2 - b_F),     cov(z_hat) = (beta_F^T W beta_F)^-1

and the labels are ``label_mean + label_scale * (beta_l (z_hat - z_c) + b_l)``
(``z_c = beta_z F1_c``, see :mod:`stereo_ppl.models.labels`) with variance
``label_scale^2 (beta_l cov beta_l^T + s_l^2)`` on the diagonal.
From an APOGEE spectrum, ``z = beta_z F1`` directly.
"""

from typing import NamedTuple

import numpy as np
import xarray as xr

from ..dims import LABEL
from ..errors import FitConfigError
from ..inference.fitted import fitted_model
from ..models import eq12
from ..models.eq12 import latent_from_lamost

__all__ = [
    "LabelPrediction",
    "label_params",
    "labels_from_apogee",
    "labels_from_lamost",
    "latent_from_lamost",
]

_SITES = ("beta_z", "beta_F", "b_F", "beta_l", "b_l", "label_scatter")


class LabelPrediction(NamedTuple):
    """Predicted labels of a set of stars.

    Attributes
    ----------
    values : ndarray, shape (num_stars, num_labels)
        Labels in physical units (NaN where ``ok`` is False).
    sd : ndarray, shape (num_stars, num_labels)
        Their predictive standard deviation (uncertainty of ``z`` and the
        intrinsic scatter; the parameters are taken as known).
    z : ndarray, shape (num_stars, num_latent)
        The latent vectors used.
    ok : ndarray of bool, shape (num_stars,)
        False where the normal equation was ill-conditioned.
    names : tuple of str
        Label names.
    """

    values: np.ndarray
    sd: np.ndarray
    z: np.ndarray
    ok: np.ndarray
    names: tuple[str, ...]


def label_params(tree: xr.DataTree) -> dict:
    """Posterior means of a labels-model fit's sites and its label standardisation.

    Returns
    -------
    dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,), ``beta_l`` (L, c),
        ``b_l``, ``label_scatter``, ``label_mean``, ``label_scale`` (L,) as
        float64 arrays, ``intercept`` (L,) the intercept of eq. 3 in ``z``
        (``b_l - beta_l z_c``), and ``names`` (tuple of L str).
    """
    posterior = tree["posterior"]
    if "beta_l" not in posterior:
        raise FitConfigError(
            f"the fit is of model {tree.attrs.get('model', 'base')!r}, which predicts no "
            "labels; fit model 'labels'"
        )
    out = {
        name: np.asarray(posterior[name].mean(("chain", "draw")).values, np.float64)
        for name in _SITES
    }
    constant = tree["constant_data"]
    for name in ("label_mean", "label_scale"):
        out[name] = np.asarray(constant[name].values, np.float64)
    center = np.zeros(out["beta_z"].shape[1])
    if "apogee_center" in constant:
        center = np.asarray(constant["apogee_center"].values, np.float64)
    out["intercept"] = out["b_l"] - out["beta_l"] @ (out["beta_z"] @ center)
    out["names"] = tuple(str(n) for n in posterior[LABEL].values)
    return out


def _physical(params, z, cov_z):
    standard = z @ params["beta_l"].T + params["intercept"]
    var = np.einsum("lj,njk,lk->nl", params["beta_l"], cov_z, params["beta_l"])
    var = var + params["label_scatter"] ** 2
    values = params["label_mean"] + params["label_scale"] * standard
    return values, params["label_scale"] * np.sqrt(var)


def labels_from_lamost(tree: xr.DataTree, lamost_flux, lamost_ivar) -> LabelPrediction:
    """Labels of stars that have only a LAMOST spectrum, through ``z_hat``.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit of the labels model.
    lamost_flux, lamost_ivar : array, shape (num_stars, num_lamost_pixels)
        Spectra on the fit's LAMOST grid; ``ivar == 0`` marks bad pixels.

    Returns
    -------
    LabelPrediction
    """
    params = label_params(tree)
    noise = eq12.noise_params(fitted_model(tree).point())
    precision = eq12.noise_precision(np.asarray(lamost_ivar, np.float64), **noise)
    z, cov, ok = latent_from_lamost(params["beta_F"], params["b_F"], lamost_flux, precision)
    values, sd = _physical(params, z, cov)
    values[~ok] = np.nan
    sd[~ok] = np.nan
    return LabelPrediction(values, sd, z, ok, params["names"])


def labels_from_apogee(tree: xr.DataTree, apogee_flux) -> LabelPrediction:
    """Labels of stars with an APOGEE spectrum: ``z = beta_z F1``.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit of the labels model.
    apogee_flux : array, shape (num_stars, num_apogee_pixels)

    Returns
    -------
    LabelPrediction
    """
    params = label_params(tree)
    z = eq12.encode(params["beta_z"], np.asarray(apogee_flux, np.float64))
    cov = np.zeros((z.shape[0], z.shape[1], z.shape[1]))
    values, sd = _physical(params, z, cov)
    return LabelPrediction(values, sd, z, np.ones(z.shape[0], bool), params["names"])
