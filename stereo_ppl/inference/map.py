"""MAP by stochastic optimisation: SVI with ``AutoDelta`` and optax AdamW.

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoDelta
from numpyro.infer.initialization import init_to_value

from ..errors import FitConfigError
from ..models import DEFAULT_B_F_PRIOR_MEAN, ModelVariant, eq12, get_model
from .arrays import ModelData, VariantData, as_variant_data, check_num_latent, log_joint_fn
from .exact import solve_exact
from .progress import progress_bar

__all__ = ["LogJointTrace", "MapResult", "fit_map", "initial_params", "starting_point"]


class LogJointTrace(NamedTuple):
    """Log joint recorded during a fit (Fig. 1 of the seed study).

    Attributes
    ----------
    step : ndarray of int, shape (num_records,)
        Optimisation step after which each value was recorded (0 = start).
    train, heldout : ndarray of float, shape (num_records,)
        Log prior plus log likelihood of the training / held-out stars;
        ``heldout`` is NaN when no star is held out.
    seconds : ndarray of float, shape (num_records,)
        Wall-clock seconds since the optimisation started (the first interval
        includes compilation).
    """

    step: np.ndarray
    train: np.ndarray
    heldout: np.ndarray
    seconds: np.ndarray


class MapResult(NamedTuple):
    """Result of :func:`fit_map`.

    Attributes
    ----------
    params : dict of str to ndarray
        ``beta_z`` (latent, apogee_pixel), ``beta_F`` (lamost_pixel, latent),
        ``b_F`` (lamost_pixel,), and a model variant's further sites, at the
        best recorded step.
    trace : LogJointTrace
        Log joint every ``eval_every`` steps.
    best_step : int
        Step of the returned parameters (best held-out log joint, or best
        training log joint when nothing is held out).
    num_steps : int
        Steps taken (fewer than asked when stopped early).
    stopped_early : bool
        Whether the held-out log joint stopped improving.
    elapsed : float
        Wall-clock seconds of the optimisation.
    """

    params: dict
    trace: LogJointTrace
    best_step: int
    num_steps: int
    stopped_early: bool
    elapsed: float


def initial_params(rng_key, data: ModelData, *, num_latent: int, init_scale: float = 0.01):
    """A starting point for stochastic optimisation.

    ``beta_z`` and ``beta_F`` are small Gaussian draws (all zeros is a saddle
    point) and ``b_F`` is the ivar-weighted mean survey-2 flux per pixel.

    Returns
    -------
    dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,) in the data's dtype.
    """
    key_z, key_f = jax.random.split(rng_key)
    num_apogee_pixels = data.apogee_flux.shape[1]
    num_lamost_pixels = data.lamost_flux.shape[1]
    dtype = data.apogee_flux.dtype
    weight = data.lamost_ivar.sum(0)
    mean = (data.lamost_ivar * data.lamost_flux).sum(0) / jnp.where(weight > 0, weight, 1.0)
    return {
        "beta_z": init_scale
        * jax.random.normal(key_z, (num_latent, num_apogee_pixels), dtype)
        / jnp.sqrt(num_apogee_pixels),
        "beta_F": init_scale * jax.random.normal(key_f, (num_lamost_pixels, num_latent), dtype),
        "b_F": jnp.where(weight > 0, mean, 1.0).astype(dtype),
    }


def starting_point(
    rng_key,
    train: VariantData,
    *,
    num_latent: int,
    init: str | dict,
    variant: ModelVariant,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
) -> dict:
    """Starting values of every site of ``variant`` (see ``init`` of :func:`fit_map`).

    The base sites come from ``init``; sites it lacks, from the variant's
    ``init`` given the base sites (left to NumPyro's default when it has none).
    """
    if init == "exact":
        base = train.base
        params = solve_exact(
            rng_key,
            base.apogee_flux,
            base.lamost_flux,
            base.lamost_ivar,
            num_latent=num_latent,
            b_F_prior_mean=b_F_prior_mean,
        ).params
    elif init == "rrr":
        params = eq12.rrr_start(*train.base, num_latent=num_latent)
    elif init == "random":
        params = initial_params(rng_key, train.base, num_latent=num_latent)
    elif isinstance(init, dict):
        params = dict(init)
    else:
        raise FitConfigError(
            f"init must be 'rrr', 'random', 'exact' or a dict of parameters; got {init!r}"
        )
    missing = [name for name in variant.extra_sites if name not in params]
    if missing and variant.init is not None:
        extra = variant.init(params, train.base.apogee_flux, train.kwargs)
        params.update({name: extra[name] for name in missing if name in extra})
    start = _calibration_start(train.base.lamost_ivar)
    params.update({k: v for k, v in start.items() if k in variant.site_dims and k not in params})
    return params


def _calibration_start(lamost_ivar) -> dict:
    """Start of the calibration sites: the reported errors (``a = 1``), a small scatter
    (a tenth of the median reported error) and the seed's prior scale (1)."""
    ivar = np.asarray(lamost_ivar)
    good = ivar > 0
    error = float(np.median(1.0 / np.sqrt(ivar[good]))) if good.any() else 1.0
    dtype = ivar.dtype
    return {
        "error_scale": np.asarray(1.0, dtype),
        "scatter": np.full(ivar.shape[1], 0.1 * error, dtype),
        "prior_scale": np.asarray(1.0, dtype),
    }


def fit_map(
    rng_key,
    train: ModelData | VariantData,
    heldout: ModelData | VariantData | None = None,
    *,
    num_latent: int,
    model: str | ModelVariant = "base",
    num_steps: int = 20_000,
    learning_rate: float = 1e-3,
    decay_to: float | None = 0.1,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
    eval_every: int = 100,
    patience: int | None = 20,
    init: str | dict = "rrr",
    progress: bool = False,
) -> MapResult:
    """MAP estimate of a model (default the base model) by SVI with ``AutoDelta`` and AdamW.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key (initialisation and minibatch draws).
    train : ModelData or VariantData
        Training stars, arrays of shape (num_train, ...) (with the model
        variant's extra inputs).
    heldout : ModelData or VariantData, optional
        Held-out stars, scored every ``eval_every`` steps and used for early
        stopping and for choosing the returned step.
    num_latent : int
        ``c``, the length of ``z``.
    model : str or ModelVariant
        The model (:data:`~stereo_ppl.models.MODELS`; default the base model).
    num_steps : int
        Largest number of optimisation steps.
    learning_rate, weight_decay : float
        Options of :func:`optax.adamw`. The prior already regularises, so
        the decoupled weight decay defaults to 0.
    decay_to : float, optional
        The step size follows a cosine decay from ``learning_rate`` to
        ``decay_to * learning_rate`` at ``num_steps`` (which damps Adam's late
        spikes); ``None`` keeps it constant, as the seed study did.
    batch_size : int, optional
        Stars per minibatch (``subsample_size`` of the ``star`` plate);
        default all training stars.
    b_F_prior_mean : float
        Prior mean of ``b_F``.
    eval_every : int
        Steps between log-joint records (and early-stopping checks).
    patience : int, optional
        Stop when the monitored log joint has not improved for this many
        records; ``None`` never stops early.
    init : {"rrr", "random", "exact"} or dict
        Starting point: ``"rrr"`` (default) the unweighted reduced-rank
        regression of :func:`~stereo_ppl.models.eq12.rrr_start`, ``"random"``
        small random values (:func:`initial_params`), ``"exact"`` the base
        model's exact MAP (:func:`~stereo_ppl.inference.exact.solve_exact`;
        a model variant then refines it), or a dict of
        ``beta_z``, ``beta_F``, ``b_F`` arrays; a variant's further sites
        start from its own ``init`` (:func:`starting_point`).
    progress : bool
        Show a progress bar.

    Returns
    -------
    MapResult
    """
    variant = get_model(model)
    train = as_variant_data(train)
    heldout = None if heldout is None else as_variant_data(heldout)
    check_num_latent(num_latent, train.num_stars, train.base.apogee_flux.shape[1])
    if num_steps < 1 or eval_every < 1:
        raise FitConfigError(f"steps ({num_steps}) and eval_every ({eval_every}) must be >= 1")
    if batch_size is not None and not 1 <= batch_size <= train.num_stars:
        raise FitConfigError(
            f"batch size must be between 1 and the {train.num_stars} training stars; "
            f"got {batch_size}"
        )
    key_init, key_svi = jax.random.split(rng_key)
    init_params = starting_point(
        key_init,
        train,
        num_latent=num_latent,
        init=init,
        variant=variant,
        b_F_prior_mean=b_F_prior_mean,
    )
    model = partial(variant.model, num_latent=num_latent, b_F_prior_mean=b_F_prior_mean)
    guide = AutoDelta(model, init_loc_fn=init_to_value(values=init_params))
    schedule = learning_rate
    if decay_to is not None:
        schedule = optax.cosine_decay_schedule(learning_rate, num_steps, alpha=decay_to)
    svi = SVI(model, guide, optax.adamw(schedule, weight_decay=weight_decay), Trace_ELBO())
    subsample = None if batch_size in (None, train.num_stars) else batch_size
    args, inputs = tuple(train.base), train.kwargs
    state = svi.init(key_svi, *args, subsample_size=subsample, **inputs)

    # the data are arguments, not constants of the compiled scan (no constant folding)
    @partial(jax.jit, static_argnums=1)
    def advance(state, length, args, inputs):
        def step(state, _):
            return svi.update(state, *args, subsample_size=subsample, **inputs)[0], None

        return jax.lax.scan(step, state, None, length=length)[0]

    log_joint = log_joint_fn(
        num_latent=num_latent, b_F_prior_mean=b_F_prior_mean, model=variant.model
    )

    def record(state):
        params = guide.median(svi.get_params(state))
        scores = [float(log_joint(params, data)) if data else np.nan for data in (train, heldout)]
        return params, scores

    use_heldout = heldout is not None and heldout.num_stars > 0
    start = time.perf_counter()
    params, scores = record(state)
    steps, records, seconds = [0], [scores], [0.0]
    best = (scores[use_heldout], 0, params)
    since_best, done, stopped = 0, 0, False
    with progress_bar(num_steps, enabled=progress, description=f"MAP c={num_latent}") as bar:
        while done < num_steps:
            length = min(eval_every, num_steps - done)
            state = advance(state, length, args, inputs)
            done += length
            params, scores = record(state)
            steps.append(done)
            records.append(scores)
            seconds.append(time.perf_counter() - start)
            bar.update(length, train=scores[0], heldout=scores[1])
            if scores[use_heldout] > best[0]:
                best, since_best = (scores[use_heldout], done, params), 0
            else:
                since_best += 1
            if not np.isfinite(scores[0]):
                raise FloatingPointError(
                    f"log joint became {scores[0]} at step {done}; lower the learning rate"
                )
            if patience is not None and since_best >= patience:
                stopped = True
                break
    records = np.asarray(records, dtype=np.float64)
    return MapResult(
        params={k: np.asarray(v) for k, v in best[2].items()},
        trace=LogJointTrace(np.asarray(steps), records[:, 0], records[:, 1], np.asarray(seconds)),
        best_step=best[1],
        num_steps=done,
        stopped_early=stopped,
        elapsed=time.perf_counter() - start,
    )
