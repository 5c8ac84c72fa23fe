"""Host-side float64 linear algebra for the exact MAP solver.

Everything here runs once per solve or once per outer iteration on small
matrices, in NumPy float64, so the device code can stay in the working dtype.

Coordinates
-----------
The solver never touches ``beta_z`` (c, P1) directly. With an orthonormal
basis ``V`` (P1, r) of the row space of ``F1`` (r <= min(n, P1)) the MAP
``beta_z`` lies in that row space (its orthogonal part only adds prior cost),
so ``beta_z = A @ V.T`` and ``||beta_z||^2 = ||A||^2``. The basis is rotated so
that ``(F1 V)^T K (F1 V) = diag(lam)`` for the star weights ``K = diag(kappa)``,
and the columns are rescaled by ``d = sqrt(lam + 1)``::

    design  = F1 @ V / d        (n, r)      z = design @ A_hat.T
    A_hat   = A * d             (c, r)      prior 0.5 * sum(prior * A_hat**2)
    prior   = 1 / (lam + 1)     (r,)

In these coordinates data-dominated and prior-dominated directions both have
curvature of order one, which keeps float32 conjugate gradients stable.
"""

import hashlib
from typing import NamedTuple

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

__all__ = [
    "RowBasis",
    "RowSpace",
    "balance",
    "ridge_rrr_init",
    "row_basis",
    "row_space",
    "separable_weights",
    "spd_inverses",
    "theta_eigen",
    "vertical_basis",
]


class RowSpace(NamedTuple):
    """Scaled orthonormal basis of the row space of ``F1`` (float64).

    Attributes
    ----------
    basis : array, shape (P1, r)
        Orthonormal ``V``; ``beta_z = (A_hat / scale) @ basis.T``.
    design : array, shape (n, r)
        ``F1 @ basis / scale``; ``z = design @ A_hat.T``.
    scale : array, shape (r,)
        ``sqrt(lam + 1)``.
    prior : array, shape (r,)
        Prior precision of each column of ``A_hat``, ``1 / (lam + 1)``.
    gram : array, shape (r,)
        ``lam / (lam + 1)``, the diagonal of ``design.T @ K @ design``.
    shift : array, shape (r,) or None
        Coefficients ``a`` with ``design @ a == 1`` when the constant vector
        lies in the column space of ``design`` (then ``z -> z + 1 u^T`` is an
        exact symmetry of the likelihood, absorbed by ``b_F``); else ``None``.
    """

    basis: np.ndarray
    design: np.ndarray
    scale: np.ndarray
    prior: np.ndarray
    gram: np.ndarray
    shift: np.ndarray | None


def separable_weights(ivar, *, iters=30):
    """Separable approximation ``ivar ~ kappa[:, None] * omega[None, :]``.

    Fitted in log space over the unmasked entries (least squares of
    ``log ivar``), so the ratio ``ivar / (kappa omega)``, which bounds the
    spectrum of the preconditioned systems, stays close to one.

    Parameters
    ----------
    ivar : array, shape (n, P2)
        Non-negative inverse variances (0 = masked).
    iters : int
        Alternating sweeps.

    Returns
    -------
    kappa : array, shape (n,)
    omega : array, shape (P2,)
        Non-negative factors (float64); 0 for fully masked stars or pixels.
    """
    w = np.asarray(ivar, np.float64)
    good = w > 0
    mask = good.astype(np.float64)
    logw = np.log(np.where(good, w, 1.0))
    count_star = good.sum(axis=1)
    count_pix = good.sum(axis=0)
    sum_star = (mask * logw).sum(axis=1)
    sum_pix = (mask * logw).sum(axis=0)
    log_k = np.zeros(w.shape[0])
    log_o = np.zeros(w.shape[1])
    for _ in range(iters):  # masked means as matrix-vector products
        log_o = (sum_pix - log_k @ mask) / np.maximum(count_pix, 1)
        log_k = (sum_star - mask @ log_o) / np.maximum(count_star, 1)
    shift = 0.0
    if good.any():
        shift = 0.5 * (np.mean(log_k[count_star > 0]) - np.mean(log_o[count_pix > 0]))
    kappa = np.where(count_star > 0, np.exp(log_k - shift), 0.0)
    omega = np.where(count_pix > 0, np.exp(log_o + shift), 0.0)
    return kappa, omega


