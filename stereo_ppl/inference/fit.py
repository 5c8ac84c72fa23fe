"""One entry point that fits a paired dataset and returns its ``DataTree``.

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..dims import STAR
from ..errors import FitConfigError
from ..models import DEFAULT_B_F_PRIOR_MEAN, MODELS, get_model
from .arrays import (
    VariantData,
    check_num_latent,
    fill_bad_apogee_pixels,
    model_data,
    split_stars,
)
from .loglik import log_likelihood_per_star, model_log_likelihood_per_star
from .methods import LOCAL_GROUP, RUNNERS, TRAIN_STAR, VARIANT_METHODS
from .results import fit_datatree

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_NOISE",
    "DEFAULT_PRIOR",
    "METHODS",
    "MODEL_NAMES",
    "default_method",
    "fit",
]

#: The method :func:`fit` and ``stereo-ppl fit`` use unless told otherwise.
DEFAULT_METHOD = "exact"
#: Eq. 2's noise model and the prior of ``beta_z``, ``beta_F`` unless told otherwise.
DEFAULT_NOISE = "calibrated"
DEFAULT_PRIOR = "learned"
#: Fitting methods :func:`fit` knows.
METHODS = tuple(RUNNERS)
#: Models :func:`fit` knows (:data:`stereo_ppl.models.MODELS`).
MODEL_NAMES = tuple(MODELS)


def default_method(model) -> str:
    """:data:`DEFAULT_METHOD` if ``model`` (a name or variant) takes it, else its first method."""
    variant = get_model(model)
    return DEFAULT_METHOD if DEFAULT_METHOD in variant.methods else variant.methods[0]


def _heldout_indices(heldout, num_stars: int) -> np.ndarray:
    index = np.unique(np.asarray(heldout, dtype=int).ravel())
    if index.size and (index.min() < 0 or index.max() >= num_stars):
        raise FitConfigError(f"held-out star indices must lie in [0, {num_stars}); got {index}")
    return index


def fit(
    rng_key,
    paired: xr.Dataset,
    *,
    num_latent: int,
    model: str = "base",
    model_options: dict | None = None,
    method: str | None = None,
    noise: str = DEFAULT_NOISE,
    prior: str = DEFAULT_PRIOR,
    heldout_fraction: float = 0.2,
    heldout=None,
    seed: int | None = None,
    progress: bool = False,
    **options,
) -> xr.DataTree:
    """Fit a model (by default the base model) to a paired dataset.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key; it chooses the held-out stars (unless ``heldout`` is given)
        and drives the method.
    paired : xarray.Dataset
        A validated paired dataset (see :func:`stereo_ppl.data.make_paired`).
        Bad survey-1 pixels (``apogee_ivar == 0``) are filled with the
        training stars' mean at that pixel for every model
        (:func:`~.arrays.fill_bad_apogee_pixels`); the fit stores the filled
        ``apogee_flux`` and counts them in its attributes.
    num_latent : int
        ``c``, the length of ``z``.
    model : str
        A name of :data:`~stereo_ppl.models.MODELS`: ``"base"`` (eq. 1–2) or
        a variant: ``"labels"`` (eq. 1–3; the dataset must carry labels, see
        :func:`stereo_ppl.data.paired_labels`), ``"latent-z"``,
        ``"errors-in-f1"`` (needs ``apogee_ivar``), ``"mlp"``. A variant takes
        the methods its ``methods`` lists (``"map"``, ``"vi"``); held-out
        stars never reveal what its ``heldout_hidden`` names (e.g. their
        labels), and the ``log_likelihood`` group holds its own survey-2
        likelihood per star (e.g. marginal over ``z``).
    model_options : dict, optional
        Keyword options of the model function, among the variant's
        ``option_names`` (e.g. ``{"num_hidden": 32, "activation": "gelu"}``
        for ``"mlp"``; ``{"sigma_z": 0.01}`` fixes latent-z's ``sigma_z``).
    method : {"exact", "map", "laplace", "vi"}, optional
        Default :data:`DEFAULT_METHOD` (``"exact"``) for the models it fits,
        ``"map"`` for the others (:func:`default_method`).
        ``"exact"``: deterministic MAP (:func:`~.exact.solve_exact`);
        ``"map"``: SVI with ``AutoDelta`` and AdamW (:func:`~.map.fit_map`);
        ``"laplace"``: exact MAP plus the decoder's exact Gaussian posterior
        given ``beta_z`` (:mod:`~.laplace`); ``"vi"``: exact MAP, then SVI
        with ``AutoNormal`` or a low-rank Gaussian guide (:func:`~.vi.fit_vi`).
    noise : {"calibrated", "reported"}
        Eq. 2's noise: ``"calibrated"`` (default) ``sqrt(a^2 / ivar + s_p^2)``
        with the error scale ``a`` and each survey-2 pixel's intrinsic scatter
        ``s_p`` learned from the training stars (stored in ``posterior`` as
        ``error_scale`` and ``scatter``); ``"reported"``: ``1 / sqrt(ivar)``,
        the seed study's. See :mod:`stereo_ppl.inference.calibration` for how
        ``exact`` learns them; ``map`` and ``vi`` learn them as sites.
    prior : {"learned", "unit"}
        Prior scale of ``beta_z`` and ``beta_F``: learned from the training
        stars (default; ``prior_scale`` in ``posterior``) or 1 (the seed
        study's). ``noise="reported", prior="unit"`` is the seed's eq. 1–2 exactly.
    heldout_fraction : float
        Fraction of stars held out of the fit and scored (ignored when
        ``heldout`` is given).
    heldout : array of int, shape (num_heldout,), optional
        Explicit held-out star indices, e.g. the same split for every fit of a
        sweep.
    seed : int, optional
        The integer ``rng_key`` was made from, recorded in the result.
    progress : bool
        Show a progress bar.
    **options
        Options of the method: ``b_F_prior_mean`` for all; ``max_iter``,
        ``tol``, ``gtol``, ``init`` (exact, and the MAP stage of laplace and
        vi); ``num_steps``, ``learning_rate``, ``batch_size``, ... (map and vi);
        ``num_samples`` (laplace and vi; default 100, fewer for very large
        ``c`` so the draws stay within 512 MiB, see
        :func:`~.methods.default_num_samples`); ``guide``, ``rank``,
        ``num_particles`` (vi); ``map_steps`` (AdamW steps of the MAP stage
        of vi for a model variant, default
        :data:`~stereo_ppl.inference.methods.DEFAULT_MAP_STEPS`).

    Returns
    -------
    xarray.DataTree
        See :mod:`stereo_ppl.inference.results` for the layout; the
        ``log_likelihood`` group holds the per-star log likelihood of every
        star (training and held out) for every draw. Root attributes
        ``num_filled_apogee_pixels`` and ``num_stars_filled_apogee`` count
        the filled survey-1 pixels and the stars that had any.
    """
    variant = get_model(model).configured(model_options).with_noise(noise, prior)
    seed_model = noise == "reported" and prior == "unit"
    method = default_method(variant) if method is None else method
    if method not in RUNNERS:
        raise FitConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method not in variant.methods:
        why = " (it fits the base model only)" if method in ("exact", "laplace") else ""
        raise FitConfigError(
            f"method {method!r} does not fit model {variant.name!r}{why}; that model takes "
            f"method {' or '.join(map(repr, variant.methods))}"
        )
    num_stars = paired.sizes["star"]
    key_split, key_fit = jax.random.split(rng_key)
    if heldout is None:
        train, held = split_stars(key_split, num_stars, heldout_fraction)
    else:
        held = _heldout_indices(heldout, num_stars)
        train = np.setdiff1d(np.arange(num_stars), held)
        heldout_fraction = held.size / num_stars
    check_num_latent(num_latent, len(train), paired.sizes["apogee_pixel"])
    filled = fill_bad_apogee_pixels(paired, train)
    paired = filled.paired
    data = model_data(paired)
    train_data, held_data = data.take(train), data.take(held)
    constants, coords, runner_options = {}, {}, dict(options)
    if not variant.is_base:
        arrays, shared = {}, {}
        if variant.inputs is not None:
            arrays, shared, constants, coords = variant.inputs(
                paired, train, jnp.result_type(float)
            )
        if "apogee_flux" in arrays:  # the variant's own survey-1 data (e.g. filled pixels)
            data = data._replace(apogee_flux=arrays.pop("apogee_flux"))
        full = VariantData(data, arrays, shared)
        train_data = full.take(train)
        held_data = full.take(held).hide(variant.heldout_hidden)
        runner_options["model"] = variant
    if not seed_model:  # exact (and the MAP stage of laplace, vi) learn them; SVI as sites
        runner_options |= {"noise": noise, "prior": prior} if method != "map" else {}
        if method in VARIANT_METHODS:
            runner_options["model"] = variant
    output = RUNNERS[method](
        key_fit,
        train_data,
        held_data,
        num_latent=num_latent,
        progress=progress,
        **runner_options,
    )
    draws = output.params
    if np.ndim(draws["beta_z"]) == 2:  # a point estimate: one chain, one draw
        draws = {k: np.asarray(v)[None, None] for k, v in draws.items()}
    if variant.is_base:
        log_lik = log_likelihood_per_star(draws, data)
    else:  # the model's own survey-2 likelihood (it may marginalise over z)
        bound = partial(
            variant.model,
            num_latent=num_latent,
            b_F_prior_mean=float(options.get("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN)),
        )
        log_lik = model_log_likelihood_per_star(bound, draws, full)
    config = {
        "num_latent": num_latent,
        "heldout_fraction": heldout_fraction,
        "model": variant.name,
        "model_options": dict(variant.options or {}),
        "noise": noise,
        "prior": prior,
        **options,
    }
    if isinstance(config.get("init"), dict):
        config["init"] = "given"  # arrays do not belong in a JSON attribute
    attrs = {
        **output.attrs,
        "b_F_prior_mean": float(options.get("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN)),
        "noise": noise,
        "prior": prior,
        "num_filled_apogee_pixels": filled.num_pixels,
        "num_stars_filled_apogee": filled.num_stars,
    }
    groups = dict(output.groups)
    if LOCAL_GROUP in groups:
        groups[LOCAL_GROUP] = _on_star_dim(groups[LOCAL_GROUP], train, num_stars)
    return fit_datatree(
        paired,
        draws,
        heldout=held,
        method=method,
        seed=seed,
        config=config,
        log_joint=output.log_joint,
        log_likelihood=log_lik,
        extra_groups=groups,
        attrs=attrs,
        model=variant.name,
        site_dims=variant.site_dims,
        coords=coords,
        constants=constants,
    )


def _on_star_dim(local: xr.Dataset, train: np.ndarray, num_stars: int) -> xr.Dataset:
    """Per-star draws of the training stars put on the ``star`` dim (NaN for held-out stars)."""
    out = {}
    for name, var in local.data_vars.items():
        shape = list(var.shape)
        axis = var.dims.index(TRAIN_STAR)
        shape[axis] = num_stars
        values = np.full(shape, np.nan, dtype=var.dtype)
        index = [slice(None)] * var.ndim
        index[axis] = train
        values[tuple(index)] = var.values
        dims = tuple(STAR if d == TRAIN_STAR else d for d in var.dims)
        out[name] = (dims, values, var.attrs)
    comment = (
        "posterior draws of each training star's per-star sites (jointly with the posterior "
        "group's draws); NaN for held-out stars, which the log_likelihood group scores with "
        "these integrated out exactly"
    )
    return xr.Dataset(out, coords=dict(local.coords)).assign_attrs(
        {**local.attrs, "comment": comment}
    )
