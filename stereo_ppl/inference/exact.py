"""Exact MAP of the base model by second-order optimisation.

The log joint of :func:`~stereo_ppl.models.rrr_model` is maximised over all
parameters, not estimated stochastically. Three facts make this fast:

1. **Row-space reduction.** With ``Normal(0, 1)`` priors the MAP ``beta_z``
   lies in the row space of ``F1`` (``n << P1``): writing the thin SVD
   ``F1 = U S V^T`` (rank ``r <= n``), ``beta_z = A V^T`` with ``A`` (c, r)
   and ``||beta_z||^2 = ||A||^2``, while any part of ``beta_z`` orthogonal to
   the rows of ``F1`` changes no ``z`` and only costs prior. The problem is
   solved exactly in the ``r``-dimensional coordinates ``A`` and mapped back.
2. **Closed-form decoder.** Given ``z``, every survey-2 pixel is an
   independent ``(c + 1)``-dimensional weighted ridge regression for
   ``(beta_F[p], b_F[p])``; given ``(beta_F, b_F)`` the problem is quadratic
   in ``A``. Both are solved by conjugate gradients preconditioned with the
   exact solution for separable weights ``ivar ~ kappa omega^T``
   (a Kronecker factor for ``A``, one shared eigenbasis for all pixels).
   Up to ``c = 32`` the preconditioner's diagonal blocks are exact (one
   ``(c + 1)``-square system per pixel and one ``c``-square system per star,
   ``O(n c^2 P2)`` to form, inverted on the host); above, the exact diagonals
   in the separable eigenbases ("rotated Jacobi", ``O(n c P2)``, no per-pixel
   matrices) keep the cost per iteration linear in ``c`` and the memory at
   ``O((n + P2) c)``; 32 is the measured crossover (built-in set, 880 stars).
3. **Symmetries.** The likelihood is unchanged by ``z -> z M^T`` (and by
   ``z -> z + 1 u^T`` when the constant lies in the row space), which
   :func:`~.exact_linalg.balance` exploits exactly after every step.

The solver starts from reduced-rank ridge regression, runs alternating
(block) minimisation while it gains a lot, then trust-region Newton with
Steihaug conjugate gradients on all parameters (Hessian-vector products,
symmetry directions projected out), and stops when the Newton model predicts
a relative gain below ``tol`` or the gradient falls below ``gtol`` times its
value after the first block sweep. In float32 the gradient cannot fall below
the rounding of ``beta_F z + b_F`` (about 1e-4..1e-3 of its starting value at
seed size).
"""

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import FitConfigError
from ..models import DEFAULT_B_F_PRIOR_MEAN
from . import exact_kernels as K
from . import exact_linalg as L
from . import exact_setup as S
from .arrays import check_num_latent
from .exact_state import SolverState, full_params
from .progress import progress_bar

__all__ = ["ExactResult", "ExactTrace", "exact_start", "solve_exact"]

_ALS_GAIN = 1e-3  # leave block minimisation when a sweep gains less (relative)
_MAX_ALS = 25
_MAX_CG = 150
_ETA_ALS = 1e-3  # relative residual of the block solves (exact-block preconditioner)
_ETA_ALS_CHEAP = 1e-2  # the same with the separable / rotated preconditioners
_ETA_MIN = 0.0  # smallest Newton forcing term
_EXACT_MAX_C = 32  # exact per-pixel / per-star preconditioner blocks up to this c
_PRECOND = None  # force "separable", "rotated" or "exact" (tests); None: by c
_REFRESH = 1  # Newton iterations between recomputations of the exact blocks


class ExactTrace(NamedTuple):
    """Convergence record, one entry per iteration (0 = starting point).

    Attributes
    ----------
    iteration : ndarray of int, shape (k,)
    log_joint : ndarray of float, shape (k,)
        Log joint of the training stars (working-dtype evaluation).
    grad_norm : ndarray of float, shape (k,)
        Norm of the gradient of the negative log joint with respect to all of
        ``beta_z``, ``beta_F`` and ``b_F``.
    elapsed : ndarray of float, shape (k,)
        Seconds since :func:`solve_exact` was called (includes set-up and
        compilation).
    cg_iterations : ndarray of int, shape (k,)
        Conjugate-gradient iterations spent in each iteration (the main cost:
        each is a few products of (n, c) and (c, P2) matrices).
    heldout : ndarray of float, shape (k,)
        ``heldout(params)`` at each iteration; NaN when no ``heldout`` callable
        was given.
    """

    iteration: np.ndarray
    log_joint: np.ndarray
    grad_norm: np.ndarray
    elapsed: np.ndarray
    cg_iterations: np.ndarray
    heldout: np.ndarray


