"""Posterior and prior predictive checks of a fit, as an ArviZ ``DataTree``.

Layout of a predictive-check tree (``kind = "stereo_ppl.ppc"``):

==================== ===========================================================
group                variables (dims)
==================== ===========================================================
posterior_predictive lamost_flux_rep (chain, draw, star, lamost_pixel)
prior_predictive     lamost_flux_rep (chain, draw, star, lamost_pixel)
observed_data        lamost_flux (star, lamost_pixel)
log_likelihood       lamost_flux (chain, draw, star): log p(F2_i | draw), summed
                     over the star's good pixels (one observation per star)
constant_data        apogee_flux (star, apogee_pixel), lamost_ivar (star, lamost_pixel)
==================== ===========================================================

Masked pixels (``lamost_ivar == 0``) have no predictive noise defined: they
are NaN in ``lamost_flux_rep`` and in ``observed_data`` and are left out of
every calibration number. The root attribute ``predictive`` says what the
replicates are: ``"posterior"`` (one replicate per posterior draw, thinned to
at most ``num_samples``) or ``"plug-in"`` (a fit with one draw, a point
estimate: ``num_samples`` replicates at that point, which ignores parameter
uncertainty). ``log_likelihood`` has the posterior draws used (one for a
plug-in predictive).

ArviZ's PPC plots pair a predictive variable with the ``observed_data``
variable of the same name; :func:`arviz_view` renames ``lamost_flux_rep`` to
``lamost_flux`` (no copy) for them.
"""

import json
from collections.abc import Sequence

import arviz_base
import numpy as np
import numpyro
import xarray as xr

from .._version import __version__
from ..data.validate import dim_coords
from ..dims import LAMOST_PIXEL, STAR
from ..inference.fitted import fitted_model, variant_data
from ..inference.loglik import model_log_likelihood_per_star
from ..models import eq12
from .draw import SITE, draw_replicates
from .select import PPCConfigError, check_same_pixels, fit_draws, select_draws, select_stars

__all__ = ["PPC_KIND", "REP", "arviz_view", "posterior_predictive"]

#: Root attribute ``kind`` of a predictive-check tree.
PPC_KIND = "stereo_ppl.ppc"
#: Name of the replicated LAMOST flux in the predictive groups.
REP = "lamost_flux_rep"


