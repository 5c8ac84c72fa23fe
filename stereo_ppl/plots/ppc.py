"""Figures of posterior predictive checks, several fits (e.g. several c) side by side.

* :func:`plot_ppc_summaries`: ArviZ ``plot_ppc_dist`` of per-star summaries
  (mean flux, flux sd, line depths), observed against replicated.
* :func:`plot_pit_ecdf`: ArviZ ``plot_ecdf_pit`` of the PIT values (Δ-ECDF).
* :func:`plot_spectrum_ppc`: observed LAMOST spectra of chosen stars with the
  predictive band, and z-score residuals.
* :func:`plot_pixel_calibration`: coverage per pixel against wavelength,
  with the pixels flagged as miscalibrated.
* :func:`plot_scatter`: the calibrated model's intrinsic scatter per pixel
  against wavelength, the typical reported error and the strong lines.
"""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..dims import LAMOST_WAVELENGTH, STAR
from ..ppc.calibration import PROB
from ..ppc.draw import SITE
from ..ppc.predictive import REP
from ..ppc.regions import LAMOST_LINES
from ..ppc.summaries import DEFAULT_LINES, predictive_summaries

__all__ = [
    "plot_pit_ecdf",
    "plot_pixel_calibration",
    "plot_ppc_summaries",
    "plot_scatter",
    "plot_spectrum_ppc",
]


def _label(tree_or_ds) -> str:
    attrs = tree_or_ds.attrs
    return f"c={int(attrs.get('num_latent', -1))} {attrs.get('method', '')}".strip()


def plot_ppc_summaries(
    ppcs: Sequence[xr.DataTree],
    *,
    lines: Sequence[str] = DEFAULT_LINES,
    num_samples: int = 50,
    kind: str = "kde",
):
    """Distribution over stars of per-star summaries: observed vs replicated.

    Parameters
    ----------
    ppcs : sequence of xarray.DataTree
        Predictive-check trees (one per fit); the same stars in each.
    lines : sequence of str
        Strong-line regions whose depth is summarised.
    num_samples : int
        Replicates overlaid per panel (fits are cut to their smallest number).
    kind : {"kde", "hist", "ecdf"}
        How ArviZ draws each distribution.

    Returns
    -------
    arviz_plots.PlotCollection
        One row per summary, one column per fit; ``.viz`` holds the
        matplotlib figure.
    """
    import arviz_plots

    trees = [predictive_summaries(ppc, lines=lines) for ppc in ppcs]
    common = min(
        t["posterior_predictive"].sizes["draw"] * t["posterior_predictive"].sizes["chain"]
        for t in trees
    )
    pred, obs = {}, {}
    names = list(trees[0]["observed_data"].data_vars)
    for name in names:
        for ppc, tree in zip(ppcs, trees, strict=True):
            key = f"{name}, {_label(ppc)}"
            values = tree["posterior_predictive"][name].stack(sample=("chain", "draw"))
            values = values.isel(sample=slice(0, common)).drop_vars(["sample", "chain", "draw"])
            pred[key] = (
                values.rename(sample="draw").expand_dims("chain").transpose("chain", "draw", STAR)
            )
            obs[key] = tree["observed_data"][name]
    dt = xr.DataTree.from_dict(
        {"posterior_predictive": xr.Dataset(pred), "observed_data": xr.Dataset(obs)}
    )
    return arviz_plots.plot_ppc_dist(
        dt,
        kind=kind,
        num_samples=min(num_samples, common),
        backend="matplotlib",
        col_wrap=len(ppcs),
        figure_kwargs={"figsize": (4.2 * len(ppcs), 2.4 * len(names)), "layout": "constrained"},
    )


def plot_pit_ecdf(cals: Sequence[xr.Dataset], *, max_values: int = 500, coverage: bool = False):
    """Δ-ECDF of the PIT values of each calibration (ArviZ ``plot_ecdf_pit``).

    Parameters
    ----------
    cals : sequence of xarray.Dataset
        From :func:`~stereo_ppl.ppc.calibrate`, one per fit.
    max_values : int
        PIT values per fit shown: an evenly spaced subset of the good
        (star, pixel) values (ArviZ's envelope costs grow fast with their
        number).
    coverage : bool
        Plot the coverage ECDF (``2 |PIT - 1/2|``) instead.

    Returns
    -------
    arviz_plots.PlotCollection
    """
    import arviz_plots

    pits = {}
    for cal in cals:
        values = cal["pit"].values[np.isfinite(cal["pit"].values)]
        keep = np.unique(np.linspace(0, values.size - 1, min(max_values, values.size)).astype(int))
        pits[_label(cal)] = (("chain", "draw"), values[keep][None])
    dt = xr.DataTree.from_dict({"pit": xr.Dataset(pits)})
    return arviz_plots.plot_ecdf_pit(
        dt, group="pit", coverage=coverage, backend="matplotlib", col_wrap=len(cals)
    )


