"""Denoise a batch of LAMOST spectra with a fit's decoder, robustly (pure JAX).

For each spectrum the latent vector ``z`` is estimated by weighted least
squares (optionally MAP under a Gaussian prior), then re-estimated
``thresholds.num_iter`` times with outlying pixels given weight 0 and, where a
step discontinuity is detected, a free multiplicative scale on each side of it.
See :func:`denoise_batch` for the outputs and :mod:`.flags` for the detectors.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .flags import ArtefactThresholds, classify, robust_scale, step_statistic
from .linalg import Decoder, normal_matrices, pixel_variance, solve_normal
from .solves import NUM_STEP, removed, solve_plain, solve_with_step
from .steps import locate_step

__all__ = ["BLOCK_SIZE", "PARALLEL_MAX_LATENT", "DenoiseResult", "DenoiseSetup", "denoise_batch"]

#: Spectra per compiled kernel call: (64, 3,909) float32 arrays (1 MB) stay in the cache.
BLOCK_SIZE = 64

#: Largest ``c`` whose blocks run side by side by default. A block's kernel runs
#: on one core up to about this ``c``; beyond it XLA spreads a block's GEMMs over
#: the cores itself, and blocks running at once fight over them (at c = 50 on two
#: cores, two at once were six times slower than one after the other).
PARALLEL_MAX_LATENT = 16


class DenoiseSetup(NamedTuple):
    """Everything per fit that :func:`denoise_batch` needs besides the spectra.

    Attributes
    ----------
    decoder : Decoder
        ``beta_F``, ``b_F`` and the prior on ``z``.
    model_error : array, shape (m,)
        The decoder's own error ``s`` per pixel (flux units); 0 for none.
    bad_column : array of bool, shape (m,)
        Known bad pixel columns: outliers there get code 3.
    sky : array of bool, shape (m,)
        Pixels near sky lines: outliers there get code 4.
    step_range : tuple of int
        ``(lo, hi)``: candidate step centres ``lo <= k < hi``; ``(0, 0)``: none.
    """

    decoder: Decoder
    model_error: jax.Array
    bad_column: jax.Array
    sky: jax.Array
    step_range: tuple[int, int]


class DenoiseResult(NamedTuple):
    """Per-spectrum results of :func:`denoise_batch` (``n`` spectra, ``m`` pixels).

    Attributes
    ----------
    latent : array, shape (n, c)
        ``z_hat``.
    latent_cov : array, shape (n, c, c)
        Its covariance (the step scales marginalised); 0 where ``status != 0``.
    flux : array, shape (n, m)
        ``beta_F z_hat + b_F``.
    sigma : array, shape (n, m)
        Standard deviation of ``flux`` from ``latent_cov``; inf where
        ``status != 0``.
    residual : array, shape (n, m)
        ``(F2 - flux) sqrt(ivar)``; 0 at unusable pixels.
    artefact : array of int8, shape (n, m)
        :data:`~.flags.ARTEFACT_CODES`.
    chi2_reduced : array, shape (n,)
        Mean squared effective residual (model error included, step scales
        applied) over usable unflagged pixels per degree of freedom; 0 where
        ``status != 0``.
    status : array of int8, shape (n,)
        :data:`~.linalg.STATUS_CODES`.
    step_pixel : array of int32, shape (n,)
        Centre of the detected step, -1 for none.
    step_scale : array, shape (n, 2)
        Factors on the model blue and red of the step (1 without a step).
    """

    latent: jax.Array
    latent_cov: jax.Array
    flux: jax.Array
    sigma: jax.Array
    residual: jax.Array
    artefact: jax.Array
    chi2_reduced: jax.Array
    status: jax.Array
    step_pixel: jax.Array
    step_scale: jax.Array


def _shift(x, by: int):
    """``x`` moved right by ``by`` pixels (left for ``by < 0``), zeros shifted in."""
    pad = jnp.zeros((x.shape[0], abs(by)), x.dtype)
    if by > 0:
        return jnp.concatenate([pad, x[:, :-by]], axis=-1)
    return jnp.concatenate([x[:, -by:], pad], axis=-1)


@partial(jax.jit, static_argnames=("step_range", "thresholds", "robust"))
def _denoise(decoder, model_error, bad_column, sky, flux, ivar, *, step_range, thresholds, robust):
    t = thresholds
    beta, b = decoder.beta_F, decoder.b_F
    dtype = beta.dtype
    c = beta.shape[1]
    flux = flux.astype(dtype)
    ivar = ivar.astype(dtype)
    usable = jnp.isfinite(flux) & jnp.isfinite(ivar) & (ivar > 0)
    weight = jnp.where(usable, ivar, 0.0)
    y = jnp.where(usable, flux - b, 0.0)
    num_good = jnp.sum(usable.astype(dtype), axis=-1)
    n, m = flux.shape

    normal0 = normal_matrices(decoder, weight)
    rhs0 = (weight * y) @ beta
    variance = 1.0 / jnp.where(usable, weight, 1.0) + model_error**2
    inv_sd = jnp.where(usable, jax.lax.rsqrt(variance), 0.0)
    none = jnp.zeros((n, m), bool)
    on = jnp.zeros(n, bool)
    kstar = jnp.full(n, -1, jnp.int32)
    scales = jnp.zeros((n, NUM_STEP), dtype)
    step_mask = none
    step_part = jnp.zeros((n, m), dtype)
    z, a, system = solve_plain(decoder, normal0, rhs0)
    fitted = z @ beta.T
    model = fitted + b

    def scaled_residual(fit_y):
        r = jax.lax.optimization_barrier(jnp.where(usable, (y - fit_y) * inv_sd, 0.0))
        return jax.lax.optimization_barrier(r / robust_scale(r, num_good)[:, None])

    u = scaled_residual(fitted)
    if robust:
        lo, hi = step_range
        index = jnp.arange(m)[None, :]

        # every join (a candidate within step_refine of the range, its half-width
        # at most step_refine) lies within these pixels
        span = (max(lo - 2 * t.step_refine - 1, 0), min(hi + 2 * t.step_refine + 1, m))

        def solve(u, on, kstar, half, model, no_clip=None, with_step=hi > lo):
            outlier = jnp.abs(u) > t.clip
            if no_clip is not None:
                # spectra with a step: only isolated spikes, as one side is offset
                spike = jnp.abs(u - 0.5 * (_shift(u, 2) + _shift(u, -2))) > t.clip
                outlier = jnp.where(no_clip[:, None], spike, outlier)
            if not with_step:
                # no spectrum has a step here (``on`` is all False)
                flagged = usable & outlier
                normal = removed(decoder, weight, flagged, normal0)
                rhs = (jnp.where(flagged, 0.0, weight) * y) @ beta
                z, a, system = solve_plain(decoder, normal, rhs)
                return z, a, system, z @ beta.T, jnp.zeros_like(u), none, outlier
            step_mask = on[:, None] & (jnp.abs(index - kstar[:, None]) <= half)
            blue = on[:, None] & (index < kstar[:, None] - half)
            red = on[:, None] & (index > kstar[:, None] + half)
            flagged = usable & (outlier | step_mask)
            normal = removed(decoder, weight, flagged, normal0)
            w_it = jnp.where(flagged, 0.0, weight)
            rhs = (w_it * y) @ beta
            z, a, system = jax.lax.cond(
                jnp.any(on),
                lambda: solve_with_step(decoder, normal, rhs, w_it, y, model, blue, red, on, span),
                lambda: solve_plain(decoder, normal, rhs),
            )
            fitted = z @ beta.T
            step_part = model * (a[:, :1] * blue + a[:, 1:] * red)
            return z, a, system, fitted, step_part, step_mask, outlier

        # 1. clip outliers without a step: a huge cosmic ray no longer drags z
        z, a, system, fitted, step_part, step_mask, _ = solve(
            u, on, kstar, 1, model, with_step=False
        )
        model = fitted + b
        u = scaled_residual(fitted)
        clipped = (z, system, fitted, u)
        # 2. look for a step (jump and splice glitch) in those residuals; fit
        #    its side scales leaving out a wide join (its side is not clipped),
        #    then find the centre by a local fit and keep the step only if that
        #    fit says so
        if hi > lo:
            # known bad columns are no evidence for or against a step
            clean = usable & ~bad_column[None, :]
            stat, _ = step_statistic(u, clean, lo, hi, t.step_window)
            best = jnp.argmax(stat, axis=-1)
            on = jnp.take_along_axis(stat, best[:, None], -1)[:, 0] > t.step**2
            kstar = jnp.where(on, lo + best, -1).astype(jnp.int32)
            z, a, system, fitted, step_part, step_mask, outlier = solve(
                u, on, kstar, t.step_refine, model, on
            )
            # in spectra with a step locate_step leaves out spikes itself
            near = clean & ~(outlier & ~on[:, None])
            r_step = jnp.where(usable, (y - fitted - step_part) * inv_sd, 0.0)
            scale = robust_scale(r_step, num_good)
            kstar, ratio, local, glitch = locate_step(
                y - fitted,
                fitted + b,
                inv_sd / scale[:, None],
                near,
                kstar,
                reach=t.step_refine,
                window=t.step_window,
            )
            # a real step: significant locally, and either a jump of at least
            # step_min in the direction of the scales fitted over the whole
            # sides, or a splice glitch that is significant by itself
            jump = local[:, 1] - local[:, 0]
            seen = (jnp.abs(jump) > t.step_min) & (jump * (a[:, 1] - a[:, 0]) > 0)
            seen = seen | (glitch > t.step_glitch**2)
            accepted = on & (ratio > t.step_accept) & seen
            kstar = jnp.where(accepted, kstar, -1)
            step_mask = accepted[:, None] & (jnp.abs(index - kstar[:, None]) <= 1)
            sides = a[:, :1] * (index < kstar[:, None]) + a[:, 1:] * (index > kstar[:, None])
            step_part = jnp.where(accepted[:, None], model * sides, 0.0)
            # a rejected step: back to the clipped fit without it
            rejected = on & ~accepted
            u = scaled_residual(fitted + step_part)
            z, system, fitted, u = (
                jnp.where(rejected.reshape(-1, *([1] * (new.ndim - 1))), old, new)
                for old, new in zip(clipped, (z, system, fitted, u), strict=True)
            )
            model = fitted + b
            on = accepted
        # 3. re-estimate with the step at its centre and outliers clipped
        for _ in range(t.num_iter):
            z, a, system, fitted, step_part, step_mask, _ = solve(u, on, kstar, 1, model)
            model = fitted + b
            u = scaled_residual(fitted + step_part)
        scales = a

    # the covariance once, of the last solve's system (the step scales marginalised)
    _, cov, ok = solve_normal(system, jnp.zeros((n, c + NUM_STEP), dtype))
    status = jnp.where(num_good < c + 1, 1, jnp.where(ok, 0, 2)).astype(jnp.int8)
    good_row = status == 0
    # materialise u once: otherwise XLA recomputes it inside every shifted view
    u = jax.lax.optimization_barrier(u)
    artefact = classify(u, usable, step_mask, bad_column, sky, t)
    # materialised once: otherwise every consumer recomputes the whole classification
    artefact = jax.lax.optimization_barrier(
        jnp.where(good_row[:, None], artefact, 0).astype(jnp.int8)
    )
    z = jnp.where(good_row[:, None], z, 0.0)
    cov = jnp.where(good_row[:, None, None], cov[:, :c, :c], 0.0)
    variance = pixel_variance(decoder, cov)
    sigma = jnp.where(good_row[:, None], jnp.sqrt(jnp.maximum(variance, 0.0)), jnp.inf)
    # z is the last solve's: B z is ``fitted`` (0 where the status is bad)
    denoised = jnp.where(good_row[:, None], fitted, 0.0) + b
    residual = jnp.where(usable, (flux - denoised) * jnp.sqrt(weight), 0.0)
    r_eff = jnp.where(usable, (y - fitted - step_part) * inv_sd, 0.0)
    counted = usable & (artefact == 0)
    dof = jnp.sum(counted.astype(dtype), -1) - c - jnp.where(on, NUM_STEP, 0)
    chi2 = jnp.sum(jnp.where(counted, r_eff * r_eff, 0.0), -1) / jnp.maximum(dof, 1)
    chi2 = jnp.where(good_row, chi2, 0.0)
    kstar = jnp.where(good_row, kstar, -1)
    scales = jnp.where(good_row[:, None] & on[:, None], 1.0 + scales, 1.0)
    return DenoiseResult(
        z, cov, denoised, sigma, residual, artefact, chi2, status, kstar, scales.astype(dtype)
    )


def denoise_batch(
    setup: DenoiseSetup,
    flux,
    ivar,
    *,
    thresholds: ArtefactThresholds | None = None,
    robust: bool = True,
    block_size: int = BLOCK_SIZE,
    workers: int | None = None,
    out: DenoiseResult | None = None,
) -> DenoiseResult:
    """Denoise and flag a batch of spectra on the fit's grid.

    The spectra are processed in blocks of ``block_size`` (the last one padded
    with empty spectra), so one compiled kernel serves every batch size and
    each block's arrays stay in the CPU cache. Blocks run one after another,
    or ``workers`` at a time (up to :data:`PARALLEL_MAX_LATENT`, where a block
    runs on one core).

    Parameters
    ----------
    setup : DenoiseSetup
        From :func:`stereo_ppl.denoise.make_setup`.
    flux, ivar : array, shape (n, m)
        Normalised LAMOST flux and inverse variance on the fit's grid; a pixel
        with ``ivar == 0`` or non-finite flux or ivar is ignored.
    thresholds : ArtefactThresholds, optional
        Default: the calibrated :class:`~.flags.ArtefactThresholds`.
    robust : bool
        False: one plain weighted least-squares solve, flagged from its
        residuals (no clipping, no step fit, no re-estimation).
    block_size : int
        Spectra per compiled kernel call.
    workers : int, optional
        Blocks run at once (default: the CPUs this process may use when
        ``c <= PARALLEL_MAX_LATENT``, else 1).
    out : DenoiseResult, optional
        NumPy arrays with ``n`` rows to write the results into (for example
        row slices of larger arrays); default: new arrays.

    Returns
    -------
    DenoiseResult
        NumPy arrays with ``n`` rows. Each row depends only on its own
        spectrum: results are the same whatever the batch.
    """
    thresholds = ArtefactThresholds() if thresholds is None else thresholds
    dtype = np.dtype(setup.decoder.b_F.dtype)
    flux = np.atleast_2d(np.asarray(flux, dtype=dtype))
    ivar = np.atleast_2d(np.asarray(ivar, dtype=dtype))
    m = setup.decoder.b_F.shape[0]
    if flux.shape != ivar.shape or flux.ndim != 2 or flux.shape[-1] != m:
        raise ValueError(f"flux {flux.shape} and ivar {ivar.shape} must both be (n, {m})")
    n = flux.shape[0]
    size = int(block_size)
    options = {
        "step_range": tuple(int(v) for v in setup.step_range),
        "thresholds": thresholds,
        "robust": robust,
    }
    fixed = (setup.decoder, setup.model_error, setup.bad_column, setup.sky)

    def block(start):
        nonlocal out
        f, w = flux[start : start + size], ivar[start : start + size]
        k = f.shape[0]
        if k < size:
            f = np.concatenate([f, np.ones((size - k, m), dtype)])
            w = np.concatenate([w, np.zeros((size - k, m), dtype)])
        parts = _denoise(*fixed, f, w, **options)
        if out is None:
            out = DenoiseResult(*(np.empty((n, *a.shape[1:]), a.dtype) for a in parts))
        # written in place: no per-block arrays to concatenate (a copy of every output)
        for dest, a in zip(out, parts, strict=True):
            dest[start : start + k] = np.asarray(a)[:k]

    starts = range(0, max(n, 1), size)
    if workers is None and setup.decoder.num_latent > PARALLEL_MAX_LATENT:
        workers = 1
    elif workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    workers = max(1, min(int(workers), len(starts)))
    block(starts[0])  # allocates ``out`` unless given
    if workers == 1:
        for start in starts[1:]:
            block(start)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, starts[1:]))
    return out
