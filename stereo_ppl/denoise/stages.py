"""The stages of the robust denoiser, each a pure function of a small state (pure JAX).

:func:`~stereo_ppl.denoise.core.denoise_batch` runs, on each block of spectra,

1. :func:`prepare`: usable pixels, weights and the effective inverse standard
   deviation of every pixel (:class:`Block`);
2. :func:`plain_fit`: one weighted least-squares solve for ``z``;
3. :func:`clip_stage`: pixels beyond ``clip`` removed, ``z`` solved again
   without a step (a huge cosmic ray no longer drags ``z``);
   :func:`misfit_stage`: the spectrum's own error and scatter scales, which
   the detectors then use;
4. :func:`step_stage`: a step searched in the residuals, its centre located by
   a local fit and kept only where that fit says so (else back to stage 3);
5. :func:`refine_stage`: ``num_iter`` re-estimations with outliers clipped and
   the step fitted at its centre.

Every stage takes and returns a :class:`Fit`; the flags and outputs are then
computed once from the last one (:func:`~stereo_ppl.denoise.core.denoise_batch`).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .flags import ArtefactThresholds, robust_scale
from .linalg import Decoder, normal_matrices
from .solves import removed, solve_plain, solve_with_step
from .stepfilters import step_statistic
from .steps import locate_step

__all__ = [
    "PRIOR_PIXELS",
    "QUIET_RATIO",
    "Block",
    "Fit",
    "clip_stage",
    "misfit_stage",
    "plain_fit",
    "prepare",
    "refine_stage",
    "step_stage",
]


class Block(NamedTuple):
    """A block of ``n`` spectra (``m`` pixels) ready for the solves.

    Attributes
    ----------
    flux : array, shape (n, m)
        ``F2`` in the working dtype.
    usable : array of bool, shape (n, m)
        Finite flux and ivar with ``ivar > 0``.
    weight : array, shape (n, m)
        ``ivar`` at usable pixels, else 0.
    y : array, shape (n, m)
        ``F2 - b_F`` at usable pixels, else 0.
    num_good : array, shape (n,)
        Usable pixels per spectrum.
    inv_sd : array, shape (n, m)
        ``1 / sqrt(a^2 / ivar + s_p^2)``: the calibrated model; 0 where unusable.
    normal0 : array, shape (n, c, c)
        ``B^T W B`` over all usable pixels.
    noise_var : array, shape (n, m)
        ``a^2 / ivar`` (1 where unusable).
    scatter2 : array, shape (m,)
        ``s_p^2``.
    noise_scale : array, shape (n,)
        ``sqrt(alpha)``: this spectrum's errors relative to ``a / sqrt(ivar)``
        (at most 1; :func:`misfit_stage`).
    misfit : array, shape (n,)
        ``kappa``: this spectrum's scatter relative to ``s_p`` (at least 1;
        :func:`misfit_stage`).
    flag_inv_sd : array, shape (n, m)
        ``1 / sqrt(alpha a^2 / ivar + kappa^2 s_p^2)``, what the detectors
        scale by (``alpha``: the spectrum's own error scale; 1 until
        :func:`misfit_stage`).
    """

    flux: jax.Array
    usable: jax.Array
    weight: jax.Array
    y: jax.Array
    num_good: jax.Array
    inv_sd: jax.Array
    normal0: jax.Array
    noise_var: jax.Array
    scatter2: jax.Array
    noise_scale: jax.Array
    misfit: jax.Array
    flag_inv_sd: jax.Array


class Fit(NamedTuple):
    """The state the stages pass on (``n`` spectra, ``m`` pixels, ``c`` latents).

    Attributes
    ----------
    z : array, shape (n, c)
    scales : array, shape (n, 2)
        Step scales ``a_blue, a_red`` (relative, 0: none) of the last solve.
    system : array, shape (n, c + 2, c + 2)
        The last solve's normal system (its inverse's ``z`` block is the
        covariance of ``z``).
    fitted : array, shape (n, m)
        ``B z``.
    step_part : array, shape (n, m)
        The step's contribution ``model * a_side`` (0 without a step).
    step_mask : array of bool, shape (n, m)
        Pixels at the step's join.
    on : array of bool, shape (n,)
        Whether a step is fitted.
    kstar : array of int32, shape (n,)
        The step's centre, -1 for none.
    u : array, shape (n, m)
        Scaled effective residuals of this fit.
    """

    z: jax.Array
    scales: jax.Array
    system: jax.Array
    fitted: jax.Array
    step_part: jax.Array
    step_mask: jax.Array
    on: jax.Array
    kstar: jax.Array
    u: jax.Array


def prepare(decoder: Decoder, scatter: jax.Array, error_scale: jax.Array, flux, ivar) -> Block:
    """The :class:`Block` of spectra ``flux``, ``ivar`` (n, m) for ``decoder``.

    The effective variance of a pixel is ``a^2 / ivar + s_p^2`` (``error_scale``
    ``a``, ``scatter`` ``s_p``).
    """
    dtype = decoder.beta_F.dtype
    flux = flux.astype(dtype)
    ivar = ivar.astype(dtype)
    usable = jnp.isfinite(flux) & jnp.isfinite(ivar) & (ivar > 0)
    weight = jnp.where(usable, ivar, 0.0)
    y = jnp.where(usable, flux - decoder.b_F, 0.0)
    num_good = jnp.sum(usable.astype(dtype), axis=-1)
    noise_var = error_scale**2 / jnp.where(usable, weight, 1.0)
    scatter2 = scatter**2
    inv_sd = jnp.where(usable, jax.lax.rsqrt(noise_var + scatter2), 0.0)
    normal0 = normal_matrices(decoder, weight)
    one = jnp.ones(flux.shape[0], dtype)
    return Block(
        flux, usable, weight, y, num_good, inv_sd, normal0, noise_var, scatter2, one, one, inv_sd
    )


#: Pixels whose calibrated noise variance ``a^2 / ivar`` is at least this many
#: times ``s_p^2`` are "quiet": there the spectrum's own error scale shows.
QUIET_RATIO = 4.0
#: Weight, in quiet pixels, of the fit's error scale in each spectrum's own.
PRIOR_PIXELS = 100.0


def misfit_stage(block: Block, fit: Fit, *, thresholds: ArtefactThresholds) -> Block:
    """The spectrum's own error scale and misfit scale, and the detectors' scaling with them.

    The detectors test for artefacts under

        E[d_p^2] = alpha a^2 / ivar_p + kappa^2 s_p^2

    for the residuals ``d`` of ``fit`` (pixels beyond ``clip`` left out):

    * ``alpha <= 1``: by how much this spectrum's reported errors are
      smaller than the fit's ``a`` makes them. It is the weighted
      least-squares estimate from the quiet pixels (``a^2 / ivar >=
      QUIET_RATIO s_p^2``, where ``s_p`` adds at most a fifth of the
      variance), ``d^2 - s_p^2 = alpha a^2 / ivar``, within 0.1-1, pulled
      towards 1 as by :data:`PRIOR_PIXELS` pixels at ``alpha = 1`` (a bright
      star with few quiet pixels keeps the fit's ``a``; 3,900 quiet pixels fix
      ``alpha`` to about 2 %). Errors larger than ``a`` makes them are left
      to the robust scale (:func:`~.flags.robust_scale`): ``fit`` has no step
      yet, and a step's residual must not pass for noise.
    * ``kappa^2``: a star the decoder describes worse than the fit's stars on
      average has misfits larger than ``s_p`` wherever ``s_p`` is large (in its
      lines). Its weighted least-squares estimate given ``alpha`` (weights
      ``1 / (a^2 / ivar + s_p^2)^2``, the inverse variance of ``d^2`` under the
      calibrated model), at least 1.

    The residual, chi-square and anomaly p-value keep the calibrated model
    (``alpha = kappa = 1``).
    """
    use = block.usable & (jnp.abs(fit.u) < thresholds.clip)
    d = block.y - fit.fitted - fit.step_part
    d2, v, s2 = d * d, block.noise_var, block.scatter2
    base = v + s2
    w = jnp.where(use, 1.0 / (base * base), 0.0)
    quiet = use & (v >= QUIET_RATIO * s2)
    wq = jnp.where(quiet, w, 0.0)
    num_quiet = jnp.sum(quiet.astype(d.dtype), -1)
    estimate = jnp.sum(wq * (d2 - s2) * v, -1) / jnp.maximum(jnp.sum(wq * v * v, -1), 1e-30)
    estimate = jnp.clip(estimate, 0.1, 1.0)
    alpha = (num_quiet * estimate + PRIOR_PIXELS) / (num_quiet + PRIOR_PIXELS)
    noise_var = alpha[:, None] * v
    num = jnp.sum(w * (d2 - noise_var) * s2, -1)
    den = jnp.sum(w * s2 * s2, -1)
    kappa2 = jnp.maximum(num / jnp.maximum(den, 1e-30), 1.0)
    kappa2 = jnp.where(den > 0, kappa2, 1.0)
    flag_inv_sd = jnp.where(block.usable, jax.lax.rsqrt(noise_var + kappa2[:, None] * s2), 0.0)
    return block._replace(
        noise_scale=jnp.sqrt(alpha), misfit=jnp.sqrt(kappa2), flag_inv_sd=flag_inv_sd
    )


def scaled_residual(block: Block, fit_y: jax.Array) -> jax.Array:
    """``(y - fit_y) flag_inv_sd`` over the robust scale (:func:`~.flags.robust_scale`)."""
    r = jnp.where(block.usable, (block.y - fit_y) * block.flag_inv_sd, 0.0)
    r = jax.lax.optimization_barrier(r)
    return jax.lax.optimization_barrier(r / robust_scale(r, block.num_good)[:, None])


def plain_fit(decoder: Decoder, block: Block) -> Fit:
    """One weighted least-squares solve over every usable pixel, no step."""
    n, m = block.flux.shape
    rhs0 = (block.weight * block.y) @ decoder.beta_F
    z, scales, system = solve_plain(decoder, block.normal0, rhs0)
    fitted = z @ decoder.beta_F.T
    none = jnp.zeros((n, m), bool)
    return Fit(
        z,
        scales,
        system,
        fitted,
        jnp.zeros((n, m), fitted.dtype),
        none,
        jnp.zeros(n, bool),
        jnp.full(n, -1, jnp.int32),
        scaled_residual(block, fitted),
    )


def _shift(x, by: int):
    """``x`` moved right by ``by`` pixels (left for ``by < 0``), zeros shifted in."""
    pad = jnp.zeros((x.shape[0], abs(by)), x.dtype)
    if by > 0:
        return jnp.concatenate([pad, x[:, :-by]], axis=-1)
    return jnp.concatenate([x[:, -by:], pad], axis=-1)


def _span(step_range: tuple[int, int], refine: int, m: int) -> tuple[int, int]:
    """Static pixels within which every join lies (candidates within ``refine`` of the range)."""
    lo, hi = step_range
    return max(lo - 2 * refine - 1, 0), min(hi + 2 * refine + 1, m)


def _solve(
    decoder: Decoder,
    block: Block,
    fit: Fit,
    *,
    half: int,
    thresholds: ArtefactThresholds,
    span: tuple[int, int],
    with_step: bool,
    spikes_only: jax.Array | None = None,
) -> tuple[Fit, jax.Array]:
    """Solve again with ``fit``'s outliers removed and its step (``on``, ``kstar``) fitted.

    ``half``: the join's half-width left out; ``spikes_only`` (n,): spectra
    in which only isolated spikes are clipped (one side is offset there).
    Returns the new fit (its ``u`` still the old one) and the outlier mask.
    """
    t = thresholds
    beta = decoder.beta_F
    u, on, kstar = fit.u, fit.on, fit.kstar
    model = fit.fitted + decoder.b_F
    outlier = jnp.abs(u) > t.clip
    if spikes_only is not None:
        spike = jnp.abs(u - 0.5 * (_shift(u, 2) + _shift(u, -2))) > t.clip
        outlier = jnp.where(spikes_only[:, None], spike, outlier)
    if not with_step:
        # no spectrum has a step here (``on`` is all False)
        flagged = block.usable & outlier
        normal = removed(decoder, block.weight, flagged, block.normal0)
        rhs = (jnp.where(flagged, 0.0, block.weight) * block.y) @ beta
        z, a, system = solve_plain(decoder, normal, rhs)
        zero = jnp.zeros_like(u)
        new = fit._replace(
            z=z, scales=a, system=system, fitted=z @ beta.T, step_part=zero, step_mask=zero > 0
        )
        return new, outlier
    index = jnp.arange(u.shape[-1])[None, :]
    step_mask = on[:, None] & (jnp.abs(index - kstar[:, None]) <= half)
    blue = on[:, None] & (index < kstar[:, None] - half)
    red = on[:, None] & (index > kstar[:, None] + half)
    flagged = block.usable & (outlier | step_mask)
    normal = removed(decoder, block.weight, flagged, block.normal0)
    w_it = jnp.where(flagged, 0.0, block.weight)
    rhs = (w_it * block.y) @ beta
    z, a, system = jax.lax.cond(
        jnp.any(on),
        lambda: solve_with_step(decoder, normal, rhs, w_it, block.y, model, blue, red, on, span),
        lambda: solve_plain(decoder, normal, rhs),
    )
    step_part = model * (a[:, :1] * blue + a[:, 1:] * red)
    new = fit._replace(
        z=z, scales=a, system=system, fitted=z @ beta.T, step_part=step_part, step_mask=step_mask
    )
    return new, outlier


def clip_stage(decoder: Decoder, block: Block, fit: Fit, *, thresholds: ArtefactThresholds) -> Fit:
    """Pixels beyond ``clip`` removed, ``z`` solved again without a step."""
    new, _ = _solve(
        decoder, block, fit, half=1, thresholds=thresholds, span=(0, 0), with_step=False
    )
    return new._replace(u=scaled_residual(block, new.fitted))


def step_stage(
    decoder: Decoder,
    block: Block,
    fit: Fit,
    bad_column: jax.Array,
    step_scatter: jax.Array,
    glitch_scatter: jax.Array,
    *,
    step_range: tuple[int, int],
    thresholds: ArtefactThresholds,
) -> Fit:
    """Look for a step (jump and splice glitch) in ``fit``'s residuals and keep it if real.

    The side scales are fitted leaving out a wide join (its side is not
    clipped), then the centre is found by a local fit
    (:func:`~.steps.locate_step`); a step is kept where that fit beats one
    common scale by ``step_accept`` and the jump is at least ``step_min`` in
    the direction of the scales fitted over the whole sides, or its splice
    glitch alone is significant. Spectra without an accepted step keep ``fit``.
    ``step_scatter``, ``glitch_scatter`` (m,): the jump's and the glitch's
    scatter across the fit's stars at each candidate
    (:func:`~.stepfilters.step_statistic`).
    """
    t = thresholds
    lo, hi = step_range
    m = fit.u.shape[-1]
    span = _span(step_range, t.step_refine, m)
    # known bad columns are no evidence for or against a step
    clean = block.usable & ~bad_column[None, :]
    stat, _ = step_statistic(
        fit.u,
        clean,
        lo,
        hi,
        t.step_window,
        inv_sd=block.flag_inv_sd,
        step_scatter=step_scatter,
        glitch_scatter=glitch_scatter,
    )
    best = jnp.argmax(stat, axis=-1)
    on = jnp.take_along_axis(stat, best[:, None], -1)[:, 0] > t.step**2
    kstar = jnp.where(on, lo + best, -1).astype(jnp.int32)
    trial = fit._replace(on=on, kstar=kstar)
    trial, outlier = _solve(
        decoder,
        block,
        trial,
        half=t.step_refine,
        thresholds=t,
        span=span,
        with_step=True,
        spikes_only=on,
    )
    b = decoder.b_F
    # in spectra with a step locate_step leaves out spikes itself
    near = clean & ~(outlier & ~on[:, None])
    r_step = jnp.where(
        block.usable, (block.y - trial.fitted - trial.step_part) * block.flag_inv_sd, 0.0
    )
    scale = robust_scale(r_step, block.num_good)
    kstar, ratio, local, glitch = locate_step(
        block.y - trial.fitted,
        trial.fitted + b,
        block.flag_inv_sd / scale[:, None],
        near,
        kstar,
        reach=t.step_refine,
        window=t.step_window,
    )
    a = trial.scales
    jump = local[:, 1] - local[:, 0]
    seen = (jnp.abs(jump) > t.step_min) & (jump * (a[:, 1] - a[:, 0]) > 0)
    seen = seen | (glitch > t.step_glitch**2)
    accepted = on & (ratio > t.step_accept) & seen
    kstar = jnp.where(accepted, kstar, -1)
    index = jnp.arange(m)[None, :]
    step_mask = accepted[:, None] & (jnp.abs(index - kstar[:, None]) <= 1)
    sides = a[:, :1] * (index < kstar[:, None]) + a[:, 1:] * (index > kstar[:, None])
    # the model of the clipped fit (``fit``) times the side scales
    step_part = jnp.where(accepted[:, None], (fit.fitted + b) * sides, 0.0)
    u = scaled_residual(block, trial.fitted + step_part)
    # a rejected step: back to the clipped fit without it
    rejected = on & ~accepted

    def keep(old, new):
        return jnp.where(rejected.reshape(-1, *([1] * (new.ndim - 1))), old, new)

    return Fit(
        keep(fit.z, trial.z),
        a,
        keep(fit.system, trial.system),
        keep(fit.fitted, trial.fitted),
        step_part,
        step_mask,
        accepted,
        kstar,
        keep(fit.u, u),
    )


def refine_stage(
    decoder: Decoder,
    block: Block,
    fit: Fit,
    *,
    step_range: tuple[int, int],
    thresholds: ArtefactThresholds,
) -> Fit:
    """``num_iter`` re-estimations with outliers clipped and the step at its centre."""
    span = _span(step_range, thresholds.step_refine, fit.u.shape[-1])
    with_step = step_range[1] > step_range[0]
    for _ in range(thresholds.num_iter):
        fit, _ = _solve(
            decoder, block, fit, half=1, thresholds=thresholds, span=span, with_step=with_step
        )
        fit = fit._replace(u=scaled_residual(block, fit.fitted + fit.step_part))
    return fit
