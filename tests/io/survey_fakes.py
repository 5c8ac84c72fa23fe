"""Writers of synthetic survey files in the exact real layouts (see shared/FORMATS.md).

Each writer returns the arrays it wrote so tests can compare what a reader
gives back. Data are written big-endian, as FITS stores them.
"""

import gzip
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

__all__ = [
    "APOGEE_GRID_KEYS",
    "lamost_wavelength",
    "write_allstar",
    "write_apstar",
    "write_aspcapstar",
    "write_lamost_catalogue",
    "write_lamost_image",
    "write_lamost_table",
]

APOGEE_GRID_KEYS = {
    "CRVAL1": 4.179,
    "CDELT1": 6e-06,
    "CRPIX1": 1,
    "CTYPE1": "LOG-LINEAR",
    "DC-FLAG": 1,
}
_CHIPS = ((246, 3274), (3585, 6080), (6344, 8335))


def _finish(hdul: fits.HDUList, path: Path, *, gz: bool, raw_patches=()) -> Path:
    """Write ``hdul`` to ``path`` (gzip'd if asked), patching header bytes first."""
    path = Path(path)
    raw_path = path.with_name(path.name + ".raw")
    hdul.writeto(raw_path, overwrite=True)
    raw = raw_path.read_bytes()
    raw_path.unlink()
    for old, new in raw_patches:
        assert len(old) == len(new) and old in raw
        raw = raw.replace(old, new)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def _chip_mask(num_pixels: int) -> np.ndarray:
    mask = np.zeros(num_pixels, dtype=bool)
    for start, stop in _CHIPS:
        mask[start : min(stop, num_pixels)] = True
    return mask


def write_aspcapstar(
    path,
    *,
    num_pixels=8575,
    dtype=">f4",
    seed=0,
    gz=False,
    table=True,
    akwise_nan=False,
    nan_pixels=(),
    header_keys=None,
):
    """An aspcapStar file (DR13 layout); returns dict of flux, error, model, bad."""
    rng = np.random.default_rng(seed)
    chips = _chip_mask(num_pixels)
    flux = np.where(chips, rng.normal(0.96, 0.02, num_pixels), 0.0)
    error = np.where(chips, rng.uniform(0.01, 0.02, num_pixels), 0.0)
    inside = np.flatnonzero(chips)
    zero_bad = inside[::97]  # flux 0, error 10
    high_error = inside[50::89]  # error >= 10, flux kept
    flux[zero_bad], error[zero_bad] = 0.0, 10.0
    error[high_error] = 10.0 + rng.uniform(0, 5, high_error.size)
    flux[list(nan_pixels)] = np.nan
    model = np.where(chips, flux + 0.001, 0.0)
    bad = ~chips | (flux == 0) | (error >= 10) | np.isnan(flux)
    primary = fits.PrimaryHDU()
    h = primary.header
    h["OBJ"] = ("2M00000000+0000000", "Object ID")
    h["RA"], h["DEC"], h["LOCID"], h["FIELD"] = 12.5, -3.25, 4510, "250+60"
    h["AKWISE"] = ("NAN", "WISE extinction")
    h["SNR"], h["NVISITS"] = (58.0554, "signal-to-noise"), 3
    for key, value in (header_keys or {}).items():
        h[key] = value
    hdus = [primary]
    for data in (flux, error, model):
        image = fits.ImageHDU(np.asarray(data, dtype=dtype))
        for key, value in APOGEE_GRID_KEYS.items():
            image.header[key] = value
        hdus.append(image)
    if table:
        t = Table()
        t["APOGEE_ID"] = np.array(["2M00000000+0000000"], dtype="S18")
        t["LOCATION_ID"] = np.array([4510], dtype=">i4")
        t["SNR"] = np.array([58.0554], dtype=">f4")
        t["STARFLAG"] = np.array([0], dtype=">i4")
        t["ASPCAPFLAG"] = np.array([41943680], dtype=">i4")
        t["PARAM"] = np.array([[4500.0, 2.5, -9999.0, -0.2, 0, 0, 0.1, -9999.0, 0]], dtype=">f4")
        hdus.append(fits.BinTableHDU(t))
    patches = [(b"AKWISE  = 'NAN     '", b"AKWISE  = " + b"NAN".rjust(10))] if akwise_nan else []
    _finish(fits.HDUList(hdus), path, gz=gz, raw_patches=patches)
    return {"flux": flux, "error": error, "model": model, "bad": bad}


