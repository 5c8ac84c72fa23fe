"""``stereo-ppl inspect FILE... [--json]``: one row per file, exit 0 whatever the files."""

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from stereo_ppl.cli import app

runner = CliRunner()
KEYS = ["file", "survey", "release", "layout", "id", "num_pixels", "wavelength_min",
        "wavelength_max", "snr", "status"]  # fmt: skip
SHARED_REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))


def test_inspect_json_on_written_files_and_broken_ones(tmp_path):
    from release_fakes import write_lamost_dr1, write_lamost_mrs
    from survey_fakes import write_aspcapstar, write_lamost_table

    table = tmp_path / "spec-55859-F5902_sp01-013.fits"
    write_lamost_table(table)
    dr1 = tmp_path / "spec-55862-B6212_sp06-003.fits"
    write_lamost_dr1(dr1)
    mrs = tmp_path / "med-58625-TD192102N424113K01_sp12-076.fits"
    write_lamost_mrs(mrs)
    apogee = tmp_path / "aspcapStar-dr17-2M00000000+0000000.fits"
    write_aspcapstar(apogee, akwise_nan=True)
    truncated = tmp_path / "aspcapStar-dr17-2M00000000+0000001.fits"
    truncated.write_bytes(apogee.read_bytes()[: 2880 * 6])
    wrong = tmp_path / "spec-55862-B6212_sp06-004.fits"
    write_lamost_dr1(wrong, exten0="Flux Inverse")
    text = tmp_path / "notes.csv"
    text.write_text("a,b\n1,2\n")
    files = [table, dr1, mrs, apogee, truncated, wrong, text, tmp_path / "missing.fits"]
    result = runner.invoke(app, ["inspect", "--json", *map(str, files)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [list(row) for row in rows] == [KEYS] * len(files)
    by_name = {Path(row["file"]).name: row for row in rows}
    new = by_name[table.name]
    assert (new["survey"], new["release"], new["layout"]) == ("LAMOST", "DR9", "table")
    assert new["id"] == "101013" and new["num_pixels"] == 3909 and new["status"] == "ok"
    assert 3699 < new["wavelength_min"] < 3701 and new["snr"] == 153.72
    old = by_name[dr1.name]
    assert (old["release"], old["id"], old["status"]) == ("DR1", "spec-55862-B6212_sp06-003", "ok")
    medium = by_name[mrs.name]
    assert (medium["survey"], medium["layout"], medium["id"]) == (
        "LAMOST",
        "mrs-coadd",
        "744812076",
    )
    assert by_name[apogee.name]["status"].startswith("ok; Card 'AKWISE'")  # the warning, once
    assert by_name[apogee.name]["release"] == "DR17"
    assert by_name[truncated.name]["status"].startswith("HDU 1: is truncated")
    assert "EXTEN0" in by_name[wrong.name]["status"] and by_name[wrong.name]["survey"] == "LAMOST"
    assert by_name[text.name]["status"] == "is not a FITS file (it does not start with SIMPLE)"
    assert by_name["missing.fits"]["status"] == "no such file"
    for row in rows:
        assert "\n" not in row["status"] and row["survey"] in (None, "APOGEE", "LAMOST", "GALAH")


def test_inspect_table_as_a_user_runs_it():
    """``python -m stereo_ppl inspect`` on the real files prints one line per file."""
    files = sorted(p for p in SHARED_REAL.glob("*") if p.suffix in (".fits", ".gz"))
    if not files:
        import pytest

        pytest.skip("../shared/data/real is not present")
    done = subprocess.run(
        [sys.executable, "-m", "stereo_ppl", "inspect", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert len(lines) == len(files)
    for path, line in zip(files, lines, strict=True):
        assert path.name in line
        if path.name.startswith(("spec-", "med-", "aspcap", "apStar")) or path.name[0].isdigit():
            assert "│ ok" in line, line
