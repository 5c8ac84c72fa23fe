"""From a fit to a :class:`~.core.DenoiseSetup`: decoder, prior, noise model, masks.

No file I/O: the fit is an in-memory ``DataTree`` (see
:mod:`stereo_ppl.inference.results`).
"""

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..dims import LAMOST_WAVELENGTH
from ..errors import StereoPPLError
from ..inference.fitted import fitted_model, require_linear
from ..inference.results import params_from_datatree
from .arrays import setup_arrays, setup_from_arrays
from .columns import find_bad_columns
from .core import DenoiseSetup
from .flags import ArtefactThresholds
from .flagscatter import estimate_flag_scatters
from .linalg import Decoder, make_decoder
from .noise import estimate_scatter, misfit_basis
from .stepfilters import searchable_range

__all__ = [
    "DEFAULT_CONTINUUM_DEGREE",
    "DEFAULT_SKY_LINES",
    "DEFAULT_STEP_RANGE",
    "PRIORS",
    "continuum_columns",
    "find_bad_columns",
    "latent_prior",
    "make_setup",
    "pixel_mask",
    "setup_arrays",
    "setup_from_arrays",
]

#: Night-sky emission lines (vacuum Angstrom) whose residuals get code 4:
#: [O I] 5578.9, Na D 5891.6/5897.6, [O I] 6302.0 and 6365.5.
DEFAULT_SKY_LINES = (5578.89, 5891.58, 5897.56, 6302.05, 6365.54)
#: Wavelengths (Angstrom) searched for a step: LAMOST's blue/red arm join.
DEFAULT_STEP_RANGE = (5600.0, 6100.0)
#: Degree of the smooth continuum correction fitted with ``z`` (:func:`make_setup`).
DEFAULT_CONTINUUM_DEGREE = 4
#: Priors on ``z`` that :func:`make_setup` knows.
PRIORS = ("none", "empirical")


def latent_prior(tree: xr.DataTree) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the training stars' ``z`` in a fit.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (posterior ``z`` (chain, draw, star, latent), constant_data
        ``heldout``).

    Returns
    -------
    mean : ndarray, shape (c,)
    covariance : ndarray, shape (c, c)
    """
    z = np.asarray(tree["posterior"]["z"].isel(chain=0, draw=0).values, dtype=np.float64)
    heldout = tree["constant_data"].to_dataset().get("heldout")
    if heldout is not None and not np.all(heldout.values):
        z = z[~np.asarray(heldout.values, dtype=bool)]
    if z.shape[0] < 2:
        raise StereoPPLError("the fit has fewer than 2 training stars: no empirical prior on z")
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    # a tiny ridge keeps the covariance invertible when c is close to the star count
    cov += 1e-6 * np.mean(np.diag(cov)) * np.eye(cov.shape[0])
    return z.mean(axis=0), cov


def continuum_columns(wavelength: np.ndarray, b_F: np.ndarray, degree: int) -> np.ndarray:
    """``b_F`` times Legendre polynomials of degree 1 to ``degree`` over the grid.

    Parameters
    ----------
    wavelength : array, shape (m,)
    b_F : array, shape (m,)
    degree : int

    Returns
    -------
    ndarray, shape (m, degree)
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    x = 2.0 * (wavelength - wavelength[0]) / max(wavelength[-1] - wavelength[0], 1e-12) - 1.0
    basis = np.polynomial.legendre.legvander(x, max(int(degree), 0))[:, 1:]
    return np.asarray(b_F, dtype=np.float64)[:, None] * basis


