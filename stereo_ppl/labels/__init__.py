"""Stellar labels: prediction from a labels-model fit, baselines (The Cannon, ridge), scores."""

from .baselines import CannonModel, RidgeModel, fit_cannon, fit_ridge, quadratic_design
from .predict import (
    LabelPrediction,
    label_params,
    labels_from_apogee,
    labels_from_lamost,
    latent_from_lamost,
)
from .scores import BUILTIN_LABEL_ERRORS, label_scores, with_builtin_labels

__all__ = [
    "BUILTIN_LABEL_ERRORS",
    "CannonModel",
    "LabelPrediction",
    "RidgeModel",
    "fit_cannon",
    "fit_ridge",
    "label_params",
    "label_scores",
    "labels_from_apogee",
    "labels_from_lamost",
    "latent_from_lamost",
    "quadratic_design",
    "with_builtin_labels",
]
