"""The models :func:`stereo_ppl.inference.fit` can fit, by name.

A :class:`ModelVariant` bundles a model function with what inference and
results need to know about it: the dims of every parameter site it adds to
the base model, how to take its extra per-star inputs from a paired dataset,
which of them a held-out star must not reveal, and a starting point for its
extra sites. Every model shares the base model's positional data
``(apogee_flux, lamost_ivar, lamost_flux=None)``, its keyword options
``num_latent``, ``b_F_prior_mean``, ``subsample_size`` and its sites
``beta_z``, ``beta_F``, ``b_F``, ``z`` and ``lamost_flux``; extra per-star
inputs are keyword arguments with the star on the first axis.

To add a model: write its function in its own module, declare its sites'
dims there once (``SITE_DIMS``), and add a :class:`ModelVariant` to
:data:`MODELS`; ``fit(model=...)``, ``stereo-ppl fit --model``, the results'
layout and the per-star log likelihood (from its ``lamost_flux`` site) follow.

A model whose ``model`` integrates per-star latents out may also offer their
explicit per-star form (:class:`LocalForm`, e.g. latent-z's ``marginal=False``),
which ``vi`` fits with a local guide per star while ``model`` still scores
every star (the same model, its latents integrated out).
"""

from collections.abc import Callable, Mapping
from functools import partial
from inspect import signature
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..data.validate import unfillable_pixels
from ..errors import FitConfigError, PairedDataError
from . import eq12
from . import labels as _labels
from . import latent_z as _latent_z
from . import mlp as _mlp
from .base import NOISE_MODELS, NOISE_SITE_DIMS, PRIORS, _check_choice, rrr_model
from .base import SITE_DIMS as BASE_SITE_DIMS
from .errors_in_f1 import apogee_error_inputs, errors_in_f1_model

__all__ = ["MODELS", "LocalForm", "ModelVariant", "get_model"]

#: Default hidden width of :func:`~stereo_ppl.models.mlp.mlp_model`.
_MLP_HIDDEN = signature(_mlp.mlp_model).parameters["num_hidden"].default
#: Methods of :func:`stereo_ppl.inference.fit` that fit any model.
_SVI_METHODS = ("map", "vi")


def _linear_decoder(params, z, **options):
    """Eq. 2's mean given ``z`` (options of the model unused)."""
    del options
    return eq12.decode(params["beta_F"], params["b_F"], z)


class LocalForm(NamedTuple):
    """The per-star form of a model whose ``model`` integrates per-star latents out.

    Attributes
    ----------
    option : str
        The model option that selects it when set false (e.g. ``marginal``).
    site_dims : mapping of str to tuple of str
        Its per-star sample sites, star first (e.g. ``z_offset`` (star, latent)).
    derived : tuple of str
        Deterministic per-star sites of the per-star model worth drawing with
        them (e.g. ``z``).
    start : callable
        ``start(params, apogee_flux, lamost_ivar, lamost_flux, **options) ->
        ({site: (loc (n, k), scale (n, k))}, {name: value})``: a diagonal
        Gaussian per star to start its local guide, given the global parameters
        (normally the MAP), and starting values of the reparametrised model's
        own parameters (e.g. a centring).
    reparam : mapping of str to numpyro Reparam
        ``numpyro.handlers.reparam`` config applied to the per-star model
        for VI (its per-star sites in ``site_dims`` are the reparametrised ones).
    """

    option: str
    site_dims: Mapping[str, tuple[str, ...]]
    derived: tuple[str, ...]
    start: Callable
    reparam: Mapping


