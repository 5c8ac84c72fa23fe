"""Solvers side by side on the built-in set: the solver table.

For each c, on the built-in survey pair split 80/20 into training and held-out
stars (``--scale 5``: five times more stars), the methods

* ``default``: what ``stereo_ppl.fit`` does by default, the calibrated model
  (learned error scale, per-pixel scatter and prior scale by empirical Bayes
  on an internal validation split of the training stars,
  :func:`~stereo_ppl.inference.calibration.calibrated_map`), timed cold;
* ``adamw``: MAP by SVI with AdamW as the seed ran it (:func:`fit_map`,
  lr 1e-3 constant, 10% minibatches, random start, ``--adamw-steps`` steps);
* ``exact``: the exact MAP solver (:func:`solve_exact`), timed on its second
  call at the same shapes (compiled code cached, set-up repeated); the first,
  cold call's seconds are in the note;
* ``exact-es``: the exact solver on 90% of the training stars, stopped early
  (``patience=2``) on the log joint of the other 10% and returning the best
  iterate for them (not a MAP; the held-out stars stay unseen), timed cold;
* ``pls``: scikit-learn's ``PLSRegression`` of F2 on F1 (unweighted, masked
  pixels filled with the pixel's weighted mean);
* ``rrr``: unweighted reduced-rank (ridge) regression (:func:`~stereo_ppl.models.eq12.rrr_start`);
* ``pollux``: pollux 0.1.0's ``LVM`` with one affine output per survey (per-star
  latents), fitted by its own alternating least squares ``optimize_iterative``
  (10 GB peak at c = 200; at c = 500 it outgrows 24 GB in its first cycle and
  is killed by the OS, taking the other rows with it: time it alone there)

are timed in one run and scored on the held-out stars:

* ``t0.1%``: seconds until the training log joint is within 0.1% of the best
  training log joint any method found at that c (from the fit_map trace and
  the exact solver's trace; PLS and RRR count only if their one point is
  within 0.1%); for pollux, which has no eq. 2 log joint, seconds until its
  own loss is within 0.1% of its final loss (pro rata by cycle);
* ``held LL``: held-out log likelihood under each method's own noise model
  (the reported errors, or ``default``'s calibrated ones);
* ``held LJ``: held-out log joint under eq. 2 (log prior plus held-out log
  likelihood) for the methods that give eq. 2 parameters (PLS's and RRR's
  components rescaled to equal norms, which leaves the predictions alone);
* ``rmse F1``: RMS over the held-out stars' good pixels of
  ``(F2 - F2_hat) / sigma`` with ``F2_hat`` predicted from the APOGEE spectrum
  alone, and ``rmse F2`` the same with ``F2_hat`` the LAMOST spectrum denoised
  from itself alone (weighted least squares for ``z`` given ``beta_F``, ``b_F``;
  pollux: its own latent solve); ``clean F1``, ``clean F2``: the same over the
  pixels without injected artefacts. The true model's values (noiseless
  spectra vs data; above 1 by the artefacts) are printed above each block.

The ratios ``exact`` vs ``adamw`` and vs ``pollux`` in time to converged score
are printed under each block. ``--sweep`` instead times the exact solver alone
over 20 values of c from 2 to 500 (each fit on its own).

Run ``python benchmarks/bench_solvers.py [--quick] [-c 2,10,50,200,500]
[--scale 5] [--methods exact,adamw,...] [--adamw-steps 20000]
[--pollux-cycles 100] [--exact-tol TOL] [--exact-cold] [--sweep
[--sweep-max-c C]]``.
"""

import argparse
import platform
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from stereo_ppl.datasets import make_builtin
from stereo_ppl.inference import ModelData, fit_map, model_data, split_stars
from stereo_ppl.inference.calibration import calibrated_map
from stereo_ppl.inference.exact import solve_exact
from stereo_ppl.inference.exact_setup import log_joint_and_grad
from stereo_ppl.models import DEFAULT_B_F_PRIOR_MEAN, eq12
from stereo_ppl.models.eq12 import rrr_start

