import numpy as np
import pytest
from factories import low_rank_arrays, small_paired

from stereo_ppl.data import (
    apogee_chip_mask,
    apogee_grid,
    check_same_grid,
    lamost_grid,
    make_paired,
    validate_paired,
)
from stereo_ppl.errors import PairedDataError


def test_grids_match_published_definitions():
    apogee = apogee_grid()
    assert apogee.shape == (8575,)
    assert apogee[0] == pytest.approx(15100.80, abs=0.01)
    assert apogee[-1] == pytest.approx(16999.81, abs=0.01)
    assert apogee_chip_mask().sum() == 7514
    lamost = lamost_grid()
    assert lamost.shape == (3909,)
    assert lamost[0] == pytest.approx(3700.0, abs=0.5)
    assert lamost[-1] == pytest.approx(9099.2, abs=0.5)


def test_lamost_grid_matches_seed_grid(shared_data):
    seed_grid = np.load(shared_data / "lamost_wl_grid.npy")
    relative = np.abs(np.log10(seed_grid) - np.log10(lamost_grid()))
    assert relative.max() < 1e-5


def test_container_layout():
    ds = small_paired()
    assert ds["apogee_flux"].dims == ("star", "apogee_pixel")
    assert ds["lamost_ivar"].dims == ("star", "lamost_pixel")
    for name in ("apogee_wavelength", "lamost_wavelength"):
        assert ds[name].attrs["units"] == "Angstrom"
    assert ds["apogee_id"].dims == ("star",)
    assert ds["obsid"].dtype == np.int64


def _kwargs(**override):
    arrays = low_rank_arrays(0, num_stars=6, num_apogee=8, num_lamost=5)
    kwargs = {
        "apogee_flux": arrays["apogee_flux"],
        "lamost_flux": arrays["lamost_flux"],
        "lamost_ivar": arrays["lamost_ivar"],
        "apogee_wavelength": np.linspace(15100, 17000, 8),
        "lamost_wavelength": np.linspace(3700, 9100, 5),
        "apogee_id": [f"2M{i:08d}" for i in range(6)],
        "obsid": np.arange(6) + 10,
    }
    kwargs.update(override)
    return kwargs


def _with(name, index, value):
    kwargs = _kwargs()
    array = np.array(kwargs[name], dtype=float)
    array[index] = value
    return _kwargs(**{name: array})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            _with("lamost_flux", (2, 3), np.nan),
            r"lamost_flux is NaN or inf .* star 2 \(apogee_id=2M00000002, obsid=12\), "
            r"lamost_pixel 3 \(lamost_wavelength=7750",
        ),
        (_with("lamost_flux", (1, 0), np.inf), r"lamost_flux .* star 1 .*lamost_pixel 0"),
        (_with("lamost_ivar", (4, 1), -1.0), r"lamost_ivar is negative at star 4 .*lamost_pixel 1"),
        (
            _with("lamost_ivar", (0, 2), np.nan),
            r"lamost_ivar is not finite at star 0 .*lamost_pixel 2",
        ),
        (
            _with("apogee_flux", (3, 5), np.nan),
            r"apogee_flux is NaN or inf at star 3 .*apogee_pixel 5",
        ),
        (_with("lamost_ivar", (5, slice(None)), 0.0), r"lamost_ivar is 0 at every pixel of star 5"),
        (
            _kwargs(apogee_id=["a", "b", "c", "a", "e", "f"]),
            r"duplicate apogee_id 'a' at stars \[0, 3\]",
        ),
        (_kwargs(obsid=[1, 2, 3, 4, 4, 6]), r"duplicate obsid 4 at stars \[3, 4\]"),
        (
            _kwargs(lamost_wavelength=np.linspace(3700, 9100, 6)),
            r"lamost_wavelength has shape \(6,\), expected \(5,\)",
        ),
        (
            _kwargs(lamost_ivar=np.ones((6, 4))),
            r"lamost_ivar has shape \(6, 4\), expected \(6, 5\)",
        ),
        (
            _kwargs(lamost_wavelength=np.array([1.0, 3.0, 2.0, 4.0, 5.0])),
            r"lamost_wavelength is not strictly increasing at lamost_pixel 2",
        ),
        (_kwargs(apogee_flux=np.ones(8)), r"apogee_flux must be 2-D"),
    ],
)
def test_bad_input_names_variable_star_and_pixel(kwargs, message):
    with pytest.raises(PairedDataError, match=message):
        make_paired(**kwargs)


def test_nan_flux_is_allowed_where_ivar_is_zero():
    kwargs = _with("lamost_flux", (2, 3), np.nan)
    kwargs["lamost_ivar"][2, 3] = 0.0
    ds = make_paired(**kwargs)
    assert np.isnan(ds["lamost_flux"].values[2, 3])


def test_validate_catches_edits_after_construction():
    ds = small_paired()
    ds["lamost_ivar"][1, 2] = -3.0
    with pytest.raises(PairedDataError, match="negative at star 1"):
        validate_paired(ds)
    with pytest.raises(PairedDataError, match="no variable 'lamost_flux'"):
        validate_paired(small_paired().drop_vars("lamost_flux"))


def test_check_same_grid():
    grid = lamost_grid()
    check_same_grid(grid, grid * (1 + 1e-8), what="x")
    with pytest.raises(PairedDataError, match="has 3908 pixels, expected 3909"):
        check_same_grid(grid, grid[:-1], what="lamost_wavelength of spec.fits")
    shifted = grid.copy()
    shifted[100] *= 1.001
    with pytest.raises(PairedDataError, match="at pixel 100"):
        check_same_grid(grid, shifted, what="x")
