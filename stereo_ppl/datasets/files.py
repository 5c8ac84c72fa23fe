"""The built-in dataset written as real survey files, for ``stereo-ppl prepare``.

:func:`write_builtin_files` writes every star of a :class:`BuiltinSurvey` as

* an APOGEE aspcapStar file (the built-in normalised flux on the 8,575-pixel
  grid, 0 in the chip gaps, error ``1 / sqrt(ivar)``, the noiseless flux as
  the ASPCAP model, a one-row results table);
* a LAMOST DR4-layout file in the observed frame: each star gets a radial
  velocity (``z = v / c``, ``v ~ N(0, 50 km/s)``), its grid is the rest-frame
  grid times ``1 + z`` (header ``COEFF0 = 3.5682 + log10(1 + z)``, so that
  shifting back to the rest frame lands on the grid's pixels and the truth
  stays pixel-exact), and the normalised flux is multiplied by a smooth
  continuum (a blackbody at the star's Teff times a throughput, a few
  thousand counts), the ivar divided by its square;
* one row of a joint APOGEE x LAMOST catalogue (FITS): ``APOGEE_ID``, ``RA``,
  ``DEC``, ``SNR``, ``STARFLAG``, ``ASPCAPFLAG``, ``TEFF``, ``LOGG``,
  ``FE_H``, ``ALPHA_M`` (truth plus ASPCAP-like errors) and their ``_ERR``,
  ``obsid``, ``snrz`` (the built-in LAMOST S/N), ``ra``, ``dec``, ``z``,
  ``lmjd``, ``planid``, ``spid``, ``fiberid``.

With ``failing=True`` a few extra rows are added that ``prepare`` must drop,
one per cut and per kind of bad input (see :data:`FAILING_ROWS`).
:func:`prepared_truth` gives the truth of the stars ``prepare`` kept, with
the noiseless LAMOST flux normalised by the same continuum estimate.
"""

from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr
from astropy.table import Table

from ..data.grids import APOGEE_NUM_PIXELS, lamost_grid
from ..io.writers import (
    LAMOST_COEFF0,
    lamost_file_name,
    write_aspcapstar,
    write_catalogue,
    write_lamost_dr4,
)
from ..preprocess import preprocess_lamost
from .builtin import BuiltinSurvey
from .spectra import apogee_pixels

__all__ = ["FAILING_ROWS", "BuiltinFiles", "prepared_truth", "write_builtin_files"]

#: Extra catalogue rows written with ``failing=True``: what makes each one fail.
FAILING_ROWS = (
    ("apogee_snr", "APOGEE SNR = 250"),
    ("lamost_snr", "snrz = 40"),
    ("starflag", "STARFLAG = 4"),
    ("aspcapflag", "ASPCAPFLAG = 2**23 (STAR_BAD)"),
    ("missing_pixels", "30 on-chip APOGEE pixels with flux 0 and error 10"),
    ("labels_present", "LOGG = -9999"),
    ("labels_clip", "TEFF = 7500 K"),
    ("truncated", "LAMOST file cut to half its length"),
    ("no_file", "no aspcapStar file"),
    ("duplicate", "a second, lower-snrz LAMOST observation of star 0"),
)
#: Errors added to the true labels in the catalogue.
LABEL_ERRORS = {"TEFF": 50.0, "LOGG": 0.06, "FE_H": 0.02, "ALPHA_M": 0.02}
_SPEED_OF_LIGHT = 299_792.458  # km/s
_HC_OVER_K = 1.438777e8  # Angstrom K


class BuiltinFiles(NamedTuple):
    """Where :func:`write_builtin_files` wrote the survey.

    Attributes
    ----------
    catalogue : Path
        The joint catalogue (``catalogue.fits``).
    apogee_dir, lamost_dir : Path
        The aspcapStar and LAMOST files.
    num_stars : int
        Stars of the survey written (catalogue rows ``0 .. num_stars - 1``).
    num_failing : int
        Extra rows after them that ``prepare`` must drop.
    """

    catalogue: Path
    apogee_dir: Path
    lamost_dir: Path
    num_stars: int
    num_failing: int


