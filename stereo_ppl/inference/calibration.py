"""The calibrated model's noise and prior scale, learned from the training stars alone.

Eq. 2's calibrated noise is ``a^2 / ivar_ip + s_p^2`` (:mod:`stereo_ppl.models.eq12`);
``beta_z`` and ``beta_F`` have prior scale ``sigma`` (only ``sigma^2`` sets the
MAP's penalty on the rank-c map). The exact solver learns them by empirical
Bayes on an internal validation split of the training stars (the held-out
stars are for scoring only):

1. The training stars are split (seeded) into an inner set (80%) and a
   validation set (20%).
2. The MAP on the inner stars at the seed's ``lambda = sigma^2 = 1`` gives
   in-sample residuals, from which
   :func:`~stereo_ppl.inference.noise.estimate_noise` estimates ``a`` and
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
import numpy as np

from ..errors import FitConfigError, FitWarning
from ..models import eq12
from .exact import solve_exact
from .exact_linalg import row_basis
from .noise import NoiseEstimate, estimate_noise

__all__ = [
    "VALIDATION_FRACTION",
    "CalibratedMap",
    "calibrated_map",
]

#: Fraction of the training stars held aside inside the fit to learn the noise and prior.
VALIDATION_FRACTION = 0.2
#: Factor between neighbouring prior scales squared (``lambda``) on the path.
_PATH_FACTOR = 4.0
_MAX_PATH = 8
#: Validation log likelihood (nats) a step along the path must gain to go on.
_PATH_GAIN = 0.5


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
