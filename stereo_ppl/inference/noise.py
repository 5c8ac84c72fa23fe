"""Eq. 2's calibrated noise, ``a`` and ``s_p``, estimated from a fit's residuals.

The MAP of ``a`` (error scale) and ``s_p`` (per-pixel intrinsic scatter) given
residuals ``r_ip`` with reported variances ``e_ip = 1 / ivar_ip``, under the
priors of :mod:`stereo_ppl.models.base`: safeguarded Newton steps for every
``s_p^2`` and for ``log a`` on the profile over ``s_p``
(:func:`estimate_noise`). :mod:`.calibration` calls it on a fit's in-sample
residuals.
"""

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..models.base import ERROR_SCALE_PRIOR, SCATTER_PRIOR

__all__ = ["MIN_SCATTER_PIXELS", "NoiseEstimate", "estimate_noise"]

#: Fewest usable validation pixels a pixel's scatter is estimated from; fewer: the fallback.
MIN_SCATTER_PIXELS = 5


class NoiseEstimate(NamedTuple):
    """Eq. 2's calibrated noise, estimated from residuals (:func:`estimate_noise`).

    Attributes
    ----------
    error_scale : float
        ``a``.
    scatter : ndarray, shape (P2,)
        ``s_p`` (flux units).
    num_fallback : int
        Pixels with fewer than :data:`MIN_SCATTER_PIXELS` usable residuals,
        given ``fallback`` instead of an estimate.
    fallback : float
        The median scatter of the estimated pixels (0 if none).
    identifiable : bool
        False when the reported errors do not vary between stars at a pixel,
        so ``a`` cannot be told from ``s_p`` (then ``a = 1``).
    """

    error_scale: float
    scatter: np.ndarray
    num_fallback: int
    fallback: float
    identifiable: bool

    def params(self) -> dict:
        return {"error_scale": self.error_scale, "scatter": self.scatter}


def _safe_newton(derivatives, lower, upper, *, start=None, iters: int = 60, tol: float = 1e-10):
    """Maximiser in ``[lower, upper]`` (arrays) of an objective with a decreasing score.

    ``derivatives(x) -> (g, h)``: the objective's first and second
    derivatives. Where ``g(lower) <= 0`` the maximum is ``lower``, where
    ``g(upper) >= 0`` it is ``upper``; elsewhere the root of ``g`` by Newton
    steps kept inside a shrinking bracket (bisection where a step leaves it
    or ``h >= 0``), from ``start`` (default the bracket's middle), until a step
    would gain less than ``tol`` nats or move ``x`` by less than ``tol`` of itself.
    """
    lower, upper = np.array(lower, np.float64), np.array(upper, np.float64)
    at_lower, at_upper = derivatives(lower)[0] <= 0, derivatives(upper)[0] >= 0
    lo, hi = lower, upper
    x = 0.5 * (lo + hi) if start is None else np.clip(start, lo, hi)
    for _ in range(iters):
        g, h = derivatives(x)
        lo, hi = np.where(g > 0, x, lo), np.where(g > 0, hi, x)
        step = x - g / np.where(h < 0, h, -1.0)
        new = np.where((h < 0) & (step > lo) & (step < hi), step, 0.5 * (lo + hi))
        # the Newton decrement: what one more step could gain, in nats
        done = (h < 0) & (g * g < -h * tol) | (np.abs(new - x) <= tol * np.abs(x))
        x = new
        if np.all(done | at_lower | at_upper):
            break
    return np.where(at_lower, lower, np.where(at_upper, upper, x))


@jax.jit
def _scatter_terms(r2, e2, good, a2, t):
    """Per pixel: derivatives in ``t = s_p^2`` of the residuals' log likelihood."""
    v = jnp.where(good, a2 * e2 + t[None, :], 1.0)
    g = jnp.where(good, 0.5 * (r2 / v - 1.0) / v, 0.0).sum(axis=0)
    h = jnp.where(good, (0.5 - r2 / v) / (v * v), 0.0).sum(axis=0)
    return g, h


