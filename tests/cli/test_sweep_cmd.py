"""``stereo-ppl sweep`` and ``stereo-ppl compare``, run as a user would (subprocesses)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from factories import small_paired
from typer.testing import CliRunner

from stereo_ppl.cli import app
from stereo_ppl.errors import StereoPPLError
from stereo_ppl.io import load_fit, save_paired
from stereo_ppl.sweep import MANIFEST_NAME


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    """Environment of the subprocesses: one persistent JAX compilation cache for all."""
    cache = tmp_path_factory.mktemp("jax_cache")
    env = dict(os.environ)
    env.update(
        JAX_COMPILATION_CACHE_DIR=str(cache),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    return env


def _sweep_args(paired, out, *extra):
    """A sweep of the seed's model (40 stars are too few to learn its noise model and prior)."""
    seed_model = ["--noise", "reported", "--prior", "unit"]
    command = [sys.executable, "-m", "stereo_ppl", "sweep", str(paired), "--out-dir", str(out)]
    return [*command, *seed_model, *extra]


def _stamp(path):
    stat = os.stat(path)
    return stat.st_ino, stat.st_mtime_ns


@pytest.mark.slow
def test_sigkill_mid_write_loses_only_the_fit_in_progress(tmp_path, cli_env):
    paired = save_paired(small_paired(0, num_stars=40), tmp_path / "PAIRED.nc")
    out = tmp_path / "sweep"
    args = _sweep_args(paired, out, "-c", "1", "--repeats", "4", "--holdout-fraction", "0.5")
    first = out / "fit_c001_r0.nc"
    proc = subprocess.Popen(args, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not first.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no fit was written in 300 s"
            time.sleep(0.01)
        # wait for the next fit's temporary file, to kill in the middle of its write
        mid_write = False
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if any(out.glob(".fit_*.tmp")):
                mid_write = True
                break
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    print(f"killed {'in the middle of a write' if mid_write else 'between writes'}")
    if mid_write:  # the interrupted write left its temporary file, never a partial fit
        assert list(out.glob(".fit_*.tmp"))
    done = {p.name: _stamp(p) for p in out.glob("fit_*.nc")}
    assert "fit_c001_r0.nc" in done and len(done) < 4
    for name in done:
        load_fit(out / name)  # every file under a final name is complete

    rerun = subprocess.run(args, env=cli_env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done)} already done, {4 - len(done)} fitted now, 0 failed" in rerun.stdout
    assert {name: _stamp(out / name) for name in done} == done  # none redone
    assert sorted(p.name for p in out.glob("fit_*.nc")) == [f"fit_c001_r{r}.nc" for r in range(4)]
    assert not list(out.glob(".*.tmp"))
    for path in out.glob("fit_*.nc"):
        load_fit(path)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert {rec["status"] for rec in manifest["fits"].values()} == {"done"}
    assert len(manifest["fits"]) == 4


@pytest.mark.slow
def test_sweep_in_worker_processes_then_compare(tmp_path, cli_env):
    paired = save_paired(small_paired(0, num_stars=40), tmp_path / "PAIRED.nc")
    out = tmp_path / "sweep"
    args = _sweep_args(
        paired, out, "-c", "1", "--repeats", "2", "--holdout-fraction", "0.5", "--workers", "2"
    )
    done = subprocess.run(args, env=cli_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "in 2 worker processes" in done.stderr
    assert "2 fitted now, 0 failed" in done.stdout
    for path in out.glob("fit_*.nc"):
        assert load_fit(path)["scores"]["heldout_lpd"].size == 1

    shown = CliRunner().invoke(app, ["compare", str(out), "--out", str(tmp_path / "cmp.csv")])
    assert shown.exit_code == 0, shown.output
    assert "chosen c = 1" in shown.output
    for name in ("cmp.csv", "cmp_score_vs_c.png", "cmp_log_joint.png"):
        assert (tmp_path / name).stat().st_size > 0
    header = (tmp_path / "cmp.csv").read_text().splitlines()[0]
    assert header.startswith(",c,rank,elpd_diff,dse,p_worse")
    assert (tmp_path / "cmp_score_vs_c.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "many"], "--workers must be a number of processes"),
        (["--method", "nuts"], "unknown method 'nuts'"),
        (["--option", "oops"], "--option must look like NAME=VALUE"),
        (["--model", "mlp", "--method", "exact"], "does not fit model 'mlp'"),
        (["--model", "mlp", "--model-option", "x"], "--model-option must look like NAME=VALUE"),
        (["--model", "mlp", "--model-option", "depth=2"], "model 'mlp' has no option 'depth'"),
        (["--kfold", "1"], "number of folds must be at least 2"),
        (["-c", "1,x"], "-c must be comma-separated integers"),
    ],
)
def test_sweep_user_errors_raise_stereo_ppl_errors(tmp_path, extra, message):
    paired = save_paired(small_paired(0, num_stars=10), tmp_path / "PAIRED.nc")
    args = ["sweep", str(paired), "--out-dir", str(tmp_path / "d"), "-c", "1", *extra]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, StereoPPLError), result.output
    assert message in str(result.exception)
    assert not list((tmp_path / "d").glob("fit_*"))


def test_compare_of_a_directory_without_sweep_is_an_error(tmp_path):
    result = CliRunner().invoke(app, ["compare", str(tmp_path)])
    assert isinstance(result.exception, StereoPPLError), result.output
    assert "not a sweep directory" in str(result.exception)