def plot_spectrum_ppc(
    ppcs: Sequence[xr.DataTree],
    obsids: Sequence[int],
    *,
    probs: tuple[float, float] = (0.68, 0.95),
    wavelength_range: tuple[float, float] | None = None,
):
    """Observed spectra with the predictive band and z-score residuals.

    Parameters
    ----------
    ppcs : sequence of xarray.DataTree
        Predictive-check trees, one column each.
    obsids : sequence of int
        LAMOST obsids of the stars to show, two rows each (flux, residual).
    probs : (float, float)
        Central intervals drawn as the inner and outer band.
    wavelength_range : (float, float), optional
        Wavelength window in Angstrom (default: the whole grid).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    KeyError
        If an obsid is not among a tree's stars.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        2 * len(obsids),
        len(ppcs),
        figsize=(4.5 * len(ppcs), 3.2 * len(obsids)),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1] * len(obsids)},
        layout="constrained",
    )
    for col, ppc in enumerate(ppcs):
        obs = ppc["observed_data"][SITE]
        wl = obs[LAMOST_WAVELENGTH].values
        window = np.ones(wl.size, bool)
        if wavelength_range is not None:
            window = (wl >= wavelength_range[0]) & (wl <= wavelength_range[1])
        for row, obsid in enumerate(obsids):
            where = np.flatnonzero(obs["obsid"].values == obsid)
            if where.size == 0:
                raise KeyError(f"obsid {obsid} is not among the stars of {_label(ppc)}")
            i = int(where[0])
            y = obs.values[i, window]
            rep = ppc["posterior_predictive"][REP].isel({STAR: i}).values[..., window]
            rep = rep.reshape(-1, rep.shape[-1])
            flux_ax, res_ax = axes[2 * row, col], axes[2 * row + 1, col]
            with np.errstate(invalid="ignore"):
                mean, sd = rep.mean(axis=0), rep.std(axis=0)
            for prob, alpha in zip(sorted(probs, reverse=True), (0.25, 0.45), strict=False):
                lo, hi = np.quantile(rep, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
                flux_ax.fill_between(
                    wl[window], lo, hi, color="C0", alpha=alpha, lw=0, label=f"{prob:.0%} band"
                )
            flux_ax.plot(wl[window], mean, color="C0", lw=0.6, label="predictive mean")
            flux_ax.plot(wl[window], y, color="k", lw=0.5, label="observed")
            with np.errstate(invalid="ignore", divide="ignore"):
                res_ax.plot(wl[window], (y - mean) / sd, color="k", lw=0.4)
            for level in (-2, 2):
                res_ax.axhline(level, color="C3", lw=0.6, ls="--")
            res_ax.set_yscale("symlog", linthresh=3.0)
            res_ax.set_yticks([-10, -2, 0, 2, 10], labels=["-10", "-2", "0", "2", "10"])
            flux_ax.set_title(f"obsid {obsid}, {_label(ppc)}", fontsize="small")
            flux_ax.set_ylabel("flux")
            res_ax.set_ylabel("z (symlog)")
    axes[0, 0].legend(fontsize="x-small", loc="lower left")
    for ax in axes[-1]:
        ax.set_xlabel("wavelength [Å]")
    return fig


def plot_pixel_calibration(cals: Sequence[xr.Dataset], *, prob: float = 0.95):
    """Coverage of the central ``prob`` interval at each pixel, one panel per fit.

    Flagged pixels (``miscalibrated``) are marked in red; the dashed line is
    the nominal coverage.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(cals),
        1,
        figsize=(10, 2.2 * len(cals)),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, cal in zip(axes[:, 0], cals, strict=True):
        wl = cal[LAMOST_WAVELENGTH].values
        cov = cal["pixel_coverage"].sel({PROB: prob}, method="nearest").values
        flagged = cal["miscalibrated"].values.astype(bool)
        ax.plot(wl, cov, lw=0.5, color="C0")
        ax.plot(wl[flagged], cov[flagged], ".", ms=3, color="C3", label="miscalibrated")
        ax.axhline(prob, color="k", ls="--", lw=0.8)
        ax.set(ylabel=f"{prob:.0%} coverage", ylim=(-0.02, 1.02), title=_label(cal))
        if flagged.any():
            ax.legend(fontsize="x-small", loc="lower left")
    axes[-1, 0].set_xlabel("wavelength [Å]")
    return fig


def plot_scatter(ppc: xr.DataTree, *, regions=LAMOST_LINES):
    """The intrinsic scatter ``s_p`` of a calibrated fit against wavelength.

    The dashed line is the median reported error of the checked stars (the
    default threshold of :func:`~stereo_ppl.ppc.scatter_regions`, whose runs
    are marked); the strong lines are shaded and named.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..ppc.tables import scatter_regions

    const = ppc["constant_data"]
    fig, ax = plt.subplots(figsize=(10, 3), layout="constrained")
    wl = const[LAMOST_WAVELENGTH].values
    if "scatter" not in const:
        ax.text(0.5, 0.5, "reported noise: no scatter learned", ha="center", transform=ax.transAxes)
        return fig
    scatter = const["scatter"].values
    ivar = const["lamost_ivar"].values
    error = float(np.median(1.0 / np.sqrt(ivar[ivar > 0])))
    ax.plot(wl, scatter, lw=0.6, color="C0", label="scatter $s_p$")
    ax.axhline(error, color="k", ls="--", lw=0.8, label="median reported error")
    for row in scatter_regions(ppc, threshold=error):
        ax.axvspan(row["start"], row["stop"], color="C3", alpha=0.25, lw=0)
    for name, windows in regions.items():
        for lo, hi in windows:
            if wl[0] <= hi and lo <= wl[-1]:
                ax.axvspan(lo, hi, color="0.85", lw=0, zorder=-1)
                ax.text(
                    0.5 * (lo + hi),
                    0.98,
                    name,
                    rotation=90,
                    va="top",
                    ha="center",
                    fontsize="xx-small",
                    transform=ax.get_xaxis_transform(),
                )
    ax.set(xlabel="wavelength [Å]", ylabel="flux", title=f"{_label(ppc)}: intrinsic scatter")
    ax.legend(fontsize="x-small", loc="upper right")
    return fig