def write_apstar(
    path, *, nvisits=3, num_pixels=8575, dtype=">f4", mask_dtype=">i2", seed=1, gz=False
):
    """An apStar file: images (2 + NVISITS, N), 1-D when NVISITS = 1."""
    rng = np.random.default_rng(seed)
    rows = 1 if nvisits == 1 else 2 + nvisits
    flux = rng.uniform(100, 200, (rows, num_pixels))
    error = rng.uniform(1, 2, (rows, num_pixels))
    mask = np.zeros((rows, num_pixels), dtype=np.int64)
    gaps = np.zeros(num_pixels, dtype=bool)
    gaps[:240], gaps[3280:3580], gaps[6085:6340], gaps[8340:] = True, True, True, True
    flux[:, gaps], error[:, gaps], mask[:, gaps] = 0.0, 1e10, 1
    mask[:, 1000:1010] |= 1 << 1  # CRPIX: bad
    mask[:, 2000:2020] |= 1 << 12  # SIG_SKYLINE: kept by default
    bad = gaps[None, :] | ((mask & 255) != 0)
    if nvisits == 1:
        flux, error, mask, bad = flux[0], error[0], mask[0], bad[0]
    primary = fits.PrimaryHDU()
    h = primary.header
    h["OBJID"], h["NVISITS"], h["SNR"] = "2M11111111+2222222", nvisits, 80.5
    h["STARFLAG"], h["ANDFLAG"], h["NWAVE"] = 0, 0, num_pixels
    for key, value in APOGEE_GRID_KEYS.items():
        h[key] = value
    hdus = [primary]
    units = ("Flux (10^-17 erg/s/cm^2/Ang)", "Error (10^-17 erg/s/cm^2/Ang)", "Flag Mask (bitwise)")
    for data, kind, unit in zip(
        (flux, error, mask), (dtype, dtype, mask_dtype), units, strict=True
    ):
        image = fits.ImageHDU(np.asarray(data, dtype=kind))
        for key, value in APOGEE_GRID_KEYS.items():
            image.header[key] = value
        image.header["BUNIT"] = unit
        hdus.append(image)
    hdus.append(fits.ImageHDU(np.zeros(26)))  # stand-in for sky..LSF
    _finish(fits.HDUList(hdus), path, gz=gz)
    return {"flux": flux, "error": error, "mask": mask, "bad": bad}


def lamost_wavelength(num_pixels: int) -> np.ndarray:
    """The stored LAMOST wavelength row (float32)."""
    return (10.0 ** (3.5682 + 1e-4 * np.arange(num_pixels))).astype(np.float32)


def _lamost_arrays(num_pixels, seed, nan_pixels):
    rng = np.random.default_rng(seed)
    flux = rng.uniform(900, 1100, num_pixels).astype(np.float32)
    ivar = rng.uniform(1e-3, 2e-3, num_pixels).astype(np.float32)
    ivar[260:275] = 0.0
    flux[-12:] = 0.0  # tail: flux 0 with ivar > 0 is bad too
    flux[list(nan_pixels)] = np.nan
    wavelength = lamost_wavelength(num_pixels)
    mask = np.zeros(num_pixels, dtype=np.float32)
    bad = (ivar == 0) | (flux == 0) | np.isnan(flux)
    return flux, ivar, wavelength, mask, bad


def _lamost_header(h, *, obsid, release):
    h["OBSID"] = (obsid, "Unique number ID of this spectrum")
    h["DATA_V"] = f"LAMOST {release}"
    h["RA"], h["DEC"], h["DESIG"] = 24.376852, 25.427147, "LAMOST J013730.44+252537.7"
    h["CLASS"], h["SUBCLASS"], h["ZFLAG"] = "STAR", "G3", "LASP"
    h["Z"], h["Z_ERR"] = -6.4e-06, 1.4e-05
    for band, snr in zip("UGRIZ", (23.25, 153.72, 241.09, 320.95, 259.11), strict=True):
        h[f"SNR{band}"] = snr
    h["HELIO_RV"], h["VACUUM"] = -9.40313, True
    h["COEFF0"], h["COEFF1"], h["CRVAL1"], h["CD1_1"] = 3.5682, 0.0001, 3.5682, 0.0001
    h["CRPIX1"], h["CTYPE1"], h["DC-FLAG"], h["WFITTYPE"] = 1, "LINEAR", 1, "LOG-LINEAR"


def write_lamost_image(path, *, num_pixels=3909, seed=2, gz=False, nan_pixels=(), header_keys=None):
    """A DR<=8 image-layout LAMOST file: primary (5, N) float32 image."""
    flux, ivar, wavelength, mask, bad = _lamost_arrays(num_pixels, seed, nan_pixels)
    primary = fits.PrimaryHDU(np.stack([flux, ivar, wavelength, mask, mask]).astype(">f4"))
    primary.header["EXTNAME"] = "Flux"
    _lamost_header(primary.header, obsid=677503031, release="DR7")
    primary.header["FIBERTYP"] = "Obj"
    for key, value in (header_keys or {}).items():
        primary.header[key] = value
    _finish(fits.HDUList([primary]), path, gz=gz)
    return {"flux": flux, "ivar": ivar, "wavelength": wavelength, "bad": bad}


