"""ELPD of each ``c`` from a sweep table, the ArviZ comparison table, and a choice of ``c``.

Three per-star scores can be compared (see :mod:`stereo_ppl.sweep.table`):

``"heldout"``
    Log predictive density of the held-out stars (the same stars for every
    ``c``): at the point estimate for MAP/exact fits (plug-in), averaged over
    posterior draws for VI. ``se`` is ``sqrt(n var(lpd_i))`` over held-out stars.
``"kfold"``
    The same for every star, each scored by the fit of the fold that held it out.
``"loo"``
    PSIS-LOO of the training stars (:func:`arviz_stats.loo`), fits with draws only.

Each becomes an :class:`arviz_stats.utils.ELPDData` with pointwise values, so
:func:`arviz_stats.compare` computes differences, their standard errors and
ranks from the paired per-star differences.
"""

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats import compare as az_compare
from arviz_stats.utils import ELPDData, ELPDDataLOO, ELPDDataLOOKFold
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from ..dims import STAR
from ..errors import StereoPPLError

__all__ = [
    "SCORES",
    "choose_c",
    "compare_c",
    "elpd_by_c",
    "elpd_per_repeat",
    "model_name",
    "pointwise",
    "stacking_weights",
]

#: Scores :func:`elpd_by_c` knows (``"auto"`` picks the best available).
SCORES = ("auto", "heldout", "kfold", "loo")

_NUM_LATENT, _REPEAT, _FOLD = "num_latent", "repeat", "fold"


def model_name(c: int) -> str:
    """Name of the model with latent size ``c`` in comparison tables."""
    return f"c={int(c)}"


def _resolve_score(table: xr.Dataset, score: str) -> str:
    if score not in SCORES:
        raise StereoPPLError(f"score must be one of {', '.join(SCORES)}; got {score!r}")
    available = {
        "kfold": "kfold_lpd" in table,
        "loo": "loo_elpd_i" in table,
        "heldout": "heldout" in table and "lpd" in table,
    }
    if score == "auto":
        return next(name for name in ("kfold", "loo", "heldout") if available[name])
    if not available[score]:
        have = ", ".join(k for k, v in available.items() if v)
        raise StereoPPLError(f"this sweep has no {score!r} scores (it has: {have})")
    return score


def _pick_repeat(values: np.ndarray, train: np.ndarray, repeat) -> np.ndarray:
    """Per-star values of one ``c``: values (repeat, star), train (repeat,)."""
    done = np.flatnonzero(np.all(np.isfinite(values), axis=1))
    if done.size == 0:
        return np.full(values.shape[1], np.nan)
    if repeat == "best":
        return values[done[np.argmax(train[done])]]
    if repeat == "mean":
        return values[done].mean(axis=0)
    repeat = int(repeat)
    if repeat not in done:
        return np.full(values.shape[1], np.nan)
    return values[repeat]


def pointwise(table: xr.Dataset, *, score: str = "auto") -> xr.DataArray:
    """The per-star values of a score for every fit.

    Returns
    -------
    xarray.DataArray, dims (num_latent, repeat, star)
        Only the scored stars: held-out stars (``"heldout"``), training stars
        (``"loo"``) or all stars (``"kfold"``). NaN where a fit is missing.
    """
    score = _resolve_score(table, score)
    if score != "kfold" and _FOLD in table.dims:
        raise StereoPPLError("a K-fold sweep is compared with score 'kfold'")
    if score == "kfold":
        return table["kfold_lpd"]
    stars = table["heldout"].values
    stars = np.flatnonzero(stars if score == "heldout" else ~stars)
    return table["lpd" if score == "heldout" else "loo_elpd_i"].isel({STAR: stars})


def elpd_per_repeat(table: xr.Dataset, *, score: str = "auto") -> xr.DataArray:
    """Total ELPD of every fit: :func:`pointwise` summed over stars.

    Returns
    -------
    xarray.DataArray, dims (num_latent, repeat)
        NaN where a fit is missing.
    """
    return pointwise(table, score=score).sum(STAR, skipna=False)