class ModelVariant(NamedTuple):
    """A model function and its description for inference and results.

    Attributes
    ----------
    name : str
        The name ``fit(model=...)`` and ``--model`` take.
    model : callable
        ``model(apogee_flux, lamost_ivar, lamost_flux=None, *, num_latent,
        b_F_prior_mean, subsample_size, **inputs)``.
    site_dims : mapping of str to tuple of str
        Dims of every parameter site stored in the posterior (the base
        model's and its own), without (chain, draw).
    inputs : callable, optional
        ``inputs(paired, train, dtype) -> (arrays, shared, constants, coords)``:
        per-star keyword arrays (star first) for every star (an
        ``apogee_flux`` among them replaces the survey-1 data), keyword arrays
        of no star (e.g. a mean over the training stars), ``constant_data``
        variables as ``(dims, values, attrs)``, and coordinates of the extra
        dims. ``None``: the model needs nothing beyond the base data.
    heldout_hidden : tuple of str
        Boolean masks among ``arrays`` set to False for held-out stars (what
        they may not reveal, e.g. their labels), so the held-out log joint
        scores survey 2 alone, as for the base model.
    init : callable, optional
        ``init(base_params, apogee_flux, kwargs, **options) -> dict``: starting
        values of the extra sites given the base sites' start, the training
        stars' keyword inputs (``arrays`` and ``shared``) and the model options.
    description : str
    methods : tuple of str
        The methods of :func:`stereo_ppl.inference.fit` that fit it.
    option_names : tuple of str
        Keyword options of ``model`` a user may set (``fit(model_options=...)``,
        ``--model-option NAME=VALUE``).
    options : mapping
        The options set (see :meth:`configured`).
    precision : callable, optional
        ``precision(params, apogee_flux, lamost_ivar, **options) -> dict``:
        closed-form diagonal curvature (unconstrained space) of extra sites too
        large to probe one element at a time (VI's starting scales; see
        :mod:`stereo_ppl.inference.curvature`).
    local : LocalForm, optional
        Its per-star form, if it has one.
    per_star : callable, optional
        Set by :meth:`configured` when the options select ``local``: the
        per-star model function (options bound) that ``vi`` fits; ``model``
        stays the one with the latents integrated out, which scores stars.
    decoder : callable
        ``decoder(params, z, **options) -> mean (n, P2)``: the mean survey-2
        spectrum given ``z`` (default eq. 2's :func:`~.eq12.decode`).
    latent_covariance : callable, optional
        ``latent_covariance(params, inputs, **options) -> (n, c, c) or (c, c)``:
        the covariance of ``z`` given the survey-1 spectrum and the parameters
        (``inputs``: the per-star keyword inputs); ``None``: ``z`` is exact.
    linear : bool
        Whether the decoder is linear in ``z``, so that ``z`` can be estimated
        from a survey-2 spectrum alone by weighted least squares
        (:func:`~.eq12.latent_from_lamost`: denoising, labels from survey 2).
    """

    name: str
    model: Callable
    site_dims: Mapping[str, tuple[str, ...]]
    inputs: Callable | None = None
    heldout_hidden: tuple[str, ...] = ()
    init: Callable | None = None
    description: str = ""
    methods: tuple[str, ...] = _SVI_METHODS
    option_names: tuple[str, ...] = ()
    options: Mapping | None = None
    precision: Callable | None = None
    local: LocalForm | None = None
    per_star: Callable | None = None
    decoder: Callable = _linear_decoder
    latent_covariance: Callable | None = None
    linear: bool = True

    def configured(self, options: Mapping | None) -> "ModelVariant":
        """This model with keyword ``options`` of its model function fixed.

        Raises
        ------
        FitConfigError
            For an option the model does not take, listing those it takes.
        """
        if not options:
            return self
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            takes = ", ".join(self.option_names) or "none"
            raise FitConfigError(
                f"model {self.name!r} has no option {', '.join(map(repr, unknown))}; "
                f"its options: {takes}"
            )
        scoring = dict(options)
        per_star, methods = None, self.methods
        if self.local is not None and self.local.option in options:
            selected = scoring.pop(self.local.option)
            if not isinstance(selected, bool):
                raise FitConfigError(
                    f"model {self.name!r}: option {self.local.option!r} must be true or false; "
                    f"got {selected!r}"
                )
            if not selected:  # the per-star form, fitted by vi with a local guide
                per_star, methods = partial(self.model, **options), ("vi",)
        bind = lambda f: None if f is None else partial(f, **scoring)  # noqa: E731
        # an option named like a site fixes it (e.g. latent-z's sigma_z)
        dims = {k: v for k, v in self.site_dims.items() if k not in options}
        local = self.local
        if local is not None:
            local = local._replace(start=partial(local.start, **scoring))
        return self._replace(
            model=partial(self.model, **scoring),
            decoder=partial(self.decoder, **scoring),
            latent_covariance=bind(self.latent_covariance),
            site_dims=dims,
            init=bind(self.init),
            precision=bind(self.precision),
            options=dict(options),
            methods=methods,
            local=local,
            per_star=per_star,
        )

    def with_noise(self, noise: str = "reported", prior: str = "unit") -> "ModelVariant":
        """This model with its noise model and prior chosen (see :func:`~.base.rrr_model`).

        ``"calibrated"`` adds the sites ``error_scale`` and ``scatter``,
        ``"learned"`` the site ``prior_scale`` (dims :data:`~.base.NOISE_SITE_DIMS`).
        """
        _check_choice(noise, NOISE_MODELS, "noise")
        _check_choice(prior, PRIORS, "prior")
        added = {
            **(
                {"error_scale": (), "scatter": NOISE_SITE_DIMS["scatter"]}
                if noise != "reported"
                else {}
            ),
            **({"prior_scale": ()} if prior != "unit" else {}),
        }
        bind = partial(self.model, noise=noise, prior=prior)
        per_star = self.per_star
        if per_star is not None:
            per_star = partial(per_star, noise=noise, prior=prior)
        return self._replace(model=bind, site_dims={**self.site_dims, **added}, per_star=per_star)

    @property
    def extra_sites(self) -> tuple[str, ...]:
        """Parameter sites beyond the base model's."""
        return tuple(name for name in self.site_dims if name not in BASE_SITE_DIMS)

    @property
    def is_base(self) -> bool:
        return self.name == "base"


