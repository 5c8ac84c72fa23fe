"""One entry point that fits a paired dataset and returns its ``DataTree``."""

import jax
import xarray as xr

from ..errors import FitConfigError
from ..models import DEFAULT_B_F_PRIOR_MEAN
from .arrays import check_num_latent, model_data, split_stars
from .map import fit_map
from .results import fit_datatree

__all__ = ["METHODS", "fit"]

#: Fitting methods :func:`fit` knows.
METHODS = ("map",)


def fit(
    rng_key,
    paired: xr.Dataset,
    *,
    num_latent: int,
    method: str = "map",
    heldout_fraction: float = 0.2,
    seed: int | None = None,
    progress: bool = False,
    **options,
) -> xr.DataTree:
    """Fit the base model to a paired dataset.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key; it chooses the held-out stars and drives the method.
    paired : xarray.Dataset
        A validated paired dataset (see :func:`stereo_ppl.data.make_paired`).
    num_latent : int
        ``c``, the length of ``z``.
    method : {"map"}
        ``"map"``: SVI with ``AutoDelta`` and AdamW (:func:`fit_map`).
    heldout_fraction : float
        Fraction of stars held out of the fit and scored.
    seed : int, optional
        The integer ``rng_key`` was made from, recorded in the result.
    progress : bool
        Show a progress bar.
    **options
        Keyword options of the method (e.g. ``num_steps``, ``batch_size``,
        ``learning_rate``, ``b_F_prior_mean`` for ``"map"``).

    Returns
    -------
    xarray.DataTree
        See :mod:`stereo_ppl.inference.results` for the layout.
    """
    if method not in METHODS:
        raise FitConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    key_split, key_fit = jax.random.split(rng_key)
    train, heldout = split_stars(key_split, paired.sizes["star"], heldout_fraction)
    check_num_latent(num_latent, len(train), paired.sizes["apogee_pixel"])
    data = model_data(paired)
    result = fit_map(
        key_fit,
        data.take(train),
        data.take(heldout),
        num_latent=num_latent,
        progress=progress,
        **options,
    )
    config = {"num_latent": num_latent, "heldout_fraction": heldout_fraction, **options}
    attrs = {
        "num_steps": result.num_steps,
        "best_step": result.best_step,
        "stopped_early": int(result.stopped_early),
        "elapsed_seconds": result.elapsed,
        "b_F_prior_mean": float(options.get("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN)),
    }
    return fit_datatree(
        paired,
        result.params,
        heldout=heldout,
        method=method,
        seed=seed,
        config=config,
        log_joint=tuple(result.trace),
        attrs=attrs,
    )
