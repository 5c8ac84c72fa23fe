"""Built-in pairs of the synthetic surveys: survey 1 and survey 2 as roles.

:func:`make_builtin_pair` pairs two of the built-in surveys of the same stars
(the same labels, the same "physics"): APOGEE and LAMOST from
:func:`~stereo_ppl.datasets.make_builtin`, GALAH from
:func:`~stereo_ppl.datasets.make_galah` of that survey. Survey 1 is APOGEE or
GALAH, survey 2 LAMOST or GALAH (:data:`PAIRS`). As in every paired dataset
(:mod:`stereo_ppl.data.paired`) the variables keep their role names:
``apogee_*`` hold survey 1 and ``lamost_*`` survey 2, and the attributes
``survey1``/``survey2`` say which surveys they are, so a GALAH → LAMOST pair
fits, scores and denoises like the seed's APOGEE → LAMOST pair.
"""

from typing import NamedTuple

import numpy as np
import xarray as xr

from .. import __version__
from ..data.paired import make_paired
from ..dims import APOGEE_PIXEL, LAMOST_PIXEL, STAR
from .builtin import BuiltinSurvey, make_builtin
from .galah import GALAH_PIXELS_PER_CCD, make_galah
from .labels import LABEL_NAMES, LABEL_UNITS
from .linelist import LINELIST_SEED

__all__ = ["PAIRS", "SURVEY1_CHOICES", "SURVEY2_CHOICES", "make_builtin_pair"]

#: Surveys that can fill role 1 (the encoder's input) and role 2 (the decoded spectrum).
SURVEY1_CHOICES = ("apogee", "galah")
SURVEY2_CHOICES = ("lamost", "galah")
#: The built-in pairs, ``"survey1-survey2"``.
PAIRS = ("apogee-lamost", "galah-lamost", "apogee-galah")

_SOURCE = "stereo_ppl.datasets.make_builtin_pair"
#: Per-star LAMOST truth copied when LAMOST is survey 2.
_LAMOST_TRUTH = (
    "lamost_artefact",
    "lamost_step_pixel",
    "lamost_step_blue",
    "lamost_step_red",
)


class _Spectra(NamedTuple):
    """One survey's spectra of the stars, ready for a role."""

    flux: np.ndarray  # (num_stars, num_pixels) float32
    ivar: np.ndarray  # (num_stars, num_pixels) float32
    true: np.ndarray  # (num_stars, num_pixels) float64
    wavelength: np.ndarray  # (num_pixels,) vacuum Angstrom
    pixel: np.ndarray  # (num_pixels,) index on the survey's full grid
    ids: np.ndarray  # (num_stars,)


def _survey(name, role: int) -> str:
    choices = SURVEY1_CHOICES if role == 1 else SURVEY2_CHOICES
    key = name.lower() if isinstance(name, str) else name
    if key not in choices:
        raise ValueError(
            f"survey{role} must be one of {', '.join(choices)} (any case); got {name!r}"
        )
    return key


def _spectra(name: str, builtin: BuiltinSurvey, galah: xr.Dataset | None) -> _Spectra:
    paired, truth = builtin.paired, builtin.truth
    if name == "galah":
        return _Spectra(
            galah["galah_flux"].values,
            galah["galah_ivar"].values,
            galah["galah_flux_true"].values,
            galah["galah_wavelength"].values,
            np.arange(galah.sizes["galah_pixel"]),
            galah["sobject_id"].values,
        )
    dim, ids = (APOGEE_PIXEL, "apogee_id") if name == "apogee" else (LAMOST_PIXEL, "obsid")
    return _Spectra(
        paired[f"{name}_flux"].values,
        paired[f"{name}_ivar"].values,
        truth[f"{name}_flux_true"].values,
        paired[f"{name}_wavelength"].values,
        paired[dim].values,
        paired[ids].values,
    )


