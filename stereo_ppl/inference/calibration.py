"""The calibrated model's noise and prior scale, learned from the training stars alone.

Eq. 2's calibrated noise is ``a^2 / ivar_ip + s_p^2`` (:mod:`stereo_ppl.models.eq12`);
``beta_z`` and ``beta_F`` have prior scale ``sigma`` (only ``sigma^2`` sets the
MAP's penalty on the rank-c map). The exact solver learns them by empirical
Bayes on an internal validation split of the training stars (the held-out
stars are for scoring only):

1. The training stars are split (seeded) into an inner set (80%) and a
   validation set (20%).
2. The MAP on the inner stars at the seed's ``lambda = sigma^2 = 1`` gives
   in-sample residuals, from which :func:`estimate_noise` estimates ``a`` and
   ``s_p`` (residual variances corrected for the ``c + 1`` decoder
   parameters each pixel's fit takes up).
3. For a path of ``lambda`` (by factors of 4 down while the validation score
   improves, then up), the MAP on the inner stars with that noise's weights
   is solved (warm-started along the path) and scored by the validation
   stars' log likelihood under that same noise (fixed along the path, so a
   stronger prior cannot hide its misfit in a larger scatter).
4. All training stars are fitted at the best ``lambda`` with those weights
   (warm start), and ``a``, ``s_p`` re-estimated from that fit's residuals:
   the MAP of the calibrated model, alternating once between the weighted
   solve and the 1-D noise updates.

The solver works on the unit-prior problem with ``F1``
scaled by ``lambda`` (``beta = sigma beta'``), which is exactly the scaled
prior's MAP.

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import FitConfigError, FitWarning
from ..models import eq12
from ..models.base import ERROR_SCALE_PRIOR, SCATTER_PRIOR
from .exact import solve_exact
from .exact_linalg import row_basis

__all__ = [
    "MIN_SCATTER_PIXELS",
    "VALIDATION_FRACTION",
    "CalibratedMap",
    "NoiseEstimate",
    "calibrated_map",
    "estimate_noise",
]

#: Fraction of the training stars held aside inside the fit to learn the noise and prior.
VALIDATION_FRACTION = 0.2
#: Fewest usable validation pixels a pixel's scatter is estimated from; fewer: the fallback.
MIN_SCATTER_PIXELS = 5
#: Factor between neighbouring prior scales squared (``lambda``) on the path.
_PATH_FACTOR = 4.0
_MAX_PATH = 8
#: Validation log likelihood (nats) a step along the path must gain to go on.
_PATH_GAIN = 0.5


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


def estimate_noise(
    resid, lamost_ivar, *, fit_error_scale: bool = True, dof_fraction: float = 0.0, iters: int = 20
):
    """MAP of ``a`` and ``s_p`` given residuals ``F2 - F2_hat`` and reported ``ivar``.

    Maximises ``sum log Normal(r_ip | 0, a^2 / ivar_ip + s_p^2)`` plus the priors
    ``a ~ LogNormal(0, 0.5)``, ``s_p ~ HalfNormal(0.1)``, alternating
    safeguarded Newton steps for every ``s_p^2`` (in ``[0, max r_ip^2]``) with
    a Newton step for ``log a`` (in ``[log 0.05, log 20]``) on the profile
    over ``s_p`` until ``a`` settles.

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
    a2, t = 1.0, np.clip(np.nan_to_num(bulk), 0.0, top)
    # the sums run in JAX's default float (float32 unless x64 is on): tolerance to match
    r2, e2, good = (jnp.asarray(x) for x in (r2, e2, good))
    tol = float(np.sqrt(np.finfo(r2.dtype).eps))
    bounds = np.log(0.05), np.log(20.0)
    for _ in range(iters if fit_a else 1):  # every s_p given a, then a Newton step for a
        t = _safe_newton(
            _scatter_derivatives(r2, e2, good, a2), np.zeros_like(top), top, start=t, tol=tol
        )
        if not fit_a:
            break
        u = 0.5 * np.log(a2)
        new = _profile_step(r2, e2, good, t, u)
        if not bounds[0] < new < bounds[1]:  # not concave there: a's own maximum given s_p
            new = float(_safe_newton(_scale_derivatives(r2, e2, good, t), *bounds, tol=tol))
        a2 = float(np.exp(2.0 * new))
        if abs(new - u) < tol:
            break
    # the prior's support is s_p > 0: a maximum at 0 is kept a thousandth of the noise above it
    s = np.maximum(np.sqrt(t), 1e-3 * np.sqrt(np.nan_to_num(typical)))
    few = count < MIN_SCATTER_PIXELS
    fallback = float(np.median(s[~few])) if (~few).any() else 0.0
    s = np.where(few, fallback, s)
    return NoiseEstimate(float(np.sqrt(a2)), s, int(few.sum()), fallback, identifiable)