__all__ = ["SWEEP", "denoise", "load", "main", "noise_rmse", "score"]

METHODS = ("default", "adamw", "exact", "exact-es", "pls", "rrr", "pollux")
#: The issue's 20-value c sweep.
SWEEP = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 70, 100, 150, 200, 300, 400, 500)
_NEAR = 1e-3  # "within 0.1%"
_MASKED_ERR = 1e5  # pollux: error of a masked pixel (weight 1e-10, keeps its loss finite)


def load(seed, *, num_stars, heldout_fraction=0.2):
    """The built-in pair split into training and held-out arrays (float32).

    Returns
    -------
    dict
        ``train`` and ``held``: dicts of ``f1`` (n, P1), ``f2`` (n, P2, 0 where
        masked), ``ivar`` (n, P2), ``ivar1`` (n, P1), ``true`` (n, P2) noiseless
        LAMOST flux, ``clean`` (n, P2) no injected artefact (as 0/1);
        ``paired``: the dataset; ``index``: (train, held) indices.
    """
    survey = make_builtin(seed, num_stars=num_stars)
    paired = survey.paired
    train, held = split_stars(jax.random.key(seed), paired.sizes["star"], heldout_fraction)
    ivar = paired["lamost_ivar"].values
    arrays = {
        "f1": paired["apogee_flux"].values,
        "ivar1": paired["apogee_ivar"].values,
        "f2": np.where(ivar > 0, paired["lamost_flux"].values, 0.0),
        "ivar": ivar,
        "true": survey.truth["lamost_flux_true"].values,
        "clean": survey.truth["lamost_artefact"].values == 0,
    }
    split = {
        name: {k: np.asarray(v[idx], np.float32) for k, v in arrays.items()}
        for name, idx in (("train", train), ("held", held))
    }
    return {**split, "paired": paired, "index": (train, held)}


def noise_rmse(pred, flux, ivar, mask=None):
    """RMS of ``(flux - pred) * sqrt(ivar)`` over pixels with ``ivar > 0`` (and ``mask``)."""
    good = (ivar > 0) if mask is None else (ivar > 0) & (mask > 0)
    resid = (np.asarray(flux, np.float64) - np.asarray(pred, np.float64))[good]
    return float(np.sqrt(np.mean(resid**2 * ivar[good])))


def denoise(beta_f, b_f, flux, ivar):
    """LAMOST spectra denoised from themselves: ``beta_F z_hat + b_F``.

    ``z_hat`` minimises ``sum ivar (flux - beta_F z - b_F)^2`` for each star
    (least squares, minimum norm where singular).

    Parameters
    ----------
    beta_f : array, shape (P2, c)
    b_f : array, shape (P2,)
    flux, ivar : arrays, shape (n, P2)

    Returns
    -------
    ndarray, shape (n, P2)
    """
    bf = np.asarray(beta_f, np.float64)
    b = np.asarray(b_f, np.float64)
    out = np.empty(flux.shape)
    for i in range(flux.shape[0]):
        w = np.asarray(ivar[i], np.float64)
        weighted = bf * w[:, None]
        gram = bf.T @ weighted
        rhs = weighted.T @ (np.asarray(flux[i], np.float64) - b)
        z = np.linalg.lstsq(gram, rhs, rcond=None)[0]
        out[i] = bf @ z + b
    return out


def held_log_likelihood(params, part):
    """Log likelihood of a split under the parameters' own noise model (float64)."""
    noise = eq12.noise_params(params)
    return float(
        eq12.log_likelihood_per_star(params, part["f1"], part["f2"], part["ivar"], **noise).sum()
    )


