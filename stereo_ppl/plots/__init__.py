"""Figures (matplotlib is imported only when a plot is made)."""

from .log_joint import plot_log_joint

__all__ = ["plot_log_joint"]