class CalibratedMap(NamedTuple):
    """Result of :func:`calibrated_map`.

    Attributes
    ----------
    params : dict
        ``beta_z``, ``beta_F``, ``b_F`` (the MAP on all training stars) and
        ``error_scale``, ``scatter``, ``prior_scale``.
    solve : ExactResult
        The final solve (its trace is the fit's log joint trace).
    attrs : dict
        What was learned and how, for the fit's attributes.
    """

    params: dict
    solve: object
    attrs: dict


def _scaled_init(params, sigma):
    if params is None:
        return None
    return {
        "beta_z": np.asarray(params["beta_z"]) / sigma,
        "beta_F": np.asarray(params["beta_F"]) / sigma,
        "b_F": np.asarray(params["b_F"]),
    }


def _unscaled(params, sigma):
    """Eq. 1–2 parameters from the unit-prior problem's (``beta = sigma beta'``)."""
    return {**params, "beta_z": params["beta_z"] * sigma, "beta_F": params["beta_F"] * sigma}


def _solve(key, f1, f2, weight, *, lam, init, basis, heldout=None, **options):
    """The MAP with prior scale ``sqrt(lam)`` and noise precision ``weight`` (eq. 1–2 params).

    ``basis`` is :func:`~.exact_linalg.row_basis` of ``f1``.
    """
    sigma = float(np.sqrt(lam))
    score = None if heldout is None else (lambda p: heldout(_unscaled(p, sigma)))
    result = solve_exact(
        key,
        f1 * lam,
        f2,
        weight,
        init=_scaled_init(init, sigma),
        heldout=score,
        row_basis=basis.scaled(lam),
        **options,
    )
    dtype = result.params["beta_z"].dtype
    return _unscaled(result.params, np.asarray(sigma, dtype)), result


def _in_sample_noise(resid, ivar, num_latent: int) -> NoiseEstimate:
    """:func:`estimate_noise` of a fit's own residuals, for its ``c + 1`` parameters per pixel."""
    num_used = np.maximum((ivar > 0).sum(axis=0), 1)
    dof = float(np.median(np.minimum((num_latent + 1) / num_used, 0.9)))
    return estimate_noise(np.where(ivar > 0, resid, 0.0), ivar, dof_fraction=dof)


def _prior_path(fit_inner, *, learned: bool):
    """The prior scale squared with the best validation score, and the MAP there.

    ``fit_inner(lam, init) -> (params, score)`` (``init`` None: the fit at
    ``lambda = 1``). From ``lambda = 1`` by factors of :data:`_PATH_FACTOR` down
    while the score gains :data:`_PATH_GAIN`, turning back once towards a
    weaker prior if the first step down loses.
    """
    params, score = fit_inner(1.0, None)
    path = {1.0: (score, params)}
    lam, step = 1.0 / _PATH_FACTOR, 1.0 / _PATH_FACTOR
    for _ in range(_MAX_PATH - 1 if learned else 0):
        params, score = fit_inner(lam, params)
        previous = max(v[0] for v in path.values())
        path[lam] = (score, params)
        if score <= previous + _PATH_GAIN:  # no better than the best so far
            if step < 1.0 and len(path) == 2:  # turn back once: towards a weaker prior
                step = _PATH_FACTOR
                lam, params = max(path) * step, path[max(path)][1]
                continue
            break
        lam = lam * step
    best = max(path, key=lambda k: path[k][0])
    return best, path[best][1], {k: path[k][0] for k in sorted(path)}


