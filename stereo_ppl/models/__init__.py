"""NumPyro model functions, one per model; observed data default to ``None``."""

from .base import DEFAULT_B_F_PRIOR_MEAN, PARAM_SITES, rrr_model

__all__ = ["DEFAULT_B_F_PRIOR_MEAN", "PARAM_SITES", "rrr_model"]
