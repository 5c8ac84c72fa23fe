"""fit -> ppc -> denoise -> sweep -> compare on a paired file whose star and pixel dims have
no index coordinate; fit files refer to the paired file and the commands read it back."""

import pytest
import xarray as xr
from factories import small_paired
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.io import load_fit, load_paired, save_paired
from stereo_ppl.io.fit_data import has_data

runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="module")
def paired_file(tmp_path_factory):
    paired = small_paired(0, num_stars=40).drop_vars(["star", "lamost_pixel"])
    assert "star" not in paired.coords and "lamost_pixel" not in paired.coords
    return save_paired(paired, tmp_path_factory.mktemp("pipeline") / "PAIRED.nc")


def test_every_command_on_paired_data_without_index_coordinates(paired_file, tmp_path):
    fit = tmp_path / "FIT.nc"
    _run("fit", paired_file, "-c", "2", "--out", fit)
    assert not has_data(load_fit(fit, paired=False))
    assert load_fit(fit, paired=False).attrs["paired_path"] == str(paired_file.resolve())
    assert fit.stat().st_size < paired_file.stat().st_size

    ppc = _run("ppc", fit, paired_file, "--out", tmp_path / "PPC.nc", "--num-samples", "5")
    assert "coverage" in ppc.output
    with xr.open_datatree(tmp_path / "PPC.nc", engine="h5netcdf") as tree:
        assert "posterior_predictive" in tree.children

    den = tmp_path / "DEN.nc"
    _run("denoise", fit, paired_file, "--out", den, "--batch-size", "16")
    with xr.open_dataset(den, engine="h5netcdf") as ds:
        assert ds.sizes["star"] == 40

    sweep = tmp_path / "sweep"
    _run("sweep", paired_file, "--out-dir", sweep, "-c", "1,2", "--holdout-fraction", "0.25")
    fits = sorted(sweep.glob("fit_c*.nc"))
    assert len(fits) == 2 and not has_data(load_fit(fits[0], paired=False))
    assert has_data(load_fit(fits[0]))  # the sweep's paired file, found by its recorded path

    shown = _run("compare", sweep, "--out", tmp_path / "cmp.csv", "--repeat-choice", "0")
    assert "chosen c =" in shown.output
    assert (tmp_path / "cmp.csv").stat().st_size > 0
    assert (tmp_path / "cmp_score_vs_c.png").read_bytes()[:4] == b"\x89PNG"


def test_commands_that_need_spectra_name_the_paired_file(paired_file, tmp_path):
    fit = tmp_path / "FIT.nc"
    _run("fit", paired_file, "-c", "2", "--out", fit)
    other = save_paired(small_paired(1, num_stars=40), tmp_path / "OTHER.nc")
    spectra = paired_file
    result = runner.invoke(
        app,
        [
            "denoise",
            str(fit),
            str(spectra),
            "--out",
            str(tmp_path / "d.nc"),
            "--paired",
            str(other),
        ],
    )
    assert result.exit_code != 0
    assert "OTHER.nc: is not the paired dataset" in str(result.exception)

    # the paired file gone: the fit still loads, and denoise says which file it needs
    moved = tmp_path / "moved"
    moved.mkdir()
    lonely = moved / "FIT.nc"
    fit.rename(lonely)
    copy = tmp_path / "COPY.nc"
    save_paired(load_paired(paired_file), copy)
    tree = load_fit(lonely, paired=False)
    assert not has_data(tree)
    tree.attrs["paired_path"] = str(tmp_path / "GONE.nc")
    tree.to_netcdf(lonely, engine="h5netcdf")
    result = runner.invoke(
        app, ["denoise", str(lonely), str(copy), "--out", str(tmp_path / "e.nc")]
    )
    assert result.exit_code != 0
    message = str(result.exception)
    assert "GONE.nc" in message and "--paired" in message
    assert not has_data(load_fit(lonely))
    _run("denoise", lonely, copy, "--out", tmp_path / "e.nc", "--paired", copy)
    include = tmp_path / "FULL.nc"
    _run("fit", paired_file, "-c", "2", "--out", include, "--include-data")
    assert has_data(load_fit(include, paired=False))
    assert include.stat().st_size > paired_file.stat().st_size * 0.8