def calibrated_map(
    rng_key,
    apogee_flux,
    lamost_flux,
    lamost_ivar,
    *,
    num_latent: int,
    noise: str,
    prior: str,
    b_F_prior_mean: float,
    heldout=None,
    progress: bool = False,
    **options,
) -> CalibratedMap:
    """The exact MAP of the calibrated model, its noise and prior learned as the module says.

    Parameters
    ----------
    rng_key : jax.Array
        Chooses the validation stars and seeds the solver.
    apogee_flux : array, shape (n, P1)
        Training stars' survey-1 flux (bad pixels filled).
    lamost_flux, lamost_ivar : array, shape (n, P2)
    num_latent : int
    noise : {"reported", "calibrated"}
    prior : {"unit", "learned"}
    b_F_prior_mean : float
    heldout : callable, optional
        ``heldout(params) -> float``: the held-out score of the final solve's
        iterates (given every site).
    progress : bool
        The final solve's progress bar.
    **options
        Options of :func:`~stereo_ppl.inference.exact.solve_exact`.

    Returns
    -------
    CalibratedMap
    """
    f1 = np.asarray(apogee_flux)
    f2 = np.asarray(lamost_flux)
    ivar = np.asarray(lamost_ivar)
    num_stars = f1.shape[0]
    num_valid = round(VALIDATION_FRACTION * num_stars)
    if num_valid < 5 or num_stars - num_valid <= num_latent:
        raise FitConfigError(
            f"learning the noise model and prior needs more training stars: {num_stars} "
            f"leave {num_valid} validation stars and {num_stars - num_valid} to fit c = "
            f"{num_latent} (use --noise reported --prior unit for the seed's model)"
        )
    key_split, key_path, key_final = jax.random.split(rng_key, 3)
    order = np.asarray(jax.random.permutation(key_split, num_stars))
    valid, inner = np.sort(order[:num_valid]), np.sort(order[num_valid:])
    calibrated = noise == "calibrated"
    solver = {"num_latent": num_latent, "b_F_prior_mean": b_F_prior_mean, **options}
    solver.pop("patience", None)  # early stopping belongs to the final solve's held-out stars

    # the noise from the seed's prior scale's fit to the inner stars weights and scores the path
    f1_inner, f2_inner, ivar_inner = f1[inner], f2[inner], ivar[inner]
    basis_inner = row_basis(f1_inner)
    first = _solve(
        key_path, f1_inner, f2_inner, ivar_inner, lam=1.0, init=None, basis=basis_inner, **solver
    )[0]
    scoring = {}
    if calibrated:
        resid = f2_inner - eq12.predict_mean(first, f1_inner)
        scoring = _in_sample_noise(resid, ivar_inner, num_latent).params()
    weight = eq12.noise_precision(ivar_inner, **scoring)

    def fit_inner(lam, init):
        """The MAP of the inner stars at ``lam`` (``init`` None: the first solve) and its score."""
        params = first
        if init is not None:
            params = _solve(
                key_path,
                f1_inner,
                f2_inner,
                weight,
                lam=lam,
                init=init,
                basis=basis_inner,
                **solver,
            )[0]
        score = eq12.log_likelihood_per_star(params, *validation, **scoring).sum()
        return params, float(score)

    validation = (f1[valid], f2[valid], ivar[valid])
    best, params, path = _prior_path(fit_inner, learned=prior == "learned")
    weight = eq12.noise_precision(ivar, **scoring)
    sigma = float(np.sqrt(best))
    extra = {"prior_scale": np.asarray(sigma)} if prior == "learned" else {}
    extra |= scoring
    score_fn = None if heldout is None else (lambda p: heldout({**p, **extra}))
    final, result = _solve(
        key_final,
        f1,
        f2,
        weight,
        lam=best,
        init=params,
        basis=row_basis(f1),
        heldout=score_fn,
        progress=progress,
        **{**solver, **({"patience": options["patience"]} if "patience" in options else {})},
    )
    if calibrated:  # the noise of the final fit's own residuals, as the model defines it
        found = _in_sample_noise(f2 - eq12.predict_mean(final, f1), ivar, num_latent)
        extra |= found.params()
        if not found.identifiable:
            warnings.warn(
                "the error scale is not identifiable (the reported errors are the same for "
                "every star at each pixel): error_scale fixed at 1, the scatter absorbs any "
                "misreporting",
                FitWarning,
                stacklevel=2,
            )
    dtype = final["beta_z"].dtype
    final.update({k: np.asarray(v, dtype) for k, v in extra.items()})
    attrs = {
        "noise": noise,
        "prior": prior,
        "num_validation_stars": int(num_valid),
        "prior_scale_path": [float(np.sqrt(k)) for k in path],
        "validation_log_likelihood_path": list(path.values()),
    }
    if calibrated:
        attrs |= {
            "num_scatter_fallback": found.num_fallback,
            "scatter_fallback": found.fallback,
            "error_scale_identifiable": int(found.identifiable),
        }
    return CalibratedMap(final, result, attrs)
