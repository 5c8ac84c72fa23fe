"""JAX kernels of the exact MAP solver (objective, Hessian products, PCG).

Work in the reduced coordinates of :mod:`.exact_linalg`: parameters are
``(a, bf, b)`` = ``(A_hat (c, r), beta_F (P2, c), b_F (P2,))`` and the
negative log joint, without its constant, is::

    f = 0.5 * sum(ivar * (flux - z @ bf.T - b)**2)
        + 0.5 * (sum(prior * a**2) + sum(bf**2) + sum((b - b_mean)**2)),
    z = design @ a.T.

Newton systems are solved by Steihaug-Toint truncated preconditioned CG.
The preconditioner is block diagonal and exact for separable weights
``ivar = kappa omega^T``: a Kronecker factor for ``a`` (after projecting out
the symmetry directions) and one shared eigenbasis for the per-pixel
``(c + 1)``-dimensional ridge systems of ``(bf, b)``.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Data",
    "Params",
    "Precond",
    "a_step",
    "block_grams",
    "decrease",
    "gram_pieces",
    "newton_step",
    "objective",
    "rotated_diagonals",
    "theta_step",
]


class Data(NamedTuple):
    """Device arrays of one problem (all in the working dtype)."""

    design: jax.Array  # (n, r)
    ivar: jax.Array  # (n, P2), 0 = masked
    flux: jax.Array  # (n, P2), 0 where masked
    prior: jax.Array  # (r,) prior precision of the columns of a
    gram: jax.Array  # (r,) diagonal of design^T K design
    scale: jax.Array  # (r,) d; A = a / d
    kappa: jax.Array  # (n,)
    omega: jax.Array  # (P2,)
    b_mean: jax.Array  # () prior mean of b


class Params(NamedTuple):
    """Reduced parameters: ``a`` (c, r), ``bf`` (P2, c), ``b`` (P2,)."""

    a: jax.Array
    bf: jax.Array
    b: jax.Array


class Precond(NamedTuple):
    """Preconditioner pieces.

    The separable ones (eigen-decompositions, from :func:`gram_pieces` on the
    host) are always set; the exact blocks (from :func:`block_grams`) or the
    exact diagonals in the same eigenbases (:func:`rotated_diagonals`) replace
    them where not ``None``.
    """

    lam_c: jax.Array  # (c,) eigenvalues of bf^T diag(omega) bf
    vec_c: jax.Array  # (c, c)
    lam_t: jax.Array  # (c + 1,) eigenvalues of [z, 1]^T K [z, 1]
    vec_t: jax.Array  # (c + 1, c + 1)
    vertical: jax.Array  # (r, c + 1) orthonormal columns (zero-padded)
    theta_inv: jax.Array | None = None  # (P2, c + 1, c + 1) centred per-pixel inverses
    z_mean: jax.Array | None = None  # (c,) the centring of theta_inv
    star_inv: jax.Array | None = None  # (n, c, c) per-star inverses (z coordinates)
    design_inv: jax.Array | None = None  # (r, n) inverse of the design (r == n)
    den_a: jax.Array | None = None  # (c, r) exact diagonal in the (vec_c, design) basis
    den_t: jax.Array | None = None  # (P2, c + 1) exact diagonal in the vec_t basis


def _dot(x, y):
    return sum(jnp.vdot(u, v) for u, v in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True))


def _axpy(alpha, x, y):
    return jax.tree.map(lambda u, v: alpha * u + v, x, y)


@jax.jit
def objective(p, d):
    """Negative log joint (no constant) and its gradient, a ``Params``."""
    z = d.design @ p.a.T
    resid = d.flux - z @ p.bf.T - p.b
    e = d.ivar * resid
    f = 0.5 * jnp.sum(e * resid) + 0.5 * (
        jnp.sum(d.prior * p.a**2) + jnp.sum(p.bf**2) + jnp.sum((p.b - d.b_mean) ** 2)
    )
    grad = Params(
        -(e @ p.bf).T @ d.design + d.prior * p.a,
        -e.T @ z + p.bf,
        -jnp.sum(e, axis=0) + (p.b - d.b_mean),
    )
    return f, grad


@jax.jit
def decrease(p, step, d):
    """``f(p) - f(p + step)``, summed term by term to avoid cancellation."""
    q = _axpy(1.0, step, p)
    z = d.design @ p.a.T
    dz = d.design @ step.a.T
    resid = d.flux - z @ p.bf.T - p.b
    dmu = dz @ q.bf.T + z @ step.bf.T + step.b  # mu(q) - mu(p), without cancellation
    lik = 0.5 * jnp.sum(d.ivar * dmu * (2 * resid - dmu))
    pri = 0.5 * (
        jnp.sum(d.prior * step.a * (p.a + q.a))
        + jnp.sum(step.bf * (p.bf + q.bf))
        + jnp.sum(step.b * (p.b + q.b - 2 * d.b_mean))
    )
    return lik - pri


@jax.jit
def gram_pieces(p, d):
    """``bf^T diag(omega) bf`` (c, c), centred ``z^T K z`` (c, c), ``zbar`` (c,)."""
    z = d.design @ p.a.T
    zbar = d.kappa @ z / jnp.sum(d.kappa)
    zc = z - zbar
    return p.bf.T @ (d.omega[:, None] * p.bf), zc.T @ (d.kappa[:, None] * zc), zbar


@partial(jax.jit, static_argnames=("theta", "star"))
def block_grams(p, d, star_prior, *, theta=True, star=True):
    """Exact diagonal blocks of the Hessian: per pixel for ``(bf, b)``, per star for ``z``.

    They are inverted on the host (:func:`~.exact_linalg.spd_inverses`): XLA's
    batched triangular solves are very slow on CPU.

    Parameters
    ----------
    p : Params
    d : Data
    star_prior : array, shape (n,)
        Diagonal of the ``a`` prior expressed in ``z`` coordinates; only used
        for the star blocks.
    theta, star : bool
        Which blocks to compute (the other is returned as ``None``).

    Returns
    -------
    theta_gram : array, shape (P2, c + 1, c + 1) or None
        Per-pixel systems in coordinates centred on ``zbar``.
    zbar : array, shape (c,)
    star_gram : array, shape (n, c, c) or None
        ``bf^T diag(ivar_i) bf + star_prior_i I``.
    """
    n, c = d.design.shape[0], p.a.shape[0]
    z = d.design @ p.a.T
    zbar = d.kappa @ z / jnp.sum(d.kappa)
    theta_gram = star_gram = None
    if theta:
        zt = jnp.concatenate([z - zbar, jnp.ones((n, 1), z.dtype)], axis=1)
        h = _weighted_grams(d.ivar.T, zt)
        # prior precision in centred coordinates: T^-T T^-1, T = [[I, 0], [zbar^T, 1]]
        t_inv = jnp.eye(c + 1, dtype=z.dtype).at[c, :c].set(-zbar)
        theta_gram = h + t_inv.T @ t_inv
    if star:
        cs = _weighted_grams(d.ivar, p.bf)
        star_gram = cs + star_prior[:, None, None] * jnp.eye(c, dtype=z.dtype)
    return theta_gram, zbar, star_gram


@jax.jit
def rotated_diagonals(p, d, vec_c, vec_t):
    """Exact Hessian diagonals in the eigenbases of the separable preconditioner.

    The separable preconditioner is diagonal in the basis ``vec_c`` (components)
    x design columns for ``a`` and ``vec_t`` for every pixel's ``(bf, b)``;
    replacing its diagonal by the exact one absorbs how the weights vary across
    stars and pixels, for the cost of two (n, P2) x (P2, c) products.

    Returns
    -------
    den_a : array, shape (c, r)
    den_t : array, shape (P2, c + 1)
    """
    n = d.design.shape[0]
    z = d.design @ p.a.T
    zt = jnp.concatenate([z, jnp.ones((n, 1), z.dtype)], axis=1) @ vec_t
    den_t = d.ivar.T @ zt**2 + 1.0
    s = d.ivar @ (p.bf @ vec_c) ** 2  # (n, c)
    den_a = s.T @ d.design**2 + d.prior[None, :]
    return den_a, den_t


def _weighted_grams(weights, x):
    """``out[k] = x.T @ diag(weights[k]) @ x`` for every row ``k`` of ``weights``.

    One GEMM over the packed upper triangle of the outer products.
    """
    m = x.shape[1]
    rows, cols = np.triu_indices(m)
    packed = weights @ (x[:, rows] * x[:, cols])  # (k, m (m + 1) / 2)
    index = np.zeros((m, m), dtype=np.int32)
    index[rows, cols] = index[cols, rows] = np.arange(rows.size)
    return packed[:, index]


def _precond_parts(pc, d):
    def project(r):
        return r - (r @ pc.vertical) @ pc.vertical.T

    if pc.star_inv is None:
        den_a = pc.lam_c[:, None] * d.gram[None, :] + d.prior[None, :]
        if pc.den_a is not None:
            den_a = pc.den_a

        def inv_a(r):
            return pc.vec_c @ ((pc.vec_c.T @ r) / den_a)
    else:

        def inv_a(r):
            y = pc.design_inv.T @ r.T
            return (pc.design_inv @ jnp.einsum("iab,ib->ia", pc.star_inv, y)).T

    if pc.theta_inv is None:
        den_t = d.omega[:, None] * pc.lam_t[None, :] + 1.0
        if pc.den_t is not None:
            den_t = pc.den_t

        def inv_t(bf, b):
            x = ((jnp.concatenate([bf, b[:, None]], axis=1) @ pc.vec_t) / den_t) @ pc.vec_t.T
            return x[:, :-1], x[:, -1]
    else:

        def inv_t(bf, b):
            u = jnp.concatenate([bf - b[:, None] * pc.z_mean, b[:, None]], axis=1)
            v = jnp.einsum("pab,pb->pa", pc.theta_inv, u)
            return v[:, :-1], v[:, -1] - v[:, :-1] @ pc.z_mean

    return project, inv_a, inv_t


def _steihaug(hess, prec, rhs, *, eta, delta, maxiter):
    """Truncated PCG for ``hess x = rhs`` inside ``||x||_P <= delta``.

    Stops at relative preconditioned residual ``eta``, on negative curvature
    or at the trust-region boundary (norms tracked by recurrences).
    Returns ``x, iterations, relative residual, ||x||_P, ||rhs||_{P^-1}``.
    """
    zero = jnp.zeros((), rhs[0].dtype)
    z0 = prec(rhs)
    rz0 = _dot(rhs, z0)
    r0 = jnp.sqrt(rz0)
    delta = jnp.where(delta > 0, delta, r0)

    def cond(st):
        rz, stop, i = st[3], st[7], st[8]
        return (~stop) & (i < maxiter) & (jnp.sqrt(jnp.abs(rz)) > eta * r0)

    def body(st):
        x, r, p, rz, xx, xp, pp, _, i = st
        hp = hess(p)
        php = _dot(p, hp)
        alpha = rz / php
        hit = (php <= 0) | (xx + 2 * alpha * xp + alpha**2 * pp >= delta**2)
        to_edge = (-xp + jnp.sqrt(jnp.maximum(xp**2 + pp * (delta**2 - xx), 0.0))) / pp
        alpha = jnp.where(hit, to_edge, alpha)
        x = _axpy(alpha, p, x)
        r = _axpy(-alpha, hp, r)
        z = prec(r)
        rz_new = _dot(r, z)
        beta = rz_new / rz
        xx_new = xx + 2 * alpha * xp + alpha**2 * pp
        xp_new = beta * (xp + alpha * pp)
        pp_new = rz_new + beta**2 * pp
        return (x, r, _axpy(beta, p, z), rz_new, xx_new, xp_new, pp_new, hit, i + 1)

    x0 = jax.tree.map(jnp.zeros_like, rhs)
    init = (x0, rhs, z0, rz0, zero, zero, rz0, jnp.array(False), jnp.array(0))
    x, _, _, rz, xx, _, _, _, i = jax.lax.while_loop(cond, body, init)
    return x, i, jnp.sqrt(jnp.abs(rz)) / jnp.maximum(r0, 1e-30), jnp.sqrt(xx), r0


@jax.jit
def newton_step(p, pc, d, eta, delta, maxiter, gauss_newton):
    """Trust-region (Gauss-)Newton step on all parameters, ``a`` kept horizontal.

    ``gauss_newton`` (0 or 1) drops the residual term of the Hessian, which
    keeps the model convex far from the optimum. Returns ``step`` (Params),
    ``g . step``, ``step . H step``, CG iterations, relative residual,
    ``||step||_P`` and ``||g||_{P^-1}``.
    """
    project, inv_a, inv_t = _precond_parts(pc, d)
    _, g = objective(p, d)
    z = d.design @ p.a.T
    e = d.ivar * (d.flux - z @ p.bf.T - p.b) * (1 - gauss_newton)

    def hvp(v):
        dz = d.design @ v.a.T
        de = -d.ivar * (dz @ p.bf.T + z @ v.bf.T + v.b)
        return Params(
            -(de @ p.bf + e @ v.bf).T @ d.design + d.prior * v.a,
            -(de.T @ z + e.T @ dz) + v.bf,
            -jnp.sum(de, axis=0) + v.b,
        )

    def hess(v):
        h = hvp(v)
        return Params(project(h.a), h.bf, h.b)

    def prec(r):
        bf, b = inv_t(r.bf, r.b)
        return Params(project(inv_a(project(r.a))), bf, b)

    rhs = Params(-project(g.a), -g.bf, -g.b)
    x, iters, res, xnorm, gnorm = _steihaug(hess, prec, rhs, eta=eta, delta=delta, maxiter=maxiter)
    return x, _dot(g, x), _dot(x, hvp(x)), iters, res, xnorm, gnorm


@jax.jit
def theta_step(p, pc, d, eta, maxiter):
    """Minimise over ``(bf, b)`` with ``a`` fixed (per-pixel ridge, by PCG)."""
    _, _, inv_t = _precond_parts(pc, d)
    z = d.design @ p.a.T
    _, g = objective(p, d)

    def hess(v):
        de = d.ivar * (z @ v[0].T + v[1])
        return (de.T @ z + v[0], jnp.sum(de, axis=0) + v[1])

    def prec(r):
        return inv_t(*r)

    x, iters, res, _, _ = _steihaug(
        hess, prec, (-g.bf, -g.b), eta=eta, delta=jnp.inf, maxiter=maxiter
    )
    return Params(p.a, p.bf + x[0], p.b + x[1]), iters, res


@jax.jit
def a_step(p, pc, d, eta, maxiter):
    """Minimise over ``a`` with ``(bf, b)`` fixed (Kronecker-preconditioned CG)."""
    _, inv_a, _ = _precond_parts(pc, d)
    _, g = objective(p, d)

    def hess(v):
        dz = d.design @ v[0].T
        return (((d.ivar * (dz @ p.bf.T)) @ p.bf).T @ d.design + d.prior * v[0],)

    def prec(r):
        return (inv_a(r[0]),)

    x, iters, res, _, _ = _steihaug(hess, prec, (-g.a,), eta=eta, delta=jnp.inf, maxiter=maxiter)
    return Params(p.a + x[0], p.bf, p.b), iters, res
