"""Starting points for optimisation: unweighted reduced-rank regression."""

import jax
import jax.numpy as jnp

from .arrays import ModelData

__all__ = ["rrr_init"]


def rrr_init(data: ModelData, *, num_latent: int, ridge: float = 0.1) -> dict:
    """Parameters of an unweighted reduced-rank regression of F2 on F1.

    Bad survey-2 pixels are filled with the ivar-weighted mean flux, both
    spectra are centred, a ridge regression ``F2 ~ F1`` is fitted through the
    thin SVD of centred F1, and its fitted values are projected onto their top
    ``num_latent`` right singular vectors. Each latent component is then
    rescaled so that ``beta_z`` and ``beta_F`` have equal norms (the balance the
    Normal(0, 1) priors prefer); ``b_F`` absorbs the centring.

    Parameters
    ----------
    data : ModelData
        Training stars; F1 (n, P1), ivar and F2 (n, P2).
    num_latent : int
        ``c``.
    ridge : float
        Ridge penalty relative to the mean squared singular value of centred F1.

    Returns
    -------
    dict
        ``beta_z`` (c, P1), ``beta_F`` (P2, c), ``b_F`` (P2,) in the data's dtype.
    """
    f1, ivar, f2 = data
    weight = ivar.sum(0)
    mean2 = (ivar * f2).sum(0) / jnp.where(weight > 0, weight, 1.0)
    y = jnp.where(ivar > 0, f2, mean2) - mean2
    mean1 = f1.mean(0)
    u, s, vt = jnp.linalg.svd(f1 - mean1, full_matrices=False)
    penalty = ridge * jnp.mean(s**2)
    uty = u.T @ y
    fitted = u @ (uty * (s**2 / (s**2 + penalty))[:, None])
    right = jnp.linalg.svd(fitted, full_matrices=False)[2][:num_latent].T  # (P2, c)
    # z = (F1 - mean1) @ coef @ right with coef = V diag(s / (s^2 + penalty)) U^T y
    beta_z = ((vt.T * (s / (s**2 + penalty))) @ (uty @ right)).T  # (c, P1)
    beta_F = right
    scale = jnp.sqrt(jnp.linalg.norm(beta_F, axis=0) / jnp.linalg.norm(beta_z, axis=1))
    beta_z = beta_z * scale[:, None]
    beta_F = beta_F / scale
    b_F = mean2 - beta_F @ (beta_z @ mean1)
    return jax.tree.map(
        lambda a: a.astype(f1.dtype), {"beta_z": beta_z, "beta_F": beta_F, "b_F": b_F}
    )
