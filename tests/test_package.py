"""The package's top level: lazy re-exports keep I/O workers light."""

import subprocess
import sys

import pytest

import stereo_ppl

HEAVY = ("jax", "numpyro", "arviz_base", "arviz_stats", "matplotlib")


def test_every_exported_name_resolves():
    for name in stereo_ppl.__all__:
        assert getattr(stereo_ppl, name) is not None, name
    assert set(stereo_ppl.__all__) <= set(dir(stereo_ppl))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        stereo_ppl.nope  # noqa: B018


def test_reading_survey_files_does_not_import_the_modelling_stack():
    code = (
        "import sys, stereo_ppl.io, stereo_ppl.prepare.reading; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
