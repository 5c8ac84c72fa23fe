"""Pytest configuration.

Run the core tests in float64 with ``JAX_ENABLE_X64=1 pytest -m core`` (JAX
reads that variable itself; nothing here changes the global configuration).
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

#: The data shared beside the checkout (real survey files); may be absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """Path of ``../shared/data``; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
