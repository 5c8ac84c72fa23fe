"""The exact MAP solver: optimality, equivalences, masking and errors."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from factories import low_rank_arrays
from helpers import assert_allclose, default_float
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoDelta
from numpyro.infer.initialization import init_to_value
from numpyro.infer.util import log_density

import stereo_ppl.inference.exact as exact_module
from stereo_ppl.errors import FitConfigError
from stereo_ppl.inference import exact_kernels, exact_linalg
from stereo_ppl.inference.exact import solve_exact
from stereo_ppl.models import rrr_model

B_MEAN = 1.0


def _is64():
    return default_float() == jnp.float64


def _problem(seed=0, *, n=40, p1=30, p2=24, rank=3, noise=0.01, mask=0.05):
    """A small noisy low-rank problem with uneven weights and masked pixels."""
    arrays = low_rank_arrays(
        seed, num_stars=n, num_apogee=p1, num_lamost=p2, rank=rank, noise=noise
    )
    rng = np.random.default_rng(seed + 100)
    ivar = (
        arrays["lamost_ivar"] * rng.uniform(0.3, 3.0, size=(n, 1)) * rng.lognormal(0, 0.3, (n, p2))
    )
    ivar[rng.uniform(size=ivar.shape) < mask] = 0.0
    dtype = default_float()
    return (
        arrays["apogee_flux"].astype(dtype),
        np.where(ivar > 0, arrays["lamost_flux"], 0.0).astype(dtype),
        ivar.astype(dtype),
    )


def _log_joint(params, f1, f2, ivar, c):
    data = tuple(jnp.asarray(x) for x in (f1, ivar, f2))
    kwargs = {"num_latent": c, "b_F_prior_mean": B_MEAN}
    return log_density(rrr_model, data, kwargs, {k: jnp.asarray(v) for k, v in params.items()})[0]


def _grad_norm(params, f1, f2, ivar, c):
    grads = jax.grad(lambda p: -_log_joint(p, f1, f2, ivar, c))(
        {k: jnp.asarray(v) for k, v in params.items()}
    )
    return float(np.sqrt(sum(np.sum(np.asarray(g, np.float64) ** 2) for g in grads.values())))


@pytest.fixture(scope="module")
def solved():
    f1, f2, ivar = _problem()
    result = solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=3)
    return (f1, f2, ivar), result


@pytest.mark.core
def test_noiseless_low_rank_recovers_predictions():
    arrays = low_rank_arrays(3, num_stars=40, num_apogee=30, num_lamost=24, rank=3, noise=1e-4)
    dtype = default_float()
    f1 = arrays["apogee_flux"].astype(dtype)
    truth = arrays["lamost_flux_true"]
    ivar = np.full(truth.shape, 1e8, dtype)
    result = solve_exact(jax.random.key(0), f1, truth.astype(dtype), ivar, num_latent=3)
    p = {k: np.asarray(v, np.float64) for k, v in result.params.items()}
    predicted = (np.asarray(f1, np.float64) @ p["beta_z"].T) @ p["beta_F"].T + p["b_F"]
    # the prior pulls the fit by about (prior precision / ivar) of the signal
    assert_allclose(predicted, truth, rtol=0, atol=1e-6 if _is64() else 2e-5)


@pytest.mark.core
def test_log_joint_matches_numpyro(solved):
    (f1, f2, ivar), result = solved
    expected = float(_log_joint(result.params, f1, f2, ivar, 3))
    assert_allclose(result.log_joint, expected, rtol=1e-10 if _is64() else 1e-5)
    assert_allclose(result.trace.log_joint[-1], expected, rtol=1e-6 if _is64() else 1e-4)
    assert result.converged
    assert result.num_iterations == len(result.trace.iteration) - 1
    assert np.all(np.diff(result.trace.elapsed) >= 0)
    assert result.trace.log_joint[-1] > result.trace.log_joint[0]
    for name, shape in [("beta_z", (3, 30)), ("beta_F", (24, 3)), ("b_F", (24,))]:
        assert result.params[name].shape == shape
        assert result.params[name].dtype == default_float()


@pytest.mark.core
def test_gradient_vanishes_at_solution(solved):
    (f1, f2, ivar), result = solved
    final = _grad_norm(result.params, f1, f2, ivar, 3)
    start = result.trace.grad_norm[0]
    # float32 cannot resolve the gradient below the rounding of the fitted flux:
    # there the float32 and float64 evaluations are two draws of that rounding
    bound = (1e-7 if _is64() else 2e-3) * start
    assert final < bound and result.grad_norm < bound, (final, result.grad_norm, start)
    if _is64():
        assert_allclose(final, result.grad_norm, rtol=1e-3, atol=1e-6)


@pytest.mark.core
def test_row_space_reduction_is_exact(solved):
    """Reduced log joint == full log joint; mass off the row space only costs prior."""
    (f1, f2, ivar), result = solved
    kappa, omega = exact_linalg.separable_weights(ivar)
    space = exact_linalg.row_space(f1, kappa)
    rng = np.random.default_rng(5)
    a_hat = rng.normal(size=(3, space.design.shape[1]))
    params = {
        "beta_z": ((a_hat / space.scale) @ space.basis.T).astype(f1.dtype),
        "beta_F": rng.normal(size=(24, 3)).astype(f1.dtype) * 0.1,
        "b_F": (1 + 0.01 * rng.normal(size=24)).astype(f1.dtype),
    }
    a_back = np.asarray(params["beta_z"], np.float64) @ space.basis * space.scale
    dtype = default_float()
    data = exact_kernels.Data(
        *(jnp.asarray(x, dtype) for x in (space.design, ivar, f2, space.prior, space.gram)),
        *(jnp.asarray(x, dtype) for x in (space.scale, kappa, omega, B_MEAN)),
    )
    p = exact_kernels.Params(
        *(jnp.asarray(x, dtype) for x in (a_back, params["beta_F"], params["b_F"]))
    )
    good = ivar > 0
    const = -0.5 * np.log(2 * np.pi) * (3 * (30 + 24) + 24 + good.sum()) + 0.5 * np.sum(
        np.log(ivar[good].astype(np.float64))
    )
    reduced = const - float(exact_kernels.objective(p, data)[0])
    full = float(_log_joint(params, f1, f2, ivar, 3))
    assert_allclose(reduced, full, rtol=1e-12 if _is64() else 1e-5)
    # at the solution the full gradient w.r.t. beta_z (all P1 directions) vanishes
    grads = jax.grad(lambda q: _log_joint(q, f1, f2, ivar, 3))(
        {k: jnp.asarray(v) for k, v in result.params.items()}
    )
    g_start = result.trace.grad_norm[0]
    assert float(jnp.linalg.norm(grads["beta_z"])) < (1e-7 if _is64() else 2e-3) * g_start
    # and beta_z has no component orthogonal to the rows of F1
    beta_z = np.asarray(result.params["beta_z"], np.float64)
    off = beta_z - (beta_z @ space.basis) @ space.basis.T
    assert np.linalg.norm(off) < (1e-10 if _is64() else 1e-5) * np.linalg.norm(beta_z)


@pytest.mark.core
def test_deterministic_for_a_key(solved):
    (f1, f2, ivar), result = solved
    again = solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=3)
    for name, value in result.params.items():
        assert_allclose(again.params[name], value, rtol=0, atol=0)


@pytest.mark.core
def test_masked_pixels_do_not_matter(solved):
    (f1, f2, ivar), result = solved
    masked = ivar == 0
    assert masked.any()
    f2_other = f2.copy()
    f2_other[masked] = np.nan
    other = solve_exact(jax.random.key(0), f1, f2_other, ivar, num_latent=3)
    f2_big = np.where(masked, 1e3, f2).astype(f2.dtype)
    big = solve_exact(jax.random.key(0), f1, f2_big, ivar, num_latent=3)
    for name, value in result.params.items():
        assert_allclose(other.params[name], value, rtol=0, atol=0)
        assert_allclose(big.params[name], value, rtol=0, atol=0)


@pytest.mark.core
def test_preconditioner_paths_agree(monkeypatch):
    """Separable, rotated-diagonal and exact-block preconditioners reach one optimum.

    ``n < P1`` here, so the exact path also uses the per-star blocks.
    """
    f1, f2, ivar = _problem(1, n=24, p1=40, p2=20, rank=2)
    results = []
    for mode in ("separable", "rotated", "exact"):
        monkeypatch.setattr(exact_module, "_PRECOND", mode)
        results.append(solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=4))
    assert all(r.converged for r in results)
    for other in results[1:]:
        assert_allclose(other.log_joint, results[0].log_joint, rtol=1e-10 if _is64() else 1e-6)


def test_rotated_diagonals_are_hessian_diagonals():
    """``rotated_diagonals`` == diagonal of the block Hessians in the eigenbases."""
    f1, f2, ivar = _problem(6, n=14, p1=20, p2=9, rank=2)
    c = 3
    kappa, omega = exact_linalg.separable_weights(ivar)
    space = exact_linalg.row_space(f1, kappa)
    rng = np.random.default_rng(0)
    r = space.design.shape[1]
    dtype = default_float()
    data = exact_kernels.Data(
        *(jnp.asarray(x, dtype) for x in (space.design, ivar, f2, space.prior, space.gram)),
        *(jnp.asarray(x, dtype) for x in (space.scale, kappa, omega, B_MEAN)),
    )
    p = exact_kernels.Params(
        *(
            jnp.asarray(x, dtype)
            for x in (rng.normal(size=(c, r)), rng.normal(size=(9, c)), 1 + 0 * omega)
        )
    )
    vec_c = np.linalg.qr(rng.normal(size=(c, c)))[0]
    vec_t = np.linalg.qr(rng.normal(size=(c + 1, c + 1)))[0]
    den_a, den_t = exact_kernels.rotated_diagonals(
        p, data, jnp.asarray(vec_c, dtype), jnp.asarray(vec_t, dtype)
    )

    def grad(q):
        return exact_kernels.objective(q, data)[1]

    def curvature(v):
        hv = jax.jvp(grad, (p,), (v,))[1]
        return float(sum(jnp.vdot(x, y) for x, y in zip(v, hv, strict=True)))

    zeros = exact_kernels.Params(*(jnp.zeros_like(x) for x in p))
    for k, j in [(0, 0), (1, 5), (2, r - 1)]:
        v = zeros._replace(a=jnp.asarray(np.outer(vec_c[:, k], np.eye(r)[j]), dtype))
        assert_allclose(float(den_a[k, j]), curvature(v), rtol=1e-9 if _is64() else 1e-4)
    for pix, k in [(0, 0), (4, 2), (8, c)]:
        bf = np.zeros((9, c))
        bf[pix] = vec_t[:c, k]
        b = np.zeros(9)
        b[pix] = vec_t[c, k]
        v = zeros._replace(bf=jnp.asarray(bf, dtype), b=jnp.asarray(b, dtype))
        assert_allclose(float(den_t[pix, k]), curvature(v), rtol=1e-9 if _is64() else 1e-4)


@pytest.mark.core
def test_spd_inverses_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 6, 4))
    mats = x @ np.swapaxes(x, 1, 2) + 0.1 * np.eye(6)
    mats[2] = np.outer(x[2, :, 0], x[2, :, 0]) - 1e-3 * np.eye(6)  # indefinite: eigh fallback
    inv = exact_linalg.spd_inverses(mats)
    assert inv.shape == mats.shape and inv.dtype == mats.dtype
    assert_allclose(inv[[0, 1, 3, 4]], np.linalg.inv(mats[[0, 1, 3, 4]]), rtol=1e-7)
    assert np.all(np.isfinite(inv))
    assert_allclose(inv, np.swapaxes(inv, 1, 2), rtol=0, atol=0)
    well = mats[[0, 1]] + np.eye(6)
    inv32 = exact_linalg.spd_inverses(well.astype(np.float32))
    assert inv32.dtype == np.float32
    assert_allclose(inv32, np.linalg.inv(well).astype(np.float32), rtol=1e-3, atol=1e-4)


def test_agrees_with_long_svi():
    """A long full-batch SVI (AutoDelta, AdamW) run ends where the solver does."""
    f1, f2, ivar = _problem(2, n=30, p1=20, p2=12, rank=2, noise=0.05, mask=0.0)
    result = solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=2)
    model = partial(rrr_model, num_latent=2, b_F_prior_mean=B_MEAN)
    rng = np.random.default_rng(0)
    start = {
        "beta_z": jnp.asarray(0.1 * rng.normal(size=(2, 20)), f1.dtype),
        "beta_F": jnp.asarray(0.1 * rng.normal(size=(12, 2)), f1.dtype),
        "b_F": jnp.ones(12, f1.dtype),
    }
    guide = AutoDelta(model, init_loc_fn=init_to_value(values=start))
    schedule = optax.cosine_decay_schedule(1e-2, 20_000, alpha=1e-3)
    svi = SVI(model, guide, optax.adamw(schedule, weight_decay=0.0), Trace_ELBO())
    data = tuple(jnp.asarray(x) for x in (f1, ivar, f2))
    svi_result = svi.run(jax.random.key(1), 20_000, *data, progress_bar=False)
    svi_params = guide.median(svi_result.params)
    svi_log_joint = float(_log_joint(svi_params, f1, f2, ivar, 2))
    assert result.log_joint >= svi_log_joint - 1e-6 * abs(svi_log_joint)
    assert_allclose(result.log_joint, svi_log_joint, rtol=1e-4)


@pytest.mark.core
def test_more_latents_than_signal_is_fine():
    """``c`` above the data's rank: zero components are restarted, no NaN."""
    f1, f2, ivar = _problem(4, n=12, p1=10, p2=8, rank=1, noise=0.01)
    result = solve_exact(jax.random.key(3), f1, f2, ivar, num_latent=8)
    assert np.isfinite(result.log_joint)
    for value in result.params.values():
        assert np.all(np.isfinite(value))
    # at least as good as the c = 1 solution padded with zero components
    one = solve_exact(jax.random.key(3), f1, f2, ivar, num_latent=1).params
    padded = {
        "beta_z": np.concatenate([one["beta_z"], np.zeros((7, 10), f1.dtype)]),
        "beta_F": np.concatenate([one["beta_F"], np.zeros((8, 7), f1.dtype)], axis=1),
        "b_F": one["b_F"],
    }
    assert result.log_joint >= float(_log_joint(padded, f1, f2, ivar, 8)) - 1e-6


