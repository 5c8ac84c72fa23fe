import statistics
import warnings

import jax
import numpy as np
import pytest
import xarray as xr
from astropy.io import fits
from astropy.table import Table

from stereo_ppl.datasets.files import FAILING_ROWS, prepared_truth
from stereo_ppl.datasets.spectra import apogee_pixels
from stereo_ppl.inference import fit
from stereo_ppl.io import SurveyFileWarning, load_paired, read_lamost_catalogue, save_paired
from stereo_ppl.io.writers import write_catalogue
from stereo_ppl.prepare import (
    REJECTED,
    Cuts,
    PrepareError,
    PrepareWarning,
    prepare_paired,
)
from stereo_ppl.prepare import pipeline as pipeline_module

#: Cuts that keep every built-in star (for the bad-input tests).
KEEP_ALL = Cuts(min_lamost_snr=None, label_sigma_clip=None)


def run(files, **options):
    options.setdefault("report", lambda rejection: None)
    return prepare_paired(
        catalogue=files.catalogue,
        apogee_dir=files.apogee_dir,
        lamost_dir=files.lamost_dir,
        **options,
    )


def independent_counts(catalogue: Table, survey_snrz_fail: int):
    """The cut table expected for the built-in files with FAILING_ROWS, step by step."""
    n = len(catalogue) - len(FAILING_ROWS)
    kinds = [kind for kind, _ in FAILING_ROWS]
    one = {kind: 1 for kind in kinds}
    rows = [("catalogue", 0, len(catalogue)), ("duplicates", 1, len(catalogue) - 1)]
    left = len(catalogue) - 1
    for name, removed in (
        ("apogee_snr", one["apogee_snr"]),
        ("lamost_snr", one["lamost_snr"] + survey_snrz_fail),
        ("starflag", 1),
        ("aspcapflag", 1),
        ("files", 2),  # truncated LAMOST file, missing aspcapStar file
        ("missing_pixels", 1),
        ("labels_present", 1),
    ):
        left -= removed
        rows.append((name, removed, left))
    # the 3-sigma clip over the stars left: the survey's with snrz > 300 and the TEFF outlier
    survivors = [r for r in range(n) if catalogue["snrz"][r] > 300] + [
        n + kinds.index("labels_clip")
    ]
    stats = {
        c: (
            statistics.fmean(float(catalogue[c][r]) for r in survivors),
            statistics.pstdev([float(catalogue[c][r]) for r in survivors]),
        )
        for c in ("TEFF", "LOGG", "FE_H")
    }
    clipped = [
        r
        for r in survivors
        if any(abs(float(catalogue[c][r]) - m) > 3 * s for c, (m, s) in stats.items())
    ]
    rows.append(("labels_clip", len(clipped), left - len(clipped)))
    return rows, sorted(set(survivors) - set(clipped))


