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

from .flags import ArtefactThresholds, classify
from .linalg import Decoder, pixel_variance, solve_normal
from .runs import RUN_WIDTHS
from .solves import NUM_STEP
from .stages import (
    clip_stage,
    misfit_stage,
    plain_fit,
    prepare,
    refine_stage,
    scaled_residual,
    step_stage,
)
from .stepfilters import searchable_range

__all__ = [
    "BLOCK_SIZE",
    "PARALLEL_MAX_LATENT",
    "DenoiseResult",
    "DenoiseSetup",
    "denoise_batch",
    "resolved_thresholds",
]

#: Spectra per compiled kernel call: (64, 3,909) float32 arrays (1 MB) stay in the cache.
BLOCK_SIZE = 64

#: Largest ``c`` whose blocks run side by side by default. A block's kernel runs
#: on one core up to about this ``c``; beyond it XLA spreads a block's GEMMs over
#: the cores itself, and blocks running at once fight over them (at c = 50 on two
#: cores, two at once were six times slower than one after the other).
PARALLEL_MAX_LATENT = 16


class DenoiseSetup(NamedTuple):
    """Everything per fit that :func:`denoise_batch` needs besides the spectra.

    The noise model of the calibrated fit: ``F2_p ~ Normal(mu_p, a^2 / ivar_p
    + s_p^2)``.

    Attributes
    ----------
    decoder : Decoder
        ``beta_F``, ``b_F`` and the prior on ``z``.
    scatter : array, shape (m,)
        The intrinsic scatter ``s_p`` per pixel (flux units); 0 for none.
    bad_column : array of bool, shape (m,)
        Known bad pixel columns: outliers there get code 3.
    sky : array of bool, shape (m,)
        Pixels near sky lines: outliers there get code 4.
    step_range : tuple of int
        ``(lo, hi)``: candidate step centres ``lo <= k < hi``; ``(0, 0)``: none.
    error_scale : float
        The global error scale ``a`` of the reported ``1 / ivar``.
    run_scatter : array, shape (len(RUN_WIDTHS), m), optional
        Scatter ``S`` (flux units) of the run detector's boxes across the fit's
        stars (:mod:`.runs`); None: 0.
    num_continuum : int
        The decoder's last columns that are nuisance terms, not the fit's
        ``z``: a smooth continuum correction (``b_F`` times Legendre
        polynomials), then any misfit components
        (:func:`~stereo_ppl.denoise.noise.misfit_basis`); solved for with
        ``z``, left out of ``latent``.
    step_scatter : array, shape (m,), optional
        Scatter ``S`` (flux units) across the fit's stars of the step filter's
        jump at each candidate centre (:func:`~.stepfilters.step_statistic`); None: 0.
    info : tuple of (str, str)
        How the noise model and searches were set up, for the output's attributes.
    glitch_scatter : array, shape (m,), optional
        Scatter ``G`` (flux units) across the fit's stars of the step filter's
        splice glitch at each candidate centre (:func:`~.stepfilters.step_statistic`);
        None: 0.
    """

    decoder: Decoder
    scatter: jax.Array
    bad_column: jax.Array
    sky: jax.Array
    step_range: tuple[int, int]
    error_scale: float = 1.0
    run_scatter: jax.Array | None = None
    step_scatter: jax.Array | None = None
    num_continuum: int = 0
    info: tuple = ()
    glitch_scatter: jax.Array | None = None


