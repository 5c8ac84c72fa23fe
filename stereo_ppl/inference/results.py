"""Fit results as an ArviZ ``DataTree`` (no file I/O here).

Layout of a fit (groups and variables):

================ ================================================================
group            variables (dims)
================ ================================================================
posterior        beta_z (chain, draw, latent, apogee_pixel),
                 beta_F (chain, draw, lamost_pixel, latent),
                 b_F (chain, draw, lamost_pixel), z (chain, draw, star, latent)
observed_data    lamost_flux (star, lamost_pixel)
constant_data    apogee_flux (star, apogee_pixel), lamost_ivar (star, lamost_pixel),
                 apogee_ivar where known, heldout (star) bool
log_likelihood   lamost_flux (chain, draw, star): log likelihood of each star's spectrum
log_joint        train, heldout, seconds (step): the log joint recorded during the fit
                 (AdamW steps for ``map``; solver iterations for ``exact``, ``laplace``
                 and the MAP stage of ``vi``)
elbo             elbo, seconds (step): the ELBO during VI (``vi`` only)
================ ================================================================

A point estimate (``map``, ``exact``) has one chain and one draw; ``laplace``
and ``vi`` have one chain and ``num_samples`` draws. Root attributes: ``stereo_ppl_version``,
``num_latent``, ``model``, ``method``, ``seed``, ``b_F_prior_mean``, ``config`` (JSON),
``survey1`` and ``survey2`` (the surveys in the two roles, copied from the paired
dataset; see :mod:`stereo_ppl.data.paired`). A fit of a paired dataset read by
:func:`stereo_ppl.io.load_paired` also names that file: ``paired_path``,
``paired_size`` (bytes) and ``paired_checksum``
(:func:`stereo_ppl.io.fit_data.data_checksum`).

``observed_data`` and every ``constant_data`` variable that its attribute
``paired_variables`` lists are copies of the paired dataset; a fit file
leaves them out (:mod:`stereo_ppl.io.fit_data`) and keeps the rest.

A model variant (:data:`stereo_ppl.models.MODELS`) adds its own sites to
``posterior`` with the dims its module declares (e.g. ``beta_l`` (chain, draw,
label, latent) with the label names as the ``label`` coordinate) and its
constants to ``constant_data`` (e.g. ``label_mean``, ``label_scale``); the
``log_likelihood`` group always holds the survey-2 spectra alone, so fits of
different models compare on the same footing.
The saved ``beta_z``, ``beta_F``, ``b_F`` mean exactly what eq. 1–2 say on
the stored ``apogee_flux``: ``F2_hat = beta_F @ (beta_z @ F1) + b_F``.
"""

import json
from collections.abc import Mapping
from typing import Any

import arviz_base
import numpy as np
import numpyro
import xarray as xr

from .._version import __version__
from ..data.validate import survey_names
from ..dims import (
    APOGEE_PIXEL,
    FIT_KIND,
    LAMOST_PIXEL,
    LATENT,
    PAIRED_ENCODING,
    PAIRED_REFERENCE,
    PAIRED_VARIABLES,
    STAR,
    STEP,
)
from ..models import PARAM_SITES, SITE_DIMS

__all__ = ["fit_datatree", "params_from_datatree"]

_SAMPLE_DIMS = ("chain", "draw")