def test_builtin_files_through_prepare(builtin_with_failing, tmp_path):
    survey, files = builtin_with_failing
    catalogue = read_lamost_catalogue(files.catalogue)
    with pytest.warns(PrepareWarning) as record:
        result = prepare_paired(
            catalogue=files.catalogue, apogee_dir=files.apogee_dir, lamost_dir=files.lamost_dir
        )
    assert result.complete
    n = files.num_stars
    snrz_fail = int(np.sum(catalogue["snrz"][:n] <= 300))
    want, kept_rows = independent_counts(catalogue, snrz_fail)
    assert [(c.name, c.num_removed, c.num_remaining) for c in result.counts] == want
    paired = result.paired
    assert list(paired["apogee_id"].values) == list(catalogue["APOGEE_ID"][kept_rows])
    assert paired.sizes["star"] == want[-1][2] > 0

    # one message per rejected row, each naming file, row and ids
    messages = [str(w.message) for w in record if w.category is PrepareWarning]
    assert len(messages) == len(result.rejected) == 3
    by_row = {r.row: r for r in result.rejected}
    kinds = [kind for kind, _ in FAILING_ROWS]
    dup, nofile, trunc = (n + kinds.index(k) for k in ("duplicate", "no_file", "truncated"))
    assert sorted(by_row) == sorted([dup, nofile, trunc])
    assert "duplicate APOGEE_ID" in by_row[dup].reason
    assert by_row[dup].file.endswith(".fits") and by_row[dup].obsid == 900_000_000 + kinds.index(
        "duplicate"
    )
    assert "no aspcapStar file for APOGEE_ID" in by_row[nofile].reason
    assert by_row[trunc].file.endswith(".fits") and "is truncated" in by_row[trunc].reason
    for rejection in result.rejected:
        assert f"catalogue row {rejection.row}" in rejection.message
        assert rejection.apogee_id in rejection.message

    # spectra: APOGEE exactly the built-in's, LAMOST = truth through the same chain + noise
    src = survey.paired.set_index(star="apogee_id").sel(star=paired["apogee_id"].values)
    np.testing.assert_array_equal(paired["apogee_flux"].values, src["apogee_flux"].values)
    np.testing.assert_allclose(paired["apogee_ivar"].values, src["apogee_ivar"].values, rtol=1e-6)
    np.testing.assert_array_equal(paired["lamost_ivar"].values > 0, src["lamost_ivar"].values > 0)
    truth = prepared_truth(survey, paired)
    np.testing.assert_array_equal(truth["apogee_id"].values, paired["apogee_id"].values)
    chi = (paired["lamost_flux"].values - truth["lamost_flux_true"].values) * np.sqrt(
        paired["lamost_ivar"].values
    )
    clean = (
        (paired["lamost_ivar"].values > 0)
        & (truth["lamost_artefact"].values == 0)
        & (truth["lamost_step_pixel"].values < 0)[:, None]
    )
    assert abs(chi[clean].mean()) < 0.1 and 0.9 < chi[clean].std() < 1.1
    # the observed files really are redshifted and not normalised
    assert np.all(np.abs(truth["lamost_z"].values) > 0)
    np.testing.assert_allclose(paired["lamost_z"].values, truth["lamost_z"].values, rtol=1e-9)

    # catalogue values per star, cut counts and rejections in the file
    np.testing.assert_allclose(paired["teff"].values, catalogue["TEFF"][kept_rows])
    assert paired["teff"].attrs["units"] == "K"
    path = save_paired(paired, tmp_path / "PAIRED.nc")
    back = load_paired(path)
    assert list(back.attrs["cut_names"]) == [c.name for c in result.counts]
    assert list(back.attrs["cut_removed"]) == [c.num_removed for c in result.counts]
    assert back.attrs["complete"] == 1 and back.attrs["num_rejected"] == 3
    assert back.sizes[REJECTED] == 3
    assert list(back["rejected_row"].values) == [r.row for r in result.rejected]
    assert list(back["rejected_reason"].values) == [r.reason for r in result.rejected]
    assert '"min_apogee_snr": 300.0' in back.attrs["config"]


def damage_truncate(survey, files, star):
    path = apogee_file(files, survey, star)
    path.write_bytes(path.read_bytes()[:5000])
    return path, "has no HDU 1"


def damage_not_fits(survey, files, star):
    path = lamost_file(files, star)
    path.write_text("this is not a FITS file\n" * 200)
    return path, "cannot be read"


def damage_missing_hdu(survey, files, star):
    path = apogee_file(files, survey, star)
    with fits.open(path) as hdul:
        fits.HDUList([h.copy() for h in hdul[:3]]).writeto(path, overwrite=True)
    return path, "has no HDU 3"


def damage_missing_column(survey, files, star):
    path = lamost_file(files, star)
    with fits.open(path) as hdul:
        header, data = hdul[0].header.copy(), hdul[0].data.copy()
    for key in ("NAXIS1", "NAXIS2", "EXTNAME"):
        header.remove(key, ignore_missing=True)
    columns = [
        fits.Column(name=name, format=f"{data.shape[1]}E", array=data[i][None, :])
        for i, name in enumerate(("FLUX", "IVAR", "WAVELENGTH", "ANDMASK", "ORMASK"))
        if name != "IVAR"
    ]
    primary = fits.PrimaryHDU(header=header)
    table = fits.BinTableHDU.from_columns(columns, name="COADD")
    fits.HDUList([primary, table]).writeto(path, overwrite=True)
    return path, "column 'IVAR': is missing"


def damage_grid(survey, files, star):
    path = lamost_file(files, star)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["COEFF0"] = hdul[0].header["COEFF0"] + 0.001
    return path, "disagrees with the header grid"