@pytest.mark.core
def test_warm_start_from_solution(solved):
    (f1, f2, ivar), result = solved
    again = solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=3, init=result.params)
    assert again.converged and again.num_iterations <= 5
    assert_allclose(again.log_joint, result.log_joint, rtol=1e-10 if _is64() else 1e-6)


@pytest.mark.core
def test_stop_reason_says_which_rule_stopped(solved):
    (f1, f2, ivar), result = solved
    assert result.converged and result.stop_reason in ("gtol", "tol", "stall")
    short = solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=3, max_iter=1)
    assert not short.converged and short.stop_reason == "max_iter"


@pytest.mark.core
def test_far_off_start_is_not_taken_as_converged(solved):
    # The gradient at a far-off start is huge; relative to it, the gradient
    # after one block sweep looked converged and the solver stopped there.
    (f1, f2, ivar), result = solved
    far = {**result.params, "beta_F": 1e3 * np.asarray(result.params["beta_F"])}
    again = solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=3, init=far)
    assert again.trace.log_joint[0] < result.log_joint - 1e3 * abs(result.log_joint)
    assert again.num_iterations > 1
    assert_allclose(again.log_joint, result.log_joint, rtol=1e-8 if _is64() else 1e-5)


@pytest.mark.core
@pytest.mark.parametrize(
    ("num_latent", "message"),
    [
        (0, r"c \(num_latent\) must be an integer from 1 to"),
        (2.5, "got 2.5"),
        (13, r"from 1 to 12 .* got 13"),
        (11, "must not exceed the 10 LAMOST pixels"),
    ],
)
def test_bad_num_latent_raises(num_latent, message):
    f1, f2, ivar = _problem(0, n=12, p1=16, p2=10)
    with pytest.raises(FitConfigError, match=message):
        solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=num_latent)
    f1_narrow = f1[:, :9]
    with pytest.raises(FitConfigError, match=r"from 1 to 9 .* got 10"):
        solve_exact(jax.random.key(0), f1_narrow, f2, ivar, num_latent=10)


