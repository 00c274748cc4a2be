"""Fixtures for the validator tests: the small bundles of `bundles.py`, and the guide's example bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.validate.bundles import build_document_bundle, build_minimal_bundle

# the shared corpus lives beside the repository: <repo>/../shared
EXAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fhir" / "eu-imaging-examples"


@pytest.fixture
def document_bundle() -> dict[str, Any]:
    return build_document_bundle()


@pytest.fixture
def minimal_bundle() -> dict[str, Any]:
    return build_minimal_bundle()


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    """The guide's example bundles in ../shared beside the repository; skips when the corpus is absent."""
    if not EXAMPLES.is_dir():
        pytest.skip(f"guide examples not available: {EXAMPLES.resolve()} (they live in ../shared beside the repo)")
    return EXAMPLES
