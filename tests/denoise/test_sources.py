"""Reading LAMOST files to denoise: failures and warnings become one message per file."""

import sys
import warnings
from pathlib import Path

import numpy as np

from stereo_ppl.data import lamost_grid
from stereo_ppl.denoise.sources import FitsSource

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from survey_fakes import write_lamost_image


def test_reader_warnings_go_into_each_files_message_once(tmp_path):
    good = tmp_path / "good.fits"
    write_lamost_image(good, seed=1)
    nan = tmp_path / "nan.fits"
    write_lamost_image(nan, seed=2, nan_pixels=(100, 200, 300))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(data[: len(data) // 2])
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"not a FITS file")
    source = FitsSource((good, nan, truncated, junk), lamost_grid())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape as a raw warning
        chunk = source.read(0, 4)
    np.testing.assert_array_equal(chunk.unreadable, [False, False, True, True])
    assert [i for i, _ in chunk.errors] == [2, 3]
    assert str(truncated) in chunk.errors[0][1] and "truncated" in chunk.errors[0][1]
    assert [i for i, _ in chunk.warnings] == [1]
    message = chunk.warnings[0][1]
    assert message.startswith(f"{nan}: ") and message.count(str(nan)) == 1
    assert "3 of 3909 pixels" in message
    assert np.all(chunk.ivar[2:] == 0) and np.any(chunk.ivar[1] > 0)
