"""One vocabulary across commands: deprecated spellings, method options from one table."""

import json
import re

import jax
import pytest
from factories import small_paired
from typer.testing import CliRunner

import stereo_ppl
from stereo_ppl.cli import app
from stereo_ppl.cli.options import method_option_names
from stereo_ppl.errors import FitConfigError, StereoPPLError
from stereo_ppl.inference import DEFAULT_METHOD
from stereo_ppl.io import load_fit, save_paired
from stereo_ppl.sweep import SweepConfig, run_sweep

runner = CliRunner()


def _warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("DeprecationWarning")]


@pytest.fixture(scope="module")
def paired_file(tmp_path_factory):
    return save_paired(small_paired(0, num_stars=30), tmp_path_factory.mktemp("voc") / "P.nc")


def test_demo_out_is_a_deprecated_spelling_of_out_dir(monkeypatch, tmp_path):
    import stereo_ppl.cli.demo as demo

    calls = []
    monkeypatch.setattr(demo, "run_demo", lambda out, **kwargs: calls.append((out, kwargs)))
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "-c", "2"])
    assert result.exit_code == 0, result.output
    assert calls[0][0] == tmp_path / "d" and calls[0][1]["method"] == DEFAULT_METHOD
    assert _warnings(result) == [
        "DeprecationWarning: demo --out DIR is deprecated and will be removed in the next "
        "release; use --out-dir DIR"
    ]
    result = runner.invoke(app, ["demo", "--out-dir", str(tmp_path / "e"), "--num-latent", "2"])
    assert result.exit_code == 0 and not _warnings(result)
    assert calls[1][0] == tmp_path / "e" and calls[1][1]["num_latents"] == [2]


def test_denoise_scheduler_is_a_deprecated_spelling_of_workers(tmp_path):
    args = ["denoise", str(tmp_path / "fit.nc"), str(tmp_path), "--out", str(tmp_path / "o.nc")]
    result = runner.invoke(app, [*args, "--scheduler", "lots"])
    assert "--workers must be a number of processes or a dask scheduler address; got 'lots'" in (
        str(result.exception)
    )
    assert len(_warnings(result)) == 1 and "use --workers ADDRESS" in _warnings(result)[0]
    result = runner.invoke(app, [*args, "--workers", "lots"])
    assert "--workers must be" in str(result.exception) and not _warnings(result)


def test_prepare_workers_are_local_processes(tmp_path):
    args = ["prepare", "--apogee-dir", str(tmp_path), "--lamost-dir", str(tmp_path)]
    args += ["--catalogue", str(tmp_path / "c.fits"), "--out", str(tmp_path / "p.nc")]
    result = runner.invoke(app, [*args, "--workers", "tcp://host:8786"])
    assert "--workers must be a number of processes; got 'tcp://host:8786'" in str(result.exception)


def test_compare_repeat_and_out_prefix_still_work_with_a_warning(paired_file, tmp_path):
    config = SweepConfig(
        method="exact", heldout_fraction=0.3, options={"noise": "reported", "prior": "unit"}
    )
    sweep = tmp_path / "sweep"
    run_sweep(
        jax.random.key(0), paired_file, sweep, num_latents=[1, 2], num_repeats=2, config=config
    )
    old = runner.invoke(app, ["compare", str(sweep), "--repeat", "1", "--out", str(tmp_path / "a")])
    assert old.exit_code == 0, old.output
    assert [w.split(" is deprecated")[0] for w in _warnings(old)] == [
        "DeprecationWarning: compare --repeat",
        "DeprecationWarning: compare --out PREFIX",
    ]
    new = runner.invoke(
        app, ["compare", str(sweep), "--repeat-choice", "1", "--out", str(tmp_path / "b.csv")]
    )
    assert new.exit_code == 0 and not _warnings(new)
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert (tmp_path / "b_score_vs_c.png").exists() and (tmp_path / "a_score_vs_c.png").exists()
    bad = runner.invoke(app, ["compare", str(sweep), "--repeat-choice", "several"])
    assert "--repeat-choice must be best, mean or a repeat number" in str(bad.exception)


@pytest.mark.parametrize("method", ["exact", "laplace", "vi"])
def test_the_cli_takes_the_options_the_library_takes(method):
    """The library names a method's options when given another; the CLI's table is the same."""
    paired = small_paired(0, num_stars=12)
    with pytest.raises(FitConfigError, match="its options are") as info:
        stereo_ppl.fit(jax.random.key(0), paired, num_latent=1, method=method, no_such=1)
    library = set(re.search(r"its options are (.*)$", str(info.value)).group(1).split(", "))
    common = {"b_F_prior_mean", "noise", "prior"}  # fit() itself takes these for every method
    assert library - common == set(method_option_names(method)) - common
    if method == "vi":  # a model variant's vi has an AdamW MAP stage
        variant = set(method_option_names(method, base=False)) - set(method_option_names(method))
        assert variant == {"map_steps", "map_learning_rate"}


def test_fit_and_library_default_to_the_same_method(paired_file, tmp_path):
    import inspect

    default = inspect.signature(stereo_ppl.fit).parameters["method"].default
    assert default in (DEFAULT_METHOD, None)
    out = tmp_path / "f.nc"
    result = runner.invoke(app, ["fit", str(paired_file), "-c", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tree = load_fit(out, paired=False)
    library = stereo_ppl.fit(jax.random.key(0), stereo_ppl.load_paired(paired_file), num_latent=2)
    assert tree.attrs["method"] == library.attrs["method"] == DEFAULT_METHOD


def test_method_options_as_flags_and_as_option(paired_file, tmp_path):
    out = tmp_path / "lap.nc"
    args = ["fit", str(paired_file), "-c", "2", "--out", str(out), "--method", "laplace"]
    result = runner.invoke(app, [*args, "--patience", "2", "--num-samples", "3"])
    assert result.exit_code == 0, result.output
    config = json.loads(load_fit(out, paired=False).attrs["config"])
    assert config["patience"] == 2 and config["num_samples"] == 3
    out = tmp_path / "tol.nc"
    args = ["fit", str(paired_file), "-c", "2", "--out", str(out), "--option", "tol=1e-4"]
    result = runner.invoke(app, [*args, "--option", "max_iter=7"])
    assert result.exit_code == 0, result.output
    config = json.loads(load_fit(out, paired=False).attrs["config"])
    assert config["tol"] == 1e-4 and config["max_iter"] == 7


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "10"], "--steps does not apply to --method exact (its options: max_iter"),
        (["--option", "no_such=1"], "--option no_such does not apply to --method exact"),
        (["--max-iter", "5", "--option", "max_iter=6"], "--max-iter and --option max_iter"),
        (["--method", "map", "--max-iter", "5"], "--max-iter does not apply to --method map"),
    ],
)
@pytest.mark.parametrize("command", ["fit", "sweep"])
def test_options_a_method_has_no_use_for_fail_before_reading_data(
    tmp_path, command, extra, message
):
    missing = tmp_path / "missing.nc"  # never read: the options fail first
    target = ["--out", str(tmp_path / "f.nc")] if command == "fit" else ["--out-dir", str(tmp_path)]
    result = runner.invoke(app, [command, str(missing), "-c", "2", *target, *extra])
    assert isinstance(result.exception, StereoPPLError)
    assert message in str(result.exception)