def elpd_by_c(table: xr.Dataset, *, score: str = "auto", repeat="best") -> dict[int, ELPDData]:
    """One ``ELPDData`` per ``c`` with pointwise (per-star) values.

    Parameters
    ----------
    table : xarray.Dataset
        A sweep table (:func:`stereo_ppl.sweep.build_table`).
    score : {"auto", "heldout", "kfold", "loo"}
        Which score; ``"auto"``: k-fold if the sweep has folds, else LOO if
        its fits have draws, else held-out.
    repeat : {"best", "mean"} or int
        Which repeat represents a ``c``: ``"best"`` the one with the highest
        training log joint (the best optimum found, chosen without looking at
        held-out stars), ``"mean"`` the per-star mean over repeats, or an index.

    Returns
    -------
    dict of int to ELPDData
        ``c`` values without a finished fit are left out.
    """
    score = _resolve_score(table, score)
    values = pointwise(table, score=score)
    stars = values[STAR].values
    train = table["train_log_joint"]
    if _FOLD in train.dims:
        train = train.sum(_FOLD, skipna=False)
    n_samples = 1
    if "num_draws" in table and score != "kfold":
        n_samples = int(np.nanmax(table["num_draws"].values))
    out = {}
    for i, c in enumerate(table[_NUM_LATENT].values):
        per_star = _pick_repeat(values.values[i], train.values[i], repeat)
        if not np.all(np.isfinite(per_star)):
            continue
        elpd_i = xr.DataArray(per_star, dims=[STAR], coords={STAR: values[STAR].values})
        common = {
            "elpd": float(per_star.sum()),
            "se": float(np.sqrt(per_star.size * per_star.var())),
            "p": np.nan,
            "n_samples": n_samples,
            "n_data_points": int(per_star.size),
            "scale": "log",
            "warning": False,
            "elpd_i": elpd_i,
        }
        if score == "kfold":
            folds = int(table.attrs.get("num_folds", 0))
            out[int(c)] = ELPDDataLOOKFold(**common, good_k=None, n_folds=folds)
        elif score == "loo":
            k = table["pareto_k"].sel({STAR: stars}).values[i]
            k = _pick_repeat(k, train.values[i], repeat)
            good_k = float(np.nanmin(table["good_k"].values))
            common["warning"] = bool(np.any(k > good_k))
            p_loo = table["p_loo"].values[i][:, None]
            common["p"] = float(_pick_repeat(p_loo, train.values[i], repeat)[0])
            pareto_k = xr.DataArray(k, dims=[STAR], coords={STAR: values[STAR].values})
            out[int(c)] = ELPDDataLOO(**common, good_k=good_k, pareto_k=pareto_k)
        else:
            out[int(c)] = ELPDData(**common, good_k=None)
    if not out:
        raise StereoPPLError("no c value has a finished fit to compare")
    return out


def stacking_weights(elpd_i: np.ndarray) -> np.ndarray:
    """Stacking weights of predictive distributions, computed stably.

    Maximises ``sum_i log sum_k w_k exp(elpd_ik)`` over the simplex (Yao et
    al. 2018), as :func:`arviz_stats.compare` does, but in log space: per-star
    log densities of thousands of pixels overflow ``exp``.

    Parameters
    ----------
    elpd_i : ndarray, shape (num_stars, num_models)

    Returns
    -------
    ndarray, shape (num_models,)
    """
    elpd_i = np.asarray(elpd_i, dtype=np.float64)
    elpd_i = elpd_i - elpd_i.max(axis=1, keepdims=True)  # per-star shifts change no weight
    num_models = elpd_i.shape[1]

    def loss(theta):
        log_w = theta - logsumexp(theta)
        terms = elpd_i + log_w
        value = -logsumexp(terms, axis=1).sum()
        resp = softmax(terms, axis=1)  # d value / d log_w = -sum_i resp_ik
        grad_log_w = -resp.sum(axis=0)
        w = np.exp(log_w)
        return value, grad_log_w - w * grad_log_w.sum()

    options = {"ftol": 1e-13, "gtol": 1e-9}
    result = minimize(loss, np.zeros(num_models), jac=True, method="L-BFGS-B", options=options)
    return softmax(result.x)


def compare_c(
    table: xr.Dataset, *, score: str = "auto", repeat="best", method: str = "stacking"
) -> pd.DataFrame:
    """The ArviZ comparison table of the ``c`` values of a sweep.

    Parameters
    ----------
    table : xarray.Dataset
        A sweep table.
    score, repeat
        See :func:`elpd_by_c`.
    method : {"stacking", "pseudo-BMA", "BB-pseudo-BMA"}
        Model weights. Stacking is computed by :func:`stacking_weights`
        (``arviz_stats.compare``'s own overflows on spectra); the other two by
        :func:`arviz_stats.compare`.

    Returns
    -------
    pandas.DataFrame
        :func:`arviz_stats.compare`'s columns (``rank``, ``elpd_diff``, ``dse``,
        ``p_worse``, ``diag_diff``, ``diag_elpd``, ``p``, ``elpd``, ``se``,
        ``weight``), best first, unrounded, plus ``c`` and ``score``; indexed
        by :func:`model_name`.
    """
    elpds = elpd_by_c(table, score=score, repeat=repeat)
    named = {model_name(c): data for c, data in elpds.items()}
    az_method = "pseudo-BMA" if method.lower() == "stacking" else method
    result = az_compare(named, method=az_method, round_to="none")
    if method.lower() == "stacking":
        names = list(named)
        matrix = np.column_stack([named[n].elpd_i.values for n in names])
        result["weight"] = pd.Series(stacking_weights(matrix), index=names)
    result.insert(0, "c", [int(name.split("=")[1]) for name in result.index])
    result["score"] = _resolve_score(table, score)
    return result


def choose_c(comparison: pd.DataFrame, *, rule: str = "one_se") -> int:
    """Pick ``c`` from a comparison table.

    Parameters
    ----------
    comparison : pandas.DataFrame
        From :func:`compare_c`.
    rule : {"one_se", "best"}
        ``"best"``: the top-ranked ``c``. ``"one_se"`` (default): the smallest
        ``c`` whose ELPD is within one standard error of the difference
        (``dse``) of the best — the simplest model the data cannot tell apart
        from the best.

    Returns
    -------
    int
    """
    if rule == "best":
        return int(comparison.sort_values("rank")["c"].iloc[0])
    if rule != "one_se":
        raise StereoPPLError(f"rule must be 'one_se' or 'best'; got {rule!r}")
    close = comparison[comparison["elpd_diff"] >= -comparison["dse"]]
    return int(close["c"].min())