class RowBasis(NamedTuple):
    """Orthonormal basis of the row space of ``gain * F1``, independent of the weights.

    Attributes
    ----------
    q : array, shape (P1, k)
        Orthonormal columns, ``k = min(n, P1)``.
    g0 : array, shape (n, k)
        ``F1 @ q``.
    tol : float
        Columns of ``g0 @ R`` (``R`` orthogonal) with a norm at most ``tol``
        are numerically zero (at any ``gain``).
    ones : array, shape (k,) or None
        ``b`` with ``g0 @ b == 1`` (to 1e-8) when the constant vector lies in
        the column space of ``F1``; else ``None``.
    rotations : dict
        The last star weights' rotation (see :func:`row_space`), shared by
        every :meth:`scaled` copy: solves that differ only in ``gain`` (a
        prior path) rotate once.
    gain : float
        The factor on ``F1`` (a prior scale squared, see :meth:`scaled`).
    """

    q: np.ndarray
    g0: np.ndarray
    tol: float
    ones: np.ndarray | None
    rotations: dict
    gain: float = 1.0

    def scaled(self, factor: float) -> "RowBasis":
        """The basis of ``factor * gain * F1`` (the same row space)."""
        return self._replace(gain=self.gain * float(factor))


def row_basis(apogee_flux) -> RowBasis:
    """The weight-independent part of :func:`row_space`, computed once per ``F1``.

    Parameters
    ----------
    apogee_flux : array, shape (n, P1)

    Returns
    -------
    RowBasis
    """
    f1 = np.asarray(apogee_flux, np.float64)
    q, r = np.linalg.qr(f1.T)  # f1 = r.T @ q.T, q orthonormal (P1, k)
    g0 = r.T  # (n, k) = f1 @ q
    # the largest singular value of g0, from its Gram matrix (only sets a tolerance)
    top = np.sqrt(max(np.linalg.eigvalsh(g0.T @ g0).max(initial=0.0), 0.0))
    tol = float(top * max(f1.shape) * np.finfo(np.float64).eps)
    ones = np.ones(g0.shape[0])
    b = scipy.linalg.lstsq(g0, ones, lapack_driver="gelsy")[0] if g0.size else None
    exact = b is not None and np.max(np.abs(g0 @ b - ones)) < 1e-8
    return RowBasis(q, g0, tol, b if exact else None, {})


def row_space(basis, kappa):
    """Scaled, weight-diagonalising basis of the row space of ``F1``.

    Parameters
    ----------
    basis : RowBasis or array, shape (n, P1)
        :func:`row_basis` of ``F1``, or ``F1`` itself.
    kappa : array, shape (n,)
        Star weights of the separable approximation of ``ivar``.

    Returns
    -------
    RowSpace
    """
    if not isinstance(basis, RowBasis):
        basis = row_basis(basis)
    lam, rot, rotated, vectors = _rotation(basis, kappa)
    gain = basis.gain
    lam = lam * gain**2
    scale = np.sqrt(lam + 1.0)
    design = rotated * (gain / scale)
    shift = None
    if basis.ones is not None:  # design @ shift == g0 @ rot @ rot.T @ ones == 1
        shift = scale * (rot.T @ basis.ones) / gain
        if np.max(np.abs(design @ shift - 1.0)) >= 1e-8:
            shift = None
    return RowSpace(vectors, design, scale, 1.0 / (lam + 1.0), lam / (lam + 1.0), shift)


def _rotation(basis, kappa):
    """Eigenpairs of ``g0.T K g0`` (numerically non-zero columns), ``g0 @ rot``, ``q @ rot``."""
    key = hashlib.blake2b(np.ascontiguousarray(kappa, np.float64).tobytes()).digest()
    if key not in basis.rotations:
        g0 = basis.g0
        lam, rot = np.linalg.eigh(g0.T @ (kappa[:, None] * g0))
        order = np.argsort(lam)[::-1]
        lam, rot = np.maximum(lam[order], 0.0), rot[:, order]
        rotated = g0 @ rot
        keep = np.linalg.norm(rotated, axis=0) > basis.tol
        lam, rot, rotated = lam[keep], rot[:, keep], rotated[:, keep]
        basis.rotations.clear()
        basis.rotations[key] = (lam, rot, rotated, basis.q @ rot)
    return basis.rotations[key]


