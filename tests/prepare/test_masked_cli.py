"""`stereo-ppl prepare --skip-cut missing_pixels` keeps stars with missing APOGEE pixels."""

import numpy as np
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.datasets.files import FAILING_ROWS
from stereo_ppl.io import load_paired


def test_prepare_cli_keeps_stars_with_missing_pixels_when_the_cut_is_skipped(
    builtin_with_failing, tmp_path
):
    _, files = builtin_with_failing
    common = [
        "prepare",
        "--apogee-dir",
        str(files.apogee_dir),
        "--lamost-dir",
        str(files.lamost_dir),
        "--catalogue",
        str(files.catalogue),
        "--workers",
        "1",
        "--skip-cut",
        "lamost_snr",
        "--skip-cut",
        "labels_clip",
    ]
    runner = CliRunner()
    missing_obsid = 900_000_000 + [kind for kind, _ in FAILING_ROWS].index("missing_pixels")
    kept = {}
    for name, extra in (("seed", []), ("off", ["--skip-cut", "missing_pixels"])):
        out = tmp_path / f"{name}.nc"
        result = runner.invoke(app, [*common, "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        paired = load_paired(out)
        kept[name] = paired
        row = list(paired.attrs["cut_names"]).index("missing_pixels")
        description = str(paired.attrs["cut_descriptions"][row])
        if name == "seed":
            assert int(paired.attrs["cut_removed"][row]) == 1
            assert "missing APOGEE pixels" in result.output
            assert missing_obsid not in paired["obsid"].values
        else:
            assert int(paired.attrs["cut_removed"][row]) == 0
            assert description == (
                "missing_pixels: off (1 star kept with missing pixels, masked by apogee_ivar = 0)"
            )
            assert "missing_pixels: off" in result.output  # the printed cut table
    off = kept["off"]
    assert off.sizes["star"] == kept["seed"].sizes["star"] + 1
    star = int(np.flatnonzero(off["obsid"].values == missing_obsid)[0])
    assert int((off["apogee_ivar"].values[star] == 0).sum()) == 30
