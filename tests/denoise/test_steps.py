"""Step detectors on synthetic residuals: the jump-and-glitch filter and the local fit."""

import jax.numpy as jnp
import numpy as np
import pytest

from stereo_ppl.denoise.stepfilters import step_statistic
from stereo_ppl.denoise.steps import locate_step

M = 600
LO, HI = 200, 400
K = 300
RAMP = np.array([0.25, 0.5, 0.75])
GLITCH = np.array([0.5, 1.0, 0.5])


@pytest.mark.core
def test_glitch_alone_is_found_and_a_cosmic_ray_is_not():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(3, M))
    u[0, K - 1 : K + 2] += 7.0 * GLITCH  # splice glitch, no visible jump
    u[1, K] += 40.0  # single-pixel cosmic ray
    u[2, K - 1 : K + 2] += 40.0  # flat three-pixel cosmic ray
    u[2, K + 40] += 60.0
    good = jnp.ones((3, M), bool)
    stat, jump = step_statistic(jnp.asarray(u), good, LO, HI, 40)
    stat = np.asarray(stat)
    assert stat.shape == (3, HI - LO)
    assert LO + int(np.argmax(stat[0])) == K
    assert stat[0].max() > 36.0
    assert stat[1].max() < 36.0 and stat[2].max() < 36.0
    assert np.abs(np.asarray(jump)).max() < 6.0


@pytest.mark.core
def test_locate_step_finds_the_centre_and_rejects_a_common_scale():
    rng = np.random.default_rng(1)
    model = 1.0 - 0.3 * np.exp(-0.5 * ((np.arange(M) - 310.0) / 3.0) ** 2)
    model = np.tile(model, (3, 1))
    sd = np.full((3, M), 0.01)
    d = rng.normal(scale=0.01, size=(3, M))
    index = np.arange(M)
    # row 0: blue side 4% low, ramp and a glitch at the join
    scale = np.where(index < K - 1, -0.04, 0.0)
    scale[K - 1 : K + 2] = -0.04 + 0.04 * RAMP
    d[0] += scale * model[0]
    d[0, K - 1 : K + 2] += 6.0 * 0.01 * GLITCH
    # row 1: the same step and a cosmic ray 3 pixels away
    d[1] += scale * model[1]
    d[1, K - 1 : K + 2] += 6.0 * 0.01 * GLITCH
    d[1, K + 4] += 0.5
    # row 2: the whole spectrum 3% high, no step
    d[2] += 0.03 * model[2]
    k0 = jnp.asarray([K + 5, K - 4, K], jnp.int32)
    centre, ratio, scales, glitch = locate_step(
        jnp.asarray(d),
        jnp.asarray(model),
        jnp.asarray(1.0 / sd),
        jnp.ones((3, M), bool),
        k0,
        reach=12,
        window=40,
    )
    centre, ratio, scales, glitch = (np.asarray(x) for x in (centre, ratio, scales, glitch))
    assert centre[:2].tolist() == [K, K]
    assert ratio[0] > 100.0 and ratio[1] > 100.0
    np.testing.assert_allclose(scales[0], [-0.04, 0.0], atol=0.005)
    assert ratio[2] < 25.0