def ridge_rrr_init(space, lamost_flux, lamost_ivar, kappa, omega, *, num_latent):
    """Reduced-rank ridge regression with separable weights (closed form).

    Fits ``F2 ~ design @ Theta + 1 b^T`` with weights ``kappa omega^T``, a
    ridge equal to the ``A_hat`` prior, then keeps the top ``num_latent``
    weighted singular directions of the fitted values.

    Returns
    -------
    a_hat : array, shape (c, r)
    beta_f : array, shape (P2, c)
    b_f : array, shape (P2,)
        Unbalanced factors, float64.
    """
    good = lamost_ivar > 0
    kw = good * kappa[:, None]
    y = np.where(good, lamost_flux, 0.0)
    ybar = (kw * y).sum(0) / np.maximum(kw.sum(0), 1e-300)
    yc = np.where(good, y, ybar) - ybar
    ksum = max(kappa.sum(), 1e-300)
    gbar = kappa @ space.design / ksum
    gc = space.design - gbar
    ycw = yc - kappa @ yc / ksum
    lhs = gc.T @ (kappa[:, None] * gc) + np.diag(space.prior)
    theta = np.linalg.solve(lhs, gc.T @ (kappa[:, None] * ycw))  # (r, P2)
    so = np.sqrt(omega)
    fit = (np.sqrt(kappa)[:, None] * (gc @ theta)) * so
    ev, vec = np.linalg.eigh(fit @ fit.T)
    top = np.argsort(ev)[::-1][:num_latent]
    sv = np.sqrt(np.maximum(ev[top], 0.0))
    live = sv > sv.max(initial=0.0) * 1e-12
    right = np.zeros((fit.shape[1], num_latent))
    right[:, live] = (fit.T @ vec[:, top[live]]) / sv[live]
    beta_f = np.divide(right, so[:, None], out=np.zeros_like(right), where=so[:, None] > 0)
    a_hat = ((theta * so) @ right).T
    b_f = ybar + (kappa @ yc / ksum) - beta_f @ (a_hat @ gbar)
    return a_hat, beta_f, b_f


def balance(a_hat, beta_f, b_f, space, *, b_prior_mean, sweeps=3):
    """Move along the likelihood's symmetries to the point of least prior cost.

    The likelihood depends on ``(A_hat, beta_F, b_F)`` only through
    ``beta_F A_hat`` and the intercept, so ``A_hat -> M A_hat``,
    ``beta_F -> beta_F M^-1`` (any invertible ``M``) and, when
    ``space.shift`` exists, ``A_hat -> A_hat + u shift^T``,
    ``b_F -> b_F - beta_F u`` leave it unchanged. The optimal ``M`` is the
    balanced SVD factorisation; ``u`` solves a c x c system; the two are
    alternated. Components come out ordered by decreasing singular value
    with the largest-magnitude entry of each ``beta_F`` column positive.

    Returns
    -------
    a_hat, beta_f, b_f : float64 arrays, same shapes as the inputs.
    """
    a = np.asarray(a_hat, np.float64)
    bf = np.asarray(beta_f, np.float64)
    b = np.asarray(b_f, np.float64)
    sp = np.sqrt(space.prior)
    for _ in range(sweeps if space.shift is not None else 1):
        if space.shift is not None:
            s = space.shift
            lhs = (s * s * space.prior).sum() * np.eye(a.shape[0]) + bf.T @ bf
            u = np.linalg.solve(lhs, bf.T @ (b - b_prior_mean) - (a * space.prior) @ s)
            a = a + np.outer(u, s)
            b = b - bf @ u
        a, bf = _balanced_svd(a * sp, bf)
        a = a / sp
    return a, bf, b