def score(params, part, b_mean=DEFAULT_B_F_PRIOR_MEAN):
    """Log joint (eq. 2, float64) and the two noise-scaled RMSEs on one split."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    params = {k: params[k] for k in ("beta_z", "beta_F", "b_F")}
    log_joint = log_joint_and_grad(params, part["f1"], part["f2"], part["ivar"], b_mean)[0]
    from_f1 = (part["f1"] @ p["beta_z"].T) @ p["beta_F"].T + p["b_F"]
    denoised = denoise(p["beta_F"], p["b_F"], part["f2"], part["ivar"])
    return (log_joint, *rmses(from_f1, denoised, part))


def rmses(from_f1, denoised, part):
    """``rmse F1``, ``rmse F2`` over all good pixels, then over artefact-free ones."""
    args = (part["f2"], part["ivar"])
    return (
        noise_rmse(from_f1, *args),
        noise_rmse(denoised, *args),
        noise_rmse(from_f1, *args, part["clean"]),
        noise_rmse(denoised, *args, part["clean"]),
    )


def _balanced(beta_z, beta_f, b_f):
    """Rescale each component to equal norms (the predictions do not change)."""
    beta_z, beta_f = np.asarray(beta_z, np.float64), np.asarray(beta_f, np.float64)
    nz, nf = np.linalg.norm(beta_z, axis=1), np.linalg.norm(beta_f, axis=0)
    scale = np.sqrt(np.where(nz > 0, nf / np.where(nz > 0, nz, 1.0), 1.0))
    scale = np.where(scale > 0, scale, 1.0)
    return {
        "beta_z": (beta_z * scale[:, None]).astype(np.float32),
        "beta_F": (beta_f / scale).astype(np.float32),
        "b_F": np.asarray(b_f, np.float32),
    }


def _time_to(seconds, values, target):
    """First time at which ``values >= target`` (None if never)."""
    hit = np.flatnonzero(np.asarray(values) >= target)
    return float(np.asarray(seconds)[hit[0]]) if hit.size else None


def run_exact(c, data, seed, *, warm=True, tol=None):
    """The exact solver; with ``warm``, timed on a second call (compiled code cached).

    The first (cold) call's seconds are kept in ``cold``: set-up, compilation
    and solve; the warm call repeats the set-up and the solve. ``tol``: the
    solver's stopping tolerance (default its own).
    """

    def solve():
        tic = time.perf_counter()
        res = solve_exact(
            jax.random.key(seed),
            data["train"]["f1"],
            data["train"]["f2"],
            data["train"]["ivar"],
            num_latent=c,
            tol=tol,
        )
        return res, time.perf_counter() - tic

    res, cold = solve()
    seconds = cold
    if warm:
        res, seconds = solve()
    trace = (res.trace.elapsed, res.trace.log_joint)
    return {
        "params": res.params,
        "seconds": seconds,
        "cold": cold,
        "trace": trace,
        "note": (
            f"{res.num_iterations} it, {int(res.trace.cg_iterations.sum())} cg, "
            f"|g|/|g0| {res.grad_norm / res.trace.grad_norm[0]:.1e}, stop {res.stop_reason}, "
            f"{'cold' if warm else 'timed cold'} {cold:.1f} s"
        ),
    }


def run_default(c, data, seed):
    """The calibrated model's exact MAP, as ``stereo_ppl.fit`` runs it by default."""
    train = data["train"]
    tic = time.perf_counter()
    res = calibrated_map(
        jax.random.key(seed),
        train["f1"],
        train["f2"],
        train["ivar"],
        num_latent=c,
        noise="calibrated",
        prior="learned",
        b_F_prior_mean=DEFAULT_B_F_PRIOR_MEAN,
    )
    seconds = time.perf_counter() - tic
    p = res.params
    return {
        "params": p,
        "seconds": seconds,
        "trace": None,
        "note": f"a {float(p['error_scale']):.3f}, median s {np.median(p['scatter']):.4f}, "
        f"prior scale {float(p['prior_scale']):.3g} (path {res.attrs['prior_scale_path']})",
    }


