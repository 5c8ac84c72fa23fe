"""Small fits and spectra with a known decoder, for the denoise tests."""

import numpy as np

from stereo_ppl.data import lamost_grid, make_paired
from stereo_ppl.inference import fit_datatree

__all__ = ["decoder_arrays", "fake_fit", "spectra"]


def decoder_arrays(seed=0, *, wavelength=None, num_latent=3):
    """A smooth decoder: ``b_F`` an absorption spectrum, ``beta_F`` line-depth changes.

    Returns
    -------
    beta_F : ndarray, shape (m, c)
    b_F : ndarray, shape (m,)
    """
    rng = np.random.default_rng(seed)
    wl = lamost_grid() if wavelength is None else np.asarray(wavelength)
    centres = rng.uniform(wl[0], wl[-1], 60)
    widths = rng.uniform(1.5, 4.0, 60) * wl[0] * 2.3e-4
    profiles = np.exp(-0.5 * ((wl[:, None] - centres[None, :]) / widths[None, :]) ** 2)
    b_F = 1.0 - profiles @ rng.uniform(0.05, 0.4, 60)
    beta_F = 0.02 * profiles @ rng.normal(size=(60, num_latent))
    beta_F += 0.003 * np.sin(np.outer(np.linspace(0, 6, wl.size), np.arange(1, num_latent + 1)))
    return beta_F, b_F


def spectra(seed, beta_F, b_F, *, num=20, snr=100.0):
    """Noisy spectra from the decoder: ``flux``, ``ivar``, ``z`` and ``truth``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(num, beta_F.shape[1]))
    truth = z @ beta_F.T + b_F
    sigma = truth / snr
    flux = truth + sigma * rng.normal(size=truth.shape)
    return {"flux": flux, "ivar": 1.0 / sigma**2, "z": z, "truth": truth}


def fake_fit(seed=0, *, num_stars=40, num_latent=3, wavelength=None, snr=100.0):
    """A fit ``DataTree`` with a known decoder (no optimisation), and its spectra."""
    wl = lamost_grid() if wavelength is None else np.asarray(wavelength)
    beta_F, b_F = decoder_arrays(seed, wavelength=wl, num_latent=num_latent)
    data = spectra(seed + 1, beta_F, b_F, num=num_stars, snr=snr)
    rng = np.random.default_rng(seed + 2)
    num_apogee = 12
    apogee = 1.0 + 0.1 * rng.normal(size=(num_stars, num_apogee))
    paired = make_paired(
        apogee_flux=apogee,
        lamost_flux=data["flux"],
        lamost_ivar=data["ivar"],
        apogee_wavelength=np.geomspace(15100.0, 17000.0, num_apogee),
        lamost_wavelength=wl,
        apogee_id=[f"2M{i:08d}+0000000" for i in range(num_stars)],
        obsid=500_000_000 + np.arange(num_stars),
    )
    params = {
        "beta_z": rng.normal(size=(num_latent, num_apogee)),
        "beta_F": beta_F,
        "b_F": b_F,
    }
    tree = fit_datatree(
        paired,
        params,
        heldout=np.arange(num_stars // 5),
        method="test",
        seed=seed,
        config={"num_latent": num_latent},
    )
    return tree, data