def damage_all_zero(survey, files, star):
    path = apogee_file(files, survey, star)
    with fits.open(path, mode="update") as hdul:
        hdul[1].data[:] = 0.0
    return path, "has no usable pixel"


def damage_all_nan(survey, files, star):
    path = lamost_file(files, star)
    with fits.open(path, mode="update") as hdul:
        hdul[0].data[0] = np.nan
    return path, "has no usable pixel"


def damage_missing_file(survey, files, star):
    path = lamost_file(files, star)
    path.unlink()
    return path, "no LAMOST file"


def damage_wrong_star(survey, files, star):
    other = apogee_file(files, survey, star + 1)
    path = apogee_file(files, survey, star)
    path.write_bytes(other.read_bytes())
    return path, "holds APOGEE_ID"


def apogee_file(files, survey, star):
    star_id = survey.paired["apogee_id"].values[star]
    return files.apogee_dir / f"aspcapStar-r12-{star_id}.fits"


def lamost_file(files, star):
    return files.lamost_dir / f"spec-56000-BUILTIN000_sp01-{star + 1:03d}.fits"


@pytest.mark.parametrize(
    "damage",
    [
        damage_truncate,
        damage_not_fits,
        damage_missing_hdu,
        damage_missing_column,
        damage_grid,
        damage_all_zero,
        damage_all_nan,
        damage_missing_file,
        damage_wrong_star,
    ],
)
def test_bad_file_is_rejected_and_skipped_or_stops_when_strict(clean_copy, damage):
    survey, files = clean_copy
    star = 2
    path, problem = damage(survey, files, star)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", SurveyFileWarning)  # the all-NaN file is counted
        result = run(files, cuts=KEEP_ALL)
        # what the reader warned of about the bad file is in its rejection, not beside it
        escaped = [w for w in caught if not issubclass(w.category, PrepareWarning)]
        assert not escaped, [str(w.message) for w in escaped]
        assert len(result.rejected) == 1
        rejection = result.rejected[0]
        star_id = str(survey.paired["apogee_id"].values[star])
        assert (rejection.row, rejection.apogee_id) == (star, star_id)
        assert rejection.obsid == int(survey.paired["obsid"].values[star])
        assert rejection.file == str(path)
        assert problem in rejection.reason and str(path) in rejection.message
        assert result.paired.sizes["star"] == files.num_stars - 1
        assert star_id not in result.paired["apogee_id"].values
        assert [c.num_removed for c in result.counts if c.name == "files"] == [1]
        with pytest.raises(PrepareError, match=f"{problem}.*catalogue row {star}.*strict: stopped"):
            run(files, cuts=KEEP_ALL, strict=True)


def test_duplicated_obsid_is_reported_with_its_file(clean_copy):
    _, files = clean_copy
    table = read_lamost_catalogue(files.catalogue)
    table["obsid"][4] = table["obsid"][1]
    table["SNR"][1] = 900.0  # row 1 wins; row 4 is dropped (its file is never read)
    write_catalogue(files.catalogue, table)
    result = run(files, cuts=KEEP_ALL)
    (rejection,) = result.rejected
    assert rejection.row == 4 and f"duplicate obsid {table['obsid'][1]}" in rejection.reason
    assert "kept catalogue row 1" in rejection.reason
    assert rejection.file.endswith("sp01-005.fits")
    assert result.counts[1].num_removed == 1
    with pytest.raises(PrepareError, match="duplicate obsid"):
        run(files, cuts=KEEP_ALL, strict=True)


def test_nan_pixels_are_counted_in_a_warning_and_get_zero_ivar(clean_copy):
    _, files = clean_copy
    with fits.open(lamost_file(files, 0), mode="update") as hdul:
        hdul[0].data[0, 1000:1007] = np.nan
    with pytest.warns(SurveyFileWarning, match="7 of 3909 pixels had NaN/inf"):
        result = run(files, cuts=KEEP_ALL)
    assert not result.rejected
    ivar = result.paired["lamost_ivar"].values[0]
    assert np.all(ivar[1000:1007] == 0) and np.all(np.isfinite(result.paired["lamost_flux"]))


