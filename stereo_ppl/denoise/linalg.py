"""Batched weighted least squares for ``z`` given a fit's decoder (pure JAX).

For one LAMOST spectrum ``F2`` (``m`` pixels) with inverse variance ``w`` and
the fit's decoder ``B = beta_F`` (m, c), ``b = b_F`` (m,), the weighted
least-squares (or Gaussian-prior MAP) estimate of ``z`` solves the normal
equation

    (B^T W B + P) z = B^T W (F2 - b) + P mu,      W = diag(w),

with ``P = 0`` (no prior) or the precision ``P`` and mean ``mu`` of a
Gaussian prior on ``z``. Its covariance is ``(B^T W B + P)^{-1}``.

Forming ``B^T W B`` for a batch of ``n`` spectra is one GEMM of the weights
(n, m) with the packed products ``K[p, q] = B[p, i_q] B[p, j_q]`` over the
``c (c + 1) / 2`` pairs ``i_q <= j_q`` (:func:`pair_products`), i.e.
``n m c (c + 1)`` FLOP instead of the ``2 n m c^2`` of a plain product. The
per-pixel variance of ``B z`` is the same GEMM the other way round. For large
``c`` (when ``K`` would exceed :data:`PACKED_MAX_ELEMENTS`) both are batched
matrix products instead.

The robust re-estimation removes a few flagged pixels from ``B^T W B``: for
``c >= SPARSE_MIN_LATENT`` :func:`removed_normal_matrices` gathers their rows
instead of a dense product (``n K c^2`` FLOP for ``K`` pixels instead of
``n m c^2``).
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "PACKED_MAX_ELEMENTS",
    "SPARSE_MIN_LATENT",
    "SPARSE_PIXELS",
    "STATUS_CODES",
    "Decoder",
    "make_decoder",
    "normal_matrices",
    "pair_products",
    "pixel_variance",
    "removed_normal_matrices",
    "solve_normal",
]

#: Largest ``K`` (pixels × pairs) for the packed GEMM: ``c <= 206`` at 3,909
#: pixels (330 MB in float32). At c = 200 and 64 spectra on 2 CPU cores the
#: packed products are 2.8x (``B^T W B``) and 3.3x (pixel variance) faster
#: than the batched ones.
PACKED_MAX_ELEMENTS = 80 * 2**20

#: Smallest ``c`` for which :func:`removed_normal_matrices` gathers the removed
#: pixels' rows: measured on 2 CPU cores at 3,909 pixels and 64 spectra, the
#: gather (a top-k search, then ``K`` rows) is 1.5x faster than the dense product
#: at c = 24, 3x at c = 50, 40x at c = 200 and 1.7x slower at c = 10.
SPARSE_MIN_LATENT = 16

#: Removed pixels per spectrum up to which the rows are gathered; a block with
#: a spectrum with more uses the dense product.
SPARSE_PIXELS = 64

#: Per-spectrum status codes (int8 in files).
STATUS_CODES = {
    0: "ok",
    1: "too_few_pixels",
    2: "ill_conditioned",
    3: "unreadable",
}


class Decoder(NamedTuple):
    """A fit's survey-2 decoder and the prior on ``z``, ready for batched solves.

    Attributes
    ----------
    beta_F : array, shape (m, c)
    b_F : array, shape (m,)
    pairs : array, shape (m, c (c + 1) / 2) or (m, 0)
        ``beta_F[:, i] * beta_F[:, j]`` for the pairs ``i <= j`` (empty when
        the batched products are used instead).
    prior_precision : array, shape (c, c)
        Zero for no prior.
    prior_shift : array, shape (c,)
        ``prior_precision @ prior_mean``.
    """

    beta_F: jax.Array
    b_F: jax.Array
    pairs: jax.Array
    prior_precision: jax.Array
    prior_shift: jax.Array

    @property
    def num_latent(self) -> int:
        """``c``."""
        return int(self.beta_F.shape[1])

    @property
    def packed(self) -> bool:
        """Whether the packed pair products are used."""
        return self.pairs.shape[1] > 0


def _pair_index(c: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(c)


def pair_products(beta_F) -> np.ndarray:
    """``beta_F[:, i] * beta_F[:, j]`` for the pairs ``i <= j`` (float64).

    Parameters
    ----------
    beta_F : array, shape (m, c)

    Returns
    -------
    ndarray, shape (m, c (c + 1) / 2)
    """
    beta = np.asarray(beta_F, dtype=np.float64)
    i, j = _pair_index(beta.shape[1])
    return beta[:, i] * beta[:, j]


def make_decoder(
    beta_F,
    b_F,
    *,
    prior_mean=None,
    prior_covariance=None,
    dtype=None,
    packed: bool | None = None,
) -> Decoder:
    """Precompute what the batched solves need from a fit's parameters.

    Parameters
    ----------
    beta_F : array, shape (m, c)
    b_F : array, shape (m,)
    prior_mean : array, shape (c,), optional
    prior_covariance : array, shape (c, c), optional
        Gaussian prior on ``z``; both or neither. None: plain weighted least
        squares.
    dtype : dtype, optional
        Working dtype (default: JAX's default float).
    packed : bool, optional
        Force the packed GEMM (True) or batched products (False); default by
        size (:data:`PACKED_MAX_ELEMENTS`).

    Returns
    -------
    Decoder
    """
    dtype = jnp.zeros(()).dtype if dtype is None else dtype
    beta = np.asarray(beta_F, dtype=np.float64)
    m, c = beta.shape
    if packed is None:
        packed = m * c * (c + 1) // 2 <= PACKED_MAX_ELEMENTS
    pairs = pair_products(beta) if packed else np.zeros((m, 0))
    if (prior_mean is None) != (prior_covariance is None):
        raise ValueError("give both prior_mean and prior_covariance, or neither")
    if prior_mean is None:
        precision, shift = np.zeros((c, c)), np.zeros(c)
    else:
        cov = np.asarray(prior_covariance, dtype=np.float64)
        precision = np.linalg.inv(0.5 * (cov + cov.T))
        precision = 0.5 * (precision + precision.T)
        shift = precision @ np.asarray(prior_mean, dtype=np.float64)
    return Decoder(
        *(
            jnp.asarray(a, dtype=dtype)
            for a in (beta, np.asarray(b_F, np.float64), pairs, precision, shift)
        )
    )


def _unpack(packed: jax.Array, c: int) -> jax.Array:
    """(n, c (c + 1) / 2) upper triangles → (n, c, c) symmetric matrices (a gather)."""
    i, j = _pair_index(c)
    where = np.zeros((c, c), dtype=np.int32)
    where[i, j] = np.arange(i.size)
    where[j, i] = np.arange(i.size)
    return packed[..., where]


def normal_matrices(decoder: Decoder, weight: jax.Array) -> jax.Array:
    """``B^T diag(w) B`` for each spectrum.

    Parameters
    ----------
    decoder : Decoder
    weight : array, shape (n, m)
        Per-pixel weights (inverse variance, 0 at ignored pixels).

    Returns
    -------
    array, shape (n, c, c)
    """
    c = decoder.num_latent
    if decoder.packed:
        return _unpack(weight @ decoder.pairs, c)
    beta = decoder.beta_F
    return jnp.einsum("np,pj,pk->njk", weight, beta, beta)


def removed_normal_matrices(decoder: Decoder, weight: jax.Array) -> jax.Array:
    """``B^T diag(w) B`` for weights that are zero at all but a few pixels.

    For ``c >= SPARSE_MIN_LATENT`` and at most :data:`SPARSE_PIXELS` nonzero
    weights in every spectrum, the rows of ``B`` at the nonzero weights are
    gathered (found by a top-k search); otherwise it is
    :func:`normal_matrices`. The result is the same either way.

    Parameters
    ----------
    decoder : Decoder
    weight : array, shape (n, m)
        Nonnegative weights of the removed pixels, 0 elsewhere.

    Returns
    -------
    array, shape (n, c, c)
    """
    # materialised: XLA then runs the dense product as a GEMM instead of fusing
    # the producer of the weights into a slow loop
    weight = jax.lax.optimization_barrier(weight)
    if decoder.num_latent < SPARSE_MIN_LATENT:
        return normal_matrices(decoder, weight)

    def gathered(weight):
        value, index = jax.lax.top_k(weight, SPARSE_PIXELS)
        rows = decoder.beta_F[index] * jnp.sqrt(value)[..., None]
        return jnp.einsum("nki,nkj->nij", rows, rows)

    few = jnp.max(jnp.sum(weight > 0, axis=-1)) <= SPARSE_PIXELS
    return jax.lax.cond(few, gathered, partial(normal_matrices, decoder), weight)


def pixel_variance(decoder: Decoder, cov: jax.Array) -> jax.Array:
    """Variance of ``B z`` at each pixel, ``diag(B Σ B^T)``.

    Parameters
    ----------
    decoder : Decoder
    cov : array, shape (n, c, c)
        Covariance ``Σ`` of ``z`` per spectrum.

    Returns
    -------
    array, shape (n, m)
    """
    c = decoder.num_latent
    if decoder.packed:
        i, j = _pair_index(c)
        scale = jnp.where(i == j, 1.0, 2.0).astype(cov.dtype)
        return (cov[..., i, j] * scale) @ decoder.pairs.T
    beta = decoder.beta_F
    return jnp.einsum("pj,njk,pk->np", beta, cov, beta)


def solve_normal(
    normal: jax.Array, rhs: jax.Array, *, rcond: float | None = None, covariance: bool = True
) -> tuple[jax.Array, jax.Array | None, jax.Array]:
    """Solve symmetric positive-definite systems by Cholesky, with a status.

    Each system is first scaled to unit diagonal (Jacobi) and a jitter of
    ``rcond`` is added to that diagonal. A system whose scaled factor is not
    finite or has a squared pivot below ``4 rcond`` (scaled condition number
    beyond about ``1 / (3 rcond)``) is reported ill-conditioned; its solution and
    covariance are set to 0, never NaN.

    Parameters
    ----------
    normal : array, shape (n, k, k)
    rhs : array, shape (n, k)
    rcond : float, optional
        Default ``10 * eps`` of the dtype.
    covariance : bool
        Also return the inverse of ``normal`` (``k`` times the work of the
        solution alone: two triangular solves of a vector).

    Returns
    -------
    solution : array, shape (n, k)
    covariance : array, shape (n, k, k) or None
        The inverse of ``normal``; None unless ``covariance``.
    ok : array of bool, shape (n,)
    """
    k = normal.shape[-1]
    dtype = normal.dtype
    rcond = 10 * float(jnp.finfo(dtype).eps) if rcond is None else rcond
    diag = jnp.diagonal(normal, axis1=-2, axis2=-1)
    positive = diag > 0
    inv_d = jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, diag, 1.0)), 0.0)
    scaled = normal * inv_d[:, :, None] * inv_d[:, None, :]
    eye = jnp.eye(k, dtype=dtype)
    chol = jnp.linalg.cholesky(scaled + rcond * eye)
    pivots = jnp.diagonal(chol, axis1=-2, axis2=-1)
    ok = jnp.all(jnp.isfinite(chol), axis=(-2, -1)) & jnp.all(positive, axis=-1)
    ok &= jnp.min(jnp.where(ok[:, None], pivots, 0.0), axis=-1) ** 2 > 4.0 * rcond
    safe = jnp.where(ok[:, None, None], chol, eye)
    # normal = D^(1/2) L L^T D^(1/2): z = D^(-1/2) L^-T L^-1 D^(-1/2) rhs
    half = jax.lax.linalg.triangular_solve(
        safe, (rhs * inv_d)[..., None], left_side=True, lower=True
    )
    solution = jax.lax.linalg.triangular_solve(
        safe, half, left_side=True, lower=True, transpose_a=True
    )[..., 0]
    solution = jnp.where(ok[:, None], solution * inv_d, 0.0)
    if not covariance:
        return solution, None, ok
    inv_l = jax.lax.linalg.triangular_solve(
        safe, jnp.broadcast_to(eye, safe.shape), left_side=True, lower=True
    )
    inv_l = inv_l * inv_d[:, None, :]
    cov = jnp.swapaxes(inv_l, -1, -2) @ inv_l
    return solution, jnp.where(ok[:, None, None], cov, 0.0), ok
