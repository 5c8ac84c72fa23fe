"""Replicated LAMOST spectra from the model function, star chunk by star chunk.

Every draw goes through :class:`numpyro.infer.Predictive` on the fit's own
model function (the base model :func:`stereo_ppl.models.rrr_model` or a
variant, with its per-star inputs) with ``lamost_flux=None``:

* posterior predictive: ``Predictive(model, posterior_samples=...)``, one
  replicate per posterior draw;
* plug-in predictive (a point estimate): ``Predictive(substitute(model,
  point), num_samples=N)``, ``N`` replicates at the same parameters;
* prior predictive: ``Predictive(model, num_samples=N)``.

The model gives masked pixels (``ivar == 0``) unit noise; their replicates
mean nothing and are set to NaN here.
"""

from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.infer import Predictive

from ..inference.arrays import ModelData, VariantData, as_variant_data
from ..inference.progress import progress_bar
from ..models import rrr_model

__all__ = ["SITE", "default_chunk_size", "draw_replicates"]

#: The model's observed site, whose replicates are drawn.
SITE = "lamost_flux"
#: Largest number of replicated values (draws × stars × pixels) computed at once.
CHUNK_ELEMENTS = 2**24


@partial(jax.jit, static_argnames=("model",))
def _posterior_chunk(key, apogee_flux, lamost_ivar, inputs, samples, *, model):
    predictive = Predictive(model, posterior_samples=samples, return_sites=[SITE])
    return predictive(key, apogee_flux, lamost_ivar, **inputs)[SITE]


@partial(jax.jit, static_argnames=("model", "num_samples"))
def _plugin_chunk(key, apogee_flux, lamost_ivar, inputs, point, *, model, num_samples):
    fixed = handlers.substitute(model, data=point)
    predictive = Predictive(fixed, num_samples=num_samples, return_sites=[SITE])
    return predictive(key, apogee_flux, lamost_ivar, **inputs)[SITE]


@partial(jax.jit, static_argnames=("model", "num_samples"))
def _prior_chunk(key, apogee_flux, lamost_ivar, inputs, *, model, num_samples):
    predictive = Predictive(model, num_samples=num_samples, return_sites=[SITE])
    return predictive(key, apogee_flux, lamost_ivar, **inputs)[SITE]


def default_chunk_size(num_samples: int, num_stars: int, num_pixels: int) -> int:
    """Stars per chunk so that one chunk holds about ``CHUNK_ELEMENTS`` values."""
    per_star = max(1, num_samples * num_pixels)
    return int(max(1, min(num_stars, CHUNK_ELEMENTS // per_star)))


def draw_replicates(
    rng_key,
    data: ModelData | VariantData,
    *,
    model=None,
    num_latent: int,
    b_F_prior_mean: float,
    samples: Mapping[str, np.ndarray] | None,
    num_samples: int,
    num_prior_samples: int,
    chunk_size: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Posterior (or plug-in) and prior predictive replicates of ``data``'s stars.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key; chunk ``k`` uses ``fold_in(key, k)`` (results depend on
        ``chunk_size``).
    data : ModelData or VariantData
        The stars to replicate (their ``lamost_flux`` is not used), with the
        model's per-star inputs.
    model : callable, optional
        The fit's model function (default the base model,
        :func:`~stereo_ppl.models.rrr_model`); its observed site is drawn.
    num_latent : int
        ``c``.
    b_F_prior_mean : float
        The fit's prior mean of ``b_F`` (used by the prior predictive).
    samples : mapping or None
        Every parameter site of the model with a leading draw axis, e.g.
        ``beta_z`` (num_draws, latent, apogee_pixel), ``beta_F`` (num_draws,
        lamost_pixel, latent), ``b_F`` (num_draws, lamost_pixel). With one
        draw, the plug-in predictive draws ``num_samples`` replicates at it;
        with several, one replicate per draw (``num_samples`` is ignored).
    num_samples : int
        Replicates of the plug-in predictive.
    num_prior_samples : int
        Prior predictive replicates (0: none).
    chunk_size : int, optional
        Stars per chunk (default: :func:`default_chunk_size`).
    progress : bool
        Show a progress bar over stars (stderr).

    Returns
    -------
    posterior : ndarray, shape (num_replicates, num_stars, num_lamost_pixels)
    prior : ndarray, shape (num_prior_samples, num_stars, num_lamost_pixels) or None
    num_done : int
        Stars finished: ``num_stars``, or fewer when interrupted (Ctrl-C)
        after at least one chunk; only the first ``num_done`` stars of the
        outputs are filled. An interrupt before the first chunk finished
        is raised.

    Notes
    -----
    Masked pixels (``lamost_ivar == 0``) are NaN in both outputs.
    """
    data = as_variant_data(data)
    num_stars, num_pixels = data.base.lamost_ivar.shape
    dtype = data.base.apogee_flux.dtype
    model = partial(
        rrr_model if model is None else model,
        num_latent=num_latent,
        b_F_prior_mean=float(b_F_prior_mean),
    )
    static = {"model": model}
    num_draws = 1 if samples is None else int(np.shape(samples["b_F"])[0])
    plug_in = num_draws == 1
    num_rep = num_samples if plug_in else num_draws
    if samples is None:
        posterior_fn = None
    elif plug_in:
        point = {k: jnp.asarray(v[0], dtype) for k, v in samples.items()}
        posterior_fn = partial(_plugin_chunk, point=point, num_samples=num_rep, **static)
    else:
        draws = {k: jnp.asarray(v, dtype) for k, v in samples.items()}
        posterior_fn = partial(_posterior_chunk, samples=draws, **static)
    prior_fn = (
        partial(_prior_chunk, num_samples=num_prior_samples, **static)
        if num_prior_samples > 0
        else None
    )
    size = chunk_size or default_chunk_size(num_rep + num_prior_samples, num_stars, num_pixels)
    posterior = np.full((num_rep, num_stars, num_pixels), np.nan, dtype)
    prior = np.full((num_prior_samples, num_stars, num_pixels), np.nan, dtype)
    done = 0
    with progress_bar(num_stars, enabled=progress, description="predictive draws") as bar:
        try:
            for k, start in enumerate(range(0, num_stars, size)):
                stop = min(start + size, num_stars)
                key_post, key_prior = jax.random.split(jax.random.fold_in(rng_key, k))
                f1, ivar, inputs = _padded(data, start, stop, size)
                bad = np.asarray(data.base.lamost_ivar[start:stop]) <= 0
                jobs = ((posterior_fn, key_post, posterior), (prior_fn, key_prior, prior))
                for fn, key, out in jobs:
                    if fn is not None:
                        values = fn(key, f1, ivar, inputs)
                        out[:, start:stop] = _masked(values, stop - start, bad)
                done = stop
                bar.update(stop - start)
        except KeyboardInterrupt:
            if done == 0:
                raise
    return posterior, (prior if prior_fn is not None else None), done


def _padded(data: VariantData, start: int, stop: int, size: int):
    """Survey-1 flux, survey-2 ivar and the model's inputs of stars ``start:stop``.

    Per-star arrays are zero-padded to ``size`` stars (one compiled shape);
    shared inputs are passed as they are.
    """
    pad = size - (stop - start)

    def take(a):
        a = a[start:stop]
        return jnp.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1)) if pad else a

    inputs = {k: take(v) for k, v in data.inputs.items()} | dict(data.shared)
    return take(data.base.apogee_flux), take(data.base.lamost_ivar), inputs


def _masked(values, num: int, bad: np.ndarray) -> np.ndarray:
    """The first ``num`` stars of ``values`` (draw, star, pixel) with NaN at ``bad``."""
    values = np.asarray(values)[:, :num]
    return np.where(bad[None], np.nan, values)
