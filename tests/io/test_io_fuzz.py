"""Property tests: damaged files give a correct read or one SurveyFileError, nothing else.

Random truncations, header damage and NaN/inf patterns are thrown at every
reader, on the real files (when ``../shared`` is present) and on synthetic
files of each layout.
"""

import gzip
import io
import os
import string
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.utils.exceptions import AstropyWarning
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from release_fakes import write_apvisit, write_aspcapstar_dr17, write_lamost_mrs
from survey_fakes import (
    write_allstar,
    write_apstar,
    write_aspcapstar,
    write_lamost_catalogue,
    write_lamost_image,
    write_lamost_table,
)

from stereo_ppl.io.apogee import read_apstar, read_aspcapstar
from stereo_ppl.io.catalogues import read_allstar, read_lamost_catalogue
from stereo_ppl.io.errors import SurveyFileError, SurveyFileWarning
from stereo_ppl.io.identify import read_spectrum
from stereo_ppl.io.lamost import read_lamost
from stereo_ppl.io.spectrum import Spectrum

#: Examples per property; raise it for a longer hunt, e.g. STEREO_PPL_FUZZ_EXAMPLES=2000
#: (random examples). The default run draws the same 20 examples every time, so the
#: suite's time and memory do not depend on the luck of the draw.
_HUNT = os.environ.get("STEREO_PPL_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_HUNT or 20),
    derandomize=_HUNT is None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: name: (reader, real file name or synthetic writer, file suffix, or the whole file name
#: where the reader needs it: a GALAH CCD file's)
SOURCES = {
    "aspcapStar-real": (read_aspcapstar, "aspcapStar-r6-l30e.2-2M11194647+0820356.fits", ".fits"),
    "apStar-real": (read_apstar, "apStar-r6-2M11194647+0820356.fits", ".fits"),
    "lamost-dr6-real": (read_lamost, "spec-57287-KP193637N444141V03_sp10-161.fits.gz", ".fits.gz"),
    "lamost-dr7-real": (read_lamost, "spec-58397-EG014118N254444M01_sp03-031.fits", ".fits"),
    "lamost-dr9-real": (read_lamost, "spec-55859-F5902_sp01-013_dr8.fits.gz", ".fits.gz"),
    "aspcapStar-f8-gz": (
        read_aspcapstar,
        lambda p: write_aspcapstar(p, dtype=">f8", gz=True),
        ".fits.gz",
    ),
    "apStar-1visit": (read_apstar, lambda p: write_apstar(p, nvisits=1), ".fits"),
    "lamost-table-3908": (read_lamost, lambda p: write_lamost_table(p, num_pixels=3908), ".fits"),
    "lamost-dr1-real": (read_spectrum, "spec-55862-B6212_sp06-003.fits", ".fits"),
    "lamost-mrs-real": (
        read_spectrum,
        "med-58625-TD192102N424113K01_sp12-076.fits.gz",
        ".fits.gz",
    ),
    "galah-dr4-real": (read_spectrum, "2101150022012391.fits", "2101150022012391.fits"),
    "lamost-mrs-wavelength": (
        read_spectrum,
        lambda p: write_lamost_mrs(p, column="WAVELENGTH"),
        ".fits",
    ),
    "apVisit": (read_spectrum, write_apvisit, ".fits"),
    "aspcapStar-dr17": (read_spectrum, write_aspcapstar_dr17, ".fits"),
    "allStar": (read_allstar, lambda p: write_allstar(p, num_stars=20), ".fits"),
    "lamost-catalogue": (read_lamost_catalogue, lambda p: write_lamost_catalogue(p), ".fits"),
    "lamost-catalogue-csv": (
        read_lamost_catalogue,
        lambda p: write_lamost_catalogue(p, fmt="csv"),
        ".csv",
    ),
}
FITS_SOURCES = [name for name in SOURCES if not name.endswith("csv")]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Bytes of each synthetic source file."""
    folder = tmp_path_factory.mktemp("sources")
    out = {}
    for name, (_, writer, suffix) in SOURCES.items():
        if callable(writer):
            path = folder / f"{name}{suffix}"
            writer(path)
            out[name] = path.read_bytes()
    return out


class Source(NamedTuple):
    """A file to damage: its reader, original bytes and a scratch path."""

    name: str
    reader: Callable
    raw: bytes
    scratch: Path

    def __repr__(self) -> str:
        return f"Source({self.name!r})"


@pytest.fixture
def source(request, synthetic, tmp_path_factory):
    """The :class:`Source` named by the parameter."""
    name = request.param
    reader, origin, suffix = SOURCES[name]
    if callable(origin):
        raw = synthetic[name]
    else:
        raw = (request.getfixturevalue("shared_data") / "real" / origin).read_bytes()
    scratch = suffix if not suffix.startswith(".") else f"damaged{suffix}"
    return Source(name, reader, raw, tmp_path_factory.mktemp("fuzz") / scratch)


def read_or_refuse(reader, path: Path):
    """Call ``reader``; return its result or None if it raised SurveyFileError.

    Any other exception fails the test, as does a warning other than
    SurveyFileWarning or astropy's own (truncation, non-standard cards).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = reader(path)
        except SurveyFileError as exc:
            assert str(path) in str(exc)
            result = None
    for w in caught:
        assert issubclass(w.category, SurveyFileWarning | AstropyWarning), str(w.message)
    if isinstance(result, Spectrum):
        assert result.num_pixels >= 2
        assert np.isfinite(result.flux).all() and (result.ivar >= 0).all()
        assert 3000 <= result.wavelength.value[0] < result.wavelength.value[-1] <= 17100
    elif result is not None:
        assert isinstance(result, Table) and len(result.colnames) > 0
    return result


def uncompressed(raw: bytes) -> bytes:
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def recompress_like(original: bytes, data: bytes) -> bytes:
    return gzip.compress(data) if original[:2] == b"\x1f\x8b" else data


def header_spans(raw: bytes) -> list[tuple[int, int]]:
    """Byte ranges ``[start, stop)`` of the headers of an undamaged FITS file."""
    with warnings.catch_warnings(record=True), fits.open(io.BytesIO(raw)) as hdul:
        infos = [hdul.fileinfo(i) for i in range(len(hdul))]  # (AKWISE warns here)
    return [(info["hdrLoc"], info["datLoc"]) for info in infos]


@pytest.mark.parametrize("source", list(SOURCES), indirect=True)
@FUZZ
@given(data=st.data())
def test_truncated_files(source, data):
    _, reader, raw, scratch = source
    blocks = [k * 2880 for k in range(len(raw) // 2880 + 1)]
    cut = data.draw(st.one_of(st.integers(0, len(raw)), st.sampled_from(blocks)), label="cut")
    scratch.write_bytes(raw[:cut])
    result = read_or_refuse(reader, scratch)
    if cut < 2880 and scratch.suffix != ".csv":
        assert result is None  # not even one FITS block


@pytest.mark.parametrize("source", FITS_SOURCES, indirect=True)
@FUZZ
@given(data=st.data())
def test_damaged_headers(source, data):
    _, reader, raw, scratch = source
    plain = bytearray(uncompressed(raw))
    spans = header_spans(bytes(plain))
    assert spans
    cards = [(s + i) for s, e in spans for i in range(0, e - s, 80)]
    for _ in range(data.draw(st.integers(1, 4), label="num_damaged")):
        card = data.draw(st.sampled_from(cards), label="card")
        kind = data.draw(st.sampled_from(["value", "keyword", "bytes"]), label="kind")
        if kind == "value":
            text = data.draw(st.text(string.printable.strip() + " ", max_size=20), label="value")
            plain[card + 10 : card + 30] = text.ljust(20).encode("ascii")[:20]
        elif kind == "keyword":
            text = data.draw(st.text(string.ascii_uppercase + "-_ =", max_size=8), label="key")
            plain[card : card + 8] = text.ljust(8).encode("ascii")[:8]
        else:
            offset = data.draw(st.integers(0, 79), label="offset")
            plain[card + offset] = data.draw(st.integers(0, 255), label="byte")
    scratch.write_bytes(recompress_like(raw, bytes(plain)))
    read_or_refuse(reader, scratch)


@FUZZ
@given(data=st.binary(max_size=400))
def test_csv_catalogue_garbage(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("csv") / "cat.csv"
    path.write_bytes(b"obsid,ra,dec\n1,2.0,3.0\n" + data)
    read_or_refuse(read_lamost_catalogue, path)


@FUZZ
@given(data=st.binary(min_size=1, max_size=4000))
def test_gzip_garbage(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("gz") / "spec.fits.gz"
    path.write_bytes(zlib.compress(data) if data[0] % 2 else gzip.compress(data)[:-4] + data[:4])
    read_or_refuse(read_lamost, path)


NAN_LAYOUTS = {
    "lamost-image": (
        write_lamost_image,
        read_lamost,
        0,
        {"flux": (0, 0), "ivar": (0, 1), "wavelength": (0, 2)},
    ),
    "lamost-table": (
        write_lamost_table,
        read_lamost,
        1,
        {"flux": "FLUX", "ivar": "IVAR", "wavelength": "WAVELENGTH"},
    ),
    "aspcapStar": (write_aspcapstar, read_aspcapstar, None, {"flux": 1, "ivar": 2}),
}


@pytest.mark.parametrize("layout", list(NAN_LAYOUTS))
@FUZZ
@given(data=st.data())
def test_nan_patterns(tmp_path_factory, layout, data):
    writer, reader, table_hdu, targets = NAN_LAYOUTS[layout]
    path = tmp_path_factory.mktemp("nan") / "spec.fits"
    target = data.draw(st.sampled_from(sorted(targets)), label="target")
    value = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]), label="value")
    size = writer(path)["flux"].size
    pattern = data.draw(st.sampled_from(["indices", "block", "all"]), label="pattern")
    if pattern == "indices":
        index = np.unique(data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=50)))
    elif pattern == "block":
        start = data.draw(st.integers(0, size - 1))
        index = np.arange(start, min(size, start + data.draw(st.integers(1, 500))))
    else:
        index = np.arange(size)
    hdul = fits.open(path, mode="update")
    try:
        where = targets[target]
        if table_hdu == 1:
            array = hdul[1].data[where][0]
        elif table_hdu == 0:
            array = hdul[where[0]].data[where[1]]
        else:
            array = hdul[where].data
        array[index] = value
    finally:
        hdul.close(output_verify="ignore")  # keep the table layout's stale NAXISn keys
    result = read_or_refuse(reader, path)
    if target == "wavelength" or pattern == "all":
        assert result is None
    else:
        assert isinstance(result, Spectrum)
        assert result.bad[index].all()