class ExactResult(NamedTuple):
    """Result of :func:`solve_exact`.

    Attributes
    ----------
    params : dict of str to ndarray
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,) in the dtype and
        units of the inputs, in a canonical gauge: components ordered by
        decreasing singular value of ``beta_F beta_z``, with the
        largest-magnitude entry of each ``beta_F`` column positive.
    log_joint : float
        Log prior plus log likelihood of the given stars at ``params``
        (evaluated in float64).
    trace : ExactTrace
    num_iterations : int
        Outer iterations taken (block sweeps plus Newton steps).
    grad_norm : float
        Final gradient norm of the negative log joint with respect to all
        parameters (float64 evaluation at ``params``); compare with
        ``trace.grad_norm[0]``.
    converged : bool
        Whether ``gtol`` was met, a Newton step predicted a relative gain
        below ``tol``, or three iterations in a row gained less than ``tol``
        (relative); ``False`` when ``max_iter`` or ``patience`` stopped it
        first. At large ``c`` (about 100 and more on the built-in set) the
        last rule stops float32 solves about 1e-4 (relative) short of the
        optimum, and the problem has several local optima (1e-3 apart at
        c = 100): restart from other ``init``.
    stop_reason : {"gtol", "tol", "stall", "max_iter", "heldout"}
        Which of those rules stopped the solver (``"heldout"``: ``patience``).
    best_iteration : int
        The iteration whose parameters are returned: the last, or with
        ``patience`` the one with the best held-out score.
    """

    params: dict
    log_joint: float
    trace: ExactTrace
    num_iterations: int
    grad_norm: float
    converged: bool
    stop_reason: str
    best_iteration: int


def exact_start(
    apogee_flux,
    lamost_flux,
    lamost_ivar,
    *,
    num_latent: int,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
) -> dict:
    """The exact solver's own start: weighted reduced-rank ridge regression, balanced.

    Parameters
    ----------
    apogee_flux : array, shape (n, P1)
        Finite survey-1 flux (bad pixels filled).
    lamost_flux, lamost_ivar : array, shape (n, P2)
    num_latent : int
    b_F_prior_mean : float

    Returns
    -------
    dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,) in the input's float dtype.
    """
    f1, f2, ivar, dtype = S.validated(apogee_flux, lamost_flux, lamost_ivar)
    kappa, omega = L.separable_weights(ivar)
    space = L.row_space(f1, kappa)
    start = S.start_params(space, f2, ivar, kappa, omega, num_latent, None, f1.shape)
    a, bf, b = L.balance(*start, space, b_prior_mean=float(b_F_prior_mean))
    return full_params(space, a, bf, b, dtype)


