"""The independent test generator: paired stars, its own physics, its artefacts and truth."""

import ast
from pathlib import Path

import numpy as np
import pytest

from stereo_ppl.datasets import independent
from stereo_ppl.datasets.independent import INDEPENDENT_CODES, make_independent


@pytest.fixture(scope="module")
def survey():
    return make_independent(4, num_stars=60)


def test_shares_no_code_with_the_builtin_generator():
    tree = ast.parse(Path(independent.__file__).read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    builtin_modules = {"builtin", "artefacts", "linelist", "spectra", "noise", "labels", "galah"}
    assert not {m.rsplit(".", 1)[-1] for m in imported} & builtin_modules
    assert not any(m.startswith("stereo_ppl.datasets") for m in imported)


def test_paired_stars_share_their_hidden_parameters(survey):
    paired, truth = survey
    assert paired.sizes["star"] == 60
    assert paired["lamost_flux"].shape == (60, 3909)
    # both surveys respond to the same hidden abundance: a line-strength proxy
    # of survey 1 correlates with one of survey 2 across stars
    depth1 = 1.0 - paired["apogee_flux"].values.mean(axis=1)
    depth2 = 1.0 - truth["lamost_flux_true"].values.mean(axis=1)
    assert np.corrcoef(depth1, depth2)[0, 1] > 0.5
    assert set(truth.data_vars) >= {"theta", "logg", "x1", "x2", "error_factor", "lamost_snr"}


def test_reported_errors_are_wrong_by_the_stated_factor():
    clean = make_independent(4, num_stars=60, artefacts=False)
    ivar = clean.paired["lamost_ivar"].values
    resid = clean.paired["lamost_flux"].values - clean.truth["lamost_flux_true"].values
    pull = np.where(ivar > 0, resid * np.sqrt(ivar), np.nan)
    spread = np.nanstd(pull, axis=1)
    factor = clean.truth["error_factor"].values
    np.testing.assert_allclose(spread, factor, rtol=0.1)
    assert factor.min() >= 0.7 and factor.max() <= 1.5
    snr = clean.truth["lamost_snr"].values
    assert snr.min() >= 30.0 and snr.max() <= 800.0
    assert not np.any(clean.truth["lamost_artefact"].values)


def test_artefacts_have_their_truth(survey):
    paired, truth = survey
    code = truth["lamost_artefact"].values
    assert set(np.unique(code)) <= set(INDEPENDENT_CODES)
    steps = truth["lamost_step_pixel"].values
    assert 0 < np.sum(steps >= 0) < 60
    for star in np.flatnonzero(steps >= 0):
        k = steps[star]
        assert np.all(code[star, k - 1 : k + 2] == 2)
        wl = paired["lamost_wavelength"].values[k]
        assert 5700.0 <= wl <= 6000.0
    assert np.any(code == 1) and np.any(code == 5)


def test_same_seed_same_survey():
    a = make_independent(9, num_stars=5)
    b = make_independent(9, num_stars=5)
    np.testing.assert_array_equal(a.paired["lamost_flux"].values, b.paired["lamost_flux"].values)
    with pytest.raises(TypeError, match="seed"):
        make_independent(-1)
