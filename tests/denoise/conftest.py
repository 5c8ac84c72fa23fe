"""Make ``denoise_fakes`` (small fits with a known decoder) importable by these tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