def run_exact_es(c, data, seed, *, tol=None, patience=2, fraction=0.1):
    """The exact solver stopped early on a validation part of the training stars."""
    train = data["train"]
    fit, check = split_stars(jax.random.key(seed + 1), train["f1"].shape[0], fraction)
    part = {k: v[check] for k, v in train.items()}

    def validation(params):
        return log_joint_and_grad(
            params, part["f1"], part["f2"], part["ivar"], DEFAULT_B_F_PRIOR_MEAN
        )[0]

    tic = time.perf_counter()
    res = solve_exact(
        jax.random.key(seed),
        train["f1"][fit],
        train["f2"][fit],
        train["ivar"][fit],
        num_latent=c,
        tol=tol,
        heldout=validation,
        patience=patience,
    )
    seconds = time.perf_counter() - tic
    return {
        "params": res.params,
        "seconds": seconds,
        "trace": None,
        "note": f"best iteration {res.best_iteration} of {res.num_iterations}, "
        f"stop {res.stop_reason}",
    }


def run_adamw(c, data, seed, *, steps):
    paired_md = model_data(data["paired"])
    train_idx, held_idx = data["index"]
    train, held = paired_md.take(train_idx), paired_md.take(held_idx)
    tic = time.perf_counter()
    res = fit_map(
        jax.random.key(seed),
        train,
        held,
        num_latent=c,
        num_steps=steps,
        learning_rate=1e-3,
        decay_to=None,
        batch_size=max(1, round(0.1 * train.num_stars)),
        eval_every=max(1, steps // 100),
        patience=None,
        init="random",
    )
    seconds = time.perf_counter() - tic
    # the last step (not the best held-out step) for the training log joint and timing
    return {
        "params": res.params,
        "seconds": seconds,
        "trace": (res.trace.seconds, res.trace.train),
        "note": f"{res.num_steps} steps",
    }


def run_pls(c, data, seed):
    from sklearn.cross_decomposition import PLSRegression

    f1, f2, ivar = (data["train"][k].astype(np.float64) for k in ("f1", "f2", "ivar"))
    weight = ivar.sum(0)
    mean = (ivar * f2).sum(0) / np.where(weight > 0, weight, 1.0)
    y = np.where(ivar > 0, f2, mean)
    tic = time.perf_counter()
    pls = PLSRegression(n_components=c, scale=False).fit(f1, y)
    seconds = time.perf_counter() - tic
    beta_z = pls.x_rotations_.T
    beta_f = pls.y_loadings_
    b_f = pls.intercept_ - beta_f @ (beta_z @ f1.mean(0))
    check = pls.predict(f1[:3])
    mine = f1[:3] @ beta_z.T @ beta_f.T + b_f
    assert np.allclose(check, mine, atol=1e-6 * np.abs(check).max()), "PLS parameters mismatch"
    return {"params": _balanced(beta_z, beta_f, b_f), "seconds": seconds, "trace": None, "note": ""}


def run_rrr(c, data, seed):
    train = tuple(jnp.asarray(data["train"][k]) for k in ("f1", "ivar", "f2"))
    tic = time.perf_counter()
    params = jax.block_until_ready(rrr_start(*ModelData(*train), num_latent=c))
    seconds = time.perf_counter() - tic
    return {
        "params": {k: np.asarray(v) for k, v in params.items()},
        "seconds": seconds,
        "trace": None,
        "note": "ridge 0.1",
    }


def run_pollux(c, data, seed, *, max_cycles):
    import pollux as plx
    from pollux.data import OutputData, PolluxData
    from pollux.models.transforms import AffineTransform

    def pdata(part, names):
        outputs = {}
        if "apogee" in names:
            outputs["apogee"] = OutputData(part["f1"], err=1.0 / np.sqrt(part["ivar1"]))
        if "lamost" in names:
            ivar = part["ivar"]
            err = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), _MASKED_ERR)
            outputs["lamost"] = OutputData(part["f2"], err=err.astype(np.float32))
        return PolluxData(**outputs).preprocess()

    p1, p2 = data["train"]["f1"].shape[1], data["train"]["f2"].shape[1]
    model = plx.LVM(latent_size=c)
    model.register_output("apogee", AffineTransform(output_size=p1))
    model.register_output("lamost", AffineTransform(output_size=p2))
    tic = time.perf_counter()
    res = model.optimize_iterative(
        pdata(data["train"], ("apogee", "lamost")),
        max_cycles=max_cycles,
        rng_key=jax.random.key(seed),
        progress=False,
    )
    jax.block_until_ready(res.params)
    seconds = time.perf_counter() - tic
    losses = np.asarray(res.losses_per_cycle)
    near = np.flatnonzero(np.abs(losses - losses[-1]) <= _NEAR * abs(losses[-1]))
    t_conv = seconds * (near[0] + 1) / len(losses)
    fixed = model.output_pars(res.params)
    preds = {}
    for name in ("apogee", "lamost"):
        held = model.optimize_iterative(
            pdata(data["held"], (name,)),
            blocks=["latents"],
            fixed_pars=fixed,
            max_cycles=1,
            rng_key=jax.random.key(seed),
            progress=False,
        )
        preds[name] = np.asarray(model.predict_outputs(held.params, names="lamost")["lamost"])
    held = data["held"]
    return {
        "params": None,
        "seconds": seconds,
        "trace": None,
        "t_conv": t_conv,
        "rmse": rmses(preds["apogee"], preds["lamost"], held),
        "note": f"{res.n_cycles} cycles, converged {res.converged}",
    }


