"""latent-z (marginal) and errors-in-f1 fitted by ``map`` recover their own generative truth.

Both simulate 300 stars (240 trained, the last 60 held out and scored), 10
survey-1 pixels, 20 survey-2 pixels, ``c = 2``, survey-2 noise 0.01, with the
true ``beta_z F1`` whitened (unit covariance over the stars) so ``z`` has unit
spread in every direction. Each test compares the variant with the base model
fitted by the same method to the same data and split, and with the truth's
own held-out log likelihood (computed here with NumPy, full ``P2 x P2``
covariances, independently of the package's :class:`LatentNormal`).

Measured over seeds 0-4 of the data (key = seed), float32 | float64 (the float64
draws differ), against the tolerances of the tests (which run seed 0):

latent-z, truth ``sigma_z = 0.3`` (3000 steps; 1500 left seed 2 in float64 at 0.351)::

    seed  sigma_z / sd(fitted beta_z F1)  cov err      heldout ll/star - truth's
          (per principal direction)                    latent-z        base
    0     0.324 0.301 | 0.315 0.293      0.07 | 0.06  -0.08 | -0.15   -65 | -68
    1     0.306 0.289 | 0.323 0.302      0.06 | 0.10  -0.03 | -0.22   -40 | -49
    2     0.312 0.289 | 0.321 0.308      0.06 | 0.05  -0.02 | -0.32   -38 | -47
    3     0.312 0.267 | 0.285 0.274      0.15 | 0.17  -0.18 | -0.13   -43 | -45
    4     0.293 0.281 | 0.305 0.293      0.13 | 0.06  -0.20 | -0.22   -32 | -41

errors-in-f1 (1500 steps; survey-1 noise sd 0.005-0.04 per star times 0.5-1.5 per
pixel, two bad pixels), float32 (float64, seeds 0-2: the same to 0.002)::

    seed  heldout ll/star - truth's  chi2/dof in span(beta_F)  masked held-out star
          e-i-f1     base            e-i-f1     base           ll - truth's  chi2/dof
    0     -0.01      -47             0.96       51             +0.12         0.30
    1     -0.13      -26             0.95       30             -0.08         0.05
    2     -0.12      -28             1.20       32             -0.57         1.65
    3     -0.28      -40             1.21       44             -1.40         1.04
    4     -0.26      -35             1.26       39             -0.11         1.34

errors-in-f1 told the wrong survey-1 noise (seeds 0, 1): sd 2x too large (ivar / 4):
ll -0.55, -0.69 and chi2/dof 0.39, 0.29; sd 2x too small (ivar x 4): ll -1.21, -1.30
and chi2/dof 3.36, 3.30, so the calibration bounds fail for a wrong noise model too.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import default_float
from numpyro.infer import Predictive

from stereo_ppl.data import make_paired
from stereo_ppl.inference import fit
from stereo_ppl.models.errors_in_f1 import apogee_error_inputs
from stereo_ppl.models.latent_z import latent_z_model

pytestmark = pytest.mark.core

NOISE = 0.01
NUM_STARS, NUM_APOGEE, NUM_LAMOST, C = 300, 10, 20, 2
HELDOUT = np.arange(240, NUM_STARS)
TRAIN = np.arange(240)
SIGMA_Z = 0.3
#: AdamW steps of the latent-z fits (and of their base fits)
LATENT_Z_STEPS = 3000
#: Survey-1 flux: 1 + F1_SPREAD * Normal(0, 1) per pixel (the truth's prior on F1).
F1_SPREAD = 0.1
#: (star, pixel) of the bad survey-1 pixels of the errors-in-f1 data: one training star,
#: one held-out star (HELDOUT[10])
MASKED = ((5, 3), (250, 7))
MAP = {
    "num_latent": C,
    "method": "map",
    "heldout": HELDOUT,
    "num_steps": 1500,  # errors-in-f1; latent-z takes LATENT_Z_STEPS
    "learning_rate": 1e-2,
    "patience": None,
    "eval_every": 500,
}


def _paired(f1, f2, apogee_ivar=None):
    return make_paired(
        apogee_flux=f1,
        lamost_flux=f2,
        lamost_ivar=np.full(f2.shape, NOISE**-2),
        apogee_ivar=apogee_ivar,
        apogee_wavelength=np.geomspace(15100.0, 17000.0, NUM_APOGEE),
        lamost_wavelength=np.geomspace(3700.0, 9100.0, NUM_LAMOST),
        apogee_id=[f"2M{i:08d}+0000000" for i in range(NUM_STARS)],
        obsid=100_000_000 + np.arange(NUM_STARS),
    )


def _linear_truth(rng, f1):
    """beta_z with ``beta_z F1`` whitened over the stars, beta_F, and b_F centring F2 at 1."""
    beta_z = rng.normal(size=(C, NUM_APOGEE))
    beta_z = np.linalg.inv(np.linalg.cholesky(np.cov((f1 @ beta_z.T).T))) @ beta_z
    beta_F = 0.05 * rng.normal(size=(NUM_LAMOST, C))
    b_F = 1.0 - beta_F @ (f1 @ beta_z.T).mean(0)
    return beta_z, beta_F, b_F


def _normal_logpdf(resid, cov):
    """Per-star log density of Normal(0, cov) at ``resid`` (n, P); cov (P, P) or (n, P, P)."""
    _, logdet = np.linalg.slogdet(cov)
    cov = np.broadcast_to(cov, resid.shape + resid.shape[-1:])
    quad = np.einsum("np,np->n", resid, np.linalg.solve(cov, resid[..., None])[..., 0])
    return -0.5 * (quad + logdet + resid.shape[-1] * np.log(2 * np.pi))


def _heldout_ll(tree):
    """Mean held-out per-star log likelihood of a point fit (its own, e.g. marginal over z)."""
    return float(tree["log_likelihood"]["lamost_flux"].values[0, 0][HELDOUT].mean())


def _point(tree, *names):
    post = tree["posterior"].isel(chain=0, draw=0)
    return [np.asarray(post[name].values, np.float64) for name in names]


# --- latent-z ---------------------------------------------------------------------


def latent_z_data(seed, sigma_z=SIGMA_Z):
    """Data drawn by latent-z's own per-star form (Predictive, ``marginal=False``).

    Returns the paired dataset, the true parameters and the truth's per-star log
    likelihood of F2 (z integrated out: covariance ``sigma_z^2 beta_F beta_F^T +
    NOISE^2 I``).
    """
    rng = np.random.default_rng(seed)
    f1 = 1.0 + F1_SPREAD * rng.normal(size=(NUM_STARS, NUM_APOGEE))
    beta_z, beta_F, b_F = _linear_truth(rng, f1)
    truth = {"beta_z": beta_z, "beta_F": beta_F, "b_F": b_F, "sigma_z": np.float64(sigma_z)}
    dtype = default_float()
    draws = Predictive(
        latent_z_model,
        posterior_samples={k: jnp.asarray(v, dtype)[None] for k, v in truth.items()},
    )(
        jax.random.key(seed),
        jnp.asarray(f1, dtype),
        jnp.full((NUM_STARS, NUM_LAMOST), NOISE**-2, dtype),
        num_latent=C,
        marginal=False,
    )
    f2 = np.asarray(draws["lamost_flux"][0], np.float64)
    cov = sigma_z**2 * beta_F @ beta_F.T + NOISE**2 * np.eye(NUM_LAMOST)
    truth_ll = _normal_logpdf(f2 - (f1 @ beta_z.T @ beta_F.T + b_F), cov)
    return _paired(f1, f2), truth, truth_ll


def latent_z_scores(seed, sigma_z=SIGMA_Z, model="latent-z"):
    """Fit ``model`` and the base model by map; the gauge-free quantities the tests check."""
    paired, truth, truth_ll = latent_z_data(seed, sigma_z)
    key, options = jax.random.key(seed), {**MAP, "num_steps": LATENT_Z_STEPS}
    tree = fit(key, paired, model=model, **options)
    base = fit(key, paired, **options)
    beta_z, beta_F = _point(tree, "beta_z", "beta_F")
    sigma = float(_point(tree, "sigma_z")[0]) if "sigma_z" in tree["posterior"] else 0.0
    # z -> a R z (sigma_z -> a sigma_z) leaves the likelihood unchanged: sigma_z relative
    # to the sd of the fitted beta_z F1 along each principal direction (truth: sigma_z, as
    # the true beta_z F1 is whitened), and z's share of the per-star F2 covariance
    spread = np.linalg.eigvalsh(np.cov((paired["apogee_flux"].values @ beta_z.T).T))
    cov = sigma**2 * beta_F @ beta_F.T
    true_cov = sigma_z**2 * truth["beta_F"] @ truth["beta_F"].T
    truth_heldout = float(truth_ll[HELDOUT].mean())
    return {
        "relative_sigma_z": sigma / np.sqrt(spread),
        "cov_error": float(np.linalg.norm(cov - true_cov) / np.linalg.norm(true_cov)),
        "ll_vs_truth": _heldout_ll(tree) - truth_heldout,
        "base_ll_vs_truth": _heldout_ll(base) - truth_heldout,
    }


def test_latent_z_map_recovers_sigma_z_and_beats_the_base_model_on_heldout_stars():
    got = latent_z_scores(0)
    # tolerance 15 % (measured 0.267-0.324: within 11 % of 0.3); with the base model in
    # its place sigma_z is 0, and data drawn with sigma_z = 0.15 give 0.171, 0.153
    np.testing.assert_allclose(got["relative_sigma_z"], SIGMA_Z, rtol=0.15)
    # sigma_z^2 beta_F beta_F^T within 25 % (Frobenius; measured 0.05-0.17); the base
    # model's is 0 (error 1)
    assert got["cov_error"] < 0.25, got
    # held-out log likelihood per star within 0.5 nats of the truth's (measured -0.02 to
    # -0.32); the base model's is tens of nats below it (measured -32 to -68): it has no
    # room for z's scatter, ~0.07 in F2 along beta_F against a noise of 0.01
    assert got["ll_vs_truth"] > -0.5, got
    assert got["base_ll_vs_truth"] < -10.0, got
    assert got["ll_vs_truth"] > got["base_ll_vs_truth"] + 10.0, got


# --- errors-in-f1 -----------------------------------------------------------------


def errors_in_f1_data(seed, noise=(0.005, 0.04)):
    """F1 observed with known heteroscedastic noise; F2 from the true F1 by eq. 1-2.

    The survey-1 noise sd is ``U(*noise)`` per star times ``U(0.5, 1.5)`` per pixel
    (``z``'s noise sd ~0.05-0.4 against its unit spread), and the pixels of
    :data:`MASKED` are bad (flux NaN, ``apogee_ivar`` 0). Returns the paired
    dataset and the truth's per-star log likelihood of F2 given the observed F1:
    with the true F1 ~ Normal(1, F1_SPREAD^2) per pixel, F1_true | F1_obs is
    Normal(1 + k (F1_obs - 1), k / ivar) with ``k = F1_SPREAD^2 / (F1_SPREAD^2 +
    1 / ivar)`` (its prior at a bad pixel), so F2 | F1_obs is Normal exactly. The
    errors-in-f1 model takes ``k = 1`` (a flat prior on the true F1; here ``k >=
    0.86``) and fills a bad pixel with the training mean and spread.
    """
    rng = np.random.default_rng(seed)
    f1 = 1.0 + F1_SPREAD * rng.normal(size=(NUM_STARS, NUM_APOGEE))
    beta_z, beta_F, b_F = _linear_truth(rng, f1)
    f2 = f1 @ beta_z.T @ beta_F.T + b_F + NOISE * rng.normal(size=(NUM_STARS, NUM_LAMOST))
    sd = rng.uniform(*noise, size=(NUM_STARS, 1)) * rng.uniform(0.5, 1.5, f1.shape)
    observed = f1 + sd * rng.normal(size=f1.shape)
    ivar = sd**-2
    for star, pixel in MASKED:
        observed[star, pixel], ivar[star, pixel] = np.nan, 0.0
    good = ivar > 0
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    shrink = np.where(good, F1_SPREAD**2 / (F1_SPREAD**2 + var), 0.0)  # 0: the prior
    mean = 1.0 + shrink * np.where(good, observed - 1.0, 0.0)
    product = beta_F @ beta_z
    posterior_var = np.where(good, shrink * var, F1_SPREAD**2)
    cov = np.einsum("pk,nk,qk->npq", product, posterior_var, product)
    cov += NOISE**2 * np.eye(NUM_LAMOST)
    truth_ll = _normal_logpdf(f2 - (mean @ product.T + b_F), cov)
    return _paired(observed, f2, ivar), truth_ll


def _span_chi2(tree, paired, apogee_var):
    """Held-out stars' chi2 per dof of the residual in span(fitted beta_F), by its fitted cov.

    The 18 other directions hold survey-2 noise alone in either model; in these two the
    errors-in-f1 model adds beta_F beta_z diag(apogee_var) beta_z^T beta_F^T
    (``apogee_var`` None: the base model, which adds nothing).
    """
    beta_z, beta_F, b_F = _point(tree, "beta_z", "beta_F", "b_F")
    flux = tree["constant_data"]["apogee_flux"].values  # bad pixels filled as fitted
    resid = (paired["lamost_flux"].values - (flux @ beta_z.T @ beta_F.T + b_F))[HELDOUT]
    basis = np.linalg.qr(beta_F)[0]
    cov = NOISE**2 * np.eye(C)
    if apogee_var is not None:
        z_cov = np.einsum("kp,np,jp->nkj", beta_z, apogee_var[HELDOUT], beta_z)
        cov = cov + basis.T @ beta_F @ z_cov @ beta_F.T @ basis
    part = resid @ basis
    cov = np.broadcast_to(cov, (*part.shape, C))
    return np.einsum("nk,nk->n", part, np.linalg.solve(cov, part[..., None])[..., 0]) / C


def errors_in_f1_scores(seed, ivar_scale=1.0):
    """Fit errors-in-f1 (told ``apogee_ivar * ivar_scale``) and the base model by map."""
    paired, truth_ll = errors_in_f1_data(seed)
    told = paired.assign(apogee_ivar=paired["apogee_ivar"] * ivar_scale)
    key = jax.random.key(seed)
    tree = fit(key, told, model="errors-in-f1", **MAP)
    base = fit(key, paired, **MAP)
    _, apogee_var = apogee_error_inputs(
        told["apogee_flux"].values, told["apogee_ivar"].values, TRAIN
    )
    ll = tree["log_likelihood"]["lamost_flux"].values[0, 0]
    truth_heldout = float(truth_ll[HELDOUT].mean())
    masked = MASKED[1][0]
    chi2, base_chi2 = _span_chi2(tree, told, apogee_var), _span_chi2(base, paired, None)
    return {
        "num_filled": tree.attrs["num_filled_apogee_pixels"],
        "finite": bool(np.isfinite(ll).all()),
        "ll_vs_truth": _heldout_ll(tree) - truth_heldout,
        "base_ll_vs_truth": _heldout_ll(base) - truth_heldout,
        "masked_ll_vs_truth": float(ll[masked] - truth_ll[masked]),
        "chi2": float(chi2.mean()),
        "base_chi2": float(base_chi2.mean()),
        "masked_chi2": float(chi2[masked - HELDOUT[0]]),
    }


def test_errors_in_f1_map_recovers_its_truth_where_the_base_model_is_overdispersed():
    got = errors_in_f1_scores(0)
    assert got["num_filled"] == len(MASKED) and got["finite"], got
    # held-out log likelihood per star within 0.45 nats of the truth's (measured -0.01 to
    # -0.28; told a survey-1 noise sd 2x too large: -0.55, -0.69); the base model's is
    # tens of nats below it (measured -26 to -47)
    assert got["ll_vs_truth"] > -0.45, got
    assert got["base_ll_vs_truth"] < -10.0, got
    # calibrated where survey-1 noise reaches F2 (span of beta_F; 2 dof x 60 stars, sd of
    # the mean ~0.13): chi2/dof in (0.7, 1.5) (measured 0.95-1.26; wrong noise sd x2:
    # 0.29-0.39, x0.5: 3.3); the base model's residuals are over-dispersed (measured 30-51)
    assert 0.7 < got["chi2"] < 1.5, got
    assert got["base_chi2"] > 3.0, got
    # the held-out star with a bad survey-1 pixel is scored like the others, not NaN or
    # far off (a handling check rather than a sharp one; measured:
    # ll -1.4 to +0.1 from the truth's, chi2/dof 0.05-1.65; 6.9 is chi2_2's 0.999 quantile / 2)
    assert got["masked_ll_vs_truth"] > -5.0 and got["masked_chi2"] < 6.9, got