def _observed(survey: BuiltinSurvey):
    """Redshift, continuum (on the observed grid) and file flux/ivar of each star.

    Returns
    -------
    z : ndarray, shape (num_stars,)
    continuum, flux, ivar : ndarray, shape (num_stars, 3909), float32
        ``flux = lamost_flux * continuum`` and ``ivar = lamost_ivar / continuum**2``.
    """
    rng = np.random.default_rng([int(survey.paired.attrs["seed"]), 20_251_125])
    num_stars = survey.paired.sizes["star"]
    z = rng.normal(0.0, 50.0, num_stars) / _SPEED_OF_LIGHT
    observed = lamost_grid()[None, :] * (1.0 + z[:, None])
    teff = survey.truth["labels"].sel(label="teff").values[:, None]
    planck = observed**-5 / np.expm1(_HC_OVER_K / (observed * teff))
    planck /= 6_500.0**-5 / np.expm1(_HC_OVER_K / (6_500.0 * teff))
    throughput = np.exp(-0.5 * ((observed - 6_800.0) / 2_600.0) ** 2)
    scale = 3_000.0 * np.exp(0.4 * rng.standard_normal(num_stars))[:, None]
    continuum = (scale * planck * throughput).astype(np.float32)
    flux = (survey.paired["lamost_flux"].values * continuum).astype(np.float32)
    with np.errstate(divide="ignore"):
        ivar = (survey.paired["lamost_ivar"].values / continuum.astype(np.float64) ** 2).astype(
            np.float32
        )
    return z, continuum, flux, ivar


def _radec(apogee_id: str) -> tuple[float, float]:
    """Position (deg) encoded in a 2MASS-style id ``2Mhhmmssss+ddmmsss``."""
    ra, sign, dec = apogee_id[2:10], apogee_id[10], apogee_id[11:18]
    ra_deg = 15.0 * (int(ra[:2]) + int(ra[2:4]) / 60 + int(ra[4:]) / 360_000)
    dec_deg = int(dec[:2]) + int(dec[2:4]) / 60 + int(dec[4:]) / 36_000
    return ra_deg, -dec_deg if sign == "-" else dec_deg