def _fmt(x, spec):
    width = spec.split(".")[0]
    return format(x, spec) if x is not None and np.isfinite(x) else format("-", width)


def _peak_rss_gb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if platform.system() == "Darwin" else 1024) / 2**30


def table(c, data, methods, args):
    held = data["held"]
    truth = noise_rmse(held["true"], held["f2"], held["ivar"])
    clean = noise_rmse(held["true"], held["f2"], held["ivar"], held["clean"])
    print(f"\nc = {c}   (true model: rmse {truth:.3f}, artefact-free pixels {clean:.3f})")
    header = (
        f"{'method':>8} {'seconds':>8} {'t0.1%':>8} {'train LJ':>15} {'held LL':>13} "
        f"{'held LJ':>15} {'rmse F1':>8} {'rmse F2':>8} {'clean F1':>8} {'clean F2':>8}  note"
    )
    print(header)
    print("-" * len(header))
    runs = {}
    for name in methods:
        try:
            if name == "default":
                runs[name] = run_default(c, data, args.seed)
            elif name == "adamw":
                runs[name] = run_adamw(c, data, args.seed, steps=args.adamw_steps)
            elif name == "pollux":
                runs[name] = run_pollux(c, data, args.seed, max_cycles=args.pollux_cycles)
            elif name == "exact":
                runs[name] = run_exact(
                    c, data, args.seed, warm=not args.exact_cold, tol=args.exact_tol
                )
            elif name == "exact-es":
                runs[name] = run_exact_es(c, data, args.seed, tol=args.exact_tol)
            else:
                runs[name] = {"pls": run_pls, "rrr": run_rrr}[name](c, data, args.seed)
        except MemoryError as err:  # pollux's per-pixel normal equations at large c
            runs[name] = {"error": f"out of memory: {err}"}
    train_lj = {}
    for name, run in runs.items():
        if run.get("params") is not None:
            part = data["train"]
            eq2 = {k: run["params"][k] for k in ("beta_z", "beta_F", "b_F")}
            train_lj[name] = log_joint_and_grad(
                eq2, part["f1"], part["f2"], part["ivar"], DEFAULT_B_F_PRIOR_MEAN
            )[0]
    best = max(train_lj.values(), default=np.nan)
    target = best - _NEAR * abs(best)
    times = {}
    for name, run in runs.items():
        if "error" in run:
            print(f"{name:>8} {run['error']}")
            continue
        held_lj = held_ll = None
        if run["params"] is not None:
            held_lj, *rmse = score(run["params"], held)
            held_ll = held_log_likelihood(run["params"], held)
        else:
            rmse = run["rmse"]
        if run.get("trace") is not None:
            times[name] = _time_to(*run["trace"], target)
        elif name in train_lj:
            times[name] = run["seconds"] if train_lj[name] >= target else None
        else:
            times[name] = run.get("t_conv")
        print(
            f"{name:>8} {run['seconds']:>8.1f} {_fmt(times[name], '>8.1f')} "
            f"{_fmt(train_lj.get(name), '>15.1f')} {_fmt(held_ll, '>13.1f')} "
            f"{_fmt(held_lj, '>15.1f')} "
            f"{' '.join(_fmt(v, '>8.3f') for v in rmse)}  {run['note']}",
            flush=True,
        )
    exact_t = times.get("exact")
    for other in ("adamw", "pollux"):
        if exact_t and other in runs and "error" not in runs[other]:
            t_other = times.get(other)
            if t_other is None:  # never reached the target: a lower bound
                ratio = runs[other]["seconds"] / exact_t
                print(f"  speed-up of exact over {other}: > {ratio:.1f}x (never within 0.1%)")
            else:
                print(f"  speed-up of exact over {other}: {t_other / exact_t:.1f}x")
    print(f"  peak RSS so far {_peak_rss_gb():.2f} GB", flush=True)