def fit_datatree(
    paired: xr.Dataset,
    params: Mapping[str, np.ndarray],
    *,
    heldout: np.ndarray,
    method: str,
    seed: int | None,
    config: Mapping[str, Any],
    log_joint: tuple[np.ndarray, ...] | None = None,
    log_likelihood: np.ndarray | None = None,
    extra_groups: Mapping[str, xr.Dataset] | None = None,
    attrs: Mapping[str, Any] | None = None,
    model: str = "base",
    site_dims: Mapping[str, tuple[str, ...]] | None = None,
    coords: Mapping[str, Any] | None = None,
    constants: Mapping[str, tuple] | None = None,
) -> xr.DataTree:
    """Assemble a fit's ``DataTree``.

    Parameters
    ----------
    paired : xarray.Dataset
        The paired dataset that was fitted (all stars, training and held out).
    params : mapping
        ``beta_z`` (chain, draw, latent, apogee_pixel), ``beta_F`` (chain, draw,
        lamost_pixel, latent), ``b_F`` (chain, draw, lamost_pixel), and every
        further site of ``site_dims``. Arrays without the two sample axes are
        taken as one draw (MAP).
    heldout : ndarray of int, shape (num_heldout,)
        Indices of the held-out stars.
    method : str
        ``"map"``, ``"exact"``, ``"vi"``, ...
    seed : int or None
        Seed of the fit's PRNG key.
    config : mapping
        The options of the fit (stored as JSON in the ``config`` attribute).
    log_joint : (step, train, heldout, seconds), optional
        Arrays of shape (num_records,) from the optimisation trace.
    log_likelihood : ndarray, shape (chain, draw, star), optional
        Log likelihood of each star's LAMOST spectrum per draw, stored as
        ``lamost_flux`` in the ``log_likelihood`` group (what ArviZ's LOO reads).
    extra_groups : mapping of str to xarray.Dataset, optional
        Further groups (e.g. ``elbo``).
    attrs : mapping, optional
        More root attributes (solver iterations, gradient norm, ...).
    model : str
        Name of the model fitted (root attribute ``model``).
    site_dims : mapping of str to tuple of str, optional
        Dims of each stored site without (chain, draw); default the base
        model's (:data:`stereo_ppl.models.SITE_DIMS`).
    coords : mapping, optional
        Coordinates of dims the base model lacks (e.g. ``label``).
    constants : mapping of str to (dims, values, attrs), optional
        Further ``constant_data`` variables (e.g. ``label_mean``).

    Returns
    -------
    xarray.DataTree
    """
    site_dims = dict(SITE_DIMS if site_dims is None else site_dims)
    draws = {}
    for name, site in site_dims.items():
        value = np.asarray(params[name])
        if value.ndim == len(site):
            value = value[None, None]
        draws[name] = value
    num_latent = draws["beta_z"].shape[-2]
    f1 = np.asarray(paired["apogee_flux"].values, dtype=draws["beta_z"].dtype)
    draws["z"] = np.swapaxes(draws["beta_z"] @ f1.T, -1, -2)  # (chain, draw, star, latent)
    dims = {**site_dims, "z": (STAR, LATENT)}

    star_coords = paired[STAR].coords
    posterior = xr.Dataset(
        {name: (_SAMPLE_DIMS + dims[name], value) for name, value in draws.items()},
        coords={
            "chain": np.arange(draws["b_F"].shape[0]),
            "draw": np.arange(draws["b_F"].shape[1]),
            LATENT: np.arange(num_latent),
            **paired[APOGEE_PIXEL].coords,
            **paired[LAMOST_PIXEL].coords,
            **star_coords,
            **dict(coords or {}),
        },
    )
    is_heldout = np.zeros(paired.sizes[STAR], dtype=bool)
    is_heldout[np.asarray(heldout, dtype=int)] = True
    copied = paired.drop_vars("lamost_flux")
    constant = copied.assign(
        heldout=(STAR, is_heldout, {"long_name": "star held out of the fit"}),
        **dict(constants or {}),
    )
    constant.attrs[PAIRED_VARIABLES] = json.dumps(list(copied.data_vars))
    library = arviz_base.make_attrs(inference_library=numpyro)
    groups = {
        "posterior": posterior.assign_attrs(library),
        "observed_data": paired[["lamost_flux"]].assign_attrs(library),
        "constant_data": constant.assign_attrs(library),
    }
    if log_joint is not None:
        step, train, held, seconds = (np.asarray(a) for a in log_joint)
        groups["log_joint"] = xr.Dataset(
            {
                "train": (STEP, train, {"long_name": "log prior + log likelihood, training stars"}),
                "heldout": (
                    STEP,
                    held,
                    {"long_name": "log prior + log likelihood, held-out stars"},
                ),
                "seconds": (
                    STEP,
                    seconds,
                    {"long_name": "wall-clock time since start", "units": "s"},
                ),
            },
            coords={STEP: step},
        )
    if log_likelihood is not None:
        groups["log_likelihood"] = xr.Dataset(
            {"lamost_flux": ((*_SAMPLE_DIMS, STAR), np.asarray(log_likelihood))},
            coords={
                "chain": posterior["chain"],
                "draw": posterior["draw"],
                **star_coords,
            },
        ).assign_attrs(library)
    tree = xr.DataTree.from_dict({**groups, **dict(extra_groups or {})})
    tree.attrs = {
        "kind": FIT_KIND,
        "stereo_ppl_version": __version__,
        "num_latent": num_latent,
        "model": model,
        "method": method,
        "seed": -1 if seed is None else int(seed),
        "config": json.dumps(dict(config), sort_keys=True, default=str),
        "num_heldout": int(is_heldout.sum()),
        **dict(zip(("survey1", "survey2"), survey_names(paired), strict=True)),
        **arviz_base.make_attrs(),
        **_recorded_reference(paired),
        **dict(attrs or {}),
    }
    return tree


def _recorded_reference(paired: xr.Dataset) -> dict:
    """The paired file's reference that :func:`stereo_ppl.io.load_paired` left in the encoding."""
    found = paired.encoding.get(PAIRED_ENCODING) or {}
    return {name: found[name] for name in PAIRED_REFERENCE if name in found}


def params_from_datatree(
    tree: xr.DataTree, *, chain: int = 0, draw: int = 0, sites=PARAM_SITES
) -> dict:
    """The parameters of one draw of a fit, as NumPy arrays.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.
    chain, draw : int
        Which draw.
    sites : sequence of str
        The sites to return (default the eq. 1–2 parameters; e.g. add
        ``beta_l``, ``b_l``, ``label_scatter`` for the labels model).

    Returns
    -------
    dict
        ``beta_z`` (latent, apogee_pixel), ``beta_F`` (lamost_pixel, latent),
        ``b_F`` (lamost_pixel,), and any further sites asked for.
    """
    posterior = tree["posterior"]
    return {name: np.asarray(posterior[name].isel(chain=chain, draw=draw).values) for name in sites}