def test_interrupt_keeps_the_pairs_already_read(clean_copy, monkeypatch):
    _, files = clean_copy
    calls = []
    original = pipeline_module.read_pairs

    def interrupted(tasks):
        calls.append(len(tasks))
        if len(calls) > 3:
            raise KeyboardInterrupt
        return original(tasks)

    monkeypatch.setattr(pipeline_module, "read_pairs", interrupted)
    result = run(files, cuts=KEEP_ALL)
    assert not result.complete and result.paired.attrs["complete"] == 0
    assert result.paired.sizes["star"] == sum(calls[:3]) == 3
    step = [c for c in result.counts if c.name == "interrupted"]
    assert step and step[0].num_removed == files.num_stars - 3


@pytest.mark.slow  # starts two interpreters
def test_two_worker_processes_give_the_same_dataset(clean_files, monkeypatch):
    _, files = clean_files
    serial = run(files, cuts=KEEP_ALL)
    monkeypatch.setattr(pipeline_module, "MIN_POOL_PAIRS", 1)
    parallel = run(files, cuts=KEEP_ALL, num_workers=2)
    xr.testing.assert_identical(serial.paired, parallel.paired)


@pytest.mark.slow  # starts two interpreters
def test_pool_started_early_is_given_back_when_few_files_are_found(clean_copy, monkeypatch):
    # the pool starts after the catalogue cuts (6 rows); one file is missing, so
    # only 5 pairs are located: fewer than MIN_POOL_PAIRS, read in this process
    _, files = clean_copy
    serial = run(files, cuts=KEEP_ALL)
    next(files.apogee_dir.glob("*.fits")).unlink()
    monkeypatch.setattr(pipeline_module, "MIN_POOL_PAIRS", files.num_stars)
    started = []
    original = pipeline_module._start_pool

    def start(num_workers):
        started.append(original(num_workers))
        return started[-1]

    monkeypatch.setattr(pipeline_module, "_start_pool", start)
    result = run(files, cuts=KEEP_ALL, num_workers=2)
    assert len(started) == 1
    with pytest.raises(RuntimeError, match="after shutdown"):
        started[0].submit(int)  # given back
    assert result.paired.sizes["star"] == serial.paired.sizes["star"] - 1 == 5
    assert len(result.rejected) == 1 and "no aspcapStar file" in result.rejected[0].message


def test_sky_match_from_an_allstar_and_a_lamost_catalogue(builtin_with_failing, tmp_path):
    survey, files = builtin_with_failing
    joint = read_lamost_catalogue(files.catalogue)
    n = files.num_stars
    allstar = Table()
    for name in ("APOGEE_ID", "RA", "DEC", "SNR", "STARFLAG", "ASPCAPFLAG"):
        allstar[name] = joint[name][:n]
    for name in ("TEFF", "LOGG", "FE_H"):
        allstar[name], allstar[f"{name}_ERR"] = joint[name][:n], joint[f"{name}_ERR"][:n]
    allstar["O_FE"], allstar["O_FE_ERR"] = joint["ALPHA_M"][:n], joint["ALPHA_M_ERR"][:n]
    lamost = joint["obsid", "ra", "dec", "snrz", "lmjd", "planid", "spid", "fiberid"]
    write_catalogue(tmp_path / "allStar.fits", allstar)
    write_catalogue(tmp_path / "lamost.fits", lamost)
    by_id = run(files, cuts=Cuts(min_lamost_snr=None))
    by_sky = prepare_paired(
        catalogue=tmp_path / "allStar.fits",
        lamost_catalogue=tmp_path / "lamost.fits",
        apogee_dir=files.apogee_dir,
        lamost_dir=files.lamost_dir,
        cuts=Cuts(min_lamost_snr=None),
        report=lambda rejection: None,
    )
    assert [c.name for c in by_sky.counts[:2]] == ["catalogue", "crossmatch"]
    assert by_sky.counts[1].num_removed == 0  # every survey star has its observation
    # star 0 has a second, lower-snrz observation (the duplicate row) within 3 arcsec
    (dup,) = [r for r in by_sky.rejected if "another LAMOST observation" in r.reason]
    assert dup.row == 0 and dup.obsid == 900_000_000 + [k for k, _ in FAILING_ROWS].index(
        "duplicate"
    )
    survey_ids = set(survey.paired["apogee_id"].values)
    kept_by_id = [i for i in by_id.paired["apogee_id"].values if i in survey_ids]
    assert list(by_sky.paired["apogee_id"].values) == kept_by_id
    common = by_id.paired.set_index(star="apogee_id").sel(star=kept_by_id)
    np.testing.assert_array_equal(by_sky.paired["lamost_flux"].values, common["lamost_flux"].values)


