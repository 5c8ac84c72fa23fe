"""A setup as plain arrays (what each worker of a cluster builds its setup from) and back."""

import jax.numpy as jnp
import numpy as np
from denoise_fakes import decoder_arrays, spectra

from stereo_ppl.data import lamost_grid
from stereo_ppl.denoise import DenoiseSetup, denoise, make_decoder
from stereo_ppl.denoise.arrays import setup_arrays, setup_from_arrays

WL = lamost_grid()


def _setup():
    beta_F, b_F = decoder_arrays(0, wavelength=WL, num_latent=3)
    m = WL.size
    lo, hi = np.searchsorted(WL, (5600.0, 6100.0))
    rng = np.random.default_rng(0)
    setup = DenoiseSetup(
        make_decoder(beta_F, b_F),
        jnp.asarray(rng.uniform(0.001, 0.01, m), jnp.float32),
        jnp.zeros(m, bool),
        jnp.zeros(m, bool),
        (int(lo), int(hi)),
        error_scale=1.2,
        step_scatter=jnp.asarray(rng.uniform(0.0, 0.01, m), jnp.float32),
        glitch_scatter=jnp.asarray(rng.uniform(0.0, 0.01, m), jnp.float32),
        info=(("noise_model", "test"),),
    )
    return setup, beta_F, b_F


def test_a_setup_survives_its_arrays():
    setup, beta_F, b_F = _setup()
    back = setup_from_arrays(setup_arrays(setup))
    for name in ("scatter", "step_scatter", "glitch_scatter"):
        np.testing.assert_array_equal(np.asarray(getattr(back, name)), getattr(setup, name))
    assert back.step_range == setup.step_range and back.info == setup.info
    data = spectra(1, beta_F, b_F, num=4)
    a, b = denoise(setup, data["flux"], data["ivar"]), denoise(back, data["flux"], data["ivar"])
    np.testing.assert_array_equal(np.asarray(a.artefact), np.asarray(b.artefact))


def test_arrays_without_glitch_scatter_give_none():
    setup, *_ = _setup()
    arrays = setup_arrays(setup)
    del arrays["glitch_scatter"]
    assert setup_from_arrays(arrays).glitch_scatter is None
