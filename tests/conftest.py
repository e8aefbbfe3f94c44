"""Shared fixtures: where the real corpus and the sample recordings are."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SAMPLES = ROOT / "sample_data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; tests that use it skip when it is absent (a user's fresh machine)."""
    if not DATA.is_dir():
        pytest.skip(f"real corpus not found at {DATA} (it sits beside the project in development and CI)")
    return DATA


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES
