"""Variational inference: SVI with a Gaussian autoguide started at the MAP.

A model's per-star form (:class:`~stereo_ppl.models.LocalForm`, selected by
its model options, e.g. latent-z with ``marginal=False``) gets the same
autoguide for its global sites and a local Gaussian per star for its per-star
sites (:class:`~.vi_local.LocalLatentGuide`), started at the exact per-star
posterior given the MAP; minibatches (``batch_size``) then subsample both the
likelihood and the local guide.
"""

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal
from numpyro.infer.initialization import init_to_value

from ..errors import FitConfigError
from ..models import DEFAULT_B_F_PRIOR_MEAN, ModelVariant, get_model
from ..models.base import NOISE_SITE_DIMS
from .arrays import ModelData, VariantData, as_variant_data
from .curvature import site_precision_diag
from .laplace import decoder_precision_diag
from .progress import progress_bar
from .vi_local import LocalLatentGuide

__all__ = ["GUIDES", "ElboTrace", "VIResult", "fit_vi"]

#: Variational families :func:`fit_vi` offers.
GUIDES = ("normal", "lowrank")


class ElboTrace(NamedTuple):
    """ELBO recorded during VI.

    Attributes
    ----------
    step : ndarray of int, shape (num_records,)
        Steps taken when each value was recorded.
    elbo : ndarray of float, shape (num_records,)
        Mean ELBO estimate over the steps since the previous record.
    seconds : ndarray of float, shape (num_records,)
        Wall-clock seconds since VI started.
    """

    step: np.ndarray
    elbo: np.ndarray
    seconds: np.ndarray


class VIResult(NamedTuple):
    """Result of :func:`fit_vi`.

    Attributes
    ----------
    samples : dict of str to ndarray
        ``beta_z`` (num_samples, c, P1), ``beta_F`` (num_samples, P2, c),
        ``b_F`` (num_samples, P2), and a model variant's further sites:
        draws from the fitted guide.
    mean : dict of str to ndarray
        The guide's mean (its median: the location parameters).
    trace : ElboTrace
    elapsed : float
        Wall-clock seconds.
    local : dict of str to ndarray
        A per-star form's per-star sites and derived sites (e.g.
        ``z_decentered`` and ``z``), draws of shape (num_samples, num_train, k)
        jointly with ``samples``; empty for other models.
    learned : dict of str to float
        Parameters of a per-star form's reparametrised model that VI learned
        (e.g. latent-z's centring ``z_centered``); empty for other models.
    """

    samples: dict
    mean: dict
    trace: ElboTrace
    elapsed: float
    local: dict
    learned: dict


def _guide(kind, model, init_params, rank):
    init = init_to_value(values=init_params)
    if kind == "normal":
        return AutoNormal(model, init_loc_fn=init)
    if kind == "lowrank":
        return AutoLowRankMultivariateNormal(model, init_loc_fn=init, rank=rank)
    raise FitConfigError(f"guide must be one of {', '.join(GUIDES)}; got {kind!r}")


def _site_order(model, data: VariantData, params, sites):
    """``sites`` in the order ``model`` samples them (AutoContinuous concatenates so)."""
    seeded = handlers.seed(handlers.substitute(model, data=params), rng_seed=0)
    trace = handlers.trace(seeded).get_trace(*data.base, **data.kwargs)
    return tuple(name for name in trace if name in sites)


def _initial_scales(kind, init_params, data: VariantData, rank, model, variant, order):
    """Guide scales at the MAP and each guide parameter's step size.

    The scales are ``1 / sqrt`` of the exact diagonal Hessian (the mean-field
    optimum of a Gaussian posterior): in closed form for the base sites
    (a variant's own terms in their Hessian are left out, so those start
    wider) and for the variant's sites it gives a closed form for
    (``variant.precision``), by Hessian-vector products for its other sites.
    Locations (and covariance factors) step in units of these scales,
    unconstrained scales in units of 1, so one learning rate suits parameters
    whose posterior widths differ by orders of magnitude (Adam's steps are
    otherwise ~``learning_rate`` for every one). ``order``: the guided sites
    in the model's order.
    """
    base = data.base
    diag = decoder_precision_diag(init_params, base.apogee_flux, base.lamost_ivar)
    if variant.precision is not None:
        diag.update(variant.precision(init_params, base.apogee_flux, base.lamost_ivar))
    probe = tuple(name for name in order if name not in diag)
    if probe:
        diag.update(site_precision_diag(model, tuple(base), data.kwargs, init_params, probe))
    for name in set(NOISE_SITE_DIMS) & set(order):
        # a scatter at its boundary (0) is flat in log space: start no wider than 1 there
        diag[name] = jnp.maximum(diag[name], 1.0)
    scales = {name: 1.0 / jnp.sqrt(diag[name]) for name in order}
    if kind == "normal":
        init = {f"{name}_auto_scale": scales[name] for name in order}
        steps = {f"{name}_auto_loc": scales[name] for name in order}
        steps.update({key: jnp.ones_like(value) for key, value in init.items()})
        return init, steps
    # AutoContinuous guides concatenate the sites in the model's order.
    flat = jnp.concatenate([scales[name].ravel() for name in order])
    init = {"auto_scale": flat}
    steps = {
        "auto_loc": flat,
        "auto_scale": jnp.ones_like(flat),
        "auto_cov_factor": jnp.broadcast_to(flat[:, None], (flat.size, rank)),
    }
    return init, steps


def _scale_by_tree(steps):
    """An optax transformation multiplying each update by its entry of ``steps``."""

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u, s: u * s, updates, steps), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _draw(auto, rng_key, params, train: VariantData, sites, num_samples, chunk=10):
    """``num_samples`` guide draws of ``sites``, made ``chunk`` at a time into host arrays.

    Returns
    -------
    dict of str to ndarray, each (num_samples, ...)
    """

    # compiled once per chunk size (eagerly, every chunk would compile its own ops)
    @partial(jax.jit, static_argnums=1)
    def draw(key, size, params, args, inputs):
        out = auto.sample_posterior(key, params, *args, sample_shape=(size,), **inputs)
        return {name: out[name] for name in sites}

    samples = {}
    for start in range(0, num_samples, chunk):
        size = min(chunk, num_samples - start)
        key = jax.random.fold_in(rng_key, start)
        draws = draw(key, size, params, tuple(train.base), train.kwargs)
        for name in sites:
            value = np.asarray(draws[name])
            if name not in samples:
                samples[name] = np.empty((num_samples, *value.shape[1:]), value.dtype)
            samples[name][start : start + size] = value
    return samples


def fit_vi(
    rng_key,
    train: ModelData | VariantData,
    *,
    num_latent: int,
    init_params: dict,
    model: str | ModelVariant = "base",
    guide: str = "normal",
    rank: int = 10,
    num_steps: int = 1000,
    learning_rate: float = 0.05,
    num_particles: int = 1,
    num_samples: int = 100,
    batch_size: int | None = None,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
    eval_every: int = 50,
    progress: bool = False,
) -> VIResult:
    """Fit a Gaussian variational posterior of a model (default the base model) by SVI.

    The guide starts at ``init_params`` (normally the MAP) with the scales of
    the mean-field optimum of a Gaussian posterior there (the inverse square
    roots of the exact diagonal Hessian), so the optimisation only refines it.
    Adam's steps are measured in those scales (see ``learning_rate``).

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key (ELBO particles, minibatches and the final draws).
    train : ModelData or VariantData
        Training stars (with the model variant's extra inputs).
    num_latent : int
        ``c``.
    init_params : dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,) and the
        variant's further sites: the starting means.
    model : str or ModelVariant
        The model (:data:`~stereo_ppl.models.MODELS`; default the base model).
    guide : {"normal", "lowrank"}
        ``AutoNormal`` (mean field) or ``AutoLowRankMultivariateNormal`` of
        the global sites (a per-star form's per-star sites always get a
        local diagonal Gaussian per star).
    rank : int
        Rank of the low-rank guide's covariance factor.
    num_steps : int
        SVI steps.
    learning_rate : float
        Adam's initial step, in units of each parameter's starting posterior
        standard deviation (cosine decay to 0).
    num_particles : int
        Samples per ELBO estimate (``Trace_ELBO(num_particles=...)``).
    num_samples : int
        Posterior draws returned.
    batch_size : int, optional
        Stars per minibatch; default all training stars. A per-star form's
        local guide is subsampled with the likelihood.
    b_F_prior_mean : float
        Prior mean of ``b_F``.
    eval_every : int
        Steps between ELBO records.
    progress : bool
        Show a progress bar.

    Returns
    -------
    VIResult
    """
    for name, value in (("num_steps", num_steps), ("num_samples", num_samples)):
        if value < 1:
            raise FitConfigError(f"{name} must be >= 1; got {value}")
    if num_particles < 1 or rank < 1 or eval_every < 1:
        raise FitConfigError("num_particles, rank and eval_every must be >= 1")
    if batch_size is not None and not 1 <= batch_size <= train.num_stars:
        raise FitConfigError(
            f"batch size must be between 1 and the {train.num_stars} training stars; "
            f"got {batch_size}"
        )
    variant = get_model(model)
    train = as_variant_data(train)
    if guide not in GUIDES:
        raise FitConfigError(f"guide must be one of {', '.join(GUIDES)}; got {guide!r}")
    dtype = train.base.apogee_flux.dtype
    sites = tuple(variant.site_dims)
    init_params = {k: jnp.asarray(init_params[k], dtype) for k in sites}
    model = partial(variant.model, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean)
    order = _site_order(model, train, init_params, sites)
    scales, steps = _initial_scales(guide, init_params, train, rank, model, variant, order)
    local_sites, model_params = (), {}
    if variant.per_star is None:
        auto = _guide(guide, model, init_params, rank)
    else:  # per-star sites: a local Gaussian per star, started at their posterior given the MAP
        model = handlers.reparam(
            partial(variant.per_star, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean),
            config=dict(variant.local.reparam),
        )
        local_start, model_params = variant.local.start(init_params, *train.base)
        scales = {**scales, **model_params}
        steps = {**steps, **{name: jnp.ones(()) for name in model_params}}
        auto = LocalLatentGuide(
            model,
            lambda given: _guide(guide, given, init_params, rank),
            variant.local.site_dims,
            local_start,
            derived=variant.local.derived,
        )
        steps = {**steps, **auto.step_scales()}
        local_sites = (*local_start, *variant.local.derived)
    optimiser = optax.chain(
        optax.scale_by_adam(),
        _scale_by_tree(steps),
        optax.scale_by_learning_rate(optax.cosine_decay_schedule(learning_rate, num_steps)),
    )
    svi = SVI(model, auto, optimiser, Trace_ELBO(num_particles=num_particles))
    subsample = None if batch_size in (None, train.num_stars) else batch_size
    key_svi, key_draw = jax.random.split(rng_key)
    args, inputs = tuple(train.base), train.kwargs
    state = svi.init(key_svi, *args, subsample_size=subsample, init_params=scales, **inputs)

    # the data are arguments, not constants of the compiled scan (no constant folding)
    @partial(jax.jit, static_argnums=1)
    def advance(state, length, args, inputs):
        def step(state, _):
            state, loss = svi.update(state, *args, subsample_size=subsample, **inputs)
            return state, loss

        state, losses = jax.lax.scan(step, state, None, length=length)
        return state, -jnp.mean(losses)

    start = time.perf_counter()
    steps, elbos, seconds, done = [], [], [], 0
    with progress_bar(num_steps, enabled=progress, description=f"VI c={num_latent}") as bar:
        while done < num_steps:
            length = min(eval_every, num_steps - done)
            state, elbo = advance(state, length, args, inputs)
            done += length
            elbo = float(elbo)
            if not np.isfinite(elbo):
                raise FloatingPointError(
                    f"ELBO became {elbo} by step {done}; lower the learning rate"
                )
            steps.append(done)
            elbos.append(elbo)
            seconds.append(time.perf_counter() - start)
            bar.update(length, elbo=elbo)
    params = svi.get_params(state)
    samples = _draw(auto, key_draw, params, train, (*sites, *local_sites), num_samples)
    local = {name: samples.pop(name) for name in local_sites}
    learned = {name: float(params[name]) for name in model_params}
    mean = {k: np.asarray(v) for k, v in auto.median(params).items() if k in sites}
    trace = ElboTrace(np.asarray(steps), np.asarray(elbos), np.asarray(seconds))
    return VIResult(samples, mean, trace, time.perf_counter() - start, local, learned)
