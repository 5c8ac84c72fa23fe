"""Label baselines on survey-2 spectra: a quadratic Cannon and a ridge regression.

**The Cannon** (Ness et al. 2015), quadratic in the labels: every pixel ``p``
of a normalised spectrum is ``f_p = theta_p . q(l) + noise`` with variance
``1 / ivar + s_p^2``, where ``q(l) = [1, l, l_j l_k (j <= k)]`` of the
standardised labels ``l``. Training is one weighted linear least-squares fit
per pixel (all pixels at once), alternated a few times with the intrinsic
scatter ``s_p`` (its moment estimate); the test step fits each star's labels
by non-linear least squares (:func:`scipy.optimize.least_squares`), started
from the training labels whose model spectra fit it best (the fit is not
convex, and a single start falls into local minima).

**Ridge**: labels regressed linearly on the spectrum (bad pixels filled with
the training mean), the penalty chosen by generalised cross-validation.
"""

from typing import NamedTuple

import numpy as np
from scipy.optimize import least_squares

__all__ = ["CannonModel", "RidgeModel", "fit_cannon", "fit_ridge", "quadratic_design"]


def quadratic_design(labels: np.ndarray) -> np.ndarray:
    """``q(l)``: shape (n, L) -> (n, 1 + L + L (L + 1) / 2)."""
    labels = np.atleast_2d(labels)
    j, k = np.triu_indices(labels.shape[1])
    return np.hstack([np.ones((labels.shape[0], 1)), labels, labels[:, j] * labels[:, k]])


class CannonModel(NamedTuple):
    """A trained quadratic Cannon.

    Attributes
    ----------
    theta : ndarray, shape (num_pixels, num_terms)
    scatter : ndarray, shape (num_pixels,)
    pivot, scale : ndarray, shape (num_labels,)
        Standardisation of the labels.
    grid : ndarray, shape (num_grid, num_labels)
        Standardised labels tried as starting points (the training labels).
    """

    theta: np.ndarray
    scatter: np.ndarray
    pivot: np.ndarray
    scale: np.ndarray
    grid: np.ndarray

    def predict_spectra(self, labels: np.ndarray) -> np.ndarray:
        """Model spectra (n, num_pixels) of labels (n, L) in physical units."""
        return quadratic_design((labels - self.pivot) / self.scale) @ self.theta.T

    def infer_labels(self, flux: np.ndarray, ivar: np.ndarray, *, num_starts: int = 3):
        """Labels (n, L) of spectra (n, num_pixels) by per-star non-linear least squares.

        Each star starts from the ``num_starts`` grid labels whose model
        spectra have the lowest chi-square and from the best linear solution
        (the linear terms of ``q`` alone); the lowest chi-square wins.
        """
        num_labels = self.pivot.size
        j, k = np.triu_indices(num_labels)
        flux, ivar = np.asarray(flux, np.float64), np.asarray(ivar, np.float64)
        grid_spectra = quadratic_design(self.grid) @ self.theta.T  # (G, P)
        weight_all = ivar / (1.0 + ivar * self.scatter**2)
        data_all = np.where(ivar > 0, flux, 0.0)
        chi2 = (
            (weight_all * data_all**2).sum(1)[:, None]
            - 2 * (weight_all * data_all) @ grid_spectra.T
            + weight_all @ (grid_spectra**2).T
        )  # (n, G)
        nearest = np.argsort(chi2, axis=1)[:, :num_starts]
        out = np.full((flux.shape[0], num_labels), np.nan)
        for i in range(flux.shape[0]):
            good = ivar[i] > 0
            weight = np.sqrt(ivar[i, good] / (1.0 + ivar[i, good] * self.scatter[good] ** 2))
            theta, data = self.theta[good], flux[i, good]

            def resid(x, theta=theta, data=data, weight=weight):
                return weight * (theta @ quadratic_design(x[None])[0] - data)

            def jac(x, theta=theta, weight=weight):
                d = np.zeros((theta.shape[1], num_labels))
                d[1 : 1 + num_labels] = np.eye(num_labels)
                for q, (a, b) in enumerate(zip(j, k, strict=True)):
                    d[1 + num_labels + q, a] += x[b]
                    d[1 + num_labels + q, b] += x[a]
                return weight[:, None] * (theta @ d)

            linear = theta[:, 1 : 1 + num_labels] * weight[:, None]
            start = np.linalg.lstsq(linear, weight * (data - theta[:, 0]), rcond=None)[0]
            best = None
            for x0 in (np.clip(start, -3, 3), *self.grid[nearest[i]]):
                fit = least_squares(resid, x0, jac=jac, method="lm")
                if best is None or fit.cost < best.cost:
                    best = fit
            out[i] = self.pivot + self.scale * best.x
        return out


