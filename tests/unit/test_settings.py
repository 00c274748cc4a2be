"""Settings: the documented config file loads; wrong keys and values are errors naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from bridge.errors import ConfigError
from bridge.settings import PeerSettings, Settings, load_settings
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
    missing = []
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            missing += _documented_keys(field.annotation, name, text)
        elif f"[{name}]" not in text:  # a table of named entries ([peers]): documented by its commented example
            missing.append(name)
    missing += _documented_keys(PeerSettings, "peers.<name>", text)
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


SECRET_VARIABLE = "BRIDGE_DELIVERY__FHIR_SERVERS__NATIONAL_NODE__AUTH__CLIENT_SECRET"


def test_production_config_names_the_secret_variable() -> None:
    assert SECRET_VARIABLE in (REPO / "config" / "production.toml").read_text()


def test_production_config_loads_with_the_secret_from_the_environment() -> None:
    environ = {SECRET_VARIABLE: "from-the-environment"}
    settings = load_settings(REPO / "config" / "production.toml", environ=environ)
    assert settings.store.url == "postgresql+psycopg://bridge@db.example.org/bridge"
    listener = settings.listener
    assert (listener.bind_address, listener.port, listener.tls.enabled) == ("0.0.0.0", 11112, True)
    assert listener.tls.require_client_cert and listener.tls.ca_file == Path("/etc/dicom-bridge/clients-ca.pem")
    assert listener.allowed_calling_aets and set(listener.calling_ae_hosts) == set(listener.allowed_calling_aets)
    assert len(settings.watch.inboxes) == 2
    assert all(str(inbox).startswith("/srv/dicom-bridge/inbox/") for inbox in settings.watch.inboxes)
    [server] = settings.delivery.fhir_servers
    assert (server.auth.kind, server.auth.client_secret) == ("oauth2", "from-the-environment")
    assert settings.manifest.forward is not None and settings.manifest.forward.ae_title == "PACS"
    assert settings.manifest.retrieve.wado_rs_base_url and settings.manifest.retrieve.retrieve_location_uid
    assert settings.peers["pacs"].ae_title == "PACS"
    assert (settings.http.bind_address, settings.log.format) == ("127.0.0.1", "json")
    assert settings.service.min_free_space_mb == 10240
    assert settings.service.data_dir == Path("/var/lib/dicom-bridge")
    assert settings.service.output_dir == Path("/var/lib/dicom-bridge/out")




def test_production_config_without_the_secret_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"delivery\.fhir_servers\.0\.auth.*client_secret"):
        load_settings(REPO / "config" / "production.toml", environ={})


def test_an_item_of_a_list_is_reached_by_index_or_name(tmp_path: Path) -> None:
    path = tmp_path / "servers.toml"
    path.write_text('[[delivery.fhir_servers]]\nname = "national-node"\nbase_url = "https://a.example/fhir"\n'
                    '[[delivery.fhir_servers]]\nname = "regional"\nbase_url = "https://b.example/fhir"\n')
    settings = load_settings(path, environ={
        "BRIDGE_DELIVERY__FHIR_SERVERS__NATIONAL_NODE__AUTH__KIND": "bearer",
        "BRIDGE_DELIVERY__FHIR_SERVERS__NATIONAL_NODE__AUTH__TOKEN": "t0ken",
        "BRIDGE_DELIVERY__FHIR_SERVERS__1__TIMEOUT": "5",
    })
    national, regional = settings.delivery.fhir_servers
    assert (national.auth.kind, national.auth.token, national.timeout) == ("bearer", "t0ken", 30.0)
    assert (regional.auth.kind, regional.timeout) == ("none", 5.0)
    with pytest.raises(ConfigError, match=r"BRIDGE_DELIVERY__FHIR_SERVERS__7__TIMEOUT: no item '7'.*regional"):
        load_settings(path, environ={"BRIDGE_DELIVERY__FHIR_SERVERS__7__TIMEOUT": "5"})
    with pytest.raises(ConfigError, match=r"BRIDGE_FHIR__BASE_URL__X: .*not a table"):
        load_settings(path, environ={"BRIDGE_FHIR__BASE_URL": "https://x", "BRIDGE_FHIR__BASE_URL__X": "1"})