@jax.jit
def _scale_terms(r2, e2, good, s2, u):
    """Derivatives in ``u = log a`` of the residuals' log likelihood."""
    a2 = jnp.exp(2.0 * u)
    v = jnp.where(good, a2 * e2 + s2[None, :], 1.0)
    q = jnp.where(good, 2.0 * a2 * e2, 0.0)  # dv/du
    score = 0.5 * (r2 / v - 1.0) / v  # d loglik / dv
    curve = (0.5 - r2 / v) / (v * v)  # d^2 loglik / dv^2
    g = jnp.sum(jnp.where(good, score * q, 0.0))
    h = jnp.sum(jnp.where(good, curve * q * q + 2.0 * score * q, 0.0))
    cross = jnp.where(good, curve * q, 0.0).sum(axis=0)  # d^2 / du dt_p
    return g, h, cross


def _scatter_derivatives(r2, e2, good, a2):
    """``t -> (g, h)``: derivatives in ``t = s_p^2`` of each pixel's log likelihood and prior."""

    def derivatives(t):
        g, h = _scatter_terms(r2, e2, good, a2, jnp.asarray(t, r2.dtype))
        return np.asarray(g, np.float64) - 0.5 / SCATTER_PRIOR**2, np.asarray(h, np.float64)

    return derivatives


def _profile_step(r2, e2, good, t, u):
    """Newton step in ``u = log a`` on the profile over ``t`` (the scatter at its maximum).

    The profile's slope is the slope in ``u`` at fixed ``t`` and its curvature
    ``h_uu - sum_p h_ut^2 / h_tt`` (pixels with ``t_p = 0`` left out).
    Returns ``u`` after the step, NaN where the profile is not concave there.
    """
    g, h, cross = _scale_terms(r2, e2, good, jnp.asarray(t, r2.dtype), jnp.asarray(u, r2.dtype))
    h_tt = np.asarray(_scatter_terms(r2, e2, good, np.exp(2.0 * u), jnp.asarray(t, r2.dtype))[1])
    free = (t > 0) & (h_tt < 0)
    cross = np.asarray(cross, np.float64)
    g = float(g) - u / ERROR_SCALE_PRIOR**2 - 1.0  # LogNormal(0, sigma) on a
    curvature = float(h) - 1.0 / ERROR_SCALE_PRIOR**2
    curvature -= float(np.sum(np.where(free, cross**2 / np.where(free, h_tt, -1.0), 0.0)))
    return u - g / curvature if curvature < 0 else float("nan")


def _scale_derivatives(r2, e2, good, s2):
    """``u -> (g, h)``: derivatives in ``u = log a`` of the log likelihood and prior."""
    s2 = jnp.asarray(s2, r2.dtype)

    def derivatives(u):
        g, h, _ = _scale_terms(r2, e2, good, s2, jnp.asarray(u, r2.dtype))
        # LogNormal(0, sigma) on a: log p = -u^2 / (2 sigma^2) - u
        u = float(u)
        return (
            np.asarray(float(g) - u / ERROR_SCALE_PRIOR**2 - 1.0),
            np.asarray(float(h) - 1.0 / ERROR_SCALE_PRIOR**2),
        )

    return derivatives


@jax.jit
def _log_likelihood(r2, e2, good, s2, u):
    """The residuals' log likelihood (constants dropped) at ``s_p^2 = s2``, ``a = exp(u)``."""
    v = jnp.where(good, jnp.exp(2.0 * u) * e2 + s2[None, :], 1.0)
    return jnp.sum(jnp.where(good, -0.5 * (jnp.log(v) + r2 / v), 0.0))


def _log_posterior(r2, e2, good, t, u) -> float:
    """:func:`_log_likelihood` plus the priors on ``a`` and every ``s_p``."""
    loglik = float(_log_likelihood(r2, e2, good, jnp.asarray(t, r2.dtype), u))
    return (
        loglik
        - float(np.sum(t)) / (2.0 * SCATTER_PRIOR**2)
        - u * u / (2.0 * ERROR_SCALE_PRIOR**2)
        - u
    )


