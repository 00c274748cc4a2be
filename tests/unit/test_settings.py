"""Settings: the documented config file loads; wrong keys and values are errors naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from bridge.errors import ConfigError
from bridge.settings import Settings, load_settings
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


def test_reference_config_equals_the_defaults() -> None:
    assert load_settings(REPO / "config" / "bridge.toml", environ={}) == Settings()


def _documented_keys(model: type[BaseModel], section: str, text: str) -> list[str]:
    """Keys of ``model`` missing from the reference config (as `key =` or commented `# key =`)."""
    missing = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if f"[{section}.{name}]" not in text:
                missing.append(f"{section}.{name}")
            missing += _documented_keys(annotation, f"{section}.{name}", text)
        elif not re.search(rf"^(# )?{name} = ", text, re.MULTILINE) and f"[{section}.{name}]" not in text:
            missing.append(f"{section}.{name}")
    return missing


def test_every_setting_is_documented_in_the_reference_config() -> None:
    text = (REPO / "config" / "bridge.toml").read_text()
    sections = Settings.model_fields.items()
    missing = [key for name, field in sections for key in _documented_keys(field.annotation, name, text)]
    assert missing == []


def test_lists_and_tables_come_from_the_environment_as_toml() -> None:
    settings = load_settings(
        None,
        environ={
            "BRIDGE_LISTENER__ALLOWED_CALLING_AETS": '["CT01", "MR01"]',
            "BRIDGE_LISTENER__CALLING_AE_HOSTS": '{ CT01 = ["10.0.0.0/8"] }',
            "BRIDGE_LISTENER__PORT": "104",
            "BRIDGE_GROUPING__QUIET_PERIOD": "2.5",
        },
    )
    assert settings.listener.allowed_calling_aets == ("CT01", "MR01")
    assert settings.listener.calling_ae_hosts == {"CT01": ("10.0.0.0/8",)}
    assert (settings.listener.port, settings.grouping.quiet_period) == (104, 2.5)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BRIDGE_LISTENER__AE_TITLE": "A" * 17}, r"listener\.ae_title"),
        ({"BRIDGE_LISTENER__ALLOWED_CALLING_AETS": '["BAD\\\\AE"]'}, r"allowed_calling_aets.*not an AE title"),
        ({"BRIDGE_LISTENER__CALLING_AE_HOSTS": '{ CT01 = ["pacs.example"] }'}, r"CT01: 'pacs\.example' is not an IP"),
        ({"BRIDGE_LISTENER__TLS__ENABLED": "true"}, r"listener\.tls.*cert_file and key_file are required"),
        ({"BRIDGE_LISTENER__ALLOWED_CALLING_AETS": "[unclosed"}, r"BRIDGE_LISTENER__ALLOWED_CALLING_AETS: not a TOML"),
        ({"BRIDGE_GROUPING__QUIET_PERIOD": "0"}, r"grouping\.quiet_period"),
    ],
)
def test_bad_service_settings_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, environ=environ)
