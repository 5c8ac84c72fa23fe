"""Fixtures of the compare tests: sweep tables made without fitting."""

import numpy as np
import pytest
import xarray as xr

C_VALUES = [1, 2, 4, 8]


def _synthetic_table(seed=0, *, num_stars=150, gains=(0.0, 30.0, 40.0, 40.05), noise=1.0):
    """A sweep table whose per-star held-out lpd of c is ``base + gain_c + noise``."""
    rng = np.random.default_rng(seed)
    base = 5000.0 + 300.0 * rng.normal(size=num_stars)  # star-to-star spread shared by all c
    lpd = np.empty((len(C_VALUES), 2, num_stars))
    for i, gain in enumerate(gains):
        for r in range(2):
            lpd[i, r] = base + gain - 5.0 * r + noise * rng.normal(size=num_stars)
    heldout = np.zeros(num_stars, dtype=bool)
    heldout[::3] = True
    train = np.array([[10.0 * i, 10.0 * i - 1.0] for i in range(len(C_VALUES))])
    return xr.Dataset(
        {
            "lpd": (("num_latent", "repeat", "star"), lpd),
            "heldout": ("star", heldout),
            "train_log_joint": (("num_latent", "repeat"), train),
            "heldout_log_joint": (("num_latent", "repeat"), train),
        },
        coords={"num_latent": C_VALUES, "repeat": [0, 1], "star": np.arange(num_stars)},
    )


@pytest.fixture
def synthetic_table():
    """Factory of synthetic sweep tables (c = 1, 2, 4, 8; two repeats)."""
    return _synthetic_table