def estimate_noise(
    resid, lamost_ivar, *, fit_error_scale: bool = True, dof_fraction: float = 0.0, iters: int = 20
):
    """MAP of ``a`` and ``s_p`` given residuals ``F2 - F2_hat`` and reported ``ivar``.

    Maximises ``sum log Normal(r_ip | 0, a^2 / ivar_ip + s_p^2)`` plus the priors
    ``a ~ LogNormal(0, 0.5)``, ``s_p ~ HalfNormal(0.1)``, alternating
    safeguarded Newton steps for every ``s_p^2`` (in ``[0, max r_ip^2]``) with
    a Newton step for ``log a`` (in ``[log 0.05, log 20]``) on the profile
    over ``s_p``, halved until the log posterior gains, until ``a`` settles.

    Parameters
    ----------
    resid : array, shape (n, P2)
        Residuals (any value where ``ivar == 0``).
    lamost_ivar : array, shape (n, P2)
        Reported inverse variances; 0 = unused.
    fit_error_scale : bool
        Estimate ``a`` (else ``a = 1``).
    dof_fraction : float
        For in-sample residuals: the fraction of each pixel's residual variance
        taken up by the fit (``(c + 1) / n`` for ``n`` stars, ``c + 1`` decoder
        parameters per pixel); ``r^2`` is divided by ``1 - dof_fraction``.
    iters : int
        Most alternations.

    Returns
    -------
    NoiseEstimate
    """
    ivar = np.asarray(lamost_ivar, np.float64)
    resid = np.asarray(resid, np.float64)
    good = (ivar > 0) & np.isfinite(resid)
    r2 = np.where(good, resid, 0.0) ** 2 / (1.0 - dof_fraction)
    e2 = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    count = good.sum(axis=0)
    log_e2 = np.where(good, np.log(np.where(good, e2, 1.0)), np.nan)
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):  # all-NaN pixels
        spread = np.nanstd(log_e2, axis=0)
    identifiable = bool(np.nanmedian(np.where(count > 1, spread, np.nan)) > 0.05)
    fit_a = fit_error_scale and identifiable
    top = r2.max(axis=0, initial=0.0) + 1e-24  # the score is negative beyond max r^2
    # start in the bulk of the residuals (a few artefacts can make a second maximum):
    # the median of r^2 is 0.4549 times the variance for normal residuals
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):  # all-NaN pixels
        typical = np.nanmedian(np.where(good, e2, np.nan), axis=0)
        bulk = np.nanmedian(np.where(good, r2, np.nan), axis=0) / 0.4549 - typical
    t = np.clip(np.nan_to_num(bulk), 0.0, top)
    # the sums run in JAX's default float (float32 unless x64 is on): tolerance to match
    r2, e2, good = (jnp.asarray(x) for x in (r2, e2, good))
    tol = float(np.sqrt(np.finfo(r2.dtype).eps))
    bounds = np.log(0.05), np.log(20.0)

    def profile(u, start):
        """Every ``s_p^2`` at its maximum given ``a = exp(u)``, and the log posterior there."""
        s2 = _safe_newton(
            _scatter_derivatives(r2, e2, good, np.exp(2.0 * u)),
            np.zeros_like(top),
            top,
            start=start,
            tol=tol,
        )
        return s2, _log_posterior(r2, e2, good, s2, u)

    u = 0.0
    t, best = profile(u, t)
    for _ in range(iters if fit_a else 0):  # a Newton step for a on the profile over s_p
        new = _profile_step(r2, e2, good, t, u)
        if not bounds[0] < new < bounds[1]:  # not concave there: a's own maximum given s_p
            new = float(_safe_newton(_scale_derivatives(r2, e2, good, t), *bounds, tol=tol))
        # far from its maximum the profile is not quadratic: halve the step until it gains
        for _ in range(30):
            t_new, value = profile(new, t)
            if value >= best or abs(new - u) < tol:
                break
            new = 0.5 * (u + new)
        if value < best:
            break
        moved = abs(new - u)
        u, t, best = new, t_new, value
        if moved < tol:
            break
    a2 = float(np.exp(2.0 * u))
    # the prior's support is s_p > 0: a maximum at 0 is kept a thousandth of the noise above it
    s = np.maximum(np.sqrt(t), 1e-3 * np.sqrt(np.nan_to_num(typical)))
    few = count < MIN_SCATTER_PIXELS
    fallback = float(np.median(s[~few])) if (~few).any() else 0.0
    s = np.where(few, fallback, s)
    return NoiseEstimate(float(np.sqrt(a2)), s, int(few.sum()), fallback, identifiable)