def posterior_predictive(
    rng_key,
    fit: xr.DataTree,
    paired: xr.Dataset,
    *,
    stars: Sequence[int] | np.ndarray | str | None = None,
    max_stars: int | None = None,
    num_samples: int = 100,
    num_prior_samples: int | None = None,
    chunk_size: int | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> xr.DataTree:
    """Replicated LAMOST spectra of chosen stars from a fit, with the prior predictive.

    Parameters
    ----------
    rng_key : jax.Array
        PRNG key of the predictive noise.
    fit : xarray.DataTree
        A fit (any method). One draw is a point estimate: its predictive is the
        plug-in predictive, marked ``predictive = "plug-in"``.
    paired : xarray.Dataset
        Paired dataset on the fit's pixel grids: the stars' APOGEE flux, LAMOST
        ivar and observed LAMOST flux.
    stars : None, "all" or sequence of int
        Stars to check (see :func:`~stereo_ppl.ppc.select.select_stars`);
        default: every star that did not train the fit.
    max_stars : int, optional
        Keep at most this many stars, evenly spaced.
    num_samples : int
        Most predictive draws kept (posterior draws are thinned evenly).
        Memory: ``4 * num_samples * num_stars * num_lamost_pixels`` bytes
        in float32 (plus the same per prior draw).
    num_prior_samples : int, optional
        Prior predictive draws (default ``min(num_samples, 20)``; 0: none).
    chunk_size : int, optional
        Stars per computation chunk (default: about 2**24 values per chunk).
    seed : int, optional
        The integer ``rng_key`` was made from, recorded in the result.
    progress : bool
        Show a progress bar (stderr).

    Returns
    -------
    xarray.DataTree
        See the module docstring. If interrupted (Ctrl-C) after the first
        chunk, the finished stars only, with root attribute ``interrupted = 1``.

    Raises
    ------
    PPCConfigError
        On bad options or a malformed fit.
    PairedDataError
        If ``paired`` is not on the fit's pixel grids.
    """
    fit_draws(fit)  # the eq. 1-2 sites are there, with their dims
    model = fitted_model(fit)
    params = model.draws
    check_same_pixels(fit, paired)
    index = select_stars(fit, paired, stars, max_stars=max_stars)
    num_prior = min(num_samples, 20) if num_prior_samples is None else int(num_prior_samples)
    if num_prior < 0:
        raise PPCConfigError(f"num_prior_samples must be 0 or more; got {num_prior}")
    picks = select_draws(*params["b_F"].shape[:2], num_samples)
    chosen = {k: v[picks[..., 0], picks[..., 1]] for k, v in params.items()}
    num_latent = model.num_latent
    b_F_prior_mean = model.b_F_prior_mean
    # the model's inputs for every star (bad survey-1 pixels filled as fitted), then the subset
    data = variant_data(fit, paired, model).take(index)
    subset = paired.isel({STAR: index}).assign(
        apogee_flux=(paired["apogee_flux"].dims, np.asarray(data.base.apogee_flux))
    )

    rep, prior, done = draw_replicates(
        rng_key,
        data,
        model=model.variant.model,
        num_latent=num_latent,
        b_F_prior_mean=b_F_prior_mean,
        samples={k: v.reshape(-1, *v.shape[2:]) for k, v in chosen.items()},
        num_samples=num_samples,
        num_prior_samples=num_prior,
        chunk_size=chunk_size,
        progress=progress,
    )
    plug_in = params["b_F"].shape[0] * params["b_F"].shape[1] == 1
    if done < len(index):
        subset, rep = subset.isel({STAR: slice(0, done)}), rep[:, :done]
        prior = None if prior is None else prior[:, :done]
        data = data.take(np.arange(done))
    loglik = model_log_likelihood_per_star(model.bound, chosen, data)

    config = {
        "num_samples": num_samples,
        "num_prior_samples": num_prior,
        "max_stars": max_stars,
        "stars": stars if stars is None or isinstance(stars, str) else "explicit",
        "chunk_size": chunk_size,
    }
    attrs = {
        "kind": PPC_KIND,
        "stereo_ppl_version": __version__,
        "num_latent": num_latent,
        "method": str(fit.attrs.get("method", "unknown")),
        "predictive": "plug-in" if plug_in else "posterior",
        "seed": -1 if seed is None else int(seed),
        "fit_seed": int(fit.attrs.get("seed", -1)),
        "fit_config": str(fit.attrs.get("config", "{}")),
        "config": json.dumps(config, sort_keys=True),
        "b_F_prior_mean": b_F_prior_mean,
        "model": model.name,
        "num_stars": int(subset.sizes[STAR]),
        "interrupted": int(done < len(index)),
        "masked_pixels": "lamost_ivar == 0: NaN in predictive and observed, not calibrated",
    }
    point = eq12.noise_params(model.point())
    noise = {k: ((LAMOST_PIXEL,) * np.ndim(v), v) for k, v in point.items()}
    return _tree(subset.assign(noise), rep, prior, loglik, picks, plug_in=plug_in, attrs=attrs)


def _tree(subset, rep, prior, loglik, picks, *, plug_in, attrs) -> xr.DataTree:
    """Assemble the groups; ``rep`` is (replicate, star, pixel), ``loglik`` (c, d, star)."""
    library = arviz_base.make_attrs(inference_library=numpyro)
    pixel_dims = (STAR, LAMOST_PIXEL)
    star_coords = dim_coords(subset, STAR)
    pixel_coords = dim_coords(subset, LAMOST_PIXEL)
    good = np.asarray(subset["lamost_ivar"].values) > 0

    def predictive(values, chains, draws, kind):
        values = values.reshape(chains, draws, *values.shape[1:])
        return xr.Dataset(
            {REP: (("chain", "draw", *pixel_dims), values, {"long_name": kind})},
            coords={"chain": np.arange(chains), "draw": np.arange(draws)}
            | star_coords
            | pixel_coords,
            attrs=library,
        )

    chains, draws = (1, rep.shape[0]) if plug_in else picks.shape[:2]
    post = predictive(rep, chains, draws, f"replicated survey-2 flux, {attrs['predictive']}")
    if not plug_in:
        post = post.assign_coords(
            source_chain=(("chain", "draw"), picks[..., 0]),
            source_draw=(("chain", "draw"), picks[..., 1]),
        )
    post.attrs["predictive"] = attrs["predictive"]
    flux = np.where(good, subset["lamost_flux"].values, np.nan)
    groups = {
        "posterior_predictive": post,
        "observed_data": xr.Dataset(
            {SITE: (pixel_dims, flux, {"long_name": "survey-2 normalised flux, NaN if masked"})},
            coords=star_coords | pixel_coords,
            attrs=library,
        ),
        "log_likelihood": xr.Dataset(
            {SITE: (("chain", "draw", STAR), loglik, {"long_name": "log p(F2_i | draw)"})},
            coords={"chain": np.arange(picks.shape[0]), "draw": np.arange(picks.shape[1])}
            | star_coords,
            attrs=library,
        ),
        "constant_data": subset[
            ["apogee_flux", "lamost_ivar", *(k for k in eq12.NOISE_SITES if k in subset)]
        ].assign_attrs(library),
    }
    if prior is not None:
        groups["prior_predictive"] = predictive(
            prior, 1, prior.shape[0], "replicated survey-2 flux, prior predictive"
        )
    tree = xr.DataTree.from_dict(groups)
    tree.attrs = {**attrs, **arviz_base.make_attrs()}
    return tree


def arviz_view(ppc: xr.DataTree) -> xr.DataTree:
    """The tree with ``lamost_flux_rep`` renamed ``lamost_flux`` in the predictive groups.

    ArviZ's ``plot_ppc_*`` functions look up the observed variable of the
    same name; this view (no data copied) is what they need.
    """
    groups = {}
    for name, node in ppc.children.items():
        ds = node.to_dataset()
        if REP in ds:
            ds = ds.rename_vars({REP: SITE})
        groups[name] = ds
    tree = xr.DataTree.from_dict(groups)
    tree.attrs = dict(ppc.attrs)
    return tree
