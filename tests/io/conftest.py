"""Make ``survey_fakes`` (writers of synthetic survey files) importable by these tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
