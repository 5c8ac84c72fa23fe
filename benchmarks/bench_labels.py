"""Labels from LAMOST spectra alone, side by side: the label table.

On the built-in set (which knows its true labels), catalogue-like labels
(truth plus noise of :data:`~stereo_ppl.labels.BUILTIN_LABEL_ERRORS`) are
attached to the stars, 20% of the stars are held out, and every method is
trained on the training stars' noisy labels and scored on the held-out stars'
true labels (scatter = sd of predicted − true, bias = mean; then the robust
scatter, 1.4826 × the median absolute deviation, which outliers leave alone):

* ``labels (LAMOST)``: the labels model (seed eq. 1–3, :func:`stereo_ppl.fit`
  with ``model="labels"``), labels through ``z_hat`` from the LAMOST spectrum
  alone (weighted least squares), ``beta_l z_hat + b_l``;
* ``labels (APOGEE)``: the same fit, ``z = beta_z F1`` from the APOGEE spectrum
  (for reference: the survey the labels came from);
* ``base + linear``: the base model's exact MAP, then labels regressed
  linearly on the training stars' ``z``, applied to ``z_hat`` from LAMOST
  (what fitting eq. 3 jointly adds);
* ``cannon``: a quadratic Cannon trained on the training stars' LAMOST spectra
  (:func:`stereo_ppl.labels.fit_cannon`), labels by per-star non-linear least squares;
* ``ridge F2``: ridge regression of labels on the LAMOST spectrum (GCV penalty);
* ``catalogue``: the noisy catalogue labels themselves (the training labels' floor).

Run ``python benchmarks/bench_labels.py [--num-stars 1100] [-c 10]
[--steps 2000] [--learning-rate 1e-3] [--method map|vi] [--seed 0]``.
"""

import argparse
import os
import time

import jax
import numpy as np

from stereo_ppl.datasets import make_builtin
from stereo_ppl.inference import fit, params_from_datatree
from stereo_ppl.labels import (
    fit_cannon,
    fit_ridge,
    label_scores,
    labels_from_apogee,
    labels_from_lamost,
    latent_from_lamost,
    with_builtin_labels,
)

__all__ = ["main", "run"]


def _base_linear(paired, train, held, labels, num_latent):
    """Base exact MAP, labels ~ linear in z (training), applied to z_hat from LAMOST."""
    tree = fit(jax.random.key(0), paired, num_latent=num_latent, method="exact", heldout=held)
    params = params_from_datatree(tree)
    z = paired["apogee_flux"].values[train] @ params["beta_z"].T
    x = np.hstack([z, np.ones((len(train), 1))])
    coef = np.linalg.lstsq(x, labels[train], rcond=None)[0]
    z_hat, _, ok = latent_from_lamost(
        params["beta_F"],
        params["b_F"],
        paired["lamost_flux"].values[held],
        paired["lamost_ivar"].values[held],
    )
    out = np.hstack([z_hat, np.ones((len(held), 1))]) @ coef
    out[~ok] = np.nan
    return out


def run(*, num_stars, num_latent, steps, learning_rate, method, seed, heldout_fraction=0.2):
    """Every method's held-out predictions and timings.

    Returns
    -------
    names : tuple of str
    rows : list of (method, predictions (n_held, L), seconds)
    true : ndarray, shape (n_held, L)
    """
    survey = make_builtin(seed, num_stars=num_stars)
    paired = with_builtin_labels(survey.paired, survey.truth, np.random.default_rng(seed + 1))
    names = tuple(str(n) for n in paired["label"].values)
    catalogue = paired["labels"].values
    if method == "map":
        options = {"num_steps": steps, "learning_rate": learning_rate, "init": "exact"}
    else:
        options = {"map_steps": steps}
    start = time.perf_counter()
    tree = fit(
        jax.random.key(seed),
        paired,
        num_latent=num_latent,
        model="labels",
        method=method,
        heldout_fraction=heldout_fraction,
        **options,
    )
    fit_seconds = time.perf_counter() - start
    held = np.flatnonzero(tree["constant_data"]["heldout"].values)
    train = np.setdiff1d(np.arange(num_stars), held)
    flux, ivar = paired["lamost_flux"].values, paired["lamost_ivar"].values
    true = survey.truth["labels"].values[held]
    rows = []
    for what, predict in (
        ("labels (LAMOST)", lambda: labels_from_lamost(tree, flux[held], ivar[held]).values),
        ("labels (APOGEE)", lambda: labels_from_apogee(tree, paired["apogee_flux"][held]).values),
        ("base + linear", lambda: _base_linear(paired, train, held, catalogue, num_latent)),
        (
            "cannon",
            lambda: fit_cannon(catalogue[train], flux[train], ivar[train]).infer_labels(
                flux[held], ivar[held]
            ),
        ),
        (
            "ridge F2",
            lambda: fit_ridge(catalogue[train], flux[train], ivar[train]).predict(
                flux[held], ivar[held]
            ),
        ),
        ("catalogue", lambda: catalogue[held]),
    ):
        start = time.perf_counter()
        values = predict()
        seconds = time.perf_counter() - start
        if what.startswith("labels"):
            seconds += fit_seconds if what == "labels (LAMOST)" else 0.0
        rows.append((what, np.asarray(values, np.float64), seconds))
    return names, rows, true


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-stars", type=int, default=1100)
    parser.add_argument("-c", "--num-latent", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--method", choices=("map", "vi"), default="map")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names, rows, true = run(
        num_stars=args.num_stars,
        num_latent=args.num_latent,
        steps=args.steps,
        learning_rate=args.learning_rate,
        method=args.method,
        seed=args.seed,
    )
    print(
        f"built-in set, {args.num_stars} stars, {true.shape[0]} held out; c = {args.num_latent}; "
        f"labels model: {args.method}, {args.steps} steps; load {os.getloadavg()[0]:.1f}"
    )
    print("scatter / bias of predicted - true label, held-out stars")
    header = f"{'method':<17}" + "".join(f"{n:>20}" for n in names) + f"{'seconds':>10}"
    print(header)
    print("-" * len(header))
    for what, values, seconds in rows:
        scores = label_scores(values, true, names=names)
        cells = "".join(f"{scores[n]['scatter']:>11.3g} /{scores[n]['bias']:>7.2g}" for n in names)
        failed = sum(s["num_failed"] for s in scores.values())
        note = f"  ({failed} failed)" if failed else ""
        print(f"{what:<17}{cells}{seconds:>10.1f}{note}")
    print("\nrobust scatter (1.4826 MAD) of predicted - true label")
    print(f"{'method':<17}" + "".join(f"{n:>20}" for n in names))
    for what, values, _ in rows:
        scores = label_scores(values, true, names=names)
        print(f"{what:<17}" + "".join(f"{scores[n]['robust_scatter']:>20.3g}" for n in names))


if __name__ == "__main__":
    main()
