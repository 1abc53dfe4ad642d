"""Test configuration shared by every test package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# GUI tests run headless; set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# matplotlib must not look for a display either.
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real datasets (``CNN_STUDIO_DATA``); the test is skipped when they are absent."""
    value = os.environ.get("CNN_STUDIO_DATA")
    if not value or not Path(value, "mnist").is_dir():
        pytest.skip("real datasets not available (set CNN_STUDIO_DATA to ../shared/datasets)")
    return Path(value)
