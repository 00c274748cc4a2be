"""The public API is what __all__ says, nothing more and nothing less."""

from __future__ import annotations

import bridge


def test_all_lists_the_public_names() -> None:
    public = {name for name in dir(bridge) if not name.startswith("_")}
    modules = {"api", "cli", "errors", "extract", "fhir", "ingest", "log", "model", "pipeline", "settings", "sinks",
               "validate", "samples"}
    assert set(bridge.__all__) == public - modules
    assert {"convert", "ConversionResult", "__version__"} <= set(bridge.__all__) | {"__version__"}
