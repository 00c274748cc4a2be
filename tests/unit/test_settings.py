"""Settings: the documented config file loads; wrong keys and values are errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.settings import load_settings
from tests.conftest import REPO


def test_reference_config_loads_with_defaults() -> None:
    settings = load_settings(REPO / "config" / "bridge.toml", environ={})
    assert settings.fhir.base_url == "http://localhost/fhir"
    assert settings.fhir.site_timezone == "UTC"


def test_environment_overrides_the_file() -> None:
    settings = load_settings(REPO / "config" / "bridge.toml", environ={"BRIDGE_FHIR__BASE_URL": "https://x.org/fhir/"})
    assert settings.fhir.base_url == "https://x.org/fhir"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[fhir]\nbase_ur = "x"\n')
    with pytest.raises(ConfigError, match=r"fhir\.base_ur"):
        load_settings(path, environ={})


def test_bad_time_zone_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[fhir]\nsite_timezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match=r"fhir\.site_timezone.*Mars/Olympus"):
        load_settings(path, environ={})