class DenoiseResult(NamedTuple):
    """Per-spectrum results of :func:`denoise_batch` (``n`` spectra, ``m`` pixels).

    Attributes
    ----------
    latent : array, shape (n, c)
        ``z_hat``.
    latent_cov : array, shape (n, c, c)
        Its covariance (the step scales and continuum terms marginalised); 0
        where ``status != 0``.
    flux : array, shape (n, m)
        ``beta_F z_hat + b_F``, times the smooth continuum correction and plus
        the misfit components where the setup has them.
    sigma : array, shape (n, m)
        Standard deviation of ``flux`` from ``latent_cov``; inf where
        ``status != 0``.
    residual : array, shape (n, m)
        ``(F2 - F2_hat) / sqrt(a^2 / ivar + s_p^2 + sigma^2)`` with ``F2_hat``
        the model (``flux`` times the step scales where a step was found); 0 at
        unusable pixels.
    artefact : array of int8, shape (n, m)
        :data:`~.flags.ARTEFACT_CODES`.
    chi2_reduced : array, shape (n,)
        Mean squared effective residual (calibrated noise model, step scales
        applied) over usable unflagged pixels per degree of freedom; 0 where
        ``status != 0``.
    anomaly_pvalue : array, shape (n,)
        Probability under the calibrated model of a chi-square at least as
        large as this spectrum's over its unflagged pixels (chi-square
        distribution with their degrees of freedom); small: an aberrant
        spectrum. 1 where ``status != 0``.
    status : array of int8, shape (n,)
        :data:`~.linalg.STATUS_CODES`.
    step_pixel : array of int32, shape (n,)
        Centre of the detected step, -1 for none.
    step_scale : array, shape (n, 2)
        Factors on the model blue and red of the step (1 without a step).
    noise_scale : array, shape (n,)
        This spectrum's errors relative to the calibrated ``a / sqrt(ivar)``
        as the flags took them (``sqrt(alpha) <= 1``,
        :func:`~.stages.misfit_stage`; 1 where not estimated).
    misfit_scale : array, shape (n,)
        Its scatter relative to ``s_p`` as the flags took it (``kappa >= 1``).
    """

    latent: jax.Array
    latent_cov: jax.Array
    flux: jax.Array
    sigma: jax.Array
    residual: jax.Array
    artefact: jax.Array
    chi2_reduced: jax.Array
    anomaly_pvalue: jax.Array
    status: jax.Array
    step_pixel: jax.Array
    step_scale: jax.Array
    noise_scale: jax.Array
    misfit_scale: jax.Array


@partial(jax.jit, static_argnames=("step_range", "thresholds", "robust", "misfit", "num_continuum"))
def _denoise(
    noise, bad_column, sky, flux, ivar, *, step_range, thresholds, robust, misfit, num_continuum
):
    """One block through the stages of :mod:`.stages`, then the flags and outputs."""
    decoder = noise.decoder
    block = prepare(decoder, noise.scatter, noise.error_scale, flux, ivar)
    fit = plain_fit(decoder, block)
    if robust:
        fit = clip_stage(decoder, block, fit, thresholds=thresholds)
        if misfit:
            block = misfit_stage(block, fit, thresholds=thresholds)
            fit = fit._replace(u=scaled_residual(block, fit.fitted))
        if step_range[1] > step_range[0]:
            fit = step_stage(
                decoder,
                block,
                fit,
                bad_column,
                noise.step_scatter,
                noise.glitch_scatter,
                step_range=step_range,
                thresholds=thresholds,
            )
        fit = refine_stage(decoder, block, fit, step_range=step_range, thresholds=thresholds)
    return _outputs(noise, block, fit, bad_column, sky, thresholds, num_continuum)


class _Noise(NamedTuple):
    """The arrays of a setup the kernel reads (a pytree)."""

    decoder: Decoder
    scatter: jax.Array
    error_scale: jax.Array
    run_scatter: jax.Array
    step_scatter: jax.Array
    glitch_scatter: jax.Array


