"""Choice of draws and stars for a predictive check."""

import numpy as np
import pytest

from stereo_ppl.ppc import PPCConfigError, select_draws, select_stars


def test_all_draws_when_there_are_few():
    picks = select_draws(2, 5, 100)
    assert picks.shape == (2, 5, 2)
    np.testing.assert_array_equal(picks[1, :, 1], np.arange(5))
    np.testing.assert_array_equal(picks[:, 0, 0], [0, 1])


def test_thinning_keeps_chains_and_spans_each_chain():
    picks = select_draws(4, 1000, 100)
    assert picks.shape == (4, 25, 2)
    assert picks[0, 0, 1] == 0 and picks[0, -1, 1] == 999
    np.testing.assert_array_equal(picks[:, 3, 0], np.arange(4))


def test_fewer_samples_than_chains_squared_go_into_one_chain():
    picks = select_draws(4, 1000, 6)
    assert picks.shape == (1, 6, 2)
    assert len({tuple(p) for p in picks[0]}) == 6


def test_one_draw_is_one_draw():
    assert select_draws(1, 1, 50).shape == (1, 1, 2)
    with pytest.raises(PPCConfigError):
        select_draws(1, 10, 0)


def test_default_stars_are_those_that_did_not_train_the_fit(eq2, eq2_truth_fit):
    paired, _, heldout = eq2
    np.testing.assert_array_equal(select_stars(eq2_truth_fit, paired), heldout)
    assert select_stars(eq2_truth_fit, paired, "all").size == paired.sizes["star"]
    few = select_stars(eq2_truth_fit, paired, max_stars=4)
    np.testing.assert_array_equal(few, heldout[[0, 20, 39, 59]])
    # a new dataset (no obsid in common with the fit): every star
    other = paired.assign_coords(obsid=("star", paired["obsid"].values + 10**6))
    assert select_stars(eq2_truth_fit, other).size == paired.sizes["star"]
    with pytest.raises(PPCConfigError, match="'all'"):
        select_stars(eq2_truth_fit, paired, "some")
    with pytest.raises(PPCConfigError, match="max_stars"):
        select_stars(eq2_truth_fit, paired, max_stars=0)