def _catalogue(survey: BuiltinSurvey, z: np.ndarray, rng) -> Table:
    """The joint-catalogue rows of the survey's stars."""
    num_stars = survey.paired.sizes["star"]
    ids = survey.paired["apogee_id"].values.astype(str)
    labels = survey.truth["labels"].values
    radec = np.array([_radec(i) for i in ids])
    table = Table()
    table["APOGEE_ID"] = ids
    table["RA"], table["DEC"] = radec[:, 0], radec[:, 1]
    table["SNR"] = survey.truth["apogee_snr"].values.astype(np.float32)
    table["STARFLAG"] = np.zeros(num_stars, dtype=np.int32)
    table["ASPCAPFLAG"] = np.zeros(num_stars, dtype=np.int32)
    for k, name in enumerate(("TEFF", "LOGG", "FE_H", "ALPHA_M")):
        error = LABEL_ERRORS[name]
        table[name] = (labels[:, k] + error * rng.standard_normal(num_stars)).astype(np.float32)
        table[f"{name}_ERR"] = np.full(num_stars, error, dtype=np.float32)
    table["obsid"] = survey.paired["obsid"].values.astype(np.int64)
    table["snrz"] = survey.truth["lamost_snr"].values.astype(np.float32)
    jitter = 0.3 / 3600.0 * rng.standard_normal((num_stars, 2))
    table["ra"] = radec[:, 0] + jitter[:, 0] / np.cos(np.radians(radec[:, 1]))
    table["dec"] = radec[:, 1] + jitter[:, 1]
    table["z"] = z
    index = np.arange(num_stars)
    table["lmjd"] = (56_000 + index // 4_000).astype(np.int32)
    table["planid"] = np.array([f"BUILTIN{i // 4_000:03d}" for i in index])
    table["spid"] = (index // 250 % 16 + 1).astype(np.int32)
    table["fiberid"] = (index % 250 + 1).astype(np.int32)
    return table


def _write_star(directory: Path, row, apogee, lamost) -> None:
    """Write one star's two files from its catalogue ``row``."""
    apogee_id = str(row["APOGEE_ID"])
    flux, error, model = apogee
    header = {"RA": float(row["RA"]), "DEC": float(row["DEC"]), "SNR": float(row["SNR"])}
    results = {
        "SNR": float(row["SNR"]),
        "STARFLAG": int(row["STARFLAG"]),
        "ASPCAPFLAG": int(row["ASPCAPFLAG"]),
        "PARAM": np.array(
            [row["TEFF"], row["LOGG"], np.nan, row["FE_H"], 0, 0, row["ALPHA_M"], np.nan, 0],
            dtype=np.float32,
        ),
    }
    write_aspcapstar(
        directory / "apogee" / f"aspcapStar-r12-{apogee_id}.fits",
        flux=flux,
        error=error,
        model=model,
        apogee_id=apogee_id,
        header=header,
        results=results,
    )
    lamost_flux, lamost_ivar, z, snrz = lamost
    name = lamost_file_name(row["lmjd"], row["planid"], row["spid"], row["fiberid"])
    write_lamost_dr4(
        directory / "lamost" / name,
        flux=lamost_flux,
        ivar=lamost_ivar,
        obsid=int(row["obsid"]),
        coeff0=LAMOST_COEFF0 + float(np.log10(1.0 + z)),
        ormask=np.where(lamost_ivar > 0, 0, 1 << 1),
        header={
            "FILENAME": name,
            "DATA_V": "LAMOST DR4",
            "LMJD": int(row["lmjd"]),
            "PLANID": str(row["planid"]),
            "SPID": int(row["spid"]),
            "FIBERID": int(row["fiberid"]),
            "RA": float(row["ra"]),
            "DEC": float(row["dec"]),
            "CLASS": "STAR",
            "Z": float(z),
            "Z_ERR": 1e-5,
            "SNRZ": float(snrz),
        },
    )


def _apogee_arrays(survey: BuiltinSurvey, star: int):
    """aspcapStar flux, error and model (shape (8575,)) of ``star``."""
    pixels = apogee_pixels()
    out = np.zeros((3, APOGEE_NUM_PIXELS), dtype=np.float32)
    out[0, pixels] = survey.paired["apogee_flux"].values[star]
    out[1, pixels] = 1.0 / np.sqrt(survey.paired["apogee_ivar"].values[star])
    out[2, pixels] = survey.truth["apogee_flux_true"].values[star]
    return out


def write_builtin_files(
    survey: BuiltinSurvey, directory: str | Path, *, failing: bool = True
) -> BuiltinFiles:
    """Write a built-in survey as aspcapStar files, LAMOST files and a joint catalogue.

    Parameters
    ----------
    survey : BuiltinSurvey
        From :func:`stereo_ppl.datasets.make_builtin`; its ``attrs["seed"]``
        also seeds the redshifts, continua and catalogue label errors.
    directory : str or Path
        Receives ``apogee/``, ``lamost/`` and ``catalogue.fits``.
    failing : bool, optional
        Add the rows of :data:`FAILING_ROWS` (made from copies of the first
        stars' spectra, with new ids) after the survey's.

    Returns
    -------
    BuiltinFiles
        The paths and row counts.
    """
    directory = Path(directory)
    seed = int(survey.paired.attrs["seed"])
    z, _, lamost_flux, lamost_ivar = _observed(survey)
    catalogue = _catalogue(survey, z, np.random.default_rng([seed, 1125]))
    snrz = np.asarray(catalogue["snrz"])
    for star, row in enumerate(catalogue):
        lamost = (lamost_flux[star], lamost_ivar[star], z[star], snrz[star])
        _write_star(directory, row, _apogee_arrays(survey, star), lamost)
    num_failing = 0
    if failing:
        num_failing = _write_failing(directory, survey, catalogue, (z, lamost_flux, lamost_ivar))
    path = write_catalogue(directory / "catalogue.fits", catalogue)
    return BuiltinFiles(
        path, directory / "apogee", directory / "lamost", survey.paired.sizes["star"], num_failing
    )


def _write_failing(directory: Path, survey, catalogue: Table, lamost) -> int:
    """Append and write the :data:`FAILING_ROWS`; returns how many."""
    z, lamost_flux, lamost_ivar = lamost
    num_stars = len(catalogue)
    for j, (kind, _) in enumerate(FAILING_ROWS):
        source = 0 if kind == "duplicate" else j % num_stars
        row = {name: catalogue[name][source] for name in catalogue.colnames}
        index = num_stars + j
        if kind != "duplicate":
            sign = "+" if j % 2 else "-"  # near the celestial poles, 1 arcmin apart
            row["APOGEE_ID"] = f"2M2359{j:02d}00{sign}89{j:02d}000"
            row["RA"], row["DEC"] = _radec(row["APOGEE_ID"])
            row["ra"], row["dec"] = row["RA"], row["DEC"]
        row["obsid"] = 900_000_000 + j
        row["lmjd"], row["planid"] = 56_000 + index // 4_000, f"BUILTIN{index // 4_000:03d}"
        row["spid"], row["fiberid"] = index // 250 % 16 + 1, index % 250 + 1
        apogee = _apogee_arrays(survey, source)
        if kind == "apogee_snr":
            row["SNR"] = 250.0
        elif kind == "lamost_snr":
            row["snrz"] = 40.0
        elif kind == "starflag":
            row["STARFLAG"] = 4
        elif kind == "aspcapflag":
            row["ASPCAPFLAG"] = 1 << 23
        elif kind == "missing_pixels":
            bad = apogee_pixels()[1000:1030]
            apogee[0, bad], apogee[1, bad] = 0.0, 10.0
        elif kind == "labels_present":
            row["LOGG"] = -9999.0
        elif kind == "labels_clip":
            row["TEFF"] = 7_500.0
        elif kind == "duplicate":
            row["snrz"] = 0.5 * float(row["snrz"])
        catalogue.add_row(row)
        spectra = (lamost_flux[source], lamost_ivar[source], z[source], row["snrz"])
        _write_star(directory, catalogue[-1], apogee, spectra)
        if kind == "no_file":
            (directory / "apogee" / f"aspcapStar-r12-{row['APOGEE_ID']}.fits").unlink()
        elif kind == "truncated":
            name = lamost_file_name(row["lmjd"], row["planid"], row["spid"], row["fiberid"])
            path = directory / "lamost" / name
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return len(FAILING_ROWS)


def prepared_truth(survey: BuiltinSurvey, paired: xr.Dataset) -> xr.Dataset:
    """The truth of the stars of a paired dataset prepared from :func:`write_builtin_files`.

    Parameters
    ----------
    survey : BuiltinSurvey
        The survey that was written.
    paired : xarray.Dataset
        What ``prepare`` made of the files (a subset of the stars, any order).

    Returns
    -------
    xarray.Dataset
        ``survey.truth`` on the stars of ``paired`` (matched by ``apogee_id``,
        in ``paired``'s order, with its ``star`` coordinate), where
        ``lamost_flux_true`` is the noiseless, artefact-free observed-frame
        spectrum put through :func:`stereo_ppl.preprocess.preprocess_lamost`
        with the file's weights (so that ``lamost_flux - lamost_flux_true``
        is noise plus artefacts, steps included, up to the ~3e-4 the noise
        moves the continuum estimate), and the built-in one (normalised by
        the true continuum) is kept as ``lamost_flux_true_builtin``; also
        ``lamost_z``.

    Raises
    ------
    KeyError
        If a star of ``paired`` is not in ``survey``.
    """
    ids = survey.paired["apogee_id"].values.astype(str)
    position = {star_id: k for k, star_id in enumerate(ids)}
    rows = np.array([position[i] for i in paired["apogee_id"].values.astype(str)], dtype=int)
    z, continuum, _, ivar = _observed(survey)
    observed = lamost_grid()[None, :] * (1.0 + z[rows, None])
    noiseless = survey.truth["lamost_flux_true"].values[rows] * continuum[rows]
    # the data's weights, and a negligible one at bad pixels so every pixel gets a value
    weights = np.where(ivar[rows] > 0, ivar[rows], 1e-30 * ivar[rows].max(axis=1, keepdims=True))
    normalised, usable = preprocess_lamost(
        observed, noiseless, weights, z[rows], grid=lamost_grid()
    )
    normalised = np.where(usable > 0, normalised, np.nan)
    truth = survey.truth.isel(star=rows).assign_coords(star=paired["star"].values)
    return truth.assign(
        lamost_flux_true=(
            truth["lamost_flux_true"].dims,
            normalised,
            {
                "long_name": "noiseless survey-2 flux through prepare's preprocessing "
                "(observed frame, continuum, rest-frame grid); NaN where uncovered"
            },
        ),
        lamost_flux_true_builtin=truth["lamost_flux_true"].assign_attrs(
            long_name="noiseless survey-2 flux normalised by the true continuum"
        ),
        lamost_z=("star", z[rows], {"long_name": "redshift of the LAMOST file"}),
    )
