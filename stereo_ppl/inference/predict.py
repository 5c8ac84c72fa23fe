"""``predict``: a fit's survey-2 spectrum of any star, from survey 1 or from survey 2."""

import numpy as np
import xarray as xr

from ..dims import LAMOST_PIXEL, LATENT, STAR
from ..errors import PairedDataError
from ..models import eq12
from .fitted import fitted_model, lamost_pixel_coords, require_linear

__all__ = ["predict"]


def _array(value, name: str, num_pixels: int) -> np.ndarray:
    array = np.asarray(getattr(value, "values", value), np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != num_pixels:
        raise PairedDataError(
            f"{name} must have shape (num_stars, {num_pixels}) on the fit's grid; got "
            f"{np.shape(value)}"
        )
    return array


def predict(fit: xr.DataTree, *, apogee_flux=None, lamost_flux=None, lamost_ivar=None):
    """The fit's survey-2 spectrum of each star, with its uncertainty.

    From survey 1 (``apogee_flux``; default: the fit's own stars) the mean is
    the fit's decoder of ``z = beta_z F1`` averaged over the posterior draws;
    from survey 2 alone (``lamost_flux`` and ``lamost_ivar``, no
    ``apogee_flux``) ``z`` is estimated by weighted least squares at the point
    estimate (:func:`~stereo_ppl.models.eq12.latent_from_lamost`: denoising).

    Parameters
    ----------
    fit : xarray.DataTree
        A fit of any model (its ``model`` attribute says which).
    apogee_flux : array, shape (num_stars, num_apogee_pixels), optional
        Survey-1 flux on the fit's grid, finite.
    lamost_flux, lamost_ivar : array, shape (num_stars, num_lamost_pixels), optional
        Survey-2 flux and inverse variance (``ivar == 0``: unused pixel).

    Returns
    -------
    xarray.Dataset
        ``lamost_flux`` (star, lamost_pixel): the predicted mean;
        ``lamost_flux_sd`` (star, lamost_pixel): its standard deviation (over
        posterior draws, and from the uncertainty of ``z``: a latent-z or
        errors-in-F1 model's, or that of ``z`` estimated from survey 2);
        ``lamost_flux_predictive_sd`` (star, lamost_pixel), where
        ``lamost_ivar`` is given: the spread of an observed spectrum,
        ``sqrt(sd^2 + a^2 / ivar + s^2)`` (NaN where ``ivar == 0``);
        ``z`` (star, latent) at the point estimate.

    Raises
    ------
    FitConfigError
        A model that cannot predict as asked (e.g. a non-linear decoder from
        survey 2 alone), in one line naming it.
    PairedDataError
        Arrays not on the fit's grids.
    """
    model = fitted_model(fit)
    point = model.point()
    num_apogee, num_lamost = point["beta_z"].shape[1], point["b_F"].shape[0]
    from_lamost = apogee_flux is None and lamost_flux is not None
    ivar = None if lamost_ivar is None else _array(lamost_ivar, "lamost_ivar", num_lamost)
    if from_lamost:
        require_linear(model, "predict from lamost_flux")
        if ivar is None:
            raise PairedDataError("predict from lamost_flux needs lamost_ivar too")
        flux = _array(lamost_flux, "lamost_flux", num_lamost)
        if flux.shape != ivar.shape:
            raise PairedDataError(f"lamost_flux {flux.shape} and lamost_ivar {ivar.shape} differ")
        precision = eq12.noise_precision(ivar, **eq12.noise_params(point))
        estimate = eq12.latent_from_lamost(point["beta_F"], point["b_F"], flux, precision)
        z = estimate.z
        mean = model.variant.decoder(point, z)
        var = eq12.mean_variance(point["beta_F"], estimate.covariance)
    else:
        own = apogee_flux is None
        if own:
            apogee_flux = fit["constant_data"]["apogee_flux"].values
        f1 = _array(apogee_flux, "apogee_flux", num_apogee)
        if not np.isfinite(f1).all():
            star = int(np.flatnonzero(~np.isfinite(f1).all(axis=1))[0])
            raise PairedDataError(f"apogee_flux of star {star} is not finite (fill bad pixels)")
        z = eq12.encode(point["beta_z"], f1)
        means = [
            model.variant.decoder(p, eq12.encode(p["beta_z"], f1))
            for p in map(model.draw, range(model.num_draws))
        ]
        mean = np.mean(means, axis=0)
        var = np.var(means, axis=0) if len(means) > 1 else np.zeros_like(mean)
        if model.variant.latent_covariance is not None:
            inputs = _own_inputs(fit) if own else {}
            cov = model.variant.latent_covariance(point, inputs)
            var = var + eq12.mean_variance(point["beta_F"], cov)
    pixel = (STAR, LAMOST_PIXEL)
    out = xr.Dataset(
        {
            "lamost_flux": (pixel, mean, {"long_name": "predicted survey-2 flux"}),
            "lamost_flux_sd": (pixel, np.sqrt(var), {"long_name": "sd of the predicted flux"}),
            "z": ((STAR, LATENT), z),
        },
        coords=lamost_pixel_coords(fit),
        attrs={"model": model.name, "from": "lamost_flux" if from_lamost else "apogee_flux"},
    )
    if ivar is not None:
        precision = eq12.noise_precision(ivar, **eq12.noise_params(point))
        total = np.sqrt(var + 1.0 / np.where(precision > 0, precision, np.nan))
        out["lamost_flux_predictive_sd"] = (pixel, total, {"long_name": "sd of an observation"})
    return out


def _own_inputs(fit: xr.DataTree) -> dict:
    """Survey-1 variances of the fit's own stars (for a model with survey-1 errors)."""
    const = fit["constant_data"]
    if "apogee_ivar" not in const:
        return {}
    ivar = np.asarray(const["apogee_ivar"].values, np.float64)
    good = ivar > 0
    return {"apogee_var": np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)}
