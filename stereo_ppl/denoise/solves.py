"""The linear solves of the robust re-estimation: pixels removed, step scales added (pure JAX).

The robust path of :func:`~stereo_ppl.denoise.denoise_batch` solves, for each
spectrum, for ``z`` and (where a step is fitted) the scales ``a_blue,
a_red`` of the model on each side of the step: a ``(c + 2)``-square system
(:func:`system`) whose ``z`` block is ``B^T W B`` without the flagged pixels
(:func:`removed`). The intermediate solves return the system instead of its
inverse; the covariance of the last one is computed once.
"""

import jax
import jax.numpy as jnp

from .linalg import Decoder, removed_normal_matrices, solve_normal

__all__ = ["NUM_STEP", "removed", "solve_plain", "solve_with_step", "system"]

#: Extra unknowns per spectrum: the scales blue and red of a step.
NUM_STEP = 2


def removed(decoder: Decoder, weight, flagged, normal0):
    """Normal matrices without the flagged pixels: ``N0 - B^T diag(w flagged) B``."""
    return normal0 - removed_normal_matrices(decoder, jnp.where(flagged, weight, 0.0))


def system(decoder, normal, cross=None, diag=None):
    """The ``(c + 2)``-square system of ``z`` and the step scales.

    Without a step (``cross`` None) the scales' block is the identity and
    uncoupled, so the ``z`` block of its inverse is the covariance of ``z``.
    """
    n, c = normal.shape[0], normal.shape[-1]
    full = jnp.zeros((n, c + NUM_STEP, c + NUM_STEP), normal.dtype)
    full = full.at[:, :c, :c].set(normal + decoder.prior_precision)
    if cross is None:
        return full.at[:, c:, c:].set(jnp.eye(NUM_STEP, dtype=normal.dtype))
    full = full.at[:, :c, c:].set(cross)
    full = full.at[:, c:, :c].set(jnp.swapaxes(cross, -1, -2))
    return full.at[:, c:, c:].set(jax.vmap(jnp.diag)(diag))


def solve_plain(decoder, normal, rhs):
    """Solve for ``z`` alone (no step).

    Returns ``z`` (0 where ill-conditioned, which the final covariance solve
    reports), zero step scales and the :func:`system` without a step.
    """
    z, _, _ = solve_normal(
        normal + decoder.prior_precision, rhs + decoder.prior_shift, covariance=False
    )
    return z, jnp.zeros((z.shape[0], NUM_STEP), z.dtype), system(decoder, normal)


def solve_with_step(decoder, normal, rhs, weight, y, model, blue, red, on, span):
    """Solve for ``(z, a_blue, a_red)`` with step columns ``model * side``.

    ``span = (first, stop)``: static pixels between which every step's join
    lies, so pixels before ``first`` are blue and from ``stop`` on red in
    every spectrum with a step; only the pixels between need the masks.
    """
    beta = decoder.beta_F
    c = beta.shape[1]
    first, stop = span
    wm = weight * model
    inner = slice(first, stop)
    cross, diag, extra = [], [], []
    for side, outer in ((blue, slice(0, first)), (red, slice(stop, None))):
        part = jnp.where(side[:, inner], wm[:, inner], 0.0)
        cross.append(wm[:, outer] @ beta[outer] + part @ beta[inner])
        diag.append(
            jnp.sum(wm[:, outer] * model[:, outer], -1) + jnp.sum(part * model[:, inner], -1)
        )
        extra.append(jnp.sum(wm[:, outer] * y[:, outer], -1) + jnp.sum(part * y[:, inner], -1))
    cross, diag, extra = jnp.stack(cross, -1), jnp.stack(diag, -1), jnp.stack(extra, -1)
    cross = jnp.where(on[:, None, None], cross, 0.0)
    diag = jnp.where(on[:, None] & (diag > 0), diag, 1.0)
    extra = jnp.where(on[:, None], extra, 0.0)
    full = system(decoder, normal, cross, diag)
    rhs = jnp.concatenate([rhs + decoder.prior_shift, extra], -1)
    solution, _, _ = solve_normal(full, rhs, covariance=False)
    return solution[:, :c], solution[:, c:], full
