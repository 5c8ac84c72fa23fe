"""NumPyro model functions, one per model; observed data default to ``None``."""

from .base import (
    DEFAULT_B_F_PRIOR_MEAN,
    PARAM_SITES,
    SITE_DIMS,
    decoder_priors,
    encoder_prior,
    lamost_likelihood,
    linear_priors,
    rrr_model,
)
from .errors_in_f1 import errors_in_f1_model
from .labels import label_init, label_inputs, label_likelihood, labels_model
from .latent_z import latent_z_model
from .mlp import mlp_model
from .variants import MODELS, LocalForm, ModelVariant, get_model

__all__ = [
    "DEFAULT_B_F_PRIOR_MEAN",
    "MODELS",
    "PARAM_SITES",
    "SITE_DIMS",
    "LocalForm",
    "ModelVariant",
    "decoder_priors",
    "encoder_prior",
    "errors_in_f1_model",
    "get_model",
    "label_init",
    "label_inputs",
    "label_likelihood",
    "labels_model",
    "lamost_likelihood",
    "latent_z_model",
    "linear_priors",
    "mlp_model",
    "rrr_model",
]
