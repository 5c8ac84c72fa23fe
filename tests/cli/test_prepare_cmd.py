import subprocess
import sys

import pytest
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.datasets import make_builtin
from stereo_ppl.datasets.files import write_builtin_files
from stereo_ppl.errors import StereoPPLError
from stereo_ppl.io import load_paired
from stereo_ppl.prepare import pipeline as pipeline_module

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    survey = make_builtin(7, num_stars=8, lamost_snr=400.0)
    return write_builtin_files(survey, tmp_path_factory.mktemp("files"))


def options(files, out, *extra):
    return [
        "prepare",
        "--apogee-dir",
        str(files.apogee_dir),
        "--lamost-dir",
        str(files.lamost_dir),
        "--catalogue",
        str(files.catalogue),
        "--out",
        str(out),
        "--workers",
        "1",
        *map(str, extra),
    ]


def test_prepare_writes_the_paired_dataset_and_prints_the_summary(files, tmp_path):
    out = tmp_path / "PAIRED.nc"
    result = runner.invoke(app, options(files, out, "--min-lamost-snr", 100))
    assert result.exit_code == 0, result.output
    assert "cuts" in result.output and "LAMOST snrz > 100" in result.output
    assert "rejected (3)" in result.output and f"wrote {out}" in result.output
    paired = load_paired(out)
    counts = dict(zip(paired.attrs["cut_names"], paired.attrs["cut_removed"], strict=True))
    assert counts["duplicates"] == 1 and counts["files"] == 2 and counts["starflag"] == 1
    assert paired.attrs["cut_remaining"][-1] == paired.sizes["star"]
    assert paired.sizes["rejected"] == 3
    assert '"min_lamost_snr": 100.0' in paired.attrs["config"]


def test_skip_cut_and_unknown_cut(files, tmp_path):
    out = tmp_path / "PAIRED.nc"
    result = runner.invoke(
        app, options(files, out, "--skip-cut", "labels_clip", "--skip-cut", "lamost_snr")
    )
    assert result.exit_code == 0, result.output
    attrs = load_paired(out).attrs
    counts = dict(zip(attrs["cut_names"], attrs["cut_removed"], strict=True))
    assert counts["labels_clip"] == 0 and counts["lamost_snr"] == 0
    result = runner.invoke(app, options(files, out, "--skip-cut", "nonsense"))
    assert isinstance(result.exception, StereoPPLError)
    assert "nonsense" in str(result.exception)


def test_interrupted_prepare_keeps_what_was_read(files, tmp_path, monkeypatch):
    calls = []
    original = pipeline_module.read_pairs

    def interrupted(tasks):
        calls.append(len(tasks))
        if len(calls) > 2:
            raise KeyboardInterrupt
        return original(tasks)

    monkeypatch.setattr(pipeline_module, "read_pairs", interrupted)
    out = tmp_path / "PAIRED.nc"
    result = runner.invoke(app, options(files, out, "--skip-cut", "lamost_snr"))
    assert result.exit_code == 130
    assert not out.exists()
    partial = load_paired(tmp_path / "PAIRED.partial.nc")
    assert partial.attrs["complete"] == 0 and partial.sizes["star"] <= sum(calls[:2])
    assert "interrupted" in list(partial.attrs["cut_names"])


@pytest.mark.slow  # a fresh interpreter, as a user runs it
def test_strict_stops_with_one_line_naming_the_file(files, tmp_path):
    out = tmp_path / "PAIRED.nc"
    proc = subprocess.run(
        [sys.executable, "-m", "stereo_ppl", *options(files, out, "--strict")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert (
        "duplicate APOGEE_ID" in lines[0] and "catalogue row 17" in lines[0]
    )  # 8 stars, then the 10th extra row
    assert ".fits" in lines[0] and "strict: stopped" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()
