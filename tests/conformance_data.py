"""Where the shared conformance data lives (``../shared/conformance`` beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"


def require_conformance() -> Path:
    """The data folder; skip (or, under CI, fail) when it is missing."""
    if not CONFORMANCE.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"conformance data missing at {CONFORMANCE}")
        pytest.skip(f"conformance data not found at {CONFORMANCE} (../shared beside the repo)")
    return CONFORMANCE


def conformance_files(folder: str, pattern: str) -> list[Path]:
    return sorted((CONFORMANCE / folder).glob(pattern)) if CONFORMANCE.is_dir() else []
