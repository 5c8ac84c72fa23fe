"""Arrays a fit needs, taken from a paired dataset, and the log joint.

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from numpyro.infer.util import log_density

from ..data.validate import unfillable_pixels
from ..dims import APOGEE_PIXEL
from ..errors import FitConfigError, PairedDataError
from ..models import eq12, rrr_model

__all__ = [
    "FilledApogee",
    "ModelData",
    "VariantData",
    "as_variant_data",
    "check_num_latent",
    "fill_as_fitted",
    "fill_bad_apogee_pixels",
    "log_joint_fn",
    "model_data",
    "split_stars",
]


class ModelData(NamedTuple):
    """The model's inputs for a set of stars, in JAX's default float dtype.

    Attributes
    ----------
    apogee_flux : jax.Array, shape (num_stars, num_apogee_pixels)
    lamost_ivar : jax.Array, shape (num_stars, num_lamost_pixels)
    lamost_flux : jax.Array, shape (num_stars, num_lamost_pixels)
        Zero where ``lamost_ivar == 0`` (never NaN).

    The field order is the positional order of :func:`~stereo_ppl.models.rrr_model`,
    so ``rrr_model(*data, ...)`` works.
    """

    apogee_flux: jax.Array
    lamost_ivar: jax.Array
    lamost_flux: jax.Array

    @property
    def num_stars(self) -> int:
        return self.apogee_flux.shape[0]

    def take(self, index) -> "ModelData":
        """The same arrays for the stars ``index`` (int array, shape (k,))."""
        return ModelData(*(a[np.asarray(index)] for a in self))


class VariantData(NamedTuple):
    """A model variant's inputs for a set of stars.

    Attributes
    ----------
    base : ModelData
        The base model's positional data.
    inputs : dict of str to jax.Array
        The variant's extra per-star keyword inputs, star on the first axis
        (see :class:`~stereo_ppl.models.ModelVariant`).
    shared : dict of str to jax.Array
        Its keyword inputs that belong to no star (taken as they are).
    """

    base: ModelData
    inputs: dict
    shared: dict

    @property
    def kwargs(self) -> dict:
        """Every keyword input of the model."""
        return {**self.inputs, **self.shared}

    @property
    def num_stars(self) -> int:
        return self.base.num_stars

    def take(self, index) -> "VariantData":
        """The same inputs for the stars ``index`` (int array, shape (k,))."""
        index = np.asarray(index)
        taken = {k: v[index] for k, v in self.inputs.items()}
        return VariantData(self.base.take(index), taken, self.shared)

    def hide(self, names) -> "VariantData":
        """The same inputs with the boolean masks ``names`` all False."""
        hidden = {k: jnp.zeros_like(v) if k in names else v for k, v in self.inputs.items()}
        return VariantData(self.base, hidden, self.shared)


def as_variant_data(data: "ModelData | VariantData") -> VariantData:
    """``data`` as :class:`VariantData` (a :class:`ModelData` gets no extra inputs)."""
    return data if isinstance(data, VariantData) else VariantData(ModelData(*data), {}, {})


class FilledApogee(NamedTuple):
    """Result of :func:`fill_bad_apogee_pixels`.

    Attributes
    ----------
    paired : xarray.Dataset
        The paired dataset with bad survey-1 pixels filled (``paired`` itself
        when there were none); ``apogee_ivar`` still 0 there.
    num_pixels : int
        (star, pixel) entries filled.
    num_stars : int
        Stars with at least one filled pixel.
    """

    paired: xr.Dataset
    num_pixels: int
    num_stars: int


def fill_bad_apogee_pixels(paired: xr.Dataset, train) -> FilledApogee:
    """Fill bad survey-1 pixels with the training stars' mean flux at that pixel.

    Every survey-1 pixel enters ``z = beta_z @ F1``, so a bad one (``apogee_ivar
    == 0``: a chip gap or a flagged pixel, its flux possibly NaN) cannot be
    skipped as a survey-2 pixel is; instead of dropping the star, it gets the
    mean flux of the training stars whose pixel is good, "a typical value".
    :func:`~stereo_ppl.inference.fit` does this for every model before
    gathering its inputs, so the fit's ``constant_data`` holds the filled
    flux its parameters mean eq. 1–2 on; the ``errors-in-f1`` model fills the
    same pixels with the same mean and also widens them
    (:func:`~stereo_ppl.models.errors_in_f1.apogee_error_inputs`). To use a
    fit on stars with bad survey-1 pixels later (e.g. a posterior predictive
    check), :func:`fill_as_fitted` fills them with the same means.

    Parameters
    ----------
    paired : xarray.Dataset
        A validated paired dataset; without ``apogee_ivar`` nothing is bad.
    train : array of int, shape (num_train,)
        The training stars, whose good pixels give each pixel's mean.

    Returns
    -------
    FilledApogee
        The filled dataset (``apogee_flux`` (star, apogee_pixel), its dtype
        kept; a ``comment`` attribute says what was filled) and the counts.

    Raises
    ------
    PairedDataError
        A pixel that is bad in every training star (it has no mean), named
        with its wavelength.
    """
    flux, good = _survey1_good(paired)
    if good is None:
        return FilledApogee(paired, 0, 0)
    train = np.asarray(train, dtype=int)
    mean = _good_mean(paired, flux[train], good[train])
    return _fill(paired, flux, good, mean)


def fill_as_fitted(tree: xr.DataTree, paired: xr.Dataset) -> FilledApogee:
    """Fill bad survey-1 pixels of any stars as a fit filled its own.

    For using a fit on stars with bad survey-1 pixels (its own, or new ones,
    e.g. in a posterior predictive check): each bad pixel gets the mean that
    :func:`fill_bad_apogee_pixels` gave it when fitting, recomputed from the
    fit's ``constant_data`` (its training stars' good pixels).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (``constant_data``: ``apogee_flux``, ``heldout`` and, where the
        fitted dataset had it, ``apogee_ivar``).
    paired : xarray.Dataset
        Stars on the fit's survey-1 pixels; without ``apogee_ivar`` nothing is bad.

    Returns
    -------
    FilledApogee
        As for :func:`fill_bad_apogee_pixels`.

    Raises
    ------
    PairedDataError
        If ``paired`` has another number of survey-1 pixels than the fit.
    """
    flux, good = _survey1_good(paired)
    if good is None:
        return FilledApogee(paired, 0, 0)
    const = tree["constant_data"]
    if const.sizes[APOGEE_PIXEL] != paired.sizes[APOGEE_PIXEL]:
        raise PairedDataError(
            f"the paired dataset has {paired.sizes[APOGEE_PIXEL]} {APOGEE_PIXEL}s but the fit "
            f"has {const.sizes[APOGEE_PIXEL]}"
        )
    train = ~np.asarray(const["heldout"].values, dtype=bool)
    fitted = np.asarray(const["apogee_flux"].values)[train]
    known = np.ones(fitted.shape, dtype=bool)
    if "apogee_ivar" in const:
        known = np.asarray(const["apogee_ivar"].values)[train] > 0
    return _fill(paired, flux, good, _good_mean(paired, fitted, known))


def _survey1_good(paired: xr.Dataset):
    """Survey-1 flux (star, apogee_pixel) and its good-pixel mask; mask ``None`` if all good."""
    flux = np.asarray(paired["apogee_flux"].values)
    if "apogee_ivar" not in paired:
        return flux, None
    good = (np.asarray(paired["apogee_ivar"].values) > 0) & np.isfinite(flux)
    return flux, None if good.all() else good


def _good_mean(paired: xr.Dataset, flux: np.ndarray, known: np.ndarray) -> np.ndarray:
    """:func:`~stereo_ppl.models.eq12.fill_values`; raise naming a pixel with no good value."""
    try:
        return eq12.fill_values(flux, known)
    except ValueError as exc:
        raise unfillable_pixels(paired, exc.args[1]) from None


def _fill(paired, flux, good, mean) -> FilledApogee:
    """``paired`` with ``flux`` replaced by ``mean`` (P1,) where not ``good``."""
    filled = np.where(good, flux, mean[None, :].astype(flux.dtype))
    num_pixels, num_stars = int((~good).sum()), int(np.any(~good, axis=1).sum())
    attrs = {
        **paired["apogee_flux"].attrs,
        "comment": f"{num_pixels} bad pixels (apogee_ivar == 0) of {num_stars} stars filled "
        "with the training stars' mean flux at that pixel",
    }
    out = paired.assign(apogee_flux=(paired["apogee_flux"].dims, filled, attrs))
    return FilledApogee(out, num_pixels, num_stars)


def model_data(paired: xr.Dataset) -> ModelData:
    """Convert a (validated) paired dataset into model inputs.

    Bad pixels (``lamost_ivar == 0``) get flux 0 so no NaN reaches the model.
    The dtype is JAX's default float (float32 unless x64 is enabled).
    """
    dtype = jnp.result_type(float)
    ivar = np.asarray(paired["lamost_ivar"].values)
    flux = np.where(ivar > 0, paired["lamost_flux"].values, 0.0)
    return ModelData(
        jnp.asarray(paired["apogee_flux"].values, dtype=dtype),
        jnp.asarray(ivar, dtype=dtype),
        jnp.asarray(flux, dtype=dtype),
    )


def check_num_latent(num_latent: int, num_train: int, num_apogee_pixels: int) -> None:
    """Raise :class:`FitConfigError` unless ``1 <= num_latent <= min(num_train, P1)``."""
    limit = min(num_train, num_apogee_pixels)
    if not isinstance(num_latent, int | np.integer) or not 1 <= num_latent <= limit:
        raise FitConfigError(
            f"c (num_latent) must be an integer from 1 to {limit} "
            f"(the number of training stars or APOGEE pixels); got {num_latent!r}"
        )


def split_stars(rng_key, num_stars: int, heldout_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Split star indices at random into training and held-out sets.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key.
    num_stars : int
        Number of stars.
    heldout_fraction : float
        Fraction in ``[0, 1)`` of stars held out, rounded to the nearest star.

    Returns
    -------
    train, heldout : ndarray of int, shapes (num_train,), (num_heldout,)
        Sorted star indices.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise FitConfigError(f"holdout fraction must be in [0, 1); got {heldout_fraction}")
    num_heldout = round(heldout_fraction * num_stars)
    perm = np.asarray(jax.random.permutation(rng_key, num_stars))
    return np.sort(perm[num_heldout:]), np.sort(perm[:num_heldout])


def log_joint_fn(*, num_latent: int, b_F_prior_mean: float, model=rrr_model):
    """A jitted ``f(params, data) -> log joint`` of a model (default the base model).

    The log joint is the log prior of ``params`` plus the log likelihood of
    every star in ``data`` (the seed study's definition for held-out stars).

    Parameters
    ----------
    num_latent : int
        ``c``.
    b_F_prior_mean : float
        Prior mean of ``b_F``.
    model : callable
        The model function (see :class:`~stereo_ppl.models.ModelVariant`).

    Returns
    -------
    callable
        ``(params: dict, data: ModelData | VariantData) -> scalar``.
    """

    def log_joint(params, data):
        data = as_variant_data(data)
        kwargs = {"num_latent": num_latent, "b_F_prior_mean": b_F_prior_mean, **data.kwargs}
        return log_density(model, tuple(data.base), kwargs, params)[0]

    return jax.jit(log_joint)