def _balanced_svd(a_white, beta_f):
    """Balanced factors of ``beta_f @ a_white`` via two thin QRs and a c x c SVD."""
    qb, rb = np.linalg.qr(beta_f)
    qa, ra = np.linalg.qr(a_white.T)
    u, s, vt = np.linalg.svd(rb @ ra.T, full_matrices=False)
    root = np.sqrt(s)
    bf = np.zeros_like(beta_f)
    a = np.zeros_like(a_white)
    bf[:, : s.size] = (qb @ u) * root
    a[: s.size] = (root[:, None] * vt) @ qa.T
    idx = np.argmax(np.abs(bf), axis=0)
    sign = np.where(bf[idx, np.arange(bf.shape[1])] < 0, -1.0, 1.0)
    return a * sign[:, None], bf * sign


def vertical_basis(a_hat, space):
    """Orthonormal basis (r, k) of the rows of ``A_hat`` and ``space.shift``.

    Steps of ``A_hat`` along these directions are symmetries of the
    likelihood (handled exactly by :func:`balance`), so the Newton step is
    restricted to their orthogonal complement.
    """
    cols = [np.asarray(a_hat, np.float64).T]
    if space.shift is not None:
        cols.append(space.shift[:, None])
    x = np.concatenate(cols, axis=1)
    norm = np.linalg.norm(x, axis=0)
    x = x[:, norm > 0] / norm[norm > 0]
    q, r = np.linalg.qr(x)
    d = np.abs(np.diag(r))
    return q[:, d > 1e-10 * d.max(initial=1.0)]


def theta_eigen(z_centered_gram, z_mean, kappa_sum):
    """Eigen-decomposition of ``[z, 1]^T K [z, 1]`` from centred pieces.

    Parameters
    ----------
    z_centered_gram : array, shape (c, c)
        ``(z - zbar)^T K (z - zbar)``.
    z_mean : array, shape (c,)
        ``zbar``, the kappa-weighted mean of ``z``.
    kappa_sum : float

    Returns
    -------
    eigenvalues : array, shape (c + 1,)
    eigenvectors : array, shape (c + 1, c + 1)
    """
    c = z_mean.shape[0]
    m = np.empty((c + 1, c + 1))
    m[:c, :c] = z_centered_gram + kappa_sum * np.outer(z_mean, z_mean)
    m[:c, c] = m[c, :c] = kappa_sum * z_mean
    m[c, c] = kappa_sum
    lam, vec = np.linalg.eigh(m)
    return np.maximum(lam, 0.0), vec


def spd_inverses(mats):
    """Inverses of a batch of symmetric positive (semi-)definite matrices.

    One LAPACK Cholesky factorisation and inversion (``potrf``, ``potri``) per
    matrix, in the input's precision, after a tiny relative jitter on the
    diagonal; a matrix whose factorisation still fails is inverted in float64
    through its eigen-decomposition with eigenvalues clipped at the jitter.
    (XLA's batched triangular solves, the alternative on the device, are two
    orders of magnitude slower on CPU.)

    Parameters
    ----------
    mats : array, shape (k, m, m)
        float32 or float64; only the lower triangle is read.

    Returns
    -------
    ndarray, shape (k, m, m)
        Symmetric inverses, same dtype.
    """
    mats = np.array(mats, copy=True)
    m = mats.shape[-1]
    if mats.shape[0] == 0:
        return mats
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (mats,))
    diag = np.diagonal(mats, axis1=1, axis2=2)
    jitter = 16 * np.finfo(mats.dtype).eps * m * np.maximum(diag.max(axis=1), 1e-30)
    idx = np.arange(m)
    mats[:, idx, idx] += jitter[:, None].astype(mats.dtype)
    for k in range(mats.shape[0]):
        chol, info = potrf(mats[k], lower=1, clean=0, overwrite_a=0)
        if info == 0:
            inv, info = potri(chol, lower=1, overwrite_c=1)
        if info != 0:
            lam, vec = np.linalg.eigh(np.tril(mats[k]).astype(np.float64), UPLO="L")
            inv = (vec / np.maximum(lam, jitter[k])) @ vec.T
        mats[k] = inv
    lower = np.tril(mats)
    return lower + np.swapaxes(np.tril(lower, -1), 1, 2)