def solve_exact(
    rng_key,
    apogee_flux,
    lamost_flux,
    lamost_ivar,
    *,
    num_latent: int,
    b_F_prior_mean: float = DEFAULT_B_F_PRIOR_MEAN,
    max_iter: int = 200,
    tol: float | None = None,
    gtol: float | None = None,
    init: dict | None = None,
    heldout=None,
    patience: int | None = None,
    progress: bool = False,
    row_basis: L.RowBasis | None = None,
) -> ExactResult:
    """MAP estimate of eq. 1–2 by exact (deterministic) optimisation.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key; only used to restart latent components that start at zero
        (e.g. ``num_latent`` above the rank of the data), a saddle point.
    apogee_flux : array, shape (n, P1)
        Survey-1 flux ``F1``, finite. Its dtype sets the working dtype
        (float64 only when JAX's x64 mode is on).
    lamost_flux : array, shape (n, P2)
        Survey-2 flux ``F2``; ignored (may be NaN) where ``lamost_ivar == 0``.
    lamost_ivar : array, shape (n, P2)
        Inverse variance, ``>= 0``; 0 masks a pixel.
    num_latent : int
        ``c``, from 1 to ``min(n, P1, P2)``.
    b_F_prior_mean : float
        Prior mean of ``b_F``.
    max_iter : int
        Largest number of outer iterations.
    tol : float, optional
        Stop when a Newton step predicts a log-joint gain below ``tol``
        times ``|log joint|``. Default 1e-7 in float32, 1e-11 in float64.
    gtol : float, optional
        Stop when the gradient norm is below ``gtol`` times its value after
        the first block sweep (not at the start: the scale of a far-off
        ``init`` would otherwise make any later gradient look small).
        Default 1e-5 in float32, 1e-9 in float64.
    init : dict, optional
        Starting ``beta_z``, ``beta_F``, ``b_F`` (only the row-space part of
        ``beta_z`` is used); default reduced-rank ridge regression.
    heldout : callable, optional
        ``heldout(params) -> float`` called at every iteration with the current
        ``beta_z``, ``beta_F``, ``b_F`` (e.g. the log joint of held-out stars);
        its values are recorded in ``trace.heldout``.
    patience : int, optional
        Early stopping (needs ``heldout``): stop when ``heldout`` has not
        improved for this many iterations, and return the iterate with the
        best ``heldout`` score whatever stopped the solver. The MAP of eq. 1–2
        overfits when stars are few for ``c`` (its held-out log joint falls
        as the training log joint climbs); stopping on held-out stars
        regularises it, as ``patience`` does for :func:`fit_map`. ``None``
        (default): the MAP. Score such a fit on stars other than those of
        ``heldout``.
    progress : bool
        Show a progress bar.
    row_basis : RowBasis, optional
        :func:`~stereo_ppl.inference.exact_linalg.row_basis` of ``apogee_flux``,
        for callers that solve many times on the same stars (its QR is the
        costliest step for many stars); default computed here.

    Returns
    -------
    ExactResult

    Raises
    ------
    FitConfigError
        Bad ``num_latent``, ``max_iter`` or ``init``.
    PairedDataError
        Mismatched shapes, non-finite ``F1`` or bad ``lamost_ivar``.
    """
    start = time.perf_counter()
    f1, f2, ivar, dtype = S.validated(apogee_flux, lamost_flux, lamost_ivar)
    n, num_apogee = f1.shape
    check_num_latent(num_latent, n, num_apogee)
    if num_latent > f2.shape[1]:
        raise FitConfigError(
            f"c (num_latent) must not exceed the {f2.shape[1]} LAMOST pixels; got {num_latent}"
        )
    if max_iter < 0:
        raise FitConfigError(f"max_iter must be >= 0; got {max_iter}")
    if patience is not None:
        if heldout is None or int(patience) < 1:
            raise FitConfigError(f"patience must be >= 1 and needs held-out stars; got {patience}")
        patience = int(patience)
    is32 = np.finfo(dtype).eps > 1e-10
    tol = (1e-7 if is32 else 1e-11) if tol is None else tol
    gtol = (1e-5 if is32 else 1e-9) if gtol is None else gtol

    kappa, omega = L.separable_weights(ivar)
    if row_basis is None:
        row_basis = L.row_basis(f1)
    elif row_basis.g0.shape[0] != n or row_basis.q.shape[0] != num_apogee:
        raise FitConfigError(
            f"row_basis is for {row_basis.g0.shape[0]} stars and {row_basis.q.shape[0]} "
            f"APOGEE pixels; the data have {n} and {num_apogee}"
        )
    space = L.row_space(row_basis, kappa)
    b_mean = float(b_F_prior_mean)
    start_params = S.start_params(space, f2, ivar, kappa, omega, num_latent, init, f1.shape)
    a, bf, b = L.balance(*start_params, space, b_prior_mean=b_mean)
    a, bf = S.revive(rng_key, a, bf)
    data = K.Data(
        *(jnp.asarray(x, dtype) for x in (space.design, ivar, f2, space.prior, space.gram)),
        *(jnp.asarray(x, dtype) for x in (space.scale, kappa, omega, b_mean)),
    )
    good = ivar > 0
    const = (
        -0.5
        * np.log(2 * np.pi)
        * (num_latent * (num_apogee + f2.shape[1]) + f2.shape[1] + good.sum())
        + 0.5 * np.log(ivar[good]).sum()
    )
    mode = _PRECOND or ("exact" if num_latent <= _EXACT_MAX_C else "rotated")
    state = SolverState(space, data, b_mean, const, start, heldout, patience, mode=mode)
    p = state.to_device(a, bf, b)
    description = f"exact MAP c={num_latent}"
    # In the loop, small host linear algebra (c x c, or batched per pixel) alternates
    # with XLA's computations: on one BLAS thread, as OpenBLAS threads competing with
    # XLA's (or another process's) for the cores made it 10-30x slower.
    with (
        threadpool_limits(1, user_api="blas"),
        progress_bar(max_iter, enabled=progress, description=description) as bar,
    ):
        p, reason = _optimise(state, p, max_iter=max_iter, tol=tol, gtol=gtol, bar=bar)
    num_iterations = len(state.records) - 1
    best_iteration = num_iterations
    if patience is not None:
        p, best_iteration = state.best_params, state.best_iteration
    a, bf, b = L.balance(*(np.asarray(x, np.float64) for x in p), space, b_prior_mean=b_mean)
    params = full_params(space, a, bf, b, dtype)
    log_joint, grad_norm = S.log_joint_and_grad(params, f1, f2, ivar, b_mean)
    trace = ExactTrace(*(np.asarray(v) for v in zip(*state.records, strict=True)))
    converged = reason not in ("max_iter", "heldout")
    return ExactResult(
        params, log_joint, trace, num_iterations, grad_norm, converged, reason, best_iteration
    )


