"""The fitting methods behind :func:`~stereo_ppl.inference.fit`, one runner each.

Every runner takes ``(rng_key, train, heldout, *, num_latent, progress,
**options)`` and returns a :class:`MethodOutput`; unknown options raise
:class:`~stereo_ppl.errors.FitConfigError` naming them. The runners of
:data:`VARIANT_METHODS` also take ``model`` (a
:class:`~stereo_ppl.models.ModelVariant`) with ``train`` and ``heldout`` as
:class:`~stereo_ppl.inference.arrays.VariantData`.

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

from functools import partial
from typing import NamedTuple

import jax
import numpy as np
import xarray as xr

from ..dims import STEP
from ..errors import FitConfigError
from ..models import DEFAULT_B_F_PRIOR_MEAN, eq12, get_model, rrr_model
from .arrays import ModelData, VariantData, as_variant_data, log_joint_fn
from .calibration import calibrated_map
from .exact import solve_exact
from .laplace import sample_decoder
from .map import fit_map
from .vi import fit_vi

__all__ = [
    "DEFAULT_MAP_STEPS",
    "DRAW_BUDGET_BYTES",
    "LOCAL_GROUP",
    "METHOD_OPTIONS",
    "RUNNERS",
    "TRAIN_STAR",
    "VARIANT_METHODS",
    "MethodOutput",
    "default_num_samples",
]

_EXACT_OPTIONS = ("max_iter", "tol", "gtol", "init", "patience")
_MAP_OPTIONS = (
    "num_steps",
    "learning_rate",
    "decay_to",
    "weight_decay",
    "batch_size",
    "eval_every",
    "patience",
    "init",
)
#: Options :func:`~stereo_ppl.inference.fit` passes to every runner besides a method's own:
#: the noise model and prior (learned by the exact MAP stage) and ``b_F``'s prior mean.
_FIT_OPTIONS = ("noise", "prior", "b_F_prior_mean")
_VI_OPTIONS = (
    "guide",
    "rank",
    "num_steps",
    "learning_rate",
    "num_particles",
    "num_samples",
    "batch_size",
    "eval_every",
)


#: The options of each method (``fit(..., **options)``; ``b_F_prior_mean`` for all). ``vi``
#: of a model other than the base model also takes ``map_steps`` and ``map_learning_rate``.
METHOD_OPTIONS = {
    "exact": _EXACT_OPTIONS,
    "map": _MAP_OPTIONS,
    "laplace": (*_EXACT_OPTIONS, "num_samples", "chunk_size"),
    "vi": (*_VI_OPTIONS, *_EXACT_OPTIONS),
}
#: Group of a per-star form's per-star draws (e.g. latent-z's ``z``), written by ``vi``.
LOCAL_GROUP = "local"
#: Its star dimension as a runner writes it: the training stars, in the order of the
#: ``star`` dimension (:func:`~stereo_ppl.inference.fit` puts them back on ``star``).
TRAIN_STAR = "train_star"
#: AdamW steps of the MAP stage of ``vi`` for a model other than the base model.
DEFAULT_MAP_STEPS = 3000
#: The methods that fit every model (``exact`` and ``laplace`` fit the base model only).
VARIANT_METHODS = ("map", "vi")

#: Default memory for posterior draws: ``num_samples`` defaults to 100 draws,
#: fewer where 100 would exceed this (c = 500 on the seed's grids: 23 draws).
DRAW_BUDGET_BYTES = 2**29


def default_num_samples(num_latent: int, data: ModelData | VariantData) -> int:
    """100 posterior draws, or as many as fit :data:`DRAW_BUDGET_BYTES` (at least 10)."""
    data = as_variant_data(data).base
    num_apogee, num_lamost = data.apogee_flux.shape[1], data.lamost_flux.shape[1]
    per_draw = data.apogee_flux.dtype.itemsize * (
        num_latent * (num_apogee + num_lamost + data.num_stars) + num_lamost
    )
    return int(max(10, min(100, DRAW_BUDGET_BYTES // per_draw)))


class MethodOutput(NamedTuple):
    """What a runner hands to :func:`~stereo_ppl.inference.results.fit_datatree`.

    Attributes
    ----------
    params : dict
        ``beta_z``, ``beta_F``, ``b_F`` (and a model variant's further
        sites), either one point (no sample axes) or draws with leading
        (chain, draw) axes.
    log_joint : tuple of ndarray
        ``(step, train, heldout, seconds)`` of the optimisation.
    attrs : dict
        Root attributes (iterations, gradient norm, elapsed seconds, ...).
    groups : dict of str to xarray.Dataset
        Further groups (``elbo`` for VI).
    """

    params: dict
    log_joint: tuple
    attrs: dict
    groups: dict


def _split_options(options: dict, allowed: tuple[str, ...], method: str) -> dict:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise FitConfigError(
            f"method {method!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are {', '.join(allowed)}"
        )
    return options


def _exact(key, train: ModelData, heldout: ModelData, num_latent, progress, b_mean, options):
    """Run the exact solver with a held-out score per iteration.

    ``options`` may hold ``noise`` and ``prior``: other than the seed's
    (``"reported"``, ``"unit"``) they are learned from the training stars by
    :func:`~.calibration.calibrated_map`.
    """
    noise = options.pop("noise", "reported")
    prior = options.pop("prior", "unit")
    score = None
    if heldout.num_stars:
        model = partial(rrr_model, noise=noise, prior=prior)
        log_joint = log_joint_fn(num_latent=num_latent, b_F_prior_mean=b_mean, model=model)
        score = lambda params: log_joint(params, heldout)  # noqa: E731
    arrays = (train.apogee_flux, train.lamost_flux, train.lamost_ivar)
    settings = {"num_latent": num_latent, "b_F_prior_mean": b_mean, "progress": progress}
    learned = {}
    if noise == "reported" and prior == "unit":
        result = solve_exact(key, *arrays, heldout=score, **settings, **options)
        params = result.params
    else:
        calibrated = calibrated_map(
            key, *arrays, noise=noise, prior=prior, heldout=score, **settings, **options
        )
        result, params, learned = calibrated.solve, calibrated.params, calibrated.attrs
    trace = result.trace
    attrs = {
        **learned,
        "num_iterations": int(result.num_iterations),
        "grad_norm": float(result.grad_norm),
        "grad_norm_initial": float(trace.grad_norm[0]),
        "converged": int(result.converged),
        "stop_reason": result.stop_reason,
        # the step whose parameters are returned (with ``patience``, the best held-out one)
        "best_step": int(result.best_iteration),
        "elapsed_seconds": float(trace.elapsed[-1]),
    }
    log_joint = (trace.iteration, trace.log_joint, trace.heldout, trace.elapsed)
    return params, log_joint, attrs


def run_exact(key, train, heldout, *, num_latent, progress, **options):
    """``method="exact"``: :func:`~stereo_ppl.inference.exact.solve_exact`."""
    b_mean = float(options.pop("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN))
    options = _split_options(options, (*METHOD_OPTIONS["exact"], *_FIT_OPTIONS), "exact")
    params, log_joint, attrs = _exact(key, train, heldout, num_latent, progress, b_mean, options)
    return MethodOutput(params, log_joint, attrs, {})


def run_map(key, train, heldout, *, num_latent, progress, **options):
    """``method="map"``: SVI with ``AutoDelta`` and AdamW (:func:`fit_map`)."""
    options = _split_options(options, (*METHOD_OPTIONS["map"], "model", "b_F_prior_mean"), "map")
    result = fit_map(key, train, heldout, num_latent=num_latent, progress=progress, **options)
    attrs = {
        "num_steps": result.num_steps,
        "best_step": result.best_step,
        "stopped_early": int(result.stopped_early),
        "elapsed_seconds": result.elapsed,
    }
    return MethodOutput(result.params, tuple(result.trace), attrs, {})


def run_laplace(key, train, heldout, *, num_latent, progress, **options):
    """``method="laplace"``: exact MAP, then the decoder's exact conditional posterior."""
    b_mean = float(options.pop("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN))
    options = _split_options(options, (*METHOD_OPTIONS["laplace"], *_FIT_OPTIONS), "laplace")
    num_samples = int(options.pop("num_samples", default_num_samples(num_latent, train)))
    chunk_size = int(options.pop("chunk_size", 128))
    if num_samples < 1:
        raise FitConfigError(f"num_samples must be >= 1; got {num_samples}")
    key_map, key_draw = jax.random.split(key)
    params, log_joint, attrs = _exact(
        key_map, train, heldout, num_latent, progress, b_mean, options
    )
    # given beta_z, the decoder's conditional posterior: with prior scale sigma it is the
    # unit-prior one of sigma z (beta_F = sigma beta_F'), with the calibrated noise's precision
    sigma = float(params.get("prior_scale", 1.0))
    z = sigma * eq12.encode(params["beta_z"], np.asarray(train.apogee_flux))
    precision = eq12.noise_precision(np.asarray(train.lamost_ivar), **eq12.noise_params(params))
    beta_F, b_F, _ = sample_decoder(
        key_draw,
        z,
        train.lamost_flux,
        precision.astype(np.asarray(train.lamost_ivar).dtype),
        num_samples=num_samples,
        b_F_prior_mean=b_mean,
        chunk_size=chunk_size,
    )
    fixed = {k: v for k, v in params.items() if k not in ("beta_F", "b_F")}
    draws = {k: np.broadcast_to(v, (1, num_samples, *np.shape(v))) for k, v in fixed.items()}
    draws |= {"beta_F": sigma * beta_F[None], "b_F": b_F[None]}
    attrs["posterior"] = (
        "beta_F, b_F | beta_z: exact Gaussian conditional; beta_z (and the noise and prior "
        "scale, where learned) at the MAP"
    )
    return MethodOutput(draws, log_joint, attrs, {})


def _variant_map_stage(key, train, heldout, variant, num_latent, progress, b_mean, options):
    """The MAP stage of ``vi`` for a model variant: AdamW SVI from the base exact MAP."""
    map_options = {
        "num_steps": int(options.pop("map_steps", DEFAULT_MAP_STEPS)),
        "init": options.pop("init", "exact"),
    }
    if "map_learning_rate" in options:
        map_options["learning_rate"] = float(options.pop("map_learning_rate"))
    if "max_iter" in options or "tol" in options or "gtol" in options:
        raise FitConfigError(
            f"max_iter, tol and gtol belong to the exact solver, which fits the base model "
            f"only; model {variant.name!r} starts VI from AdamW MAP (option map_steps)"
        )
    result = fit_map(
        key,
        train,
        heldout,
        num_latent=num_latent,
        model=variant,
        b_F_prior_mean=b_mean,
        progress=progress,
        **map_options,
    )
    attrs = {
        "map_steps": result.num_steps,
        "best_step": result.best_step,
        "elapsed_seconds": result.elapsed,
    }
    return result.params, tuple(result.trace), attrs


def run_vi(key, train, heldout, *, num_latent, progress, model="base", **options):
    """``method="vi"``: MAP (exact, or AdamW for model variants), then SVI from there.

    A model variant's MAP stage takes ``map_steps`` and ``map_learning_rate``
    (AdamW; defaults :data:`DEFAULT_MAP_STEPS` and 1e-3) and ``init``; it fits
    the variant's ``model`` (for a per-star form: the model with its per-star
    latents integrated out, whose MAP of the global sites starts the global
    guide). A per-star form's per-star draws go to the :data:`LOCAL_GROUP`
    group.
    """
    variant = get_model(model)
    b_mean = float(options.pop("b_F_prior_mean", DEFAULT_B_F_PRIOR_MEAN))
    stage = ("map_steps", "map_learning_rate")
    allowed = (*METHOD_OPTIONS["vi"], *_FIT_OPTIONS, *(() if variant.is_base else stage))
    vi_options = _split_options(options, allowed, "vi")
    stage_keys = (*_EXACT_OPTIONS, "noise", "prior", *stage)
    stage_options = {k: vi_options.pop(k) for k in stage_keys if k in vi_options}
    vi_options.setdefault("num_samples", default_num_samples(num_latent, train))
    key_map, key_vi = jax.random.split(key)
    if variant.is_base:
        params, log_joint, attrs = _exact(
            key_map, train, heldout, num_latent, progress, b_mean, stage_options
        )
    else:
        params, log_joint, attrs = _variant_map_stage(
            key_map, train, heldout, variant, num_latent, progress, b_mean, stage_options
        )
    result = fit_vi(
        key_vi,
        train,
        num_latent=num_latent,
        init_params=params,
        model=variant,
        b_F_prior_mean=b_mean,
        progress=progress,
        **vi_options,
    )
    draws = {k: v[None] for k, v in result.samples.items()}
    elbo = xr.Dataset(
        {
            "elbo": (STEP, result.trace.elbo, {"long_name": "evidence lower bound (mean)"}),
            "seconds": (STEP, result.trace.seconds, {"units": "s"}),
        },
        coords={STEP: result.trace.step},
    )
    attrs["vi_elapsed_seconds"] = result.elapsed
    attrs["elapsed_seconds"] = attrs["elapsed_seconds"] + result.elapsed
    groups = {"elbo": elbo}
    if result.local:
        groups[LOCAL_GROUP] = _local_group(result, variant)
    return MethodOutput(draws, log_joint, attrs, groups)


def _local_group(result, variant) -> xr.Dataset:
    """The per-star draws of a per-star form's ``vi`` fit (training stars only)."""
    dims = dict(variant.local.site_dims)
    star_dims = next(iter(dims.values()))
    variables = {
        name: (("chain", "draw", TRAIN_STAR, *dims.get(name, star_dims)[1:]), value[None])
        for name, value in result.local.items()
    }
    num_draws = next(iter(result.local.values())).shape[0]
    coords = {"chain": [0], "draw": np.arange(num_draws)}
    return xr.Dataset(variables, coords=coords).assign_attrs(
        comment=f"posterior draws of each training star's per-star sites (jointly with the "
        f"posterior group's draws); {TRAIN_STAR} k is the k-th star with "
        "constant_data.heldout false. The log_likelihood group scores every star with these "
        "integrated out exactly.",
        **result.learned,
    )


#: Runner of each method name.
RUNNERS = {"exact": run_exact, "map": run_map, "laplace": run_laplace, "vi": run_vi}
