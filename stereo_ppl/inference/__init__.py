"""Inference: MAP by SVI, results as ArviZ DataTree. Never touches files."""

from .arrays import ModelData, log_joint_fn, model_data, split_stars
from .fit import METHODS, fit
from .loglik import log_likelihood_per_star
from .map import LogJointTrace, MapResult, fit_map, initial_params
from .results import fit_datatree, params_from_datatree

__all__ = [
    "METHODS",
    "LogJointTrace",
    "MapResult",
    "ModelData",
    "fit",
    "fit_datatree",
    "fit_map",
    "initial_params",
    "log_joint_fn",
    "log_likelihood_per_star",
    "model_data",
    "params_from_datatree",
    "split_stars",
]
