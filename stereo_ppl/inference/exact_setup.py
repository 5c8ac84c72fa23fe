"""Input checks, starting points and float64 evaluation for :mod:`.exact`."""

import jax
import numpy as np

from ..errors import FitConfigError, PairedDataError
from ..models import eq12
from . import exact_linalg as L

__all__ = ["log_joint_and_grad", "revive", "start_params", "validated"]


def validated(apogee_flux, lamost_flux, lamost_ivar):
    """Host float64 copies of the inputs and the working dtype."""
    dtype = jax.dtypes.canonicalize_dtype(np.asarray(apogee_flux).dtype)
    if not np.issubdtype(dtype, np.floating):
        dtype = jax.dtypes.canonicalize_dtype(np.float64)
    f1 = np.asarray(apogee_flux, np.float64)
    f2 = np.asarray(lamost_flux, np.float64)
    ivar = np.asarray(lamost_ivar, np.float64)
    if f1.ndim != 2 or f2.shape != ivar.shape or f2.ndim != 2 or f2.shape[0] != f1.shape[0]:
        raise PairedDataError(
            "apogee_flux must be (n, P1) and lamost_flux, lamost_ivar (n, P2); got shapes "
            f"{f1.shape}, {f2.shape}, {ivar.shape}"
        )
    if not np.isfinite(f1).all():
        raise PairedDataError("apogee_flux must be finite everywhere")
    if not (np.isfinite(ivar).all() and (ivar >= 0).all()):
        raise PairedDataError("lamost_ivar must be finite and >= 0")
    good = ivar > 0
    if not np.isfinite(f2[good]).all():
        raise PairedDataError("lamost_flux must be finite where lamost_ivar > 0")
    return f1, np.where(good, f2, 0.0), ivar, dtype


def start_params(space, f2, ivar, kappa, omega, num_latent, init, f1_shape):
    """Unbalanced starting ``(A_hat, beta_F, b_F)`` in float64."""
    if init is None:
        return L.ridge_rrr_init(space, f2, ivar, kappa, omega, num_latent=num_latent)
    shapes = {
        "beta_z": (num_latent, f1_shape[1]),
        "beta_F": (f2.shape[1], num_latent),
        "b_F": (f2.shape[1],),
    }
    arrays = {}
    for name, shape in shapes.items():
        value = np.asarray(init.get(name) if isinstance(init, dict) else None, np.float64)
        if value.shape != shape:
            raise FitConfigError(f"init[{name!r}] must have shape {shape}; got {value.shape}")
        arrays[name] = value
    a_hat = (arrays["beta_z"] @ space.basis) * space.scale
    return a_hat, arrays["beta_F"], arrays["b_F"]


def revive(rng_key, a, bf):
    """Give components that are exactly (or nearly) zero a small random start."""
    norms = np.linalg.norm(bf, axis=0) * np.linalg.norm(a, axis=1)
    dead = norms <= 1e-8 * norms.max(initial=0.0)
    if not dead.any():
        return a, bf
    key_a, key_f = jax.random.split(rng_key)
    live_a = np.abs(a[~dead]).mean() if (~dead).any() else 1.0
    live_f = np.abs(bf[:, ~dead]).mean() if (~dead).any() else 1.0
    noise_a = np.asarray(jax.random.normal(key_a, a.shape), np.float64)
    noise_f = np.asarray(jax.random.normal(key_f, bf.shape), np.float64)
    a, bf = a.copy(), bf.copy()
    a[dead] = 1e-2 * live_a * noise_a[dead]
    bf[:, dead] = 1e-2 * live_f * noise_f[:, dead]
    return a, bf


def log_joint_and_grad(params, f1, f2, ivar, b_mean):
    """Log joint and gradient norm in float64 at the (working-dtype) params.

    The log joint is :mod:`stereo_ppl.models.eq12`'s; the gradient is its
    closed form (tested against automatic differentiation of that log joint).
    """
    beta_z, beta_f, b_f = (np.asarray(params[k], np.float64) for k in ("beta_z", "beta_F", "b_F"))
    point = {"beta_z": beta_z, "beta_F": beta_f, "b_F": b_f}
    log_lik = eq12.log_likelihood_per_star(point, f1, f2, ivar).sum()
    log_prior = eq12.log_prior(point, b_F_prior_mean=b_mean)
    z = eq12.encode(beta_z, f1)
    e = ivar * np.where(ivar > 0, f2 - eq12.decode(beta_f, b_f, z), 0.0)
    grads = (-(e @ beta_f).T @ f1 + beta_z, -e.T @ z + beta_f, -e.sum(0) + (b_f - b_mean))
    return float(log_lik + log_prior), float(np.sqrt(sum(_sq64(g) for g in grads)))


def _sq64(x):
    return float(np.sum(x * x))
