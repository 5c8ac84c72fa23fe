"""Score against ``c`` for a sweep (the seed study's Fig. 2, with repeats and errors).

The seed study: A. Wheeler 2019, "Final Project", github.com/ajwheeler/stereo.
"""

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["plot_score_vs_c"]


def _jitter(num: int, width: float = 0.03) -> np.ndarray:
    """Multiplicative x offsets that spread ``num`` repeats on a log axis."""
    if num == 1:
        return np.ones(1)
    return 10 ** np.linspace(-width / 2, width / 2, num)


def plot_score_vs_c(
    table: xr.Dataset,
    comparison: pd.DataFrame,
    *,
    chosen: int | None = None,
):
    """Held-out log joint and ELPD against ``c``, every repeat shown.

    Parameters
    ----------
    table : xarray.Dataset
        A sweep table (:func:`stereo_ppl.sweep.build_table`).
    comparison : pandas.DataFrame
        Its comparison table (:func:`stereo_ppl.compare.compare_c`): gives
        the score, the ``c`` compared, their ELPD differences and ``dse``.
    chosen : int, optional
        A ``c`` to mark (e.g. :func:`stereo_ppl.compare.choose_c`).

    Returns
    -------
    matplotlib.figure.Figure
        Left: the seed's score, log prior plus log likelihood of the held-out
        stars at the point estimate, per held-out star (summed over folds with
        K-fold), one dot per repeat and a line through the repeat the
        comparison uses. Right: ELPD minus the best ``c``'s ELPD, with error
        bars of one ``dse`` (standard error of the paired per-star
        difference), repeats as dots. Both x axes are logarithmic.
    """
    import matplotlib.pyplot as plt

    from ..compare import elpd_per_repeat

    score = str(comparison["score"].iloc[0])
    c_values = table["num_latent"].values
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")

    log_joint = table["heldout_log_joint"]
    if "fold" in log_joint.dims:
        log_joint = log_joint.sum("fold", skipna=False)
        per = table.sizes["star"]
    else:
        per = int(table["heldout"].values.sum())
    log_joint = log_joint / max(per, 1)
    train = table["train_log_joint"]
    if "fold" in train.dims:
        train = train.sum("fold", skipna=False)
    offsets = _jitter(table.sizes["repeat"])
    for r in range(table.sizes["repeat"]):
        left.plot(
            c_values * offsets[r],
            log_joint.isel(repeat=r).values,
            "o",
            ms=4,
            alpha=0.5,
            color="C0",
            label="repeats" if r == 0 else None,
        )
    best_repeat = np.nanargmax(np.where(np.isnan(train.values), -np.inf, train.values), axis=1)
    line = log_joint.values[np.arange(len(c_values)), best_repeat]
    left.plot(c_values, line, "-", color="C0", label="best training optimum")
    left.set(
        xscale="log",
        xlabel="c (length of z)",
        ylabel="held-out log joint per held-out star",
        title="seed score: log prior + held-out log likelihood",
    )

    elpd = elpd_per_repeat(table, score=score)
    best_c = int(comparison.sort_values("rank")["c"].iloc[0])
    reference = float(comparison.loc[comparison["c"] == best_c, "elpd"].iloc[0])
    for r in range(table.sizes["repeat"]):
        right.plot(
            c_values * offsets[r],
            elpd.isel(repeat=r).values - reference,
            "o",
            ms=4,
            alpha=0.5,
            color="C1",
            label="repeats" if r == 0 else None,
        )
    ordered = comparison.sort_values("c")
    right.errorbar(
        ordered["c"],
        ordered["elpd_diff"],
        yerr=ordered["dse"],
        fmt="s-",
        color="C3",
        ms=5,
        capsize=3,
        label="compared fit ± dse",
    )
    dse = ordered["dse"].to_numpy(dtype=float)
    dse = dse[np.isfinite(dse) & (dse > 0)]
    right.set_yscale("symlog", linthresh=max(1.0, float(np.median(dse))) if dse.size else 1.0)
    right.set(
        xscale="log",
        xlabel="c (length of z)",
        ylabel=f"ELPD − ELPD(c={best_c})",
        title=f"ELPD ({score}), relative to the best c",
    )
    for ax in (left, right):
        ax.set_xticks(c_values, [str(int(c)) for c in c_values])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        if chosen is not None:
            ax.axvline(chosen, color="0.4", ls="--", lw=1, label=f"chosen c = {chosen}")
        ax.legend(fontsize="small")
    return fig
