"""The sweep table: every fit's scores in one dataset (``DIR/summary.nc``, ``.csv``).

Layout of the table (an :class:`xarray.Dataset`):

===================== ============================================ ==========================
variable              dims                                         meaning
===================== ============================================ ==========================
heldout_log_joint,    (num_latent, repeat[, fold])                 the fits' scalar scores
train_log_joint,                                                   (NaN where a fit is
heldout_lpd, ...                                                   missing)
seconds               (num_latent, repeat[, fold])                 wall-clock seconds per fit
lpd                   (num_latent, repeat[, fold], star)           log predictive density
loo_elpd_i, pareto_k  (num_latent, repeat[, fold], star)           PSIS-LOO (fits with draws)
heldout               (star)                                       held out (without folds)
star_fold             (star)                                       fold of each star (K-fold)
kfold_lpd             (num_latent, repeat, star)                   lpd of each star in the
                                                                   fit that held it out
===================== ============================================ ==========================

Root attributes: ``sweep_id``, ``method``, ``config`` (JSON), ``seed``,
``paired`` (path), ``num_folds`` (0 without folds).
"""

import csv
import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..dims import STAR
from ..io import atomic_write, save_dataset
from .plan import FOLD, NUM_LATENT, REPEAT, Job

__all__ = ["SUMMARY_CSV", "SUMMARY_NC", "build_table", "write_table"]

SUMMARY_NC = "summary.nc"
SUMMARY_CSV = "summary.csv"


def build_table(
    results: dict[Job, tuple[xr.Dataset, dict]], *, attrs: dict | None = None
) -> xr.Dataset:
    """Gather the scores of finished fits into one dataset.

    Parameters
    ----------
    results : dict
        For each finished job, its ``scores`` group (with ``heldout``) and the
        fit's root attributes (see :func:`~stereo_ppl.sweep.files.check_fit`).
    attrs : dict, optional
        Root attributes of the table.

    Returns
    -------
    xarray.Dataset
        See the module documentation.
    """
    if not results:
        raise ValueError("no finished fits to tabulate")
    jobs = sorted(results)
    with_folds = jobs[0].fold is not None
    c_values = sorted({j.num_latent for j in jobs})
    repeats = list(range(max(j.repeat for j in jobs) + 1))
    folds = list(range(max(j.fold for j in jobs) + 1)) if with_folds else []
    sweep_dims = (NUM_LATENT, REPEAT, FOLD) if with_folds else (NUM_LATENT, REPEAT)
    shape = (len(c_values), len(repeats), *([len(folds)] if with_folds else []))
    first, _ = results[jobs[0]]
    num_stars = first.sizes[STAR]

    scalar_names = sorted(
        {n for s, _ in results.values() for n, v in s.data_vars.items() if v.ndim == 0}
    )
    star_names = [
        n for n in ("lpd", "loo_elpd_i", "pareto_k") if any(n in s for s, _ in results.values())
    ]
    scalars = {n: np.full(shape, np.nan) for n in [*scalar_names, "seconds"]}
    per_star = {n: np.full((*shape, num_stars), np.nan) for n in star_names}
    heldout = np.zeros((*shape, num_stars), dtype=bool)
    for job, (scores, fit_attrs) in results.items():
        at = (c_values.index(job.num_latent), job.repeat, *([job.fold] if with_folds else []))
        for name in scalar_names:
            if name in scores:
                scalars[name][at] = float(scores[name].values)
        scalars["seconds"][at] = float(fit_attrs.get("sweep_seconds", np.nan))
        for name in star_names:
            if name in scores:
                per_star[name][at] = scores[name].values
        heldout[at] = scores["heldout"].values

    data = {n: (sweep_dims, v) for n, v in scalars.items()}
    data |= {n: ((*sweep_dims, STAR), v) for n, v in per_star.items()}
    for name in star_names:
        data[name] = (*data[name], dict(first[name].attrs) if name in first else {})
    data["seconds"] = (sweep_dims, scalars["seconds"], {"units": "s"})
    done = [
        heldout[(c_values.index(j.num_latent), j.repeat, *([j.fold] if with_folds else []))]
        for j in jobs
    ]
    if with_folds:
        star_fold = np.full(num_stars, -1, dtype=np.int64)
        for job, mask in zip(jobs, done, strict=True):
            star_fold[mask] = job.fold
        data["star_fold"] = (STAR, star_fold, {"long_name": "fold that holds the star out"})
        kfold = np.full((len(c_values), len(repeats), num_stars), np.nan)
        stars = np.flatnonzero(star_fold >= 0)
        kfold[:, :, stars] = per_star["lpd"][:, :, star_fold[stars], stars]
        data["kfold_lpd"] = (
            (NUM_LATENT, REPEAT, STAR),
            kfold,
            {"long_name": "lpd of each star in the fit that held it out"},
        )
    else:
        data["heldout"] = (STAR, done[0], {"long_name": "star held out of every fit"})
    coords = {
        NUM_LATENT: c_values,
        REPEAT: repeats,
        **({FOLD: folds} if with_folds else {}),
        **{name: coord for name, coord in first[STAR].coords.items()},
    }
    table = xr.Dataset(data, coords=coords)
    table.attrs = {**dict(attrs or {}), "num_folds": len(folds)}
    return table


def write_table(table: xr.Dataset, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``summary.nc`` (the whole table) and ``summary.csv`` (scalars), atomically."""
    out_dir = Path(out_dir)
    nc = save_dataset(table, out_dir / SUMMARY_NC)
    sweep_dims = [d for d in (NUM_LATENT, REPEAT, FOLD) if d in table.dims]
    scalars = [n for n, v in table.data_vars.items() if set(v.dims) == set(sweep_dims)]
    frame = table[scalars].to_dataframe().reset_index()

    def write_csv(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(list(frame.columns))
            for row in frame.itertuples(index=False):
                writer.writerow([_csv_value(v) for v in row])

    return nc, atomic_write(out_dir / SUMMARY_CSV, write_csv)


def _csv_value(value):
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else repr(float(value))
    return json.dumps(value) if isinstance(value, dict) else value
