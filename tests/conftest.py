"""Shared fixtures: the repository's sample files, the third-party corpus beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.fhir_server"]

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DICOM = REPO / "sample_dicom"
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def sample_dicom() -> Path:
    return SAMPLE_DICOM


def shared_path(*parts: str) -> Path:
    """A path in the third-party corpus beside the repository; skips the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party corpus not available: {path} (it lives beside the repository in ../shared)")
    return path
