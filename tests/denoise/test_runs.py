"""Box sums of the run detector (:mod:`stereo_ppl.denoise.runs`)."""

import jax.numpy as jnp
import numpy as np
import pytest

from stereo_ppl.denoise.runs import _window_sum_back, window_sum


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 7, 8, 16, 17, 49, 80])
def test_window_sums_are_the_direct_sums(width):
    x = np.random.default_rng(width).normal(size=(3, 50)).astype(np.float32)
    ahead = [[x[r, i : i + width].sum() for i in range(50)] for r in range(3)]
    back = [[x[r, max(0, i - width + 1) : i + 1].sum() for i in range(50)] for r in range(3)]
    np.testing.assert_allclose(window_sum(jnp.asarray(x), width), ahead, atol=2e-5)
    np.testing.assert_allclose(_window_sum_back(jnp.asarray(x), width), back, atol=2e-5)


def test_window_width_must_be_positive():
    with pytest.raises(ValueError, match="width"):
        window_sum(jnp.zeros((1, 5)), 0)