def make_builtin_pair(
    seed: int | np.random.Generator,
    *,
    survey1: str = "galah",
    survey2: str = "lamost",
    num_stars: int = 1100,
    apogee_snr: float | None = None,
    lamost_snr: float | np.ndarray | None = None,
    galah_snr: float | np.ndarray | None = None,
    galah_pixels_per_ccd: int = GALAH_PIXELS_PER_CCD,
    artefacts: bool = True,
    bad_pixels: bool = True,
) -> BuiltinSurvey:
    """A built-in paired dataset of two chosen surveys, with known truth.

    Parameters
    ----------
    seed : int or numpy.random.Generator
        Seeds everything, as for :func:`~stereo_ppl.datasets.make_builtin`
        (whose stars, APOGEE and LAMOST spectra these are, identically) and
        :func:`~stereo_ppl.datasets.make_galah` (its GALAH spectra of them).
        The int seed is stored in ``attrs["seed"]``.
    survey1 : {"apogee", "galah"}
        Survey 1 (any case): stored in ``apogee_*``.
    survey2 : {"lamost", "galah"}
        Survey 2 (any case), not the same as survey 1: stored in ``lamost_*``.
    num_stars : int
        Number of stars.
    apogee_snr, lamost_snr : optional
        As for :func:`~stereo_ppl.datasets.make_builtin`.
    galah_snr : float or array of shape (num_stars,), optional
        ``snr`` of :func:`~stereo_ppl.datasets.make_galah`.
    galah_pixels_per_ccd : int
        Pixels of each of the four GALAH CCDs (fewer make a smaller, coarser
        but equally valid spectrum, e.g. for tests).
    artefacts, bad_pixels : bool
        LAMOST artefacts and bad pixels, as for
        :func:`~stereo_ppl.datasets.make_builtin`.

    Returns
    -------
    BuiltinSurvey
        ``paired``: dims ``star``, ``apogee_pixel`` (survey 1: 7,514 APOGEE
        pixels or ``4 * galah_pixels_per_ccd`` GALAH pixels), ``lamost_pixel``
        (survey 2: 3,909 LAMOST or the GALAH pixels); ``apogee_id`` holds the
        survey-1 id as text (APOGEE id, or GALAH ``sobject_id``), ``obsid``
        the survey-2 id (LAMOST ``obsid`` or GALAH ``sobject_id``); attributes
        ``survey1``, ``survey2`` (``"APOGEE"``, ``"LAMOST"``, ``"GALAH"``),
        ``seed``, ``num_stars``. ``truth``: ``labels`` (star, label),
        ``apogee_flux_true`` (star, apogee_pixel) and ``lamost_flux_true``
        (star, lamost_pixel), the noiseless spectra of the two roles, and,
        when LAMOST is survey 2, ``lamost_artefact`` and the arm steps as in
        :func:`~stereo_ppl.datasets.make_builtin`.

    Raises
    ------
    ValueError
        An unknown survey, the same survey in both roles, or a bad option.
    """
    s1, s2 = _survey(survey1, 1), _survey(survey2, 2)
    if s1 == s2:
        raise ValueError(f"survey1 and survey2 must differ; both are {survey1!r}")
    builtin = make_builtin(
        seed,
        num_stars=num_stars,
        apogee_snr=apogee_snr,
        lamost_snr=lamost_snr,
        artefacts=artefacts,
        bad_pixels=bad_pixels,
    )
    seed = int(builtin.paired.attrs["seed"])
    galah = None
    if "galah" in (s1, s2):
        galah = make_galah(builtin, seed=seed, snr=galah_snr, pixels_per_ccd=galah_pixels_per_ccd)
    one, two = _spectra(s1, builtin, galah), _spectra(s2, builtin, galah)
    attrs = {
        "source": _SOURCE,
        "seed": seed,
        "num_stars": int(num_stars),
        "stereo_ppl_version": __version__,
        "linelist_seed": LINELIST_SEED,
    }
    if galah is not None:
        attrs["galah_pixels_per_ccd"] = int(galah_pixels_per_ccd)
    paired = make_paired(
        apogee_flux=one.flux,
        apogee_ivar=one.ivar,
        lamost_flux=two.flux,
        lamost_ivar=two.ivar,
        apogee_wavelength=one.wavelength,
        lamost_wavelength=two.wavelength,
        apogee_id=np.asarray(one.ids).astype(str),
        obsid=np.asarray(two.ids, dtype=np.int64),
        apogee_pixel=one.pixel,
        lamost_pixel=two.pixel,
        attrs=attrs,
        survey1=s1.upper(),
        survey2=s2.upper(),
    )
    return BuiltinSurvey(paired, _truth(paired, builtin, one, two, lamost=s2 == "lamost"))


def _truth(paired, builtin, one: _Spectra, two: _Spectra, *, lamost: bool) -> xr.Dataset:
    """Labels and noiseless spectra of both roles (and LAMOST's artefacts if it is survey 2)."""
    coords = dict(paired.coords)
    coords["label"] = ("label", list(LABEL_NAMES))
    coords["label_unit"] = ("label", list(LABEL_UNITS))
    survey1, survey2 = paired.attrs["survey1"], paired.attrs["survey2"]
    data = {
        "labels": ((STAR, "label"), builtin.truth["labels"].values, builtin.truth["labels"].attrs),
        "apogee_flux_true": (
            (STAR, APOGEE_PIXEL),
            one.true,
            {"long_name": f"noiseless survey-1 ({survey1}) normalised flux"},
        ),
        "lamost_flux_true": (
            (STAR, LAMOST_PIXEL),
            two.true,
            {"long_name": f"noiseless survey-2 ({survey2}) normalised flux"},
        ),
    }
    attrs = dict(paired.attrs)
    if lamost:
        for name in _LAMOST_TRUTH:
            var = builtin.truth[name]
            data[name] = (var.dims, var.values, var.attrs)
        for name in ("artefact_flag_values", "artefact_flag_meanings", "lamost_bad_columns"):
            attrs[name] = builtin.truth.attrs[name]
    return xr.Dataset(data, coords=coords, attrs=attrs)
