"""``prepare`` on the real public survey files in ../shared/data/real (skipped without)."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from stereo_ppl.data import apogee_chip_mask
from stereo_ppl.io import write_catalogue
from stereo_ppl.prepare import Cuts, PrepareError, prepare_paired

APOGEE = "aspcapStar-r6-l30e.2-2M11194647+0820356.fits"
LAMOST = "spec-58397-EG014118N254444M01_sp03-031.fits"
NO_CUTS = Cuts(
    min_apogee_snr=None,
    min_lamost_snr=None,
    starflag_zero=False,
    aspcapflag_zero=False,
    max_missing_apogee_pixels=None,
    require_labels=False,
    label_sigma_clip=None,
)


@pytest.fixture
def joint(tmp_path):
    """A one-row joint catalogue pairing the real DR13 aspcapStar with the real DR7 file."""
    t = Table()
    t["APOGEE_ID"] = ["2M11194647+0820356"]
    t["obsid"] = np.array([677503031], dtype=np.int64)
    t["SNR"], t["snrz"] = [58.0554], [259.11]
    t["STARFLAG"], t["ASPCAPFLAG"] = [0], [0]
    t["TEFF"], t["LOGG"], t["FE_H"] = [4500.0], [2.5], [-0.2]
    t["apogee_file"], t["lamost_file"] = [APOGEE], [LAMOST]
    return write_catalogue(tmp_path / "joint.fits", t)


@pytest.mark.filterwarnings("ignore:.*AKWISE.*")  # the real DR13 header's 'NAN' card
@pytest.mark.filterwarnings("ignore:Verification reported errors")
@pytest.mark.filterwarnings("ignore:Note. astropy.io.fits uses zero-based indexing")
def test_real_files_give_7514_apogee_and_3909_lamost_pixels(shared_data, joint):
    real = shared_data / "real"
    result = prepare_paired(catalogue=joint, apogee_dir=real, lamost_dir=real, cuts=NO_CUTS)
    paired = result.paired
    assert dict(paired.sizes) == {
        "star": 1,
        "apogee_pixel": 7514,
        "lamost_pixel": 3909,
        "rejected": 0,
    }
    assert not result.rejected
    with fits.open(real / APOGEE) as hdul:
        flux, error = hdul[1].data.astype(float), hdul[2].data.astype(float)
    chips = apogee_chip_mask()
    missing = ((flux == 0) | (error >= 10))[chips]
    np.testing.assert_array_equal(paired["apogee_ivar"].values[0] == 0, missing)
    np.testing.assert_allclose(paired["apogee_flux"].values[0][~missing], flux[chips][~missing])
    lamost_flux, lamost_ivar = paired["lamost_flux"].values[0], paired["lamost_ivar"].values[0]
    good = lamost_ivar > 0
    assert 0.97 < good.mean() < 1.0  # 48 bad pixels in the file, a few more at the grid ends
    assert 0.8 < np.median(lamost_flux[good]) < 1.1  # continuum-normalised
    assert paired["lamost_z"].values[0] == pytest.approx(-6.4e-6)
    # the seed's cut on missing APOGEE pixels removes this (low-S/N) star
    with pytest.raises(PrepareError, match="missing APOGEE pixels"):
        prepare_paired(
            catalogue=joint,
            apogee_dir=real,
            lamost_dir=real,
            cuts=Cuts(min_apogee_snr=None, min_lamost_snr=None, label_sigma_clip=None),
        )