def _errors_in_f1_inputs(paired, train, dtype):
    """``apogee_var`` and the survey-1 flux with bad pixels filled (errors-in-F1)."""
    if "apogee_ivar" not in paired:
        raise PairedDataError("model 'errors-in-f1' needs apogee_ivar in the paired dataset")
    try:
        flux, var = apogee_error_inputs(
            paired["apogee_flux"].values, paired["apogee_ivar"].values, train
        )
    except ValueError as exc:
        raise unfillable_pixels(paired, exc.args[1]) from None
    arrays = {"apogee_flux": jnp.asarray(flux, dtype), "apogee_var": jnp.asarray(var, dtype)}
    return arrays, {}, {}, {}


def _latent_z_init(params, apogee_flux, kwargs, **options):
    """``sigma_z`` starts at a tenth of the spread of ``z = beta_z F1``."""
    del kwargs, options
    z = np.asarray(apogee_flux, np.float64) @ np.asarray(params["beta_z"], np.float64).T
    return {"sigma_z": jnp.asarray(0.1 * float(np.std(z)) + 1e-6, apogee_flux.dtype)}


def _mlp_init(params, apogee_flux, kwargs, *, num_hidden=_MLP_HIDDEN, **options):
    """``W_out = 0``: the MLP starts as the linear decoder (``W_in``, ``b_in`` random)."""
    del kwargs, options
    return {"W_out": jnp.zeros((np.shape(params["b_F"])[0], num_hidden), apogee_flux.dtype)}


def _mlp_decoder(params, z, *, activation="tanh", **options):
    del options
    names = ("beta_F", "b_F", "W_in", "b_in", "W_out")
    return _mlp.mlp_decoder(z, *(params[k] for k in names), activation=activation)


def _latent_z_covariance(params, inputs, *, sigma_z=None, **options):
    """``sigma_z^2 I``: ``z_i ~ Normal(beta_z F1_i, sigma_z)``."""
    del inputs, options
    sigma = np.asarray(params["sigma_z"] if sigma_z is None else sigma_z, np.float64)
    num_latent = np.shape(params["beta_z"])[0]
    return sigma**2 * np.eye(num_latent)


def _errors_in_f1_covariance(params, inputs, **options):
    """``beta_z diag(apogee_var_i) beta_z^T`` (0 for stars given without survey-1 errors)."""
    del options
    beta_z = np.asarray(params["beta_z"], np.float64)
    var = inputs.get("apogee_var")
    if var is None:
        return np.zeros((beta_z.shape[0], beta_z.shape[0]))
    return np.einsum("kp,np,jp->nkj", beta_z, np.asarray(var, np.float64), beta_z)


#: Every model, by name.
MODELS = {
    "base": ModelVariant(
        "base",
        rrr_model,
        dict(BASE_SITE_DIMS),
        description="seed eq. 1-2 (reduced-rank)",
        methods=("exact", "map", "laplace", "vi"),
    ),
    "labels": ModelVariant(
        "labels",
        _labels.labels_model,
        {**BASE_SITE_DIMS, **_labels.SITE_DIMS},
        inputs=_labels.label_inputs,
        heldout_hidden=("labels_mask",),
        init=_labels.label_init,
        description="eq. 1-2 plus labels from z (eq. 3)",
        option_names=("label_scatter_scale",),
    ),
    "latent-z": ModelVariant(
        "latent-z",
        _latent_z.latent_z_model,
        {**BASE_SITE_DIMS, **_latent_z.SITE_DIMS},
        init=_latent_z_init,
        description="z_i ~ Normal(beta_z F1_i, sigma_z), integrated out exactly "
        "(marginal=false: per star, by vi with a local guide)",
        option_names=("sigma_z", "sigma_z_scale", "marginal"),
        local=LocalForm(
            "marginal",
            dict(_latent_z.LOCAL_SITE_DIMS),
            ("z",),
            _latent_z.z_local_start,
            dict(_latent_z.LOCAL_REPARAM),
        ),
        latent_covariance=_latent_z_covariance,
    ),
    "errors-in-f1": ModelVariant(
        "errors-in-f1",
        errors_in_f1_model,
        dict(BASE_SITE_DIMS),
        inputs=_errors_in_f1_inputs,
        description="survey-1 errors integrated out; bad APOGEE pixels filled and widened",
        latent_covariance=_errors_in_f1_covariance,
    ),
    "mlp": ModelVariant(
        "mlp",
        _mlp.mlp_model,
        {**BASE_SITE_DIMS, **_mlp.SITE_DIMS},
        init=_mlp_init,
        description="linear decoder plus an MLP residual (default tanh, 16 hidden units)",
        option_names=("num_hidden", "activation", "mlp_scale"),
        precision=_mlp.w_out_precision,
        decoder=_mlp_decoder,
        linear=False,
    ),
}


def get_model(name: str | ModelVariant) -> ModelVariant:
    """The :class:`ModelVariant` called ``name`` (a variant is returned as is).

    Raises
    ------
    FitConfigError
        For an unknown name, listing the choices.
    """
    if isinstance(name, ModelVariant):
        return name
    if name not in MODELS:
        raise FitConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]
