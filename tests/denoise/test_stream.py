"""Out-of-core driver: netCDF/Zarr in and out, resume by chunk, dask.distributed."""

import numpy as np
import pytest
import xarray as xr
from denoise_fakes import fake_fit, spectra

from stereo_ppl.denoise import denoise, denoise_source, make_setup, open_source
from stereo_ppl.denoise import stream as stream_module
from stereo_ppl.errors import StereoPPLError
from stereo_ppl.io import save_dataset

WL = np.geomspace(3700.0, 9100.0, 600)
_PIXEL = ("lamost_flux_denoised", "lamost_flux_denoised_sigma", "lamost_residual")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tree, _ = fake_fit(0, num_stars=30, wavelength=WL)
    setup = make_setup(tree, scatter=False)
    beta_F = tree["posterior"]["beta_F"].values[0, 0]
    b_F = tree["posterior"]["b_F"].values[0, 0]
    data = spectra(7, beta_F, b_F, num=23, snr=80.0)
    data["flux"][3, 100] += 2.0  # a cosmic ray
    path = tmp_path_factory.mktemp("in") / "spectra.nc"
    ds = xr.Dataset(
        {
            "lamost_flux": (("star", "lamost_pixel"), data["flux"].astype(np.float32)),
            "lamost_ivar": (("star", "lamost_pixel"), data["ivar"].astype(np.float32)),
        },
        coords={
            "obsid": ("star", 900 + np.arange(23)),
            "lamost_wavelength": ("lamost_pixel", WL, {"units": "Angstrom"}),
        },
    )
    save_dataset(ds, path)
    memory = denoise(setup, ds["lamost_flux"].values, ds["lamost_ivar"].values, batch_size=8)
    return setup, path, memory


def _check_against_memory(out, memory):
    with (
        xr.open_dataset(out, engine="h5netcdf")
        if out.suffix == ".nc"
        else xr.open_zarr(out, consolidated=False) as ds
    ):
        assert ds["lamost_artefact"].dtype == np.int8
        assert "flag_meanings" in ds["lamost_artefact"].attrs
        assert ds["lamost_wavelength"].attrs["units"] == "Angstrom"
        assert ds.attrs["stereo_ppl_version"]
        np.testing.assert_array_equal(ds["obsid"].values, 900 + np.arange(23))
        for name, ref in zip(_PIXEL, (memory.flux, memory.sigma, memory.residual), strict=True):
            np.testing.assert_allclose(ds[name].values, ref, rtol=1e-5, atol=1e-4, err_msg=name)
        np.testing.assert_array_equal(ds["lamost_artefact"].values, memory.artefact)
        np.testing.assert_array_equal(ds["status"].values, memory.status)
        np.testing.assert_allclose(ds["z"].values, memory.latent, rtol=1e-5, atol=1e-5)
        assert ds["lamost_artefact"].values[3, 100] == 1


def test_netcdf_and_zarr_outputs_equal_in_memory(case, tmp_path):
    setup, path, memory = case
    source = open_source([path], grid=WL)
    for out in (tmp_path / "out.nc", tmp_path / "out.zarr"):
        run = denoise_source(setup, source, out, wavelength=WL, batch_size=8, bad_columns=None)
        assert run.num_chunks == 3 and run.num_resumed == 0
        _check_against_memory(out, memory)
    assert not (tmp_path / "out.nc.partial.zarr").exists()


def test_interrupted_run_resumes_by_chunk(case, tmp_path, monkeypatch):
    setup, path, memory = case
    source = open_source([path], grid=WL)
    out = tmp_path / "out.nc"
    real = stream_module.write_chunk
    calls = []

    def flaky(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(stream_module, "write_chunk", flaky)
    with pytest.raises(KeyboardInterrupt):
        denoise_source(setup, source, out, wavelength=WL, batch_size=8, bad_columns=None)
    assert not out.exists() and (tmp_path / "out.nc.partial.zarr").is_dir()
    monkeypatch.setattr(stream_module, "write_chunk", real)
    run = denoise_source(setup, source, out, wavelength=WL, batch_size=8, bad_columns=None)
    assert run.num_resumed == 2
    _check_against_memory(out, memory)
    # a different run cannot resume from another run's partial store
    stale = tmp_path / "other.zarr"
    monkeypatch.setattr(stream_module, "write_chunk", flaky)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        denoise_source(setup, source, stale, wavelength=WL, batch_size=8, bad_columns=None)
    monkeypatch.setattr(stream_module, "write_chunk", real)
    with pytest.raises(StereoPPLError, match="different run"):
        denoise_source(setup, source, stale, wavelength=WL, batch_size=4, bad_columns=None)


@pytest.mark.slow
def test_local_cluster_gives_the_same_numbers(case, tmp_path):
    distributed = pytest.importorskip("distributed")
    setup, path, memory = case
    source = open_source([path], grid=WL)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        out = tmp_path / "cluster.zarr"
        denoise_source(
            setup,
            source,
            out,
            wavelength=WL,
            batch_size=8,
            bad_columns=None,
            scheduler=cluster.scheduler_address,
        )
    _check_against_memory(out, memory)
    # every chunk's region write owns its Zarr chunks, coordinates included:
    # two workers writing into one shared chunk lose each other's updates
    with xr.open_zarr(out, consolidated=False) as ds:
        for name in ("z", "lamost_residual", "star", "obsid"):
            assert ds[name].encoding["chunks"][0] == 8, name
