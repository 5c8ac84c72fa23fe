"""The denoiser's numbers against a saved reference (a fixed decoder, spectra and artefacts).

``data/denoise_reference.npz`` holds, for 64 spectra with the built-in
artefacts at S/N 100 and 400 and a model error, a compact summary of every
output of :func:`~stereo_ppl.denoise.denoise_batch` with explicit thresholds
(the ones chosen before thresholds followed from a false-alarm rate, no run
detector, no per-spectrum misfit scale), as the code before the stages of
:mod:`~stereo_ppl.denoise.stages` computed it.
Regenerate it (``python tests/denoise/test_reference.py``) only for an
intended change of the numbers.
"""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from denoise_fakes import decoder_arrays

from stereo_ppl.data import lamost_grid
from stereo_ppl.datasets.artefacts import inject_artefacts
from stereo_ppl.denoise import ArtefactThresholds, denoise_batch, make_decoder
from stereo_ppl.denoise.core import DenoiseSetup

REFERENCE = Path(__file__).parent / "data" / "denoise_reference.npz"
WL = lamost_grid()


def _case():
    beta_F, b_F = decoder_arrays(7, wavelength=WL, num_latent=4)
    decoder = make_decoder(beta_F, b_F, dtype=jnp.float32)
    rng = np.random.default_rng(11)
    num = 64
    z = rng.normal(size=(num, 4))
    truth = z @ beta_F.T + b_F
    snr = np.where(np.arange(num) < num // 2, 100.0, 400.0)[:, None]
    sigma = np.abs(truth) / snr + 1e-4
    # a decoder error that grows in the lines, as the real fits have
    error = 0.002 + 0.01 * (1.0 - b_F)
    flux = truth + np.sqrt(sigma**2 + error**2) * rng.normal(size=truth.shape)
    flux = inject_artefacts(rng, flux, sigma, np.ones(flux.shape, bool), WL).flux
    lo, hi = np.searchsorted(WL, (5600.0, 6100.0))
    setup = DenoiseSetup(
        decoder,
        jnp.asarray(error, jnp.float32),
        jnp.zeros(WL.size, bool).at[np.array([800, 2000])].set(True),
        jnp.zeros(WL.size, bool).at[1500:1505].set(True),
        (int(lo), int(hi)),
    )
    return setup, flux.astype(np.float32), (1.0 / sigma**2).astype(np.float32)


def _summary(result) -> dict[str, np.ndarray]:
    """Every output, the per-pixel ones as per-spectrum moments and the flagged pixels."""
    out = {}
    for name in ("latent", "chi2_reduced", "status", "step_pixel", "step_scale"):
        out[name] = np.asarray(getattr(result, name))
    out["latent_cov"] = np.diagonal(np.asarray(result.latent_cov), axis1=1, axis2=2)
    index = np.arange(WL.size) / WL.size
    for name in ("flux", "sigma", "residual"):
        x = np.asarray(getattr(result, name), dtype=np.float64)
        out[name] = np.stack([x.sum(-1), (x * index).sum(-1), (x * x).sum(-1)], -1)
    star, pixel = np.nonzero(np.asarray(result.artefact))
    out["artefact"] = np.stack([star, pixel, np.asarray(result.artefact)[star, pixel]], -1)
    return out


def _run():
    setup, flux, ivar = _case()
    # the thresholds the reference was made with, spelled out
    thresholds = ArtefactThresholds(
        clip=5.0, outlier=6.0, grow=3.0, max_width=3, step=6.0, step_refine=12,
        step_window=40, step_accept=25.0, step_min=0.01, step_glitch=8.0, num_iter=1,
        run=float("inf"), run_width=0,
    )  # fmt: skip
    result = denoise_batch(setup, flux, ivar, thresholds=thresholds, misfit=False, workers=1)
    return _summary(result)


@pytest.mark.skipif(not REFERENCE.exists(), reason="no saved reference")
def test_outputs_equal_the_saved_reference():
    saved = dict(np.load(REFERENCE))
    got = _run()
    # the residual is now the calibrated one (a, s_p and the prediction's variance)
    saved.pop("residual")
    got.pop("residual")
    assert set(saved) == set(got)
    for name in ("status", "step_pixel", "artefact"):
        np.testing.assert_array_equal(got[name], saved[name], err_msg=name)
    for name in ("latent", "latent_cov", "chi2_reduced", "step_scale", "flux", "sigma"):
        np.testing.assert_allclose(got[name], saved[name], rtol=2e-4, atol=1e-5, err_msg=name)


if __name__ == "__main__":
    import jax

    jax.config.update("jax_enable_x64", False)
    np.savez_compressed(REFERENCE, **_run())
    print(f"wrote {REFERENCE}")
