"""A fit's own model, for every consumer: prediction, ``z`` from survey 2, log likelihood.

Consumers (``predict``, scores, posterior predictive checks, labels,
denoising) ask the fit which model it is (its root attributes ``model`` and
``config``) and use that model's decoder, latent covariance and likelihood
through :func:`fitted_model`; the maths of eq. 1–2 is in
:mod:`stereo_ppl.models.eq12`. A model that cannot do something (a
non-linear decoder cannot estimate ``z`` from survey 2 alone) raises
:class:`~stereo_ppl.errors.FitConfigError` naming the model.
"""

import json
from functools import partial
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..dims import LAMOST_PIXEL, STAR
from ..errors import FitConfigError
from ..models import DEFAULT_B_F_PRIOR_MEAN, ModelVariant, get_model
from .arrays import VariantData, fill_as_fitted, model_data

__all__ = ["FittedModel", "fitted_model", "point_params", "require_linear", "variant_data"]


class FittedModel(NamedTuple):
    """What a consumer needs to use a fit's model.

    Attributes
    ----------
    variant : ModelVariant
        The model, configured with the fit's model options.
    num_latent : int
    b_F_prior_mean : float
    draws : dict of str to ndarray
        Every posterior site with leading (chain, draw) axes (``z`` excluded).
    """

    variant: ModelVariant
    num_latent: int
    b_F_prior_mean: float
    draws: dict

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def bound(self):
        """The model function with ``num_latent`` and ``b_F_prior_mean`` bound."""
        return partial(
            self.variant.model, num_latent=self.num_latent, b_F_prior_mean=self.b_F_prior_mean
        )

    @property
    def num_draws(self) -> int:
        shape = np.shape(self.draws["b_F"])
        return int(shape[0] * shape[1])

    def point(self) -> dict:
        """The point estimate: the posterior mean of every site (float64)."""
        return point_params(self.draws)

    def draw(self, index: int) -> dict:
        """Draw ``index`` (over chain and draw, flattened) of every site."""
        return {k: np.reshape(v, (-1, *np.shape(v)[2:]))[index] for k, v in self.draws.items()}


def fitted_model(tree: xr.DataTree) -> FittedModel:
    """The model a fit was made with, its options and its posterior draws.

    Raises
    ------
    FitConfigError
        If the fit names an unknown model or lacks a parameter of it.
    """
    config = json.loads(str(tree.attrs.get("config", "{}")) or "{}")
    name = str(tree.attrs.get("model", config.get("model", "base")))
    noise = str(tree.attrs.get("noise", config.get("noise", "reported")))
    prior = str(tree.attrs.get("prior", config.get("prior", "unit")))
    variant = get_model(name).configured(config.get("model_options") or None)
    variant = variant.with_noise(noise, prior)
    posterior = tree["posterior"]
    names = list(variant.site_dims)
    missing = [k for k in names if k not in posterior]
    if missing:
        raise FitConfigError(
            f"the fit of model {name!r} has no {', '.join(missing)} in its posterior group"
        )
    draws = {k: np.asarray(posterior[k].values) for k in names}
    return FittedModel(
        variant,
        int(tree.attrs.get("num_latent", draws["beta_z"].shape[-2])),
        float(tree.attrs.get("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN)),
        draws,
    )


def point_params(draws) -> dict:
    """Posterior mean of every site in ``draws`` (leading chain, draw axes), float64."""
    return {
        k: np.asarray(v, np.float64).mean(axis=(0, 1)) for k, v in draws.items() if np.ndim(v) >= 2
    }


def require_linear(model: FittedModel, what: str) -> None:
    """Raise a one-line :class:`FitConfigError` if the model cannot estimate ``z`` from survey 2."""
    if not model.variant.linear:
        raise FitConfigError(
            f"model {model.name!r} has a non-linear decoder, so it cannot estimate z from "
            f"survey-2 spectra alone ({what}); use a fit of a linear model (base, labels, "
            "latent-z, errors-in-f1)"
        )


def variant_data(tree: xr.DataTree, paired: xr.Dataset, model: FittedModel) -> VariantData:
    """The model's inputs for every star of ``paired`` (the fit's own dataset).

    Bad survey-1 pixels are filled as the fit filled them
    (:func:`~.arrays.fill_as_fitted`); the variant's per-star keyword inputs
    are computed with the fit's training stars.
    """
    filled = fill_as_fitted(tree, paired).paired
    data = model_data(filled)
    arrays, shared = {}, {}
    if model.variant.inputs is not None:
        heldout = np.asarray(tree["constant_data"]["heldout"].values, bool)
        if heldout.size != filled.sizes[STAR]:
            raise FitConfigError(
                f"model {model.name!r} takes per-star inputs computed with the fit's training "
                f"stars; give it the fitted dataset ({heldout.size} stars, not "
                f"{filled.sizes[STAR]})"
            )
        arrays, shared, _, _ = model.variant.inputs(
            filled, np.flatnonzero(~heldout), jnp.result_type(float)
        )
        if "apogee_flux" in arrays:
            data = data._replace(apogee_flux=arrays.pop("apogee_flux"))
    return VariantData(data, arrays, shared)


def lamost_pixel_coords(tree: xr.DataTree) -> dict:
    """The fit's ``lamost_pixel`` coordinates (wavelength with its units), if any."""
    posterior = tree["posterior"]
    return {k: v for k, v in posterior["b_F"].coords.items() if LAMOST_PIXEL in v.dims}