def pixel_mask(wavelength: np.ndarray, centres: Sequence[float], *, halfwidth: int) -> np.ndarray:
    """Pixels within ``halfwidth`` pixels of each wavelength in ``centres``.

    Parameters
    ----------
    wavelength : array, shape (m,)
        Increasing grid, Angstrom.
    centres : sequence of float
        Wavelengths, Angstrom.
    halfwidth : int

    Returns
    -------
    ndarray of bool, shape (m,)
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    mask = np.zeros(wavelength.size, dtype=bool)
    for centre in centres:
        k = int(np.argmin(np.abs(wavelength - centre)))
        if wavelength[0] <= centre <= wavelength[-1]:
            mask[max(k - halfwidth, 0) : k + halfwidth + 1] = True
    return mask


def _posterior_mean(tree: xr.DataTree, name: str) -> np.ndarray | None:
    """Mean over chain and draw of a posterior variable, None where the fit has none."""
    posterior = tree["posterior"].to_dataset()
    if name not in posterior:
        return None
    return np.asarray(posterior[name].mean(dim=("chain", "draw")).values, dtype=np.float64)


def _calibration_stars(tree: xr.DataTree, *, min_heldout: int = 30) -> tuple[np.ndarray, bool]:
    """The fit's stars to estimate the scatter on, and whether they are held out.

    Held-out stars if at least ``min_heldout``, else all: training stars are
    fitted by the decoder itself, so their residuals understate its error on
    new stars.
    """
    num = tree["observed_data"]["lamost_flux"].shape[0]
    heldout = tree["constant_data"].to_dataset().get("heldout")
    if heldout is not None and int(np.sum(heldout.values)) >= min_heldout:
        return np.flatnonzero(np.asarray(heldout.values, dtype=bool)), True
    return np.arange(num), False


def _training_misfit(
    tree: xr.DataTree, setup: DenoiseSetup, num: int, *, batch_size: int
) -> tuple[np.ndarray, int]:
    """:func:`misfit_basis` of the fit's training stars (all where none is held out), and
    how many they are."""
    if "observed_data" not in tree.children or "lamost_flux" not in tree["observed_data"]:
        raise StereoPPLError(
            "misfit components are learned from the fit's stars' spectra (its paired file "
            "was not found): load it with its paired dataset"
        )
    flux = np.asarray(tree["observed_data"]["lamost_flux"].values)
    ivar = np.asarray(tree["constant_data"]["lamost_ivar"].values)
    heldout = tree["constant_data"].to_dataset().get("heldout")
    if heldout is not None and not np.all(heldout.values):
        train = ~np.asarray(heldout.values, dtype=bool)
        flux, ivar = flux[train], ivar[train]
    return misfit_basis(setup, flux, ivar, num, batch_size=batch_size), flux.shape[0]


def _step_search(wavelength: np.ndarray, step_range, window: int) -> tuple[tuple[int, int], str]:
    """Candidate step centres on the grid, and what the output's attributes say about them."""
    if step_range is None:
        return (0, 0), "off"
    m = wavelength.size
    lo, hi = (int(v) for v in np.searchsorted(wavelength, step_range))
    got = searchable_range((lo, hi), m, window)
    wanted = f"{step_range[0]:.1f}-{step_range[1]:.1f} Angstrom"
    if got == (0, 0):
        return got, (
            f"skipped: the grid ({wavelength[0]:.1f}-{wavelength[-1]:.1f} Angstrom) lacks "
            f"{wanted} with {window + 2} pixels to spare on each side"
        )
    span = f"{wavelength[got[0]]:.1f}-{wavelength[got[1] - 1]:.1f} Angstrom"
    if got == (lo, hi):
        return got, span
    return got, f"{span} (the part of {wanted} that the grid covers)"


def _decoder(beta, b, nuisance, mean, cov, dtype) -> Decoder:
    """The decoder ``[beta_F, nuisance]``, flat prior on nuisance terms if ``z`` has one."""
    k = nuisance.shape[1]
    if k and mean is not None:
        mean = np.concatenate([mean, np.zeros(k)])
        # a variance far above any continuum residue or misfit
        cov = np.block(
            [[cov, np.zeros((cov.shape[0], k))], [np.zeros((k, cov.shape[0])), 1e4 * np.eye(k)]]
        )
    return make_decoder(
        np.concatenate([beta, nuisance], axis=1),
        b,
        prior_mean=mean,
        prior_covariance=cov,
        dtype=dtype,
    )


