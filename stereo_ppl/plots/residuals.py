"""One denoised spectrum and its residuals (the seed study's Figs. 3 and 4)."""

import numpy as np
import xarray as xr

__all__ = ["plot_residuals"]

#: Label, colour and marker of each artefact code (1..5) in the residual panel.
_CODE_STYLE = {
    1: ("cosmic ray", "tab:red", "^"),
    2: ("step", "tab:purple", "s"),
    3: ("bad column", "tab:orange", "D"),
    4: ("other", "tab:green", "o"),
    5: ("run", "tab:brown", "P"),
}


def plot_residuals(
    result: xr.Dataset,
    star: int,
    *,
    flux: np.ndarray | None = None,
    ivar: np.ndarray | None = None,
    wavelength_range: tuple[float, float] | None = None,
    title: str | None = None,
):
    """Plot a spectrum, its denoised version with a ±1σ band, and the residuals.

    Parameters
    ----------
    result : xarray.Dataset
        A denoise result (:func:`stereo_ppl.denoise.result_dataset` layout).
    star : int
        Position along ``star`` of the spectrum to draw.
    flux, ivar : array, shape (m,), optional
        The observed spectrum on the same grid (drawn where ``ivar > 0``).
    wavelength_range : (float, float), optional
        Angstrom; default: the whole grid.
    title : str, optional
        Default: the obsid, status and reduced chi-square.

    Returns
    -------
    matplotlib.figure.Figure
        Top (Fig. 3): observed and denoised flux with the band. Bottom (Fig. 4):
        the calibrated residuals in standard deviations, flagged pixels marked
        by type, with the ±1 band of the calibrated noise model and the
        single-pixel threshold that follows from the false-alarm rate per
        spectrum (the result's ``threshold_outlier`` and ``false_alarm``
        attributes; the flags also allow for the spectrum's own misfit and
        scale, so a flagged pixel can lie inside it, one of a run or step
        below it).
    """
    import matplotlib.pyplot as plt

    one = result.isel(star=star)
    wl = np.asarray(result["lamost_wavelength"].values)
    denoised = np.asarray(one["lamost_flux_denoised"].values, dtype=np.float64)
    sigma = np.asarray(one["lamost_flux_denoised_sigma"].values, dtype=np.float64)
    residual = np.asarray(one["lamost_residual"].values, dtype=np.float64)
    code = np.asarray(one["lamost_artefact"].values)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, height_ratios=(2, 1), layout="constrained"
    )
    if flux is not None:
        good = np.ones(wl.size, bool) if ivar is None else np.asarray(ivar) > 0
        shown = np.where(good, np.asarray(flux, dtype=np.float64), np.nan)
        top.plot(wl, shown, color="0.55", lw=0.6, label="observed")
    finite = np.isfinite(sigma)
    top.fill_between(
        wl,
        np.where(finite, denoised - sigma, np.nan),
        np.where(finite, denoised + sigma, np.nan),
        color="tab:blue",
        alpha=0.3,
        lw=0,
        label="±1σ",
    )
    top.plot(wl, denoised, color="tab:blue", lw=0.8, label="denoised")
    top.set(ylabel="normalised flux")
    top.legend(loc="lower right", fontsize="small")
    bottom.fill_between(wl, -1.0, 1.0, color="tab:blue", alpha=0.15, lw=0, label="±1σ model")
    threshold = result.attrs.get("threshold_outlier")
    if threshold is not None:
        alpha = result.attrs.get("false_alarm")
        label = f"±{float(threshold):.2f}σ" + (
            f" (false alarms {float(alpha):g} per spectrum)" if alpha is not None else ""
        )
        for sign in (-1.0, 1.0):
            bottom.axhline(
                sign * float(threshold),
                color="tab:red",
                lw=0.6,
                ls="--",
                label=label if sign > 0 else None,
            )
    bottom.plot(wl, residual, color="0.3", lw=0.5)
    bottom.axhline(0.0, color="k", lw=0.5)
    for value, (label, colour, marker) in _CODE_STYLE.items():
        hit = code == value
        if np.any(hit):
            bottom.scatter(
                wl[hit], residual[hit], s=18, color=colour, marker=marker, label=label, zorder=3
            )
    scale = np.nanpercentile(np.abs(residual[code == 0]), 99.5) if np.any(code == 0) else 5.0
    bottom.set_ylim(-3 * max(scale, 1.0), 3 * max(scale, 1.0))
    bottom.set(xlabel="rest-frame wavelength [Å]", ylabel="calibrated residual [σ]")
    bottom.legend(loc="upper right", fontsize="small", ncols=4)
    if wavelength_range is not None:
        bottom.set_xlim(*wavelength_range)
    if title is None:
        status = int(one["status"].values)
        title = (
            f"obsid {int(one['obsid'].values)}   status {status}   "
            f"χ²_red {float(one['chi2_reduced'].values):.2f}"
        )
        if "anomaly_pvalue" in one:
            title += f"   anomaly p {float(one['anomaly_pvalue'].values):.2g}"
    top.set_title(title)
    return fig
