"""Scoring and comparing fits."""

from .scores import fit_summary, predict_lamost

__all__ = ["fit_summary", "predict_lamost"]