def make_setup(
    tree: xr.DataTree,
    *,
    prior: str = "none",
    scatter: np.ndarray | bool | None = None,
    bad_columns: np.ndarray | Sequence[int] | None = None,
    sky_lines: Sequence[float] = DEFAULT_SKY_LINES,
    sky_halfwidth: int = 4,
    step_range: tuple[float, float] | None = DEFAULT_STEP_RANGE,
    continuum_degree: int = DEFAULT_CONTINUUM_DEGREE,
    misfit_components: int = 0,
    dtype=None,
    batch_size: int = 1024,
) -> DenoiseSetup:
    """Prepare the batched denoiser for a fit, with its calibrated noise model.

    The noise model is ``F2_p ~ Normal(mu_p, a^2 / ivar_p + s_p^2)``. A
    calibrated fit carries ``error_scale`` ``a`` and ``scatter`` ``s_p`` in its
    posterior (their posterior means are used). Fitted on its training stars,
    ``s_p`` understates the decoder's error on new stars, so where the fit
    holds out at least 30 stars ``s_p`` is raised to the estimate from them
    (:func:`estimate_scatter`) wherever that is larger. A fit without them
    (made with the reported errors) gets ``a = 1`` and ``s_p`` estimated from
    its held-out stars (all its stars when fewer than 30 are held out):
    without it the decoder's own misfit, which grows with S/N, would be
    flagged as artefacts.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit; its ``lamost_wavelength`` coordinate is the grid of the spectra
        to denoise.
    prior : {"none", "empirical"}
        ``"empirical"``: a Gaussian prior on ``z`` with the mean and covariance
        of the training stars' ``z`` (MAP instead of least squares).
    scatter : None, bool or array of shape (m,)
        ``s_p`` (flux units). None: the fit's ``scatter`` (raised by the
        held-out stars), else estimated; True: estimated even for a calibrated
        fit; False: 0.
    bad_columns : array of int, optional
        Known bad pixel columns (outliers there are code 3).
    sky_lines : sequence of float
        Sky-line wavelengths, Angstrom (outliers within ``sky_halfwidth``
        pixels are code 4).
    sky_halfwidth : int
        Pixels on either side of a sky line (4 pixels ≈ 280 km/s).
    continuum_degree : int
        Each spectrum's smooth continuum-normalisation residue is fitted with
        ``z`` as ``b_F`` times Legendre polynomials of degree 1 to this in
        wavelength (0: none), so it is neither scatter nor an artefact.
    misfit_components : int
        Patterns of misfit that recur among the fit's training stars
        (:func:`misfit_basis`), fitted to each spectrum with ``z`` like the
        continuum terms (0: none). The scatter ``s_p`` is then what is left
        of the misfit, estimated from the held-out stars (all stars where
        fewer than 30 are held out), and a line the decoder misses in a
        bright star is no longer taken for an artefact. Needs the fit's
        spectra.
    step_range : (float, float) or None
        Wavelengths searched for a step (None: no step search). Only the part
        the grid covers with room for the step filters is searched; none:
        no search (the setup's ``info`` says which).
    dtype : dtype, optional
        Working dtype (default: JAX's default float).
    batch_size : int
        Spectra per batch while estimating the scatter.

    Returns
    -------
    DenoiseSetup
    """
    if prior not in PRIORS:
        raise StereoPPLError(f"unknown prior {prior!r}; choose one of {', '.join(PRIORS)}")
    if misfit_components < 0:
        raise StereoPPLError(f"misfit_components must be >= 0, got {misfit_components}")
    require_linear(fitted_model(tree), "denoise")  # z from survey 2 alone needs a linear decoder
    params = params_from_datatree(tree)
    mean = cov = None
    if prior == "empirical":
        mean, cov = latent_prior(tree)
    wavelength = np.asarray(tree["posterior"][LAMOST_WAVELENGTH].values, dtype=np.float64)
    m = wavelength.size
    beta, b = np.asarray(params["beta_F"]), np.asarray(params["b_F"])
    continuum = continuum_columns(wavelength, b, continuum_degree)
    decoder = _decoder(beta, b, continuum, mean, cov, dtype)
    dtype = decoder.b_F.dtype
    columns = np.zeros(m, dtype=bool)
    if bad_columns is not None:
        columns[np.asarray(bad_columns, dtype=np.int64)] = True
    window = ArtefactThresholds().step_window
    search, search_note = _step_search(wavelength, step_range, window)
    fit_scatter = _posterior_mean(tree, "scatter")
    fit_scale = _posterior_mean(tree, "error_scale")
    error_scale = 1.0 if fit_scale is None else float(fit_scale)
    if not (np.isfinite(error_scale) and error_scale > 0):
        raise StereoPPLError(f"the fit's error_scale is {error_scale}; it must be > 0")
    setup = DenoiseSetup(
        decoder,
        jnp.zeros(m, dtype),
        jnp.asarray(columns),
        jnp.asarray(pixel_mask(wavelength, sky_lines, halfwidth=sky_halfwidth)),
        search,
        error_scale=error_scale,
        num_continuum=continuum.shape[1],
    )
    has_spectra = "observed_data" in tree.children and "lamost_flux" in tree["observed_data"]
    if has_spectra:
        stars, heldout = _calibration_stars(tree)
        observed = np.asarray(tree["observed_data"]["lamost_flux"].values)[stars]
        ivar = np.asarray(tree["constant_data"]["lamost_ivar"].values)[stars]
    else:
        stars, heldout = np.zeros(0, np.int64), False
        observed = ivar = np.zeros((0, m))
        if fit_scatter is None and scatter in (None, True):
            raise StereoPPLError(
                "the fit holds neither a scatter nor its stars' spectra (its paired file "
                "was not found): load it with its paired dataset to estimate the scatter"
            )
    if scatter is False:
        values, how = np.zeros(m), "0"
    elif scatter is None and fit_scatter is not None and not heldout:
        values, how = fit_scatter, "the fit's posterior mean"
    elif scatter is None and fit_scatter is not None:
        # the fit's stars understate its error on new ones: held-out stars may raise it
        estimate = estimate_scatter(setup, observed, ivar, batch_size=batch_size)
        values = np.maximum(fit_scatter, estimate)
        raised = int(np.sum(estimate > fit_scatter))
        how = (
            f"the fit's posterior mean, raised at {raised} pixels to the estimate from "
            f"{len(stars)} held-out stars (estimate_scatter)"
        )
    elif scatter is None or scatter is True:
        values = estimate_scatter(setup, observed, ivar, batch_size=batch_size)
        how = f"estimated from {len(stars)} of the fit's stars (estimate_scatter)"
    else:
        values, how = np.asarray(scatter, dtype=np.float64), "given"
    if values.shape != (m,) or not np.all(np.isfinite(values) & (values >= 0)):
        raise StereoPPLError(f"scatter must be {m} finite values >= 0")
    setup = setup._replace(scatter=jnp.asarray(values, dtype))
    components = "none"
    if misfit_components:
        basis, num_train = _training_misfit(tree, setup, misfit_components, batch_size=batch_size)
        nuisance = np.concatenate([continuum, basis], axis=1)
        setup = setup._replace(
            decoder=_decoder(beta, b, nuisance, mean, cov, dtype), num_continuum=nuisance.shape[1]
        )
        components = (
            f"{basis.shape[1]} patterns of the residuals of {num_train} training stars "
            "(misfit_basis), fitted with z"
        )
        if scatter is None or scatter is True:
            values = estimate_scatter(setup, observed, ivar, batch_size=batch_size)
            setup = setup._replace(scatter=jnp.asarray(values, dtype))
            which = "held-out" if heldout else "of the fit's"
            how = (
                f"what the misfit components leave, estimated from {len(stars)} {which} "
                "stars (estimate_scatter)"
            )
    flag_scatters = estimate_flag_scatters(setup, observed, ivar, batch_size=batch_size)
    a_how = "the fit's posterior mean" if fit_scale is not None else "1 (reported errors)"
    info = (
        ("noise_model", "F2 ~ Normal(F2_hat, a^2 / ivar + s_p^2)"),
        ("noise_error_scale", f"{error_scale:.6g}: {a_how}"),
        ("noise_scatter", how),
        ("run_scatter", f"from {len(stars)} of the fit's stars (estimate_run_scatter)"),
        ("step_scatter", f"from {len(stars)} of the fit's stars (estimate_step_scatter)"),
        ("glitch_scatter", f"from {len(stars)} of the fit's stars (estimate_glitch_scatter)"),
        ("step_search", search_note),
        (
            "continuum",
            f"b_F times Legendre polynomials of degree 1-{continuum_degree}"
            if continuum_degree > 0
            else "none",
        ),
        ("misfit_components", components),
    )
    return setup._replace(
        run_scatter=jnp.asarray(flag_scatters.run, dtype),
        step_scatter=jnp.asarray(flag_scatters.step, dtype),
        glitch_scatter=jnp.asarray(flag_scatters.glitch, dtype),
        info=info,
    )
