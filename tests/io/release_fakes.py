"""Writers of synthetic files in the layouts of other releases (see shared/FORMATS.md):
LAMOST DR1 and medium resolution, GALAH DR4, APOGEE apVisit and DR17 aspcapStar/apStar.

Each writer returns what it wrote so tests can compare what a reader gives back.
"""

import numpy as np
from astropy.io import fits
from astropy.table import Table
from survey_fakes import APOGEE_GRID_KEYS, _finish, write_lamost_image

__all__ = [
    "DR1_EXTEN0",
    "write_apvisit",
    "write_aspcapstar_dr17",
    "write_galah_dr4_ccd",
    "write_lamost_dr1",
    "write_lamost_mrs",
]

DR1_EXTEN0 = "Flux Inverse Subcontinuum Andmask Ormask"


def write_lamost_dr1(path, *, num_pixels=3904, exten0=DR1_EXTEN0):
    """A DR1 image-layout file: rows named by EXTEN0, row 2 the sub-continuum flux,
    old S/N cards ``SN_U``..``SN_Z``, no ``OBSID``, no ``DATA_V``."""
    written = write_lamost_image(path, num_pixels=num_pixels, gz=False)
    with fits.open(path, mode="update") as hdul:
        h = hdul[0].header
        data = hdul[0].data.copy()
        data[2] = np.float32(1.0) + np.float32(0.01) * np.sin(np.arange(num_pixels))
        hdul[0].data = data
        for key in ("OBSID", "DATA_V", "EXTNAME"):
            del h[key]
        for band in "UGRIZ":
            h[f"SN_{band}"] = h[f"SNR{band}"]
            del h[f"SNR{band}"]
        h["EXTEN0"], h["VERSPIPE"] = exten0, "v2.6.4"
        h["LMJD"], h["PLANID"], h["SPID"], h["FIBERID"] = 55862, "B6212", 6, 3
        h["TELESCOP"] = "LAMOST"
    written["subcontinuum"] = data[2]
    return written


def write_lamost_mrs(path, *, num_blue=400, num_red=380, column="LOGLAM", gz=False, seed=5):
    """A medium-resolution file: header-only primary, COADD_B and COADD_R tables (one row per
    pixel), then one exposure table per arm."""
    rng = np.random.default_rng(seed)
    primary = fits.PrimaryHDU()
    h = primary.header
    h["EXTNAME"], h["OBSID"], h["DATA_V"] = "Information", 744812076, "LAMOST DR7"
    h["TELESCOP"], h["ORIGIN"], h["VACUUM"] = "LAMOST", "NAOC-LAMOST", True
    hdus, arms = [primary], {}
    for name, start, size in (("COADD_B", np.log10(4950.0), num_blue),
                              ("COADD_R", np.log10(6300.0), num_red)):  # fmt: skip
        loglam = start + 1.7e-5 * np.arange(size)
        flux = rng.uniform(900, 1100, size).astype(np.float32)
        ivar = rng.uniform(1e-3, 2e-3, size).astype(np.float32)
        ivar[10:14] = 0.0
        andmask = np.zeros(size, np.int16)
        andmask[20:23] = 4
        wave = (10.0**loglam).astype(np.float32) if column == "WAVELENGTH" else loglam
        cols = [
            fits.Column(name="FLUX", format="E", array=flux),
            fits.Column(name="IVAR", format="E", array=ivar),
            fits.Column(name=column, format="E" if column == "WAVELENGTH" else "D", array=wave),
            fits.Column(name="ANDMASK", format="I", array=andmask),
            fits.Column(name="ORMASK", format="I", array=andmask),
        ]
        hdus.append(fits.BinTableHDU.from_columns(cols, name=name))
        arms[name] = {"flux": flux, "ivar": ivar, "wavelength": 10.0 ** np.asarray(loglam),
                      "bad": (ivar == 0) | (andmask != 0)}  # fmt: skip
    for name in ("B-84420148", "R-84420148"):
        hdus.append(fits.BinTableHDU.from_columns(hdus[1].columns, name=name))
    _finish(fits.HDUList(hdus), path, gz=gz)
    return arms


