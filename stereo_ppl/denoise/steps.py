"""Locate a step discontinuity precisely and test it by a local likelihood ratio (pure JAX).

A LAMOST arm step multiplies the flux on one side of the join by a factor;
the three pixels at the join carry a linear ramp between the two sides and a
splice glitch of shape ``(1/2, 1, 1/2)``. Near a first guess ``k0`` of the
centre, :func:`locate_step` fits, for every candidate centre ``k`` within
``reach`` pixels, a free scale on each side (over a fixed window, so every
candidate explains the same pixels), the ramp between them and a glitch of
free size, and compares the best candidate's chi-square with that of one
common scale over the same window.
"""

import jax
import jax.numpy as jnp

from .stepfilters import GLITCH_GATE

__all__ = ["SPIKE", "locate_step"]

#: A pixel further than this (scaled units) from the mean of its neighbours two
#: pixels away is a spike and left out (a splice glitch is at most about 12).
SPIKE = 15.0

_RAMP = (0.25, 0.5, 0.75)
_GLITCH = (0.5, 1.0, 0.5)


def _cumulative(x: jax.Array) -> jax.Array:
    zero = jnp.zeros((*x.shape[:-1], 1), x.dtype)
    return jnp.concatenate([zero, jnp.cumsum(x, axis=-1)], axis=-1)


def _side_fit(p, q, dd):
    """Chi-square after fitting one scale ``a``: ``sum (d - a m)^2 s^2``; and ``a``."""
    a = p / jnp.where(q > 0, q, 1.0)
    return dd - a * p, a


def locate_step(
    d: jax.Array,
    model: jax.Array,
    inv_sd: jax.Array,
    good: jax.Array,
    k0: jax.Array,
    *,
    reach: int,
    window: int,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Best step centre near ``k0`` and its likelihood ratio against no step.

    Parameters
    ----------
    d : array, shape (n, m)
        Data minus the fitted model without the step, ``F2 - model``.
    model : array, shape (n, m)
        The fitted model (the step multiplies it).
    inv_sd : array, shape (n, m)
        Inverse standard deviation of ``d`` (0 at unusable pixels), including
        the spectrum's robust scale.
    good : array of bool, shape (n, m)
        Pixels that count.
    k0 : array of int, shape (n,)
        First guess of the centre.
    reach : int
        Candidates ``k0 - reach .. k0 + reach``.
    window : int
        Pixels beyond the outermost candidates on each side used to fit the
        side scales.

    Returns
    -------
    centre : array of int32, shape (n,)
    ratio : array, shape (n,)
        Chi-square of one common scale minus that of the best step, over the
        same ``2 (reach + window + 2) + 1`` pixels.
    scales : array, shape (n, 2)
        The local blue and red scales of the best step (relative to ``model``).
    glitch : array, shape (n,)
        Chi-square explained by the splice glitch of the best step alone (its
        fitted size squared over its variance; 0 where the glitch shape does
        not fit the three join pixels).
    """
    m = d.shape[-1]
    half = reach + window + 2
    offsets = jnp.arange(-half, half + 1)
    where = k0[:, None] + offsets[None, :]
    inside = (where >= 0) & (where < m)
    where = jnp.clip(where, 0, m - 1)

    def pick(x):
        return jnp.take_along_axis(x, where, axis=-1)

    ok = pick(good) & inside
    s = jnp.where(ok, pick(inv_sd), 0.0)
    dm, mm = pick(d) * s, pick(model) * s
    # isolated spikes (cosmic rays) far above a splice glitch do not count
    side = 0.5 * (jnp.roll(dm, 2, axis=-1) + jnp.roll(dm, -2, axis=-1))
    ok = ok & (jnp.abs(dm - side) < SPIKE)
    s = jnp.where(ok, s, 0.0)
    dm, mm = dm * ok, mm * ok
    p, q, dd = dm * mm, mm * mm, dm * dm
    cp, cq, cd = _cumulative(p), _cumulative(q), _cumulative(dd)
    size = offsets.size
    pos = half + jnp.arange(-reach, reach + 1)  # window positions of the candidates
    chi_b, a_b = _side_fit(cp[:, pos - 1], cq[:, pos - 1], cd[:, pos - 1])
    chi_r, a_r = _side_fit(
        cp[:, size : size + 1] - cp[:, pos + 2],
        cq[:, size : size + 1] - cq[:, pos + 2],
        cd[:, size : size + 1] - cd[:, pos + 2],
    )
    num = jnp.zeros_like(chi_b)
    den = jnp.zeros_like(chi_b)
    sq = jnp.zeros_like(chi_b)
    for j, (f, w) in enumerate(zip(_RAMP, _GLITCH, strict=True)):
        at = pos + j - 1
        e = dm[:, at] - (a_b + (a_r - a_b) * f) * mm[:, at]
        wj = jnp.where(ok[:, at], w, 0.0)
        num, den, sq = num + wj * e, den + wj * wj, sq + e * e
    rest = sq - num * num / jnp.maximum(den, 1e-6)
    fits = rest < GLITCH_GATE
    join = jnp.where(fits, rest, sq)
    glitch = jnp.where(fits, sq - rest, 0.0)
    chi2 = chi_b + chi_r + join
    best = jnp.argmin(chi2, axis=-1)
    chi_best = jnp.take_along_axis(chi2, best[:, None], -1)[:, 0]
    chi_null, _ = _side_fit(cp[:, -1], cq[:, -1], cd[:, -1])
    scales = jnp.stack(
        [jnp.take_along_axis(a, best[:, None], -1)[:, 0] for a in (a_b, a_r)], axis=-1
    )
    glitch = jnp.take_along_axis(glitch, best[:, None], -1)[:, 0]
    return (k0 + best - reach).astype(jnp.int32), chi_null - chi_best, scales, glitch
