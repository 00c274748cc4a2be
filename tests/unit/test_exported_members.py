"""The public API is what __all__ says, nothing more and nothing less."""

from __future__ import annotations

import bridge

SUBPACKAGES = {"api", "cli", "errors", "extract", "fhir", "ingest", "log", "manifest", "metrics", "model", "pipeline",
               "samples", "settings", "service", "sinks", "store", "validate", "web"}


def test_all_lists_the_public_names() -> None:
    public = {name for name in dir(bridge) if not name.startswith("_")} - SUBPACKAGES
    assert set(bridge.__all__) == public | {"__version__"}
    assert {"convert", "ConversionResult", "Rejected"} <= public