def write_galah_dr4_ccd(path, ccd, *, num_pixels=4096, seed=7):
    """A DR4 (pipeline 6.0) CCD file: 8 image HDUs on one linear grid."""
    rng = np.random.default_rng(seed + ccd)
    start = {1: 4713.72, 2: 5648.25, 3: 6477.89, 4: 7584.83}[ccd]
    step = {1: 0.046, 2: 0.0547, 3: 0.0632, 4: 0.0736}[ccd]
    counts = rng.uniform(5e4, 6e4, num_pixels).astype(np.float32)
    normalized = rng.uniform(0.9, 1.0, num_pixels).astype(np.float32)
    relative = rng.uniform(1e-3, 2e-3, num_pixels).astype(np.float32)
    relative[100:105] = 0.0
    hdus = []
    names = ("", "normalized", "relative_error", "sky", "teluric", "scattered", "cross_talk",
             "resolution_profile")  # fmt: skip
    data = (counts, normalized, relative, *(np.zeros(num_pixels, np.float32) for _ in range(5)))
    for index, (name, values) in enumerate(zip(names, data, strict=True)):
        hdu = fits.PrimaryHDU(values) if index == 0 else fits.ImageHDU(values, name=name)
        hdu.header["CRVAL1"], hdu.header["CDELT1"], hdu.header["CD1_1"] = start, step, step
        hdu.header["CRPIX1"], hdu.header["CTYPE1"] = 1.0, "LINEAR"
        hdu.header["CUNIT1"] = "angstroms"
        hdus.append(hdu)
    h = hdus[0].header
    h["INSTRUME"], h["PIPE_VER"], h["SNR"] = "HERMES-2dF", "6.0", 150.0
    h["GALAH_ID"], h["2MASS_ID"], h["RA_OBS"], h["DEC_OBS"] = "None", "None", 0.0, 0.0
    _finish(fits.HDUList(hdus), path, gz=False)
    grid = start + np.arange(num_pixels) * step
    return {"counts": counts, "normalized": normalized, "relative": relative, "grid": grid}


def write_apvisit(path, *, num_chip_pixels=4096, seed=8, release_token="dr17"):
    """An apVisit file: (3, N) flux, error, mask and per-pixel wavelength, each chip stored
    from high to low wavelength, chip a (red) first."""
    rng = np.random.default_rng(seed)
    shape = (3, num_chip_pixels)
    edges = ((16475.0, 16955.0), (15862.0, 16435.0), (15145.0, 15810.0))  # a, b, c
    wavelength = np.stack([np.linspace(hi, lo, num_chip_pixels) for lo, hi in edges])
    flux = rng.uniform(100, 200, shape)
    error = rng.uniform(1, 2, shape)
    mask = np.zeros(shape, np.int64)
    mask[0, 50:60] = 1 << 1  # CRPIX: bad
    mask[2, 70:75] = 1 << 12  # SIG_SKYLINE: kept
    primary = fits.PrimaryHDU()
    h = primary.header
    h["OBJID"], h["SNR"], h["TELESCOP"] = "2M11194647+0820356", 45.0, "apo25m"
    h["FILE"] = f"apVisit-{release_token}-7351-56674-265.fits"
    hdus = [primary]
    for data, dtype in ((flux, ">f4"), (error, ">f4"), (mask, ">i4"), (wavelength, ">f8")):
        hdus.append(fits.ImageHDU(np.asarray(data, dtype=dtype)))
    _finish(fits.HDUList(hdus), path, gz=False)
    return {"flux": flux, "error": error, "mask": mask, "wavelength": wavelength}


def write_aspcapstar_dr17(path, *, num_pixels=8575, seed=9):
    """A DR17 aspcapStar: float64 images, a primary header without the id, the allStar row."""
    rng = np.random.default_rng(seed)
    chips = np.zeros(num_pixels, bool)
    for start, stop in ((246, 3274), (3585, 6080), (6344, 8335)):
        chips[start:stop] = True
    flux = np.where(chips, rng.normal(0.96, 0.02, num_pixels), 0.0)
    error = np.where(chips, rng.uniform(0.01, 0.02, num_pixels), 0.0)
    primary = fits.PrimaryHDU()
    primary.header["V_APRED"] = "dr17"
    hdus = [primary]
    for data in (flux, error, flux + 0.001):
        image = fits.ImageHDU(data.astype(">f8"))
        for key, value in APOGEE_GRID_KEYS.items():
            image.header[key] = value
        hdus.append(image)
    t = Table()
    t["FILE"] = np.array(["apStar-dr17-2M00000002+7417074.fits"], dtype="S64")
    t["APOGEE_ID"] = np.array(["2M00000002+7417074"], dtype="S30")
    t["SNR"] = np.array([827.2], dtype=">f4")
    t["ASPCAPFLAG"] = np.array([1 << 23], dtype=">i8")
    t["TEFF"] = np.array([np.nan], dtype=">f4")
    hdus.append(fits.BinTableHDU(t))
    _finish(fits.HDUList(hdus), path, gz=False)
    return {"flux": flux, "error": error, "chips": chips}