@pytest.mark.core
@pytest.mark.parametrize("shape", [(40, 30), (30, 40)])
def test_scaled_row_basis_is_the_row_space_of_the_scaled_flux(shape):
    """One basis per F1 serves every prior scale: ``row_space(basis.scaled(g))`` == ``g F1``'s."""
    rng = np.random.default_rng(2)
    f1 = rng.normal(size=shape) @ np.diag(np.geomspace(1, 1e-3, shape[1]))
    f1[:, -1] = f1[:, 0]  # a rank-deficient direction, dropped by both
    kappa = rng.uniform(0.2, 3.0, shape[0])
    gain = 0.037
    direct = exact_linalg.row_space(gain * f1, kappa)
    basis = exact_linalg.row_basis(f1)
    exact_linalg.row_space(basis, kappa)  # the rotation for these weights, kept
    cached = exact_linalg.row_space(basis.scaled(gain), kappa)
    assert len(basis.rotations) == 1
    assert cached.design.shape == direct.design.shape
    signs = np.sign(np.sum(cached.basis * direct.basis, axis=0))
    for name in ("design", "basis"):
        assert_allclose(getattr(cached, name) * signs, getattr(direct, name), atol=1e-10)
    for name in ("scale", "prior", "gram"):
        assert_allclose(getattr(cached, name), getattr(direct, name), rtol=1e-10)
    # the constant vector is in the column space of the wide F1 only (tall: rank 29 < 40)
    assert (cached.shift is None) == (direct.shift is None) == (shape[0] > shape[1])
    if cached.shift is not None:
        assert_allclose(cached.shift * signs, direct.shift, rtol=1e-8)
        assert_allclose(cached.design @ cached.shift, np.ones(shape[0]), atol=1e-8)


