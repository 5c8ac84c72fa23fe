"""The label baselines: a quadratic Cannon and ridge regression recover their own truths."""

import numpy as np
import pytest

from stereo_ppl.labels import fit_cannon, fit_ridge, label_scores, quadratic_design

pytestmark = pytest.mark.core


def _quadratic_spectra(seed, n=150, num_pixels=60, noise=0.005):
    rng = np.random.default_rng(seed)
    labels = np.column_stack(
        [rng.uniform(4000, 5200, n), rng.uniform(1, 3.5, n), rng.normal(0, 0.3, n)]
    )
    pivot, scale = np.array([4600, 2.2, 0.0]), np.array([350, 0.7, 0.3])
    theta = 0.03 * rng.normal(size=(num_pixels, 10))
    theta[:, 0] = 1.0
    true = quadratic_design((labels - pivot) / scale) @ theta.T
    ivar = np.full(true.shape, noise**-2)
    ivar[rng.uniform(size=ivar.shape) < 0.05] = 0.0
    flux = np.where(ivar > 0, true + noise * rng.normal(size=true.shape), np.nan)
    return labels, flux, ivar


def test_quadratic_design_terms():
    design = quadratic_design(np.array([[2.0, 3.0]]))
    np.testing.assert_allclose(design, [[1, 2, 3, 4, 6, 9]])


def test_cannon_recovers_labels_of_quadratic_spectra():
    labels, flux, ivar = _quadratic_spectra(0)
    model = fit_cannon(labels[:100], flux[:100], ivar[:100])
    predicted = model.infer_labels(flux[100:], ivar[100:])
    scores = label_scores(predicted, labels[100:], names=["teff", "logg", "fe_h"])
    assert scores["teff"]["scatter"] < 30 and abs(scores["teff"]["bias"]) < 15, scores
    assert scores["logg"]["scatter"] < 0.06 and scores["fe_h"]["scatter"] < 0.03, scores
    assert np.all(model.scatter < 0.005)  # the truth has no intrinsic scatter


def test_ridge_beats_the_mean_on_linear_labels():
    rng = np.random.default_rng(1)
    flux = 1 + 0.05 * rng.normal(size=(120, 40))
    ivar = np.ones_like(flux)
    ivar[0, :5] = 0.0
    labels = flux @ rng.normal(size=(40, 2)) + 0.01 * rng.normal(size=(120, 2))
    model = fit_ridge(labels[:80], flux[:80], ivar[:80])
    rms = np.sqrt(np.mean((model.predict(flux[80:], ivar[80:]) - labels[80:]) ** 2, axis=0))
    assert np.all(rms < 0.2 * labels[80:].std(0)), rms
    assert model.alpha > 0
