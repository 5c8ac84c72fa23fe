"""specutils interop for every survey: ``to_spectrum1d`` and the registered loaders
(``Spectrum1D.read(path, format="LAMOST-LRS")``, ``LAMOST-MRS``, ``GALAH-DR4``, ``GALAH-DR3``)."""

import subprocess
import sys

import numpy as np
import pytest
from release_fakes import write_apvisit, write_galah_dr4_ccd, write_lamost_dr1, write_lamost_mrs
from survey_fakes import write_apstar, write_aspcapstar, write_lamost_image, write_lamost_table

from stereo_ppl.io import from_spectrum1d, read_spectrum, to_spectrum1d
from stereo_ppl.io.specutils_io import SPECUTILS_FORMATS, register_specutils_loaders

specutils = pytest.importorskip("specutils")

WRITERS = {
    "aspcapStar-r12-2M00000000+0000000.fits": write_aspcapstar,
    "apStar-r12-2M11111111+2222222.fits": write_apstar,
    "apVisit-dr17-7351-56674-265.fits": write_apvisit,
    "spec-55862-B6212_sp06-003.fits": write_lamost_dr1,
    "spec-58397-EG014118N254444M01_sp03-031.fits.gz": lambda p: write_lamost_image(p, gz=True),
    "spec-55859-F5902_sp01-013.fits": write_lamost_table,
    "med-58625-TD192102N424113K01_sp12-076.fits": write_lamost_mrs,
    "2101150022012393.fits": lambda p: write_galah_dr4_ccd(p, 3),
}


def test_importing_the_package_does_not_import_specutils():
    code = (
        "import sys, stereo_ppl, stereo_ppl.io, stereo_ppl.cli; print('specutils' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_to_spectrum1d_round_trip_for_every_layout(tmp_path, name):
    path = tmp_path / name
    WRITERS[name](path)
    s = read_spectrum(path)
    s1d = to_spectrum1d(s)
    assert s1d.meta["survey"] == s.survey and s1d.meta["layout"] == s.layout
    np.testing.assert_array_equal(s1d.mask, s.bad)
    back = from_spectrum1d(s1d)
    assert (back.survey, back.release) == (s.survey, s.release)
    np.testing.assert_array_equal(back.ivar, s.ivar)
    np.testing.assert_array_equal(back.wavelength, s.wavelength)


def test_registered_loaders_by_name_and_by_content(tmp_path):
    assert register_specutils_loaders() == tuple(SPECUTILS_FORMATS)
    assert register_specutils_loaders() == tuple(SPECUTILS_FORMATS)  # twice is harmless
    cls = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    cases = {
        "spec-55859-F5902_sp01-013.fits": ("LAMOST-LRS", write_lamost_table, "table"),
        "spec-55862-B6212_sp06-003.fits": ("LAMOST-LRS", write_lamost_dr1, "image"),
        "med-58625-TD192102N424113K01_sp12-076.fits.gz": (
            "LAMOST-MRS",
            lambda p: write_lamost_mrs(p, gz=True),
            "mrs-coadd",
        ),
        "2101150022012391.fits": ("GALAH-DR4", lambda p: write_galah_dr4_ccd(p, 1), "ccd"),
    }
    for name, (fmt, writer, layout) in cases.items():
        path = tmp_path / name
        writer(path)
        expected = read_spectrum(path)
        for spectrum in (cls.read(path, format=fmt), cls.read(str(path))):
            assert spectrum.meta["layout"] == layout
            np.testing.assert_allclose(spectrum.spectral_axis.value, expected.wavelength.value)
            np.testing.assert_array_equal(spectrum.flux.value, expected.flux)
    with pytest.raises(Exception, match="medium-resolution"):
        cls.read(tmp_path / "med-58625-TD192102N424113K01_sp12-076.fits.gz", format="LAMOST-LRS")
