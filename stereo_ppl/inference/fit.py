"""One entry point that fits a paired dataset and returns its ``DataTree``."""

import jax
import numpy as np
import xarray as xr

from ..errors import FitConfigError
from ..models import DEFAULT_B_F_PRIOR_MEAN
from .arrays import check_num_latent, model_data, split_stars
from .loglik import log_likelihood_per_star
from .methods import RUNNERS
from .results import fit_datatree

__all__ = ["METHODS", "fit"]

#: Fitting methods :func:`fit` knows.
METHODS = tuple(RUNNERS)


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
    method: str = "map",
    heldout_fraction: float = 0.2,
    heldout=None,
    seed: int | None = None,
    progress: bool = False,
    **options,
) -> xr.DataTree:
    """Fit the base model to a paired dataset.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key; it chooses the held-out stars (unless ``heldout`` is given)
        and drives the method.
    paired : xarray.Dataset
        A validated paired dataset (see :func:`stereo_ppl.data.make_paired`).
    num_latent : int
        ``c``, the length of ``z``.
    method : {"map", "exact", "laplace", "vi"}
        ``"exact"``: deterministic MAP (:func:`~.exact.solve_exact`);
        ``"map"``: SVI with ``AutoDelta`` and AdamW (:func:`~.map.fit_map`);
        ``"laplace"``: exact MAP plus the decoder's exact Gaussian posterior
        given ``beta_z`` (:mod:`~.laplace`); ``"vi"``: exact MAP, then SVI
        with ``AutoNormal`` or a low-rank Gaussian guide (:func:`~.vi.fit_vi`).
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
        ``num_particles`` (vi).

    Returns
    -------
    xarray.DataTree
        See :mod:`stereo_ppl.inference.results` for the layout; the
        ``log_likelihood`` group holds the per-star log likelihood of every
        star (training and held out) for every draw.
    """
    if method not in RUNNERS:
        raise FitConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    num_stars = paired.sizes["star"]
    key_split, key_fit = jax.random.split(rng_key)
    if heldout is None:
        train, held = split_stars(key_split, num_stars, heldout_fraction)
    else:
        held = _heldout_indices(heldout, num_stars)
        train = np.setdiff1d(np.arange(num_stars), held)
        heldout_fraction = held.size / num_stars
    check_num_latent(num_latent, len(train), paired.sizes["apogee_pixel"])
    data = model_data(paired)
    output = RUNNERS[method](
        key_fit,
        data.take(train),
        data.take(held),
        num_latent=num_latent,
        progress=progress,
        **options,
    )
    draws = output.params
    if np.ndim(draws["beta_z"]) == 2:  # a point estimate: one chain, one draw
        draws = {k: np.asarray(v)[None, None] for k, v in draws.items()}
    log_lik = log_likelihood_per_star(draws, data)
    config = {"num_latent": num_latent, "heldout_fraction": heldout_fraction, **options}
    if isinstance(config.get("init"), dict):
        config["init"] = "given"  # arrays do not belong in a JSON attribute
    attrs = {
        **output.attrs,
        "b_F_prior_mean": float(options.get("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN)),
    }
    return fit_datatree(
        paired,
        draws,
        heldout=held,
        method=method,
        seed=seed,
        config=config,
        log_joint=output.log_joint,
        log_likelihood=log_lik,
        extra_groups=output.groups,
        attrs=attrs,
    )
