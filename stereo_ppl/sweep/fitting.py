"""One fit of a sweep: the sweep's held-out stars, the repeat's start, scores attached."""

import jax
import numpy as np
import xarray as xr

from .. import inference
from ..inference import initial_params, model_data
from ..inference.arrays import fill_bad_apogee_pixels
from ..inference.exact import exact_start
from ..inference.fit import DEFAULT_METHOD
from ..models import DEFAULT_B_F_PRIOR_MEAN, PARAM_SITES, eq12
from .plan import SweepConfig
from .scores import score_fit

__all__ = ["fit_job", "start_params"]


def _train_index(num_stars: int, heldout: np.ndarray) -> np.ndarray:
    mask = np.ones(num_stars, dtype=bool)
    mask[heldout] = False
    return np.flatnonzero(mask)


def start_params(
    rng_key,
    paired: xr.Dataset,
    heldout,
    *,
    num_latent: int,
    how: str,
    jitter: float,
    method: str = DEFAULT_METHOD,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
):
    """The starting point of one repeat.

    Parameters
    ----------
    rng_key : jax.Array
        Draws the jitter or the random start.
    paired : xarray.Dataset
        All stars; the start is computed from the training stars only, with
        bad survey-1 pixels filled as :func:`~stereo_ppl.inference.fit` fills them.
    heldout : array of int, shape (num_heldout,)
        Held-out star indices.
    num_latent : int
        ``c``.
    how : {"jitter", "random"}
        The method's own start (the exact solver's balanced ridge regression
        for ``exact``, ``laplace`` and ``vi``; reduced-rank regression for
        ``map``) plus Gaussian noise with standard deviation ``jitter`` times
        the RMS of each parameter, or small random values
        (:func:`~stereo_ppl.inference.initial_params`).
    jitter : float
        Relative size of the jitter.
    method : str
        The sweep's fitting method.
    b_F_prior_mean : float
        Prior mean of ``b_F`` (the exact solver's start depends on it).

    Returns
    -------
    dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,) as NumPy arrays.
    """
    index = _train_index(paired.sizes["star"], heldout)
    filled = fill_bad_apogee_pixels(paired, index).paired
    train = model_data(filled).take(index)
    if how == "random":
        start = initial_params(rng_key, train, num_latent=num_latent)
        return {name: np.asarray(value) for name, value in start.items()}
    if method == "map":
        start = eq12.rrr_start(*train, num_latent=num_latent)
    else:
        start = exact_start(
            train.apogee_flux,
            train.lamost_flux,
            train.lamost_ivar,
            num_latent=num_latent,
            b_F_prior_mean=b_F_prior_mean,
        )
    keys = jax.random.split(rng_key, len(PARAM_SITES))
    out = {}
    for key, name in zip(keys, PARAM_SITES, strict=True):
        value = np.asarray(start[name])
        rms = float(np.sqrt(np.mean(value.astype(np.float64) ** 2)))
        noise = np.asarray(jax.random.normal(key, value.shape, value.dtype))
        out[name] = value + (jitter * rms) * noise
    return out


def fit_job(
    rng_key,
    paired: xr.Dataset,
    *,
    heldout,
    num_latent: int,
    repeat: int,
    config: SweepConfig,
    seed: int | None = None,
    progress: bool = False,
) -> xr.DataTree:
    """Fit one ``(c, repeat)`` of a sweep and attach its scores.

    Parameters
    ----------
    rng_key : jax.Array
        The job's key (:func:`~stereo_ppl.sweep.plan.job_key`); split into a
        start key and a method key.
    paired : xarray.Dataset
        All stars.
    heldout : array of int, shape (num_heldout,)
        Stars held out (the same for every fit of a sweep or fold).
    num_latent, repeat : int
        ``c`` and the repeat index (repeat 0 starts at the method's default).
    config : SweepConfig
        Method, options and how repeats start.
    seed : int, optional
        The sweep's seed, recorded in the fit.
    progress : bool
        Show the method's progress bar.

    Returns
    -------
    xarray.DataTree
        The fit with a ``scores`` group (:func:`~stereo_ppl.sweep.scores.score_fit`).
    """
    key_start, key_fit = jax.random.split(rng_key)
    options = dict(config.options)
    if repeat > 0 and config.init != "default":
        options["init"] = start_params(
            key_start,
            paired,
            heldout,
            num_latent=num_latent,
            how=config.init,
            jitter=config.init_jitter,
            method=config.method,
            b_F_prior_mean=float(options.get("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN)),
        )
    tree = inference.fit(
        key_fit,
        paired,
        heldout=np.asarray(heldout, dtype=np.int64),
        num_latent=num_latent,
        model=config.model,
        model_options=config.model_options,
        method=config.method,
        seed=seed,
        progress=progress,
        **options,
    )
    tree["scores"] = xr.DataTree(score_fit(tree, paired))
    return tree
