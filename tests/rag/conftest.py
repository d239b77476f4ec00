"""Fixtures of the rag tests."""

from __future__ import annotations

from pathlib import Path

import pytest

DRCD = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "drcd" / "DRCD_dev.json"


@pytest.fixture
def drcd_path() -> Path:
    if not DRCD.is_file():
        pytest.skip(
            f"DRCD dev split not found at {DRCD.resolve()} (../shared/data/drcd beside the repo)"
        )
    return DRCD
