"""Inference: exact MAP, SVI (MAP and VI), the decoder's exact conditional posterior; results as
ArviZ DataTrees. Never touches files."""

from .arrays import ModelData, VariantData, log_joint_fn, model_data, split_stars
from .curvature import site_precision_diag
from .exact import ExactResult, ExactTrace, solve_exact
from .fit import DEFAULT_METHOD, METHODS, MODEL_NAMES, default_method, fit
from .fitted import FittedModel, fitted_model
from .laplace import sample_decoder
from .loglik import log_likelihood_per_star
from .map import LogJointTrace, MapResult, fit_map, initial_params, starting_point
from .predict import predict
from .results import fit_datatree, params_from_datatree
from .vi import GUIDES, ElboTrace, VIResult, fit_vi

__all__ = [
    "DEFAULT_METHOD",
    "GUIDES",
    "METHODS",
    "MODEL_NAMES",
    "ElboTrace",
    "ExactResult",
    "ExactTrace",
    "FittedModel",
    "LogJointTrace",
    "MapResult",
    "ModelData",
    "VIResult",
    "VariantData",
    "default_method",
    "fit",
    "fit_datatree",
    "fit_map",
    "fit_vi",
    "fitted_model",
    "initial_params",
    "log_joint_fn",
    "log_likelihood_per_star",
    "model_data",
    "params_from_datatree",
    "predict",
    "sample_decoder",
    "site_precision_diag",
    "solve_exact",
    "split_stars",
    "starting_point",
]
