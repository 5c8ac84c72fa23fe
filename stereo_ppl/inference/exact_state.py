"""State of one exact solve: constants, the trace, preconditioners (:mod:`.exact`)."""

import time

import jax.numpy as jnp
import numpy as np

from . import exact_kernels as K
from . import exact_linalg as L

__all__ = ["SolverState", "full_params"]


class SolverState:
    """Problem constants, the trace and host <-> device helpers."""

    def __init__(self, space, data, b_mean, const, start, heldout, patience=None, *, mode):
        self.space, self.data, self.b_mean = space, data, b_mean
        self.heldout, self.patience = heldout, patience
        # the iterate with the best held-out score
        self.best_heldout, self.best_params, self.best_iteration = -np.inf, None, 0
        self.const, self.start = const, start
        self.records = []
        self.dtype = data.design.dtype
        self.num_good = float(np.count_nonzero(np.asarray(data.ivar)))
        n, r = space.design.shape
        self.mode = mode  # preconditioner: "separable", "rotated" or "exact" blocks
        self.star = None
        self.blocks = (None, None, None)
        if self.mode == "exact" and r == n and space.gram.min() >= 0.05:
            inv = np.linalg.inv(space.design)
            prior_z = np.einsum("j,ji->i", space.prior, inv**2)
            self.star = (jnp.asarray(inv, self.dtype), jnp.asarray(prior_z, self.dtype))

    def to_device(self, a, bf, b):
        return K.Params(*(jnp.asarray(x, self.dtype) for x in (a, bf, b)))

    def scale(self, f):
        """Magnitude for relative changes: ``|log joint|`` (at least the pixel count)."""
        return max(abs(self.const - f), self.num_good)

    def balanced(self, p):
        host = (np.asarray(x, np.float64) for x in p)
        return self.to_device(*L.balance(*host, self.space, b_prior_mean=self.b_mean))

    def record(self, p, cg=0):
        """Append a trace entry; return (f, grad norm)."""
        f, g = K.objective(p, self.data)
        gnorm = float(jnp.sqrt(jnp.sum((g.a * self.data.scale) ** 2) + _sq(g.bf) + _sq(g.b)))
        f = float(f)
        elapsed = time.perf_counter() - self.start
        held = np.nan
        if self.heldout is not None:
            host = (np.asarray(x, np.float64) for x in p)
            held = float(self.heldout(full_params(self.space, *host, self.dtype)))
            if self.best_params is None or held > self.best_heldout:
                self.best_heldout, self.best_params = held, p
                self.best_iteration = len(self.records)
        self.records.append((len(self.records), self.const - f, gnorm, elapsed, int(cg), held))
        return f, gnorm

    @property
    def out_of_patience(self) -> bool:
        """Whether the held-out score has not improved for ``patience`` iterations."""
        since_best = len(self.records) - 1 - self.best_iteration
        return self.patience is not None and since_best >= self.patience

    def precond(self, p, *, vertical, theta=True, star=True):
        """Preconditioner pieces (float64 eigen-decompositions on the host).

        Exact blocks (``mode == "exact"``) are recomputed only for the
        blocks asked for; the others are reused from the last call.
        """
        cb, mc, zbar = (np.asarray(x, np.float64) for x in K.gram_pieces(p, self.data))
        lam_c, vec_c = np.linalg.eigh(cb)
        lam_t, vec_t = L.theta_eigen(mc, zbar, float(np.sum(self.data.kappa)))
        c = cb.shape[0]
        vert = np.zeros((self.space.design.shape[1], c + 1))
        if vertical:
            basis = L.vertical_basis(np.asarray(p.a, np.float64), self.space)
            vert[:, : basis.shape[1]] = basis
        parts = (np.maximum(lam_c, 0.0), vec_c, lam_t, vec_t, vert)
        pc = K.Precond(*(jnp.asarray(x, self.dtype) for x in parts))
        if self.mode == "separable":
            return pc
        if self.mode == "rotated":
            den_a, den_t = K.rotated_diagonals(p, self.data, pc.vec_c, pc.vec_t)
            return pc._replace(den_a=den_a, den_t=den_t)
        star = star and self.star is not None
        if theta or star:
            prior_z = self.star[1] if self.star is not None else None
            theta_gram, z_mean, star_gram = K.block_grams(
                p, self.data, prior_z, theta=theta, star=star
            )
            old = self.blocks
            self.blocks = (
                self._inverses(theta_gram) if theta else old[0],
                z_mean if theta else old[1],
                self._inverses(star_gram) if star else old[2],
            )
        theta_inv, z_mean, star_inv = self.blocks
        design_inv = self.star[0] if star_inv is not None else None
        return pc._replace(
            theta_inv=theta_inv, z_mean=z_mean, star_inv=star_inv, design_inv=design_inv
        )

    def _inverses(self, grams):
        return jnp.asarray(L.spd_inverses(np.asarray(grams)), self.dtype)


def _sq(x):
    return jnp.sum(x**2)


def full_params(space, a, bf, b, dtype):
    """Map reduced coordinates ``(A_hat, beta_F, b_F)`` back to eq. 1–2 parameters."""
    return {
        "beta_z": ((a / space.scale) @ space.basis.T).astype(dtype),
        "beta_F": np.asarray(bf).astype(dtype),
        "b_F": np.asarray(b).astype(dtype),
    }
