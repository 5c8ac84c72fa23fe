"""The survey-2 likelihood with a Gaussian uncertainty on ``z`` integrated out.

When ``z_i`` is not known exactly but is Gaussian, ``z_i ~ Normal(m_i, S_i)``
(a latent ``z``, or ``z`` computed from a noisy survey-1 spectrum), the
survey-2 spectrum is, exactly,

    F2_i ~ Normal(beta_F m_i + b_F, beta_F S_i beta_F^T + diag(1 / ivar_i)),

a low-rank-plus-diagonal Gaussian. :class:`LatentNormal` evaluates it in
``O(P2 c^2)`` per star (matrix determinant lemma and Woodbury identity, no
``P2 x P2`` matrix) and leaves pixels with ``ivar == 0`` out exactly, as the
base model's masked likelihood does. With ``S_i = 0`` it *is* the base
model's likelihood.
"""

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

__all__ = ["LatentNormal"]


class LatentNormal(dist.Distribution):
    """``Normal(loc, basis @ latent_cov @ basis.T + diag(1 / ivar))`` on the unmasked pixels.

    Parameters
    ----------
    loc : array, shape (..., P2)
        Mean spectrum ``beta_F m_i + b_F``.
    basis : array, shape (P2, c)
        ``beta_F``, shared by every star.
    latent_cov : array, shape (..., c, c)
        Covariance ``S_i`` of ``z_i`` (positive semi-definite; zero allowed).
    ivar : array, shape (..., P2)
        Inverse variance of the survey-2 noise; ``0`` leaves a pixel out (its
        value is ignored and contributes nothing to the density).

    Notes
    -----
    Batch shape is the broadcast of ``loc.shape[:-1]``, ``latent_cov.shape[:-2]``
    and ``ivar.shape[:-1]``; event shape ``(P2,)``. ``log_prob`` sums over the
    unmasked pixels of each spectrum, so it is one number per star.
    """

    arg_constraints: ClassVar[dict] = {
        "loc": constraints.real_vector,
        "basis": constraints.independent(constraints.real, 2),
        "latent_cov": constraints.positive_semidefinite,
        "ivar": constraints.independent(constraints.nonnegative, 1),
    }
    support = constraints.real_vector
    reparametrized_params: ClassVar[list] = ["loc", "basis", "latent_cov"]

    def __init__(self, loc, basis, latent_cov, ivar, *, validate_args=None):
        batch_shape = jnp.broadcast_shapes(loc.shape[:-1], latent_cov.shape[:-2], ivar.shape[:-1])
        event_shape = loc.shape[-1:]
        self.loc = jnp.broadcast_to(loc, batch_shape + event_shape)
        self.ivar = jnp.broadcast_to(ivar, batch_shape + event_shape)
        self.latent_cov = jnp.broadcast_to(latent_cov, batch_shape + latent_cov.shape[-2:])
        self.basis = basis
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        key_z, key_noise = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        lam, vec = jnp.linalg.eigh(self.latent_cov)
        root = vec * jnp.sqrt(jnp.clip(lam, 0.0))[..., None, :]
        eps = jax.random.normal(key_z, shape + lam.shape[-1:], self.loc.dtype)
        dz = jnp.einsum("...kj,...j->...k", root, eps)
        good = self.ivar > 0
        noise = jax.random.normal(key_noise, shape + self.event_shape, self.loc.dtype)
        noise = jnp.where(good, noise / jnp.sqrt(jnp.where(good, self.ivar, 1.0)), 0.0)
        return self.loc + dz @ self.basis.T + noise

    def log_prob(self, value):
        good = self.ivar > 0
        w = jnp.where(good, self.ivar, 0.0)
        resid = jnp.where(good, value - self.loc, 0.0)
        wr = w * resid
        # u = B^T W r (..., c); M = B^T W B (..., c, c)
        u = wr @ self.basis
        gram = jnp.einsum("pk,...p,pj->...kj", self.basis, w, self.basis)
        c = self.basis.shape[-1]
        # (I + M S) y = u;  r^T (B S B^T + W^-1)^-1 r = r^T W r - u^T S y
        system = jnp.eye(c, dtype=u.dtype) + gram @ self.latent_cov
        y = jnp.linalg.solve(system, u[..., None])[..., 0]
        quad = jnp.sum(wr * resid, -1) - jnp.einsum("...k,...kj,...j->...", u, self.latent_cov, y)
        _, logdet = jnp.linalg.slogdet(system)
        num_good = jnp.sum(good, -1)
        log_w = jnp.sum(jnp.log(jnp.where(good, w, 1.0)), -1)
        return -0.5 * (quad + logdet + num_good * jnp.log(2 * jnp.pi) - log_w)