def _outputs(noise, block, fit, bad_column, sky, thresholds, num_continuum) -> DenoiseResult:
    """Flags, covariance, denoised flux and scores from the last fit."""
    decoder = noise.decoder
    n, c = fit.z.shape
    dtype = fit.fitted.dtype
    usable = block.usable
    # the covariance once, of the last solve's system (the step scales marginalised)
    _, cov, ok = solve_normal(fit.system, jnp.zeros((n, c + NUM_STEP), dtype))
    status = jnp.where(block.num_good < c + 1, 1, jnp.where(ok, 0, 2)).astype(jnp.int8)
    good_row = status == 0
    # materialise u once: otherwise XLA recomputes it inside every shifted view
    u = jax.lax.optimization_barrier(fit.u)
    artefact = classify(
        u,
        usable,
        fit.step_mask,
        bad_column,
        sky,
        thresholds,
        inv_sd=block.flag_inv_sd,
        run_scatter=noise.run_scatter[:, None, :] * block.misfit[None, :, None],
    )
    # materialised once: otherwise every consumer recomputes the whole classification
    artefact = jax.lax.optimization_barrier(
        jnp.where(good_row[:, None], artefact, 0).astype(jnp.int8)
    )
    cov = jnp.where(good_row[:, None, None], cov[:, :c, :c], 0.0)
    variance = pixel_variance(decoder, cov)
    # the fit's z only: the continuum terms are nuisances (their uncertainty is in sigma)
    kept = c - num_continuum
    z = jnp.where(good_row[:, None], fit.z[:, :kept], 0.0)
    cov = cov[:, :kept, :kept]
    sigma = jnp.where(good_row[:, None], jnp.sqrt(jnp.maximum(variance, 0.0)), jnp.inf)
    # z is the last solve's: B z is ``fitted`` (0 where the status is bad)
    denoised = jnp.where(good_row[:, None], fit.fitted, 0.0) + decoder.b_F
    d = block.y - fit.fitted - fit.step_part
    total = jnp.where(usable, 1.0 / jnp.maximum(block.inv_sd, 1e-30) ** 2, 1.0)
    residual = jnp.where(
        usable, d * jax.lax.rsqrt(total + jnp.where(good_row[:, None], variance, 0.0)), 0.0
    )
    r_eff = jnp.where(usable, d * block.inv_sd, 0.0)
    counted = usable & (artefact == 0)
    dof = jnp.maximum(jnp.sum(counted.astype(dtype), -1) - c - jnp.where(fit.on, NUM_STEP, 0), 1)
    sum_sq = jnp.sum(jnp.where(counted, r_eff * r_eff, 0.0), -1)
    chi2 = jnp.where(good_row, sum_sq / dof, 0.0)
    pvalue = jnp.where(good_row, jax.scipy.special.gammaincc(0.5 * dof, 0.5 * sum_sq), 1.0)
    kstar = jnp.where(good_row, fit.kstar, -1)
    scales = jnp.where(good_row[:, None] & fit.on[:, None], 1.0 + fit.scales, 1.0)
    return DenoiseResult(
        z,
        cov,
        denoised,
        sigma,
        residual,
        artefact,
        chi2,
        pvalue.astype(dtype),
        status,
        kstar,
        scales.astype(dtype),
        block.noise_scale,
        block.misfit,
    )


def resolved_thresholds(
    setup: DenoiseSetup, thresholds: ArtefactThresholds | None = None
) -> ArtefactThresholds:
    """``thresholds`` (default :class:`~.flags.ArtefactThresholds`) for the setup's grid.

    Every threshold left None follows from the false-alarm rate for the
    setup's ``m`` pixels and step candidates (:meth:`~.flags.ArtefactThresholds.resolved`).
    """
    thresholds = ArtefactThresholds() if thresholds is None else thresholds
    m = int(setup.decoder.b_F.shape[0])
    lo, hi = searchable_range(setup.step_range, m, thresholds.step_window)
    return thresholds.resolved(num_pixels=m, num_candidates=hi - lo)


def denoise_batch(
    setup: DenoiseSetup,
    flux,
    ivar,
    *,
    thresholds: ArtefactThresholds | None = None,
    robust: bool = True,
    misfit: bool = True,
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
        Default: :class:`~.flags.ArtefactThresholds` (every threshold from its
        false-alarm rate per spectrum, for ``m`` pixels and the setup's step
        candidates).
    robust : bool
        False: one plain weighted least-squares solve, flagged from its
        residuals (no clipping, no step fit, no re-estimation).
    misfit : bool
        Scale ``a`` and ``s_p`` by each spectrum's own error and misfit
        scales for the flags (:func:`~.stages.misfit_stage`); False: the
        calibrated ``a`` and ``s_p``.
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
    step_range = searchable_range(setup.step_range, m, thresholds.step_window)
    options = {
        "step_range": step_range,
        "thresholds": resolved_thresholds(setup, thresholds),
        "robust": robust,
        "misfit": bool(robust and misfit),
        "num_continuum": int(setup.num_continuum),
    }
    run_scatter = setup.run_scatter
    if run_scatter is None:
        run_scatter = np.zeros((len(RUN_WIDTHS), m), dtype)
    step_scatter, glitch_scatter = (
        np.zeros(m, dtype) if x is None else x for x in (setup.step_scatter, setup.glitch_scatter)
    )
    noise = _Noise(
        setup.decoder,
        jnp.asarray(setup.scatter, dtype),
        jnp.asarray(setup.error_scale, dtype),
        jnp.asarray(run_scatter, dtype),
        jnp.asarray(step_scatter, dtype),
        jnp.asarray(glitch_scatter, dtype),
    )
    fixed = (noise, setup.bad_column, setup.sky)

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
