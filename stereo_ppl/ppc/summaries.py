"""Per-star summaries of observed and replicated spectra, for ArviZ's PPC plots.

A spectrum of 3,909 pixels is reduced to a few numbers per star (mean flux,
flux scatter, depths of strong lines), computed over the star's good pixels
only, for the observed spectrum and for every replicate. The result is a
``DataTree`` with ``posterior_predictive`` (chain, draw, star) and
``observed_data`` (star) variables of the same names, the layout
:func:`arviz_plots.plot_ppc_dist` expects.
"""

from collections.abc import Sequence

import arviz_base
import numpy as np
import xarray as xr

from ..data.validate import dim_coords
from ..dims import LAMOST_WAVELENGTH, STAR
from .draw import SITE
from .predictive import REP
from .regions import LAMOST_REGIONS, region_mask

__all__ = ["DEFAULT_LINES", "predictive_summaries"]

#: Strong lines whose depth is summarised by default.
DEFAULT_LINES = ("H-alpha", "Mg b", "Ca II triplet")


def predictive_summaries(
    ppc: xr.DataTree,
    *,
    lines: Sequence[str] = DEFAULT_LINES,
    group: str = "posterior_predictive",
    chunk_size: int = 16,
) -> xr.DataTree:
    """Mean flux, flux sd and line depths of each star, observed and replicated.

    Parameters
    ----------
    ppc : xarray.DataTree
        From :func:`~stereo_ppl.ppc.posterior_predictive`.
    lines : sequence of str
        Names in :data:`~stereo_ppl.ppc.regions.LAMOST_REGIONS`; the depth is
        ``1 - mean flux`` over the region's good pixels. Regions without a
        pixel on the grid are skipped.
    group : str
        ``"posterior_predictive"`` or ``"prior_predictive"``.
    chunk_size : int
        Stars read at a time.

    Returns
    -------
    xarray.DataTree
        ``group``: ``mean flux``, ``flux sd``, ``<line> depth`` (chain, draw,
        star); ``observed_data``: the same names (star). A star without a good
        pixel in a line region has NaN for that depth.
    """
    wavelength = ppc["observed_data"][LAMOST_WAVELENGTH].values
    masks = {}
    for name in lines:
        mask = region_mask(wavelength, LAMOST_REGIONS[name])
        if mask.any():
            masks[f"{name} depth"] = mask
    rep = ppc[group][REP]
    observed = ppc["observed_data"][SITE]
    chains, draws = rep.sizes["chain"], rep.sizes["draw"]
    num_stars = observed.sizes[STAR]
    names = ["mean flux", "flux sd", *masks]
    pred = {name: np.full((chains * draws, num_stars), np.nan) for name in names}
    obs = {name: np.full(num_stars, np.nan) for name in names}
    for start in range(0, num_stars, chunk_size):
        part = {STAR: slice(start, start + chunk_size)}
        y = np.asarray(observed.isel(part).values, dtype=np.float64)
        r = np.asarray(rep.isel(part).values, dtype=np.float64).reshape(-1, *y.shape)
        rows = slice(start, start + y.shape[0])
        for target, values in ((obs, y), (pred, r)):
            ok = np.isfinite(values) & np.isfinite(y)
            for name, value in _statistics(values, ok, masks).items():
                target[name][..., rows] = value
    sample_shape = (chains, draws, num_stars)
    coords = dim_coords(observed, STAR)
    library = arviz_base.make_attrs()
    return xr.DataTree.from_dict(
        {
            group: xr.Dataset(
                {n: (("chain", "draw", STAR), v.reshape(sample_shape)) for n, v in pred.items()},
                coords={"chain": rep["chain"].values, "draw": rep["draw"].values} | coords,
                attrs=library,
            ),
            "observed_data": xr.Dataset(
                {n: (STAR, v) for n, v in obs.items()}, coords=coords, attrs=library
            ),
        }
    )


def _statistics(values: np.ndarray, ok: np.ndarray, masks: dict) -> dict:
    """Statistics over the last axis (pixels) of ``values`` where ``ok``."""
    count = ok.sum(axis=-1)
    filled = np.where(ok, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=-1) / count
        var = (np.where(ok, values - mean[..., None], 0.0) ** 2).sum(axis=-1) / count
        out = {"mean flux": mean, "flux sd": np.sqrt(var)}
        for name, mask in masks.items():
            inside = ok & mask
            out[name] = 1.0 - np.where(inside, values, 0.0).sum(axis=-1) / inside.sum(axis=-1)
    return out
