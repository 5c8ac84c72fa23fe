"""Data simulated from eq. 1–2 with known parameters, and fits of it.

The "well-fitted" fit has draws from the exact Gaussian conditional posterior
of ``(beta_F, b_F)`` per LAMOST pixel given the true ``beta_z`` and the
training stars, so its posterior predictive is calibrated by construction.
"""

import numpy as np

from stereo_ppl.data import make_paired
from stereo_ppl.inference import fit_datatree

__all__ = ["conditional_posterior", "make_fit", "simulate_eq2"]


def simulate_eq2(
    seed, *, num_stars=240, num_heldout=60, num_apogee=20, num_lamost=160, num_latent=3
):
    """A paired dataset drawn from eq. 1–2, and its true parameters.

    Per-pixel noise varies from 0.005 to 0.05 (S/N about 20 to 200); about 3 %
    of LAMOST pixels are bad (``ivar = 0``, junk flux).

    Returns
    -------
    paired : xarray.Dataset
    truth : dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,).
    heldout : ndarray of int, shape (num_heldout,)
    """
    rng = np.random.default_rng(seed)
    apogee_flux = 1.0 + 0.1 * rng.normal(size=(num_stars, num_apogee))
    beta_z = rng.normal(size=(num_latent, num_apogee))
    beta_F = 0.05 * rng.normal(size=(num_lamost, num_latent))
    b_F = 1.0 + 0.05 * rng.normal(size=num_lamost)
    mu = (apogee_flux @ beta_z.T) @ beta_F.T + b_F
    sigma = np.exp(rng.uniform(np.log(0.005), np.log(0.05), size=mu.shape))
    flux = mu + sigma * rng.normal(size=mu.shape)
    ivar = sigma**-2
    bad = rng.uniform(size=mu.shape) < 0.03
    ivar[bad] = 0.0
    flux[bad] = rng.choice([np.nan, 0.0, 7.0], size=int(bad.sum()))
    paired = make_paired(
        apogee_flux=apogee_flux,
        lamost_flux=flux,
        lamost_ivar=ivar,
        apogee_wavelength=np.geomspace(15100.0, 17000.0, num_apogee),
        lamost_wavelength=np.geomspace(3700.0, 9100.0, num_lamost),
        apogee_id=[f"2M{i:08d}+0000000" for i in range(num_stars)],
        obsid=200_000_000 + np.arange(num_stars),
    )
    truth = {"beta_z": beta_z, "beta_F": beta_F, "b_F": b_F}
    return paired, truth, np.arange(num_stars - num_heldout, num_stars)


def conditional_posterior(seed, paired, truth, heldout, *, num_draws, b_F_prior_mean=1.0):
    """Draws of ``(beta_F, b_F)`` from their posterior given the true ``beta_z``.

    Per pixel ``p``: ``y = X w + noise`` with ``X = [z, 1]`` over the training
    stars, prior ``w ~ N((0, ..., 0, b_F_prior_mean), I)``; the posterior is
    ``N(A^-1 (X^T W y + m), A^-1)`` with ``A = X^T W X + I``.

    Returns
    -------
    dict
        ``beta_z`` (1, D, c, P1) (the truth in every draw), ``beta_F`` (1, D,
        P2, c), ``b_F`` (1, D, P2).
    """
    rng = np.random.default_rng(seed)
    train = np.setdiff1d(np.arange(paired.sizes["star"]), heldout)
    f1 = paired["apogee_flux"].values[train]
    y = np.nan_to_num(paired["lamost_flux"].values[train])
    w = paired["lamost_ivar"].values[train]
    x = np.column_stack([f1 @ truth["beta_z"].T, np.ones(len(train))])
    num_latent = x.shape[1] - 1
    prior_mean = np.r_[np.zeros(num_latent), b_F_prior_mean]
    draws = np.empty((num_draws, y.shape[1], num_latent + 1))
    for p in range(y.shape[1]):
        precision = x.T @ (w[:, p, None] * x) + np.eye(num_latent + 1)
        chol = np.linalg.cholesky(np.linalg.inv(precision))
        mean = np.linalg.solve(precision, x.T @ (w[:, p] * y[:, p]) + prior_mean)
        draws[:, p] = mean + rng.normal(size=(num_draws, num_latent + 1)) @ chol.T
    beta_z = np.broadcast_to(truth["beta_z"], (1, num_draws, *truth["beta_z"].shape))
    return {"beta_z": beta_z, "beta_F": draws[None, :, :, :-1], "b_F": draws[None, :, :, -1]}


def make_fit(paired, params, heldout, *, method):
    """A fit DataTree around ``params`` (chain, draw, ...) or one point."""
    return fit_datatree(
        paired,
        params,
        heldout=heldout,
        method=method,
        seed=0,
        config={"source": "tests/ppc/conftest.py"},
        attrs={"b_F_prior_mean": 1.0},
    )
