"""Fixtures: the built-in survey written as survey files (small)."""

import shutil

import pytest

from stereo_ppl.datasets import make_builtin
from stereo_ppl.datasets.files import write_builtin_files


@pytest.fixture(scope="module")
def builtin_with_failing(tmp_path_factory):
    """12 built-in stars plus the failing rows, written once per module."""
    survey = make_builtin(3, num_stars=12, lamost_snr=400.0)
    files = write_builtin_files(survey, tmp_path_factory.mktemp("builtin"))
    return survey, files


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory):
    """6 built-in stars, no failing rows (each test damages a copy)."""
    survey = make_builtin(5, num_stars=6, lamost_snr=400.0)
    files = write_builtin_files(survey, tmp_path_factory.mktemp("clean"), failing=False)
    return survey, files


@pytest.fixture
def clean_copy(clean_files, tmp_path):
    """A private copy of ``clean_files``' directory: (survey, BuiltinFiles)."""
    survey, files = clean_files
    root = tmp_path / "files"
    shutil.copytree(files.catalogue.parent, root)
    return survey, files._replace(
        catalogue=root / files.catalogue.name,
        apogee_dir=root / "apogee",
        lamost_dir=root / "lamost",
    )
