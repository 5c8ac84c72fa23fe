"""``stereo-ppl denoise`` on LAMOST FITS files, and ``stereo-ppl plot-residuals``."""

import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.errors import StereoPPLError
from stereo_ppl.io import save_fit

_TESTS = Path(__file__).resolve().parents[1]
for sub in ("denoise", "io"):
    if str(_TESTS / sub) not in sys.path:
        sys.path.insert(0, str(_TESTS / sub))

from denoise_fakes import fake_fit  # noqa: E402
from survey_fakes import write_lamost_image, write_lamost_table  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory):
    tree, _ = fake_fit(0, num_stars=16)
    return save_fit(tree, tmp_path_factory.mktemp("fit") / "fit.nc")


def test_denoise_fits_files_and_plot(fit_path, tmp_path):
    spectra = tmp_path / "spectra"
    spectra.mkdir()
    write_lamost_image(spectra / "spec-a.fits")
    write_lamost_image(spectra / "spec-b.fits.gz", gz=True, seed=5)
    write_lamost_table(spectra / "spec-c.fits")
    (spectra / "spec-d.fits").write_bytes(b"SIMPLE  = not really a FITS file")
    out = tmp_path / "den.nc"
    result = runner.invoke(
        app, ["denoise", str(fit_path), str(spectra), "--out", str(out), "--batch-size", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "unreadable" in result.output and "spec-d.fits" in result.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.sizes["star"] == 4 and ds.sizes["lamost_pixel"] == 3909
        assert ds["status"].values.tolist() == [0, 0, 0, 3]
        assert ds["obsid"].values.tolist() == [677503031, 677503031, 101013, -1]
        assert ds.attrs["fit_file"] == str(fit_path)
        assert "config" in ds.attrs and "stereo_ppl_version" in ds.attrs
        good = ds["lamost_flux_denoised"].values[:3]
        assert np.all(np.isfinite(good))
        assert np.all(np.isinf(ds["lamost_flux_denoised_sigma"].values[3]))

    png = tmp_path / "fig.png"
    result = runner.invoke(
        app,
        [
            "plot-residuals",
            str(out),
            "--obsid",
            "101013",
            "--out",
            str(png),
            "--input",
            str(spectra),
            "--wmin",
            "5000",
        ],
    )
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 10_000

    result = runner.invoke(app, ["plot-residuals", str(out), "--obsid", "42"])
    assert isinstance(result.exception, StereoPPLError)
    assert "no spectrum with obsid 42" in str(result.exception)


def test_denoise_reports_bad_fit_file(tmp_path):
    result = runner.invoke(
        app, ["denoise", str(tmp_path / "nope.nc"), str(tmp_path), "--out", str(tmp_path / "o.nc")]
    )
    assert isinstance(result.exception, StereoPPLError)
    assert "nope.nc" in str(result.exception)


def test_denoise_with_misfit_components(fit_path, tmp_path):
    spectra = tmp_path / "spectra"
    spectra.mkdir()
    write_lamost_image(spectra / "spec-a.fits")
    out = tmp_path / "den.nc"
    args = ["denoise", str(fit_path), str(spectra), "--out", str(out), "--bad-columns", "none"]
    result = runner.invoke(app, [*args, "--misfit-components", "2"])
    assert result.exit_code == 0, result.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.attrs["misfit_components"].startswith("2 patterns of the residuals of")
        assert '"misfit_components": 2' in ds.attrs["config"]
        assert ds.sizes["latent"] == 3
    result = runner.invoke(app, [*args, "--misfit-components", "-1"])
    assert isinstance(result.exception, StereoPPLError)
    assert "misfit_components must be >= 0" in str(result.exception)