def sweep(data, args, latents):
    train = data["train"]
    print(f"\nexact sweep over {len(latents)} values of c, {train['f1'].shape[0]} training stars")
    header = f"{'c':>4} {'seconds':>8} {'iters':>6} {'cg':>6} {'log joint':>16} {'grad/start':>10}"
    print(header)
    print("-" * len(header))
    total = 0.0
    for c in latents:
        tic = time.perf_counter()
        res = solve_exact(
            jax.random.key(args.seed),
            train["f1"],
            train["f2"],
            train["ivar"],
            num_latent=c,
            tol=args.exact_tol,
        )
        seconds = time.perf_counter() - tic
        total += seconds
        cg = int(res.trace.cg_iterations.sum())
        print(
            f"{c:>4} {seconds:>8.1f} {res.num_iterations:>6} {cg:>6} "
            f"{res.log_joint:>16.1f} {res.grad_norm / res.trace.grad_norm[0]:>10.1e}",
            flush=True,
        )
    print(f"total {total:.1f} s ({total / 60:.2f} min); peak RSS {_peak_rss_gb():.2f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", default="2,10,50,200,500", help="comma-separated latent sizes")
    parser.add_argument("--scale", type=int, default=1, help="stars x 1,100")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--adamw-steps", type=int, default=20_000)
    parser.add_argument("--pollux-cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--exact-tol", type=float, default=None, help="the exact solver's tol (default its own)"
    )
    parser.add_argument(
        "--exact-cold",
        action="store_true",
        help="time the exact solver's first call (compilation included) instead of a second",
    )
    parser.add_argument("--sweep", action="store_true", help="time the 20-value exact sweep")
    parser.add_argument(
        "--sweep-max-c", type=int, default=None, help="time only the sweep's values up to this c"
    )
    parser.add_argument(
        "--quick", action="store_true", help="150 stars, c = 2, 5, 300 AdamW steps (~1 minute)"
    )
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    num_stars = 1100 * args.scale
    latents = [int(v) for v in args.c.split(",")]
    if args.quick:
        num_stars, latents = 150, [2, 5]
        args.adamw_steps, args.pollux_cycles = 300, 10
    tic = time.perf_counter()
    data = load(args.seed, num_stars=num_stars)
    (n, p1), p2 = data["train"]["f1"].shape, data["train"]["f2"].shape[1]
    print(
        f"built-in seed {args.seed}: {n} training + {data['held']['f1'].shape[0]} held-out "
        f"stars x {p1} x {p2} pixels (made in {time.perf_counter() - tic:.1f} s); "
        f"{platform.processor() or platform.machine()}, jax {jax.__version__} on "
        f"{jax.devices()[0].platform}, {jnp.result_type(float)}"
    )
    if args.sweep:
        values = [c for c in SWEEP if args.sweep_max_c is None or c <= args.sweep_max_c]
        sweep(data, args, [2, 5] if args.quick else values)
        return
    for c in latents:
        table(c, data, methods, args)


if __name__ == "__main__":
    main()