def fit_cannon(
    labels: np.ndarray, flux: np.ndarray, ivar: np.ndarray, *, num_iterations: int = 3
) -> CannonModel:
    """Train a quadratic Cannon.

    Parameters
    ----------
    labels : ndarray, shape (n, L)
        Training labels (physical units, all finite).
    flux, ivar : ndarray, shape (n, P)
        Training spectra; ``ivar == 0`` marks bad pixels.
    num_iterations : int
        Alternations of the coefficients and the per-pixel scatter.

    Returns
    -------
    CannonModel
    """
    labels, flux, ivar = (np.asarray(a, np.float64) for a in (labels, flux, ivar))
    pivot = labels.mean(0)
    scale = labels.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    design = quadratic_design((labels - pivot) / scale)  # (n, T)
    flux = np.where(ivar > 0, flux, 0.0)
    scatter = np.zeros(flux.shape[1])
    for _ in range(num_iterations):
        weight = ivar / (1.0 + ivar * scatter**2)  # (n, P)
        normal = np.einsum("np,nj,nk->pjk", weight, design, design)
        normal += 1e-8 * np.eye(design.shape[1])
        rhs = (weight * flux).T @ design  # (P, T)
        theta = np.linalg.solve(normal, rhs[..., None])[..., 0]
        resid = flux - design @ theta.T
        good = ivar > 0
        excess = np.where(good, resid**2 - 1.0 / np.where(good, ivar, 1.0), 0.0)
        scatter = np.sqrt(np.maximum(excess.sum(0) / np.maximum(good.sum(0), 1), 0.0))
    return CannonModel(theta, scatter, pivot, scale, (labels - pivot) / scale)


class RidgeModel(NamedTuple):
    """A ridge regression of labels on spectra.

    Attributes
    ----------
    coef : ndarray, shape (P, L)
    intercept : ndarray, shape (L,)
    fill : ndarray, shape (P,)
        Value used for bad pixels.
    alpha : float
        The penalty chosen.
    """

    coef: np.ndarray
    intercept: np.ndarray
    fill: np.ndarray
    alpha: float

    def predict(self, flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
        """Labels (n, L) of spectra (n, P)."""
        x = np.where(np.asarray(ivar) > 0, np.asarray(flux, np.float64), self.fill)
        return x @ self.coef + self.intercept


def fit_ridge(labels: np.ndarray, flux: np.ndarray, ivar: np.ndarray, *, alphas=None) -> RidgeModel:
    """Ridge regression of labels on spectra, penalty by generalised cross-validation.

    One penalty for all labels, minimising the GCV score of the labels
    divided by their standard deviations.

    Parameters
    ----------
    labels : ndarray, shape (n, L)
    flux, ivar : ndarray, shape (n, P)
    alphas : sequence of float, optional
        Penalties tried, relative to the mean squared singular value of the
        centred spectra (default ``10 ** arange(-6, 1)``).

    Returns
    -------
    RidgeModel
    """
    labels, flux, ivar = (np.asarray(a, np.float64) for a in (labels, flux, ivar))
    good = ivar > 0
    fill = np.where(good, flux, 0.0).sum(0) / np.maximum(good.sum(0), 1)
    x = np.where(good, flux, fill)
    x_mean, y_mean = x.mean(0), labels.mean(0)
    y_scale = labels.std(0)
    y_scale = np.where(y_scale > 0, y_scale, 1.0)
    u, s, vt = np.linalg.svd(x - x_mean, full_matrices=False)
    uty = u.T @ (labels - y_mean)
    alphas = 10.0 ** np.arange(-6, 1) if alphas is None else np.asarray(alphas)
    best = None
    n = labels.shape[0]
    for alpha in alphas * np.mean(s**2):
        shrink = s**2 / (s**2 + alpha)
        fitted = u @ (uty * shrink[:, None])
        resid = (labels - y_mean - fitted) / y_scale
        gcv = np.sum(resid**2) / (1 - shrink.sum() / n) ** 2
        if best is None or gcv < best[0]:
            best = (gcv, alpha)
    alpha = best[1]
    coef = vt.T @ (uty * (s / (s**2 + alpha))[:, None])
    return RidgeModel(coef, y_mean - x_mean @ coef, fill, float(alpha))
