"""Labels from ``z`` (eq. 3), fitted jointly with eq. 1–2.

For star ``i`` with (standardised) labels ``l_i`` and their variances ``v_i``::

    z_i  = beta_z @ F1_i                                          (eq. 1)
    F2_i ~ Normal(beta_F @ z_i + b_F, 1 / sqrt(ivar_i))           (eq. 2)
    l_i  ~ Normal(beta_l @ (z_i - z_c) + b_l, sqrt(v_i + s_l^2))   (eq. 3)
    beta_l, b_l ~ Normal(0, 1),  s_l ~ HalfNormal(label_scatter_scale)

``z_c = beta_z @ F1_c`` is ``z`` of the training stars' mean survey-1
spectrum ``F1_c`` (``apogee_center``; 0 if not given). It only moves the
intercept (eq. 3 has intercept ``b_l - beta_l @ z_c``), so that ``b_l`` is the
mean standardised label, which its Normal(0, 1) prior expects; without it
``b_l`` must cancel ``beta_l @ z`` of the mean star, which is large since
``z`` has no intercept. ``s_l`` is an intrinsic scatter per label (what a
linear map of ``z`` cannot explain); ``s_l = 0`` is the seed's eq. 3 with
``sigma_l_i`` the label errors.
Labels a star lacks (``labels_mask`` False) are masked out, so stars without
labels still inform eq. 2. Labels are standardised by :func:`label_inputs`
(training stars' mean and standard deviation), so one prior suits every label.

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers

from ..data.labels import paired_labels
from ..dims import APOGEE_PIXEL, LABEL, LATENT, STAR
from ..errors import FitConfigError
from .base import DEFAULT_B_F_PRIOR_MEAN, lamost_likelihood, linear_priors, noise_sites
from .eq12 import decode, encode

__all__ = ["SITE_DIMS", "label_init", "label_inputs", "label_likelihood", "labels_model"]

#: Dimensions of the sites this model adds to the base model.
SITE_DIMS = {"beta_l": (LABEL, LATENT), "b_l": (LABEL,), "label_scatter": (LABEL,)}


def label_likelihood(mean, variance, mask, labels):
    """Observe ``labels`` ~ Normal(mean, sqrt(variance)) where ``mask``; inside the star plate.

    Arrays have shape (stars, num_labels); masked entries get a finite
    placeholder so no NaN reaches a gradient.
    """
    obs = None if labels is None else jnp.where(mask, labels, mean)
    with numpyro.plate(LABEL, variance.shape[-1], dim=-1), handlers.mask(mask=mask):
        return numpyro.sample("labels", dist.Normal(mean, jnp.sqrt(variance)), obs=obs)


def labels_model(
    apogee_flux,
    lamost_ivar,
    lamost_flux=None,
    *,
    labels_var,
    labels_mask=None,
    labels=None,
    apogee_center=None,
    num_latent: int,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
    label_scatter_scale: float = 1.0,
    subsample_size: int | None = None,
    noise: str = "reported",
    prior: str = "unit",
):
    """Seed eq. 1–3 as a NumPyro model.

    Parameters
    ----------
    apogee_flux, lamost_ivar, lamost_flux, num_latent, b_F_prior_mean, subsample_size, noise, prior
        As for :func:`~stereo_ppl.models.rrr_model`.
    labels_var : array, shape (num_stars, num_labels)
        Variance of each (standardised) label, its error squared.
    labels_mask : array of bool, shape (num_stars, num_labels), optional
        Which labels are observed (default all).
    labels : array, shape (num_stars, num_labels), optional
        Standardised labels; ``None`` (default) draws them.
    apogee_center : array, shape (num_apogee_pixels,), optional
        ``F1_c``, the training stars' mean survey-1 spectrum (default 0).
    label_scatter_scale : float
        Scale of the HalfNormal prior of the intrinsic scatter ``s_l``.

    Sites
    -----
    beta_z, beta_F, b_F, z, lamost_flux as in the base model;
    beta_l : (label, latent); b_l : (label,); label_scatter : (label,);
    labels : (star, label), observed where ``labels_mask``.
    """
    num_stars = apogee_flux.shape[0]
    dtype = apogee_flux.dtype
    num_labels = labels_var.shape[-1]
    zero = jnp.zeros((), dtype)
    beta_z, beta_F, b_F = linear_priors(
        apogee_flux, lamost_ivar, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean, prior=prior
    )
    calibration = noise_sites(lamost_ivar.shape[-1], noise, dtype=apogee_flux.dtype)
    with numpyro.plate(LABEL, num_labels, dim=-1):
        beta_l = numpyro.sample("beta_l", dist.Normal(zero, 1.0).expand([num_latent]).to_event(1))
        b_l = numpyro.sample("b_l", dist.Normal(zero, 1.0))
        scatter = numpyro.sample("label_scatter", dist.HalfNormal(zero + label_scatter_scale))
    if labels_mask is None:
        labels_mask = jnp.ones(labels_var.shape, bool)
    z_center = 0.0 if apogee_center is None else beta_z @ apogee_center
    with numpyro.plate(STAR, num_stars, subsample_size=subsample_size, dim=-2) as idx:
        z = numpyro.deterministic("z", encode(beta_z, apogee_flux[idx]))
        flux = None if lamost_flux is None else lamost_flux[idx]
        lamost_likelihood(decode(beta_F, b_F, z), lamost_ivar[idx], flux, **calibration)
        label_likelihood(
            (z - z_center) @ beta_l.T + b_l,
            labels_var[idx] + scatter**2,
            labels_mask[idx],
            None if labels is None else labels[idx],
        )


def label_inputs(paired, train, dtype):
    """The labels model's per-star inputs from a paired dataset with labels.

    Labels are standardised by the mean and standard deviation of the
    training stars that have them.

    Parameters
    ----------
    paired : xarray.Dataset
        With labels (see :func:`stereo_ppl.data.paired_labels`).
    train : ndarray of int, shape (num_train,)
        Training star indices.
    dtype : dtype
        Working float dtype.

    Returns
    -------
    arrays : dict
        ``labels``, ``labels_var`` (star, label) in ``dtype``, ``labels_mask``
        (star, label) bool, for every star.
    shared : dict
        ``apogee_center`` (apogee_pixel,): the training stars' mean F1.
    constants : dict
        ``label_mean``, ``label_scale`` (label,): physical = mean + scale ×
        standardised; ``apogee_center`` (apogee_pixel,).
    coords : dict
        The ``label`` coordinate (and ``label_unit``).
    """
    found = paired_labels(paired)
    observed = found.observed
    train_values = np.where(observed[train], found.values[train], np.nan)
    count = observed[train].sum(0)
    if np.any(count < 2):
        bad = [n for n, k in zip(found.names, count, strict=True) if k < 2]
        raise FitConfigError(f"labels {', '.join(bad)} are known for fewer than 2 training stars")
    mean = np.nanmean(train_values, axis=0)
    scale = np.nanstd(train_values, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    standard = np.where(observed, (found.values - mean) / scale, 0.0)
    arrays = {
        "labels": jnp.asarray(standard, dtype),
        "labels_var": jnp.asarray((found.errors / scale) ** 2, dtype),
        "labels_mask": jnp.asarray(observed),
    }
    center = np.asarray(paired["apogee_flux"].values[train], np.float64).mean(0)
    shared = {"apogee_center": jnp.asarray(center, dtype)}
    constants = {
        "label_mean": ((LABEL,), mean, {"long_name": "label = label_mean + label_scale * l"}),
        "label_scale": ((LABEL,), scale, {"long_name": "standard deviation of training labels"}),
        "apogee_center": (
            (APOGEE_PIXEL,),
            center,
            {"long_name": "mean survey-1 flux of the training stars (eq. 3's z_c = beta_z F1_c)"},
        ),
    }
    coords = {LABEL: list(found.names), "label_unit": (LABEL, list(found.units))}
    return arrays, shared, constants, coords


def label_init(params, apogee_flux, arrays, *, ridge: float = 1.0, **options):
    """Starting ``beta_l``, ``b_l``, ``label_scatter`` given the base sites' start.

    A ridge regression of each standardised label on ``[z - z_c, 1]`` over
    the stars that have it, ``z = F1 @ beta_z.T``; the scatter is its
    residual sd.

    Parameters
    ----------
    params : dict
        ``beta_z`` (c, P1), ...
    apogee_flux : array, shape (n, P1)
    arrays : dict
        The training stars' :func:`label_inputs` arrays and shared arrays.
    ridge : float
        Ridge penalty of the regression.
    **options
        The model's options (not needed here).

    Returns
    -------
    dict
        ``beta_l`` (L, c), ``b_l`` (L,), ``label_scatter`` (L,).
    """
    del options
    dtype = apogee_flux.dtype
    f1 = np.asarray(apogee_flux, np.float64)
    if arrays.get("apogee_center") is not None:
        f1 = f1 - np.asarray(arrays["apogee_center"], np.float64)
    z = f1 @ np.asarray(params["beta_z"], np.float64).T
    x = np.hstack([z, np.ones((z.shape[0], 1))])
    labels, mask = np.asarray(arrays["labels"], np.float64), np.asarray(arrays["labels_mask"])
    beta, offset, scatter = [], [], []
    for k in range(labels.shape[1]):
        xk, yk = x[mask[:, k]], labels[mask[:, k], k]
        coef = np.linalg.solve(xk.T @ xk + ridge * np.eye(x.shape[1]), xk.T @ yk)
        resid = yk - xk @ coef if yk.size else np.ones(1)
        beta.append(coef[:-1])
        offset.append(coef[-1])
        scatter.append(max(float(np.sqrt(np.mean(resid**2))), 1e-3))
    return {
        "beta_l": jnp.asarray(np.array(beta), dtype),
        "b_l": jnp.asarray(np.array(offset), dtype),
        "label_scatter": jnp.asarray(np.array(scatter), dtype),
    }