def write_lamost_table(
    path, *, num_pixels=3909, seed=3, gz=False, norm=0, nan_pixels=(), drop_column=None
):
    """A DR9+ table-layout LAMOST file: HDU 1 ``COADD`` with one row of vectors."""
    flux, ivar, wavelength, mask, bad = _lamost_arrays(num_pixels, seed, nan_pixels)
    primary = fits.PrimaryHDU()
    h = primary.header
    _lamost_header(h, obsid=101013, release="DR9")
    h["FIB_TYPE"], h["NORM"] = "Obj", norm
    h["XAXIS1"], h["XAXIS2"] = num_pixels, 5  # patched to stale NAXISn keys, as in real files
    normalization = np.full(num_pixels, -9999.0, np.float32) if norm == 0 else flux / 1000
    columns = {
        "FLUX": flux,
        "IVAR": ivar,
        "WAVELENGTH": wavelength,
        "ANDMASK": mask,
        "ORMASK": mask,
        "NORMALIZATION": normalization,
    }
    cols = [
        fits.Column(name=name, format=f"{num_pixels}E", array=value[None, :])
        for name, value in columns.items()
        if name != drop_column
    ]
    coadd = fits.BinTableHDU.from_columns(cols, name="COADD")
    stale = [(b"XAXIS1  =", b"NAXIS1  ="), (b"XAXIS2  =", b"NAXIS2  =")]
    _finish(fits.HDUList([primary, coadd]), path, gz=gz, raw_patches=stale)
    return {"flux": flux, "ivar": ivar, "wavelength": wavelength, "bad": bad}


def write_allstar(path, *, release="dr16", num_stars=5, drop_column=None):
    """An allStar catalogue; -9999 missing values up to DR16, NaN in DR17."""
    rng = np.random.default_rng(4)
    missing = np.nan if release == "dr17" else -9999.0
    t = Table()
    width = 30 if release == "dr17" else 18
    t["APOGEE_ID"] = np.array([f"2M{i:08d}+0000000" for i in range(num_stars)], dtype=f"S{width}")
    t["TELESCOPE"] = np.array(["apo25m"] * num_stars, dtype="S8")
    t["FIELD"] = np.array(["250+60"] * num_stars, dtype="S16")
    t["LOCATION_ID"] = np.arange(num_stars, dtype=">i2" if release == "dr14" else ">i4")
    t["SNR"] = rng.uniform(50, 200, num_stars).astype(">f4")
    t["STARFLAG"] = np.zeros(num_stars, dtype=">i4")
    t["ASPCAPFLAG"] = np.arange(num_stars, dtype=">i8" if release == "dr17" else ">i4")
    for label, centre in (("TEFF", 4800.0), ("LOGG", 2.5), ("FE_H", -0.1), ("O_FE", 0.05)):
        values = (centre + rng.normal(0, 0.1, num_stars)).astype(">f4")
        values[1] = missing
        t[label] = values
        t[f"{label}_ERR"] = np.full(num_stars, 0.01, dtype=">f4")
    t["RA"] = rng.uniform(0, 360, num_stars)
    t["DEC"] = rng.uniform(-30, 60, num_stars)
    if release != "dr17":
        t["RESULTS_VERSION"] = np.array(["v1"] * num_stars, dtype="S4")
    if drop_column:
        t.remove_column(drop_column)
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(t)])
    _finish(hdul, path, gz=False)
    return t


def write_lamost_catalogue(path, *, fmt="fits", delimiter=",", gz=False):
    """A LAMOST catalogue with lower-case columns and -9999 / -9999.99 sentinels."""
    t = Table()
    t["obsid"] = np.array([101013, 677503031, 359910161], dtype=np.int64)
    t["designation"] = ["J1", "J2", "J3"]
    t["ra"] = [332.321523, 24.376852, 292.05872]
    t["dec"] = [-2.122024, 25.427147, 43.925228]
    t["snrg"] = np.array([5.56, 153.72, -9999.0], dtype=np.float32)
    t["snrz"] = np.array([4.67, 259.11, 119.56], dtype=np.float32)
    t["teff"] = [8000.0, -9999.99, 6300.0]
    t["logg"] = [4.0, 4.4, -9999.0]
    t["feh"] = [-0.2, 0.1, 0.0]
    t["subclass_id"] = np.array([1, -9999, 3], dtype=np.int64)
    path = Path(path)
    if fmt == "fits":
        _finish(fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(t)]), path, gz=gz)
    else:
        text_path = path.with_name(path.name + ".txt")
        t.write(text_path, format="ascii.basic", delimiter=delimiter, overwrite=True)
        raw = text_path.read_bytes()
        text_path.unlink()
        path.write_bytes(gzip.compress(raw) if gz else raw)
    return t
