"""Labels in a paired dataset: (star, label) variables or per-star catalogue columns."""

import numpy as np
import pytest
from factories import small_paired

from stereo_ppl.data import add_labels, paired_labels, validate_paired
from stereo_ppl.errors import PairedDataError
from stereo_ppl.io import load_paired, save_paired


def test_add_labels_round_trips_through_netcdf(tmp_path):
    paired = small_paired(0, num_stars=6)
    values = np.arange(12.0).reshape(6, 2)
    values[2, 1] = np.nan
    errors = np.full((6, 2), 0.5)
    errors[2, 1] = np.nan  # ignored where the label is missing
    labelled = add_labels(paired, values, errors, names=["teff", "logg"], units=["K", "dex"])
    back = load_paired(save_paired(labelled, tmp_path / "P.nc"))
    found = paired_labels(back)
    assert found.names == ("teff", "logg") and found.units == ("K", "dex")
    np.testing.assert_array_equal(found.values, values)
    assert found.errors[2, 1] == 0.0 and found.errors[0, 0] == 0.5
    assert found.observed.sum() == 11
    assert paired_labels(back, names=["logg"]).values.shape == (6, 1)


def test_per_star_catalogue_labels_are_read_with_their_errors():
    paired = small_paired(0, num_stars=5)
    paired = paired.assign(
        teff=("star", np.linspace(4000, 5000, 5), {"units": "K"}),
        teff_err=("star", np.full(5, 60.0)),
        fe_h=("star", np.zeros(5)),
    )
    found = paired_labels(paired)
    assert found.names == ("teff", "fe_h") and found.units == ("K", "")
    np.testing.assert_array_equal(found.errors[:, 0], 60.0)
    np.testing.assert_array_equal(found.errors[:, 1], 0.0)


def test_bad_labels_are_named():
    paired = small_paired(0, num_stars=4)
    with pytest.raises(PairedDataError, match=r"labels has shape \(3, 1\), expected \(4, 1\)"):
        add_labels(paired, np.zeros((3, 1)), names=["teff"])
    with pytest.raises(PairedDataError, match=r"labels_err of teff at star 1 is -1\.0"):
        add_labels(
            paired, np.zeros((4, 1)), np.array([[1.0], [-1.0], [1.0], [1.0]]), names=["teff"]
        )
    with pytest.raises(PairedDataError, match="no labels"):
        paired_labels(paired)
    with pytest.raises(PairedDataError, match="no label logg; it has teff"):
        paired_labels(add_labels(paired, np.zeros((4, 1)), names=["teff"]), names=["logg"])
    broken = add_labels(paired, np.zeros((4, 1)), names=["teff"])
    broken["labels"] = broken["labels"].astype(int)
    with pytest.raises(PairedDataError, match="labels must be floating point"):
        validate_paired(broken)
