"""Survey 1 and survey 2 are roles: which surveys fill them is recorded, not hard-coded."""

import jax
import numpy as np
import pytest
from factories import low_rank_arrays, small_paired

from stereo_ppl.data import DEFAULT_SURVEYS, make_paired, survey_names, validate_paired
from stereo_ppl.errors import PairedDataError
from stereo_ppl.inference import fit
from stereo_ppl.io import load_fit, load_paired, save_fit, save_paired


def _paired(**options):
    arrays = low_rank_arrays(1, num_stars=30, num_apogee=12, num_lamost=9)
    return make_paired(
        apogee_flux=arrays["apogee_flux"],
        lamost_flux=arrays["lamost_flux"],
        lamost_ivar=arrays["lamost_ivar"],
        apogee_wavelength=np.linspace(4714.0, 7889.0, 12),
        lamost_wavelength=np.linspace(3700.0, 9100.0, 9),
        apogee_id=[str(160820000101001 + i) for i in range(30)],
        obsid=np.arange(30) + 10,
        **options,
    )


@pytest.mark.core
def test_default_roles_are_the_seed_pair():
    ds = small_paired()
    assert DEFAULT_SURVEYS == ("APOGEE", "LAMOST")
    assert (ds.attrs["survey1"], ds.attrs["survey2"]) == DEFAULT_SURVEYS
    assert ds["apogee_wavelength"].attrs["survey"] == "APOGEE"
    assert ds["lamost_wavelength"].attrs == {
        "units": "Angstrom",
        "medium": "vacuum",
        "survey": "LAMOST",
    }
    # a dataset written before the attributes existed reads as the seed's pair
    old = ds.copy()
    old.attrs = {}
    for name in ("apogee_wavelength", "lamost_wavelength"):
        del old[name].attrs["survey"]
    validate_paired(old)
    assert survey_names(old) == DEFAULT_SURVEYS


@pytest.mark.core
def test_chosen_surveys_are_recorded_and_saved(tmp_path):
    ds = _paired(survey1="GALAH")
    assert survey_names(ds) == ("GALAH", "LAMOST")
    assert ds["apogee_wavelength"].attrs["survey"] == "GALAH"
    assert ds["apogee_flux"].attrs["long_name"] == "survey-1 (GALAH) normalised flux"
    assert ds["lamost_ivar"].attrs["long_name"].startswith("survey-2 (LAMOST) inverse variance")
    back = load_paired(save_paired(ds, tmp_path / "p.nc"))
    assert survey_names(back) == ("GALAH", "LAMOST")
    assert back["apogee_wavelength"].attrs["survey"] == "GALAH"
    # the same names given through attrs, e.g. rebuilding from a loaded dataset
    again = _paired(attrs=dict(back.attrs))
    assert survey_names(again) == ("GALAH", "LAMOST")


def test_bad_survey_names_are_errors():
    with pytest.raises(PairedDataError, match=r"survey2='GALAH' contradicts attrs\['survey2'\]"):
        _paired(survey2="GALAH", attrs={"survey2": "LAMOST"})
    with pytest.raises(PairedDataError, match="survey1 must be a non-empty survey name"):
        _paired(survey1="  ")
    ds = _paired(survey1="GALAH")
    with pytest.raises(
        PairedDataError, match="apogee_wavelength is labelled survey 'GALAH' but attribute survey1"
    ):
        validate_paired(ds.assign_attrs(survey1="APOGEE"))
    with pytest.raises(PairedDataError, match="attribute survey2 must be a non-empty survey name"):
        validate_paired(ds.assign_attrs(survey2=""))
    # attributes dropped by some xarray operation: the wavelength coordinates still say
    bare = ds.copy()
    bare.attrs = {}
    assert survey_names(bare) == ("GALAH", "LAMOST")


def test_fits_copy_the_survey_roles(tmp_path):
    ds = _paired(survey1="GALAH", survey2="LAMOST")
    tree = fit(jax.random.key(0), ds, num_latent=2, method="exact")
    assert (tree.attrs["survey1"], tree.attrs["survey2"]) == ("GALAH", "LAMOST")
    back = load_fit(save_fit(tree, tmp_path / "fit.nc"))
    assert survey_names(back) == ("GALAH", "LAMOST")
    assert back["constant_data"]["apogee_wavelength"].attrs["survey"] == "GALAH"
    seed_pair = fit(
        jax.random.key(0), small_paired(num_stars=20), num_latent=2, noise="reported", prior="unit"
    )
    assert survey_names(seed_pair) == DEFAULT_SURVEYS
    assert seed_pair.attrs["num_filled_apogee_pixels"] == 0
