"""Which stars and which posterior draws a predictive check uses.

Also the checks that a fit and a paired dataset belong together (same pixel
grids), with errors that name the pixel.
"""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..data.validate import describe_pixel
from ..dims import APOGEE_PIXEL, APOGEE_WAVELENGTH, LAMOST_PIXEL, LAMOST_WAVELENGTH, STAR
from ..errors import PairedDataError, StereoPPLError
from ..models import PARAM_SITES

__all__ = ["PPCConfigError", "check_same_pixels", "fit_draws", "select_draws", "select_stars"]

_SAMPLE_DIMS = ("chain", "draw")


class PPCConfigError(StereoPPLError, ValueError):
    """A predictive check was asked for with impossible options or a malformed fit."""


def fit_draws(fit: xr.DataTree) -> dict[str, np.ndarray]:
    """The eq. 1–2 parameters of every posterior draw of a fit.

    Parameters
    ----------
    fit : xarray.DataTree
        A fit (see :mod:`stereo_ppl.inference.results`).

    Returns
    -------
    dict
        ``beta_z`` (chain, draw, latent, apogee_pixel), ``beta_F`` (chain, draw,
        lamost_pixel, latent), ``b_F`` (chain, draw, lamost_pixel).

    Raises
    ------
    PPCConfigError
        If the fit has no posterior group or a parameter is missing or has
        other dimensions.
    """
    expected = {
        "beta_z": ("chain", "draw", "latent", APOGEE_PIXEL),
        "beta_F": ("chain", "draw", LAMOST_PIXEL, "latent"),
        "b_F": ("chain", "draw", LAMOST_PIXEL),
    }
    if "posterior" not in fit.children or "constant_data" not in fit.children:
        raise PPCConfigError("the fit has no posterior or constant_data group")
    posterior = fit["posterior"]
    out = {}
    for name in PARAM_SITES:
        if name not in posterior:
            raise PPCConfigError(f"the fit's posterior has no variable {name!r}")
        if posterior[name].dims != expected[name]:
            raise PPCConfigError(
                f"the fit's {name} has dims {posterior[name].dims}, expected {expected[name]}"
            )
        out[name] = np.asarray(posterior[name].values)
    return out


def check_same_pixels(fit: xr.DataTree, paired: xr.Dataset) -> None:
    """Raise unless ``paired`` has the fit's APOGEE and LAMOST pixel grids.

    Raises
    ------
    PairedDataError
        Naming the first pixel whose index or wavelength differs.
    """
    const = fit["constant_data"]
    for dim, wl_name in ((APOGEE_PIXEL, APOGEE_WAVELENGTH), (LAMOST_PIXEL, LAMOST_WAVELENGTH)):
        mine, theirs = paired.sizes[dim], const.sizes[dim]
        if mine != theirs:
            raise PairedDataError(
                f"the paired dataset has {mine} {dim}s but the fit has {theirs}; "
                "use the paired dataset the fit was made from (or one on the same grids)"
            )
        for name, rtol in ((dim, 0.0), (wl_name, 1e-9)):
            if name not in const.coords:
                continue
            a, b = np.asarray(paired[name].values), np.asarray(const[name].values)
            differs = ~np.isclose(a, b, rtol=rtol, atol=0.0)
            if differs.any():
                k = int(np.flatnonzero(differs)[0])
                raise PairedDataError(
                    f"the paired dataset's {name} differs from the fit's at "
                    f"{describe_pixel(paired, dim, k)} (fit: {b[k]})"
                )


def select_stars(
    fit: xr.DataTree,
    paired: xr.Dataset,
    stars: Sequence[int] | np.ndarray | str | None = None,
    *,
    max_stars: int | None = None,
) -> np.ndarray:
    """Indices of the paired stars to check.

    Parameters
    ----------
    fit : xarray.DataTree
        The fit; its ``constant_data`` names the training stars (``heldout`` False).
    paired : xarray.Dataset
        The stars to choose from.
    stars : None, "all" or sequence of int
        ``None`` (default): every star of ``paired`` whose ``obsid`` was not
        used to train the fit (its held-out stars, or all stars of a new
        dataset). ``"all"``: every star, training stars included. A sequence:
        these positions along ``star``.
    max_stars : int, optional
        Keep at most this many, evenly spaced over the selection.

    Returns
    -------
    ndarray of int, shape (num_selected,)
        Sorted positions along ``paired``'s ``star`` dimension.

    Raises
    ------
    PPCConfigError
        On positions out of range, an empty selection or ``max_stars < 1``.
    """
    num = paired.sizes[STAR]
    if stars is None:
        const = fit["constant_data"]
        trained = np.asarray(const["obsid"].values)[~np.asarray(const["heldout"].values, bool)]
        index = np.flatnonzero(~np.isin(np.asarray(paired["obsid"].values), trained))
        if index.size == 0:
            raise PPCConfigError(
                "every star of the paired dataset trained the fit (none held out); "
                "choose stars explicitly (stars='all' or a list of positions)"
            )
    elif isinstance(stars, str):
        if stars != "all":
            raise PPCConfigError(f"stars must be None, 'all' or positions; got {stars!r}")
        index = np.arange(num)
    else:
        index = np.unique(np.asarray(stars, dtype=np.int64).ravel())
        if index.size == 0:
            raise PPCConfigError("no stars were chosen")
        if index[0] < 0 or index[-1] >= num:
            bad = int(index[0] if index[0] < 0 else index[-1])
            raise PPCConfigError(f"star position {bad} is out of range (0 to {num - 1})")
    if max_stars is not None:
        if max_stars < 1:
            raise PPCConfigError(f"max_stars must be at least 1; got {max_stars}")
        if index.size > max_stars:
            index = index[np.unique(np.linspace(0, index.size - 1, max_stars).round().astype(int))]
    return index


def select_draws(num_chains: int, num_draws: int, num_samples: int) -> np.ndarray:
    """Evenly thinned posterior draws, at most ``num_samples`` of them.

    Parameters
    ----------
    num_chains, num_draws : int
        Shape of the posterior's sample dimensions.
    num_samples : int
        Largest number of draws to keep.

    Returns
    -------
    ndarray of int, shape (chains_kept, draws_kept, 2)
        ``(chain, draw)`` of each kept draw. Every chain keeps
        ``num_samples // num_chains`` evenly spaced draws; when that is fewer
        than the number of chains, ``num_samples`` draws evenly spaced over all
        draws go into one chain (ArviZ expects ``chain`` no longer than ``draw``).
    """
    if num_samples < 1:
        raise PPCConfigError(f"num_samples must be at least 1; got {num_samples}")
    grid = np.stack(np.meshgrid(np.arange(num_chains), np.arange(num_draws), indexing="ij"), -1)
    if num_chains * num_draws <= num_samples:
        return grid
    per_chain = num_samples // num_chains
    if per_chain >= num_chains:
        keep = np.unique(np.linspace(0, num_draws - 1, per_chain).round().astype(int))
        return grid[:, keep]
    flat = grid.reshape(-1, 2)
    keep = np.unique(np.linspace(0, len(flat) - 1, num_samples).round().astype(int))
    return flat[keep][None]
