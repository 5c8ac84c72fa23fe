"""Small paired datasets for tests, made with NumPy from a seed."""

import numpy as np

from stereo_ppl.data import make_paired

__all__ = ["low_rank_arrays", "small_paired"]


def low_rank_arrays(seed, *, num_stars=60, num_apogee=40, num_lamost=30, rank=3, noise=0.01):
    """Arrays drawn from eq. 1–2 with a known rank-``rank`` truth.

    Returns
    -------
    dict
        ``apogee_flux`` (n, P1), ``lamost_flux`` (n, P2) with Gaussian noise of
        sd ``noise``, ``lamost_ivar`` (n, P2), ``lamost_flux_true`` (n, P2).
    """
    rng = np.random.default_rng(seed)
    apogee_flux = 1.0 + 0.1 * rng.normal(size=(num_stars, num_apogee))
    beta_z = rng.normal(size=(rank, num_apogee)) / np.sqrt(num_apogee)
    z = apogee_flux @ beta_z.T
    z = (z - z.mean(0)) / z.std(0)
    beta_F = 0.05 * rng.normal(size=(num_lamost, rank))
    truth = z @ beta_F.T + 1.0 + 0.02 * rng.normal(size=num_lamost)
    return {
        "apogee_flux": apogee_flux,
        "lamost_flux": truth + noise * rng.normal(size=truth.shape),
        "lamost_ivar": np.full(truth.shape, noise**-2),
        "lamost_flux_true": truth,
    }


def small_paired(seed=0, **kwargs):
    """A validated paired dataset from :func:`low_rank_arrays`."""
    arrays = low_rank_arrays(seed, **kwargs)
    num_stars, num_apogee = arrays["apogee_flux"].shape
    num_lamost = arrays["lamost_flux"].shape[1]
    return make_paired(
        apogee_flux=arrays["apogee_flux"],
        lamost_flux=arrays["lamost_flux"],
        lamost_ivar=arrays["lamost_ivar"],
        apogee_wavelength=np.geomspace(15100.0, 17000.0, num_apogee),
        lamost_wavelength=np.geomspace(3700.0, 9100.0, num_lamost),
        apogee_id=[f"2M{i:08d}+0000000" for i in range(num_stars)],
        obsid=100_000_000 + np.arange(num_stars),
    )