def _optimise(state, p, *, max_iter, tol, gtol, bar):
    """Block sweeps, then trust-region Newton. Returns (params, stop reason)."""
    f, gnorm = state.record(p)
    g_start = max(gnorm, 1e-300)  # scales the Newton forcing term
    g0 = None  # reference of gtol: the gradient norm after the first block sweep
    it = 0
    eta_als = _ETA_ALS if state.mode == "exact" else _ETA_ALS_CHEAP
    while it < max_iter and it < _MAX_ALS:
        pc = state.precond(p, vertical=False, star=False)
        # each block step sees one pytree structure (no recompilation)
        pc = pc._replace(star_inv=None, design_inv=None)
        p, cg_t, _ = K.theta_step(p, pc, state.data, eta_als, _MAX_CG)
        pc = state.precond(p, vertical=False, theta=False)
        pc = pc._replace(theta_inv=None, z_mean=None)
        p, cg_a, _ = K.a_step(p, pc, state.data, eta_als, _MAX_CG)
        p = state.balanced(p)
        f_new, gnorm = state.record(p, int(cg_t) + int(cg_a))
        it += 1
        if state.out_of_patience:
            return p, "heldout"
        bar.update(1, log_joint=state.const - f_new, grad=gnorm)
        gain, f = (f - f_new) / state.scale(f_new), f_new
        if g0 is None:
            g0 = max(gnorm, 1e-300)
        elif gnorm <= gtol * g0:
            return p, "gtol"
        if gain < _ALS_GAIN:
            break
    g0 = max(gnorm, 1e-300) if g0 is None else g0
    delta, stall, newton = -1.0, 0, 0
    while it < max_iter:
        eta = float(min(0.5, max(_ETA_MIN, np.sqrt(gnorm / g_start))))  # one dtype: one compile
        refresh = newton % _REFRESH == 0
        pc = state.precond(p, vertical=True, theta=refresh, star=refresh)
        step, gx, xhx, cg, res, xnorm, rnorm = K.newton_step(
            p, pc, state.data, eta, delta, _MAX_CG, 0.0
        )
        gx, xhx, xnorm = float(gx), float(xhx), float(xnorm)
        delta = float(rnorm) if delta < 0 else delta
        interior = xnorm < 0.99 * delta
        solved = interior or float(res) <= eta
        pred_full = -(gx + 0.5 * xhx)
        accepted = False
        for alpha in (1.0, 0.5, 0.25):
            pred = -(alpha * gx + 0.5 * alpha**2 * xhx)
            dec = float(K.decrease(p, jax.tree.map(lambda s, a=alpha: a * s, step), state.data))
            if pred > 0 and dec > 0.1 * pred:
                accepted = True
                break
        if accepted:
            p = state.balanced(jax.tree.map(lambda u, s, a=alpha: u + a * s, p, step))
            if alpha < 1.0:
                delta = alpha * xnorm
            elif dec > 0.75 * pred and not interior:
                delta *= 2.0
            elif dec < 0.25 * pred:
                delta = 0.5 * xnorm
        else:
            delta = 0.25 * xnorm
        f, gnorm = state.record(p, cg)
        newton += 1
        it += 1
        if state.out_of_patience:
            return p, "heldout"
        bar.update(1, log_joint=state.const - f, grad=gnorm)
        scale = state.scale(f)
        if gnorm <= gtol * g0:
            return p, "gtol"
        if solved and pred_full < tol * scale:
            return p, "tol"
        stall = 0 if accepted and dec > tol * scale else stall + 1
        if stall >= 3:
            return p, "stall"
    return p, "max_iter"