def test_no_star_left_and_bad_catalogue_are_errors(clean_copy):
    _, files = clean_copy
    with pytest.raises(PrepareError, match="no star is left"):
        run(files, cuts=Cuts(min_apogee_snr=1e9))
    files.catalogue.write_bytes(b"garbage")
    with pytest.raises(Exception, match=r"catalogue\.fits"):
        run(files)


def test_make_paired_takes_per_star_labels_and_checks_them():
    from factories import low_rank_arrays

    from stereo_ppl.data import make_paired
    from stereo_ppl.errors import PairedDataError

    arrays = low_rank_arrays(0, num_stars=5, num_apogee=4, num_lamost=3)
    arrays.pop("lamost_flux_true")
    common = {
        **arrays,
        "apogee_wavelength": np.geomspace(15100.0, 17000.0, 4),
        "lamost_wavelength": np.geomspace(3700.0, 9100.0, 3),
        "apogee_id": [f"2M{i}" for i in range(5)],
        "obsid": np.arange(5),
    }
    paired = make_paired(**common, labels={"teff": (np.arange(5.0), {"units": "K"})})
    assert paired["teff"].dims == ("star",) and paired["teff"].attrs["units"] == "K"
    with pytest.raises(PairedDataError, match=r"label 'teff' has shape \(4,\)"):
        make_paired(**common, labels={"teff": np.arange(4.0)})
    with pytest.raises(PairedDataError, match="clashes"):
        make_paired(**common, labels={"lamost_ivar": np.arange(5.0)})


def test_missing_pixel_cut_off_keeps_the_star_masked_and_every_fit_fills_it(
    builtin_with_failing, tmp_path
):
    _, files = builtin_with_failing
    cuts = Cuts(max_missing_apogee_pixels=None, min_lamost_snr=None, label_sigma_clip=None)
    with pytest.warns(PrepareWarning):  # the rejected rows, as with the seed's cuts
        result = run(files, cuts=cuts, report=None)
    row = {c.name: c for c in result.counts}["missing_pixels"]
    assert row.num_removed == 0
    assert row.description == (
        "missing_pixels: off (1 star kept with missing pixels, masked by apogee_ivar = 0)"
    )
    paired = result.paired
    kinds = [kind for kind, _ in FAILING_ROWS]
    star = int(
        np.flatnonzero(paired["obsid"].values == 900_000_000 + kinds.index("missing_pixels"))[0]
    )
    ivar = paired["apogee_ivar"].values
    bad = np.isin(paired["apogee_pixel"].values, apogee_pixels()[1000:1030])
    np.testing.assert_array_equal(np.flatnonzero(ivar[star] == 0), np.flatnonzero(bad))
    assert (ivar[np.arange(paired.sizes["star"]) != star] > 0).all()
    assert list(load_paired(save_paired(paired, tmp_path / "P.nc")).attrs["cut_descriptions"]) == [
        c.description for c in result.counts
    ]

    # the star is fitted, its missing pixels filled with the training mean
    train_mean = np.delete(paired["apogee_flux"].values, star, axis=0)[:, bad].mean(axis=0)
    for options in (
        {"method": "exact"},
        {"model": "errors-in-f1", "num_steps": 40, "eval_every": 20},
    ):
        # the seed's model: a dozen stars are too few to learn the calibrated noise
        tree = fit(
            jax.random.key(0),
            paired,
            num_latent=2,
            heldout=[star],
            noise="reported",
            prior="unit",
            **options,
        )
        assert tree.attrs["num_filled_apogee_pixels"] == 30
        assert tree.attrs["num_stars_filled_apogee"] == 1
        stored = tree["constant_data"]["apogee_flux"].values[star]
        np.testing.assert_allclose(stored[bad], train_mean, rtol=1e-5)
        for name in ("beta_z", "beta_F", "b_F", "z"):
            assert np.isfinite(tree["posterior"][name].values).all(), (options, name)
        assert np.isfinite(tree["log_likelihood"]["lamost_flux"].values).all()