@pytest.mark.core
@pytest.mark.parametrize(
    "bad, message",
    [
        (
            lambda f1: {
                "init": {
                    "beta_z": np.zeros((2, 16)),
                    "beta_F": np.zeros((10, 3)),
                    "b_F": np.ones(10),
                }
            },
            r"init\['beta_F'\] must have shape \(10, 2\)",
        ),
        (lambda f1: {"row_basis": exact_linalg.row_basis(f1[:11])}, "row_basis is for 11 stars"),
    ],
)
def test_bad_options_raise(bad, message):
    f1, f2, ivar = _problem(0, n=12, p1=16, p2=10)
    with pytest.raises(FitConfigError, match=message):
        solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=2, **bad(f1))


@pytest.mark.core
def test_patience_returns_the_best_heldout_iterate(solved):
    (f1, f2, ivar), _ = solved
    seen = []

    def heldout(params):  # best at the third call (iteration 2), then worse
        seen.append({k: np.array(v) for k, v in params.items()})
        return -abs(len(seen) - 3.0)

    result = solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=3, heldout=heldout, patience=2)
    assert result.stop_reason == "heldout" and not result.converged
    assert result.num_iterations == 4 and result.best_iteration == 2
    assert_allclose(result.trace.heldout, [-2.0, -1.0, 0.0, -1.0, -2.0])
    # the returned parameters are those of iteration 2 (the canonical gauge
    # may flip signs of components, which leaves the predictions alone)
    pred = lambda p: (f1 @ np.asarray(p["beta_z"]).T) @ np.asarray(p["beta_F"]).T  # noqa: E731
    assert_allclose(pred(result.params), pred(seen[2]), rtol=1e-5, atol=1e-5)
    assert not np.allclose(pred(seen[2]), pred(seen[4]), rtol=1e-3, atol=1e-3)
    with pytest.raises(FitConfigError, match="patience must be >= 1 and needs held-out"):
        solve_exact(jax.random.key(0), f1, f2, ivar, num_latent=3, patience=2)
