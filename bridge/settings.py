"""Typed settings from config/bridge.toml, then BRIDGE_* environment variables, validated once."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bridge.errors import ConfigError

ENV_PREFIX = "BRIDGE_"


class FhirSettings(BaseModel):
    """How FHIR resources are built: identifier systems, URLs, defaults for what DICOM lacks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(
        "http://localhost/fhir",
        description="FHIR base the resources are published under; Bundle fullUrls are <base_url>/<Type>/<id>",
    )
    site_timezone: str = Field(
        "UTC",
        description="IANA zone for DICOM date/times without Timezone Offset From UTC; such values also get the "
        "uncertainPeriod extension",
    )
    accession_system: str | None = Field(
        None,
        description="Identifier.system for accession numbers without an issuer in DICOM; default "
        "<base_url>/sid/accession",
    )
    patient_id_systems: dict[str, str] = Field(
        default_factory=dict,
        description="Issuer of Patient ID (local name) -> Identifier.system; unlisted local issuers get "
        "<base_url>/sid/patient-id/<issuer>",
    )
    diagnostic_service: str = Field("RAD", description="v2-0074 diagnostic service section of reports")
    default_language: str | None = Field(None, description="BCP 47 tag for reports that do not state one")

    @field_validator("site_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def accession_system_or_default(self) -> str:
        return self.accession_system or f"{self.base_url}/sid/accession"


class TlsSettings(BaseModel):
    """DICOM TLS (PS3.15 B.1): the listener's certificate and, optionally, required client certificates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    cert_file: Path | None = Field(None, description="PEM server certificate (chain)")
    key_file: Path | None = Field(None, description="PEM private key of the server certificate")
    ca_file: Path | None = Field(None, description="PEM CA bundle that client certificates must chain to")
    require_client_cert: bool = Field(False, description="refuse TLS clients without a certificate from ca_file")

    @model_validator(mode="after")
    def _files_when_enabled(self) -> TlsSettings:
        if self.enabled and (self.cert_file is None or self.key_file is None):
            raise ValueError("cert_file and key_file are required when TLS is enabled")
        if self.require_client_cert and self.ca_file is None:
            raise ValueError("ca_file is required when require_client_cert is set")
        return self


class ListenerSettings(BaseModel):
    """The DICOM listener (C-ECHO and C-STORE SCP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    ae_title: str = Field("DICOM_BRIDGE", min_length=1, max_length=16)
    bind_address: str = "127.0.0.1"
    port: int = Field(11112, ge=0, le=65535)  # 0: any free port (test harnesses)
    require_called_aet: bool = Field(True, description="refuse associations whose Called AE is not ae_title")
    allowed_calling_aets: tuple[str, ...] = Field((), description="empty: any calling AE")
    calling_ae_hosts: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="calling AE -> IP addresses or networks it may connect from"
    )
    max_associations: int = Field(10, ge=1, description="per listener process")
    processes: int = Field(
        1, ge=0, description="listener processes behind the port (each connection goes to the least busy one) so "
        "that concurrent associations use every core; 0: one per core")
    max_pdu_size: int = Field(262144, ge=0, description="largest P-DATA PDU accepted; 0 = unlimited")
    acse_timeout: float = Field(30.0, gt=0)
    dimse_timeout: float = Field(60.0, gt=0)
    network_timeout: float = Field(60.0, gt=0)
    poll_delay: float = Field(
        0.0002, gt=0, le=0.01, description="seconds between polls of what pynetdicom's event loops cannot wait on "
        "(library: 0.001)"
    )
    accept_unknown_sop_classes: bool = Field(False, description="accept any SOP Class offered for C-STORE")
    extra_sop_classes: tuple[str, ...] = Field((), description="private storage SOP Class UIDs to accept")
    tls: TlsSettings = Field(default_factory=TlsSettings)  # type: ignore[arg-type]

    @field_validator("ae_title", "allowed_calling_aets", mode="after")
    @classmethod
    def _ae_titles(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for title in (value,) if isinstance(value, str) else value:
            if not title.strip() or len(title) > 16 or "\\" in title or not title.isprintable():
                raise ValueError(f"{title!r} is not an AE title (1-16 printable characters, no backslash)")
        return value

    @field_validator("calling_ae_hosts", mode="after")
    @classmethod
    def _networks(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for title, hosts in value.items():
            for host in hosts:
                try:
                    ipaddress.ip_network(host, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{title}: {host!r} is not an IP address or network") from exc
        return value

    @property
    def process_count(self) -> int:
        """Listener processes in all, the service's own listener included."""
        return self.processes or (os.cpu_count() or 1)


class GroupingSettings(BaseModel):
    """When a study is complete enough to emit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quiet_period: float = Field(30.0, gt=0, description="seconds without a new instance before a study seals")
    max_age: float = Field(3600.0, gt=0, description="seconds after a revision's first instance it seals anyway")
    quiet_period_by_ae: dict[str, float] = Field(default_factory=dict, description="calling AE -> quiet period")
    retry_after: float = Field(60.0, gt=0, description="seconds before a study whose build failed is retried")


class WatchSettings(BaseModel):
    """Inbox folders scanned on a schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inboxes: tuple[Path, ...] = ()
    interval: float = Field(5.0, gt=0, description="seconds between scans")
    recursive: bool = True
    patterns: tuple[str, ...] = Field(("*",), description="fnmatch patterns of file names to take")
    move_to_spool: bool = Field(True, description="move taken files into the spool; false: leave them in place")


class StoreSettings(BaseModel):
    """The state store: SQLite under the data directory, or a shared PostgreSQL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(None, description="SQLAlchemy URL; unset: sqlite:///<data_dir>/state.db")


class AuthSettings(BaseModel):
    """How the bridge authenticates to a FHIR server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["none", "bearer", "oauth2"] = Field("none", description="none, a static bearer token, or OAuth2")
    token: str | None = Field(None, description="bearer: the token (better from BRIDGE_DELIVERY__... in the env)")
    token_url: str | None = Field(None, description="oauth2 client credentials: the token endpoint")
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> AuthSettings:
        if self.kind == "bearer" and not self.token:
            raise ValueError("auth kind 'bearer' needs a token")
        if self.kind == "oauth2" and not (self.token_url and self.client_id and self.client_secret):
            raise ValueError("auth kind 'oauth2' needs token_url, client_id and client_secret")
        return self


class FhirServerSettings(BaseModel):
    """One FHIR server the bridge delivers every study revision to (a sink with its own queue)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="the sink's name in the queue and the CLI")
    base_url: str = Field(..., description="the server's FHIR base, e.g. https://fhir.example.org/fhir")
    mode: Literal["put", "conditional"] = Field(
        "put", description="put: PUT Type/id with the bridge's ids; conditional: PUT Type?identifier=... where the "
        "resource has a business identifier (servers that assign their own ids)")
    auth: AuthSettings = Field(default_factory=AuthSettings)  # type: ignore[arg-type]
    verify_tls: bool = Field(True, description="check the server's certificate")
    ca_file: Path | None = Field(None, description="CA bundle for the server's certificate (a private CA)")
    timeout: float = Field(30.0, gt=0, description="seconds for each HTTP request")
    max_attempts: int = Field(10, ge=1, description="attempts before a delivery is dead-lettered")
    max_age: float = Field(86400.0, gt=0, description="seconds after which a failing delivery is dead-lettered")
    backoff: float = Field(2.0, gt=0, description="first retry delay in seconds; doubles each attempt, with jitter")
    backoff_cap: float = Field(600.0, gt=0, description="longest retry delay in seconds (Retry-After may ask more)")

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


class DeliverySettings(BaseModel):
    """Where sealed study revisions are delivered beyond the file sink."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fhir_servers: tuple[FhirServerSettings, ...] = Field((), description="FHIR servers; each is its own sink")
    poll_interval: float = Field(0.5, gt=0, description="seconds between delivery passes when idle")

    @field_validator("fhir_servers")
    @classmethod
    def _unique_names(cls, value: tuple[FhirServerSettings, ...]) -> tuple[FhirServerSettings, ...]:
        names = [server.name for server in value]
        if len(set(names)) != len(names):
            raise ValueError(f"FHIR server names must be unique: {names}")
        return value


class RetrieveSettings(BaseModel):
    """Where consumers retrieve a study's instances from: written into manifests and ImagingStudy endpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wado_rs_base_url: str | None = Field(
        None, description="WADO-RS base URL (not a study URL); consumers append /studies/{uid}/series/{uid}")
    retrieve_ae_title: str | None = Field(None, max_length=16, description="DIMSE C-MOVE/C-GET AE title")
    retrieve_location_uid: str | None = Field(
        None, description="OID of the source, resolvable to the WADO-RS base by a look-up service")
    viewer_url_template: str | None = Field(
        None, description="viewer launch URL; {study_uid}, {accession} and {patient_id} are filled in (URL-encoded)")

    @field_validator("wado_rs_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("retrieve_location_uid")
    @classmethod
    def _oid(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 64 or not re.fullmatch(r"[0-9]+(\.[0-9]+)+", value)):
            raise ValueError(f"{value!r} is not an OID (digits and dots, at most 64 characters)")
        return value


class ForwardSettings(BaseModel):
    """A PACS that receives each generated KOS manifest by C-STORE (a queued delivery like the FHIR servers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("pacs", pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="the sink's name in the queue")
    ae_title: str = Field(..., min_length=1, max_length=16, description="Called AE title of the PACS")
    host: str = Field(..., description="host name or IP address of the PACS")
    port: int = Field(..., ge=1, le=65535)
    calling_ae_title: str = Field("DICOM_BRIDGE", min_length=1, max_length=16)
    timeout: float = Field(30.0, gt=0, description="seconds for the association and each DIMSE message")
    max_attempts: int = Field(10, ge=1, description="attempts before the delivery is dead-lettered")
    max_age: float = Field(86400.0, gt=0, description="seconds after which a failing delivery is dead-lettered")
    backoff: float = Field(2.0, gt=0, description="first retry delay in seconds; doubles each attempt")
    backoff_cap: float = Field(600.0, gt=0, description="longest retry delay in seconds")


class ManifestSettings(BaseModel):
    """MADO manifests (DICOM KOS and FHIR R4) and the MHD DocumentReferences of report and manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kos: bool = Field(True, description="write the DICOM KOS manifest (MADO 'Manifest with Description')")
    fhir: bool = Field(True, description="write the FHIR R4 manifest document Bundle (IHE MADO 1.0.0)")
    document_references: bool = Field(True, description="write the MHD DocumentReferences of reports and manifests")
    manufacturer: str = Field("dicom-bridge", min_length=1, description="Manufacturer (0008,0070) of the manifest")
    institution_name: str = Field(
        "", description="Institution Name (0008,0080) of the manifest creator; empty: the study's institution")
    institution_oid: str | None = Field(None, description="OID of that institution (Organization identifier)")
    patient_id_issuer_oid: str | None = Field(
        None, description="Universal Entity ID (ISO) of the patient ID issuer when the images do not carry one")
    language: str = Field("en", description="language of the DocumentReference attachments (BCP 47)")
    retrieve: RetrieveSettings = Field(default_factory=RetrieveSettings)  # type: ignore[arg-type]
    retrieve_by_source_ae: dict[str, RetrieveSettings] = Field(
        default_factory=dict, description="calling AE -> retrieve settings for the series it sent (unset keys "
        "fall back to [manifest.retrieve])")
    forward: ForwardSettings | None = Field(None, description="C-STORE each generated KOS manifest to this PACS")

    @field_validator("institution_oid", "patient_id_issuer_oid")
    @classmethod
    def _oid(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 64 or not re.fullmatch(r"[0-9]+(\.[0-9]+)+", value)):
            raise ValueError(f"{value!r} is not an OID (digits and dots, at most 64 characters)")
        return value

    def retrieve_for(self, calling_ae: str | None) -> RetrieveSettings:
        """The retrieve settings of series sent by ``calling_ae``: its override over the defaults."""
        override = self.retrieve_by_source_ae.get(calling_ae) if calling_ae else None
        if override is None:
            return self.retrieve
        merged = self.retrieve.model_dump()
        merged.update(override.model_dump(exclude_unset=True))
        return RetrieveSettings(**merged)


class ServiceSettings(BaseModel):
    """Where `dicom-bridge serve` keeps its data and writes its output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(Path("var"), description="spool/, quarantine/ and the SQLite store live here")
    output_dir: Path = Field(Path("out"), description="the file sink's folder")
    workers: int = Field(
        0, ge=0, description="parse/build worker processes; 0: one per core but one (the listener's), at least 1"
    )
    worker_niceness: int = Field(
        10, ge=0, le=19, description="niceness the worker processes add to the service's: when the cores are "
        "busy, receiving (what a sender waits for) goes before parsing and building; 0: the same priority")
    poll_interval: float = Field(0.5, gt=0, description="seconds between scheduler passes when idle")
    lease: float = Field(600.0, gt=0, description="seconds a node holds a study it is building")
    min_free_space_mb: int = Field(
        100, ge=0, description="MiB that must stay free on the data directory's disk; below it new associations "
        "are refused, C-STOREs answered 0xA700 and inboxes left alone (0: no check)")


class HttpSettings(BaseModel):
    """The service's HTTP port: status page, Prometheus metrics (/metrics) and health (/healthz)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    bind_address: str = Field("127.0.0.1", description="localhost by default: the status page has no login")
    port: int = Field(8112, ge=0, le=65535, description="0: any free port (test harnesses)")
    recent_studies: int = Field(200, ge=1, description="studies listed on the status page, newest first")


class LogSettings(BaseModel):
    """What `dicom-bridge serve` logs (the command line's -v/-vv and --log-json win over these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="info: one line per event; debug adds every instance and patient-identifying values")
    format: Literal["text", "json"] = Field("text", description="text for people, json: one JSON object a line")


class PeerSettings(BaseModel):
    """A DICOM peer `dicom-bridge echo NAME` and `dicom-bridge send --peer NAME` talk to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ae_title: str = Field(..., min_length=1, max_length=16, description="the peer's (called) AE title")
    host: str = Field(..., description="host name or IP address")
    port: int = Field(..., ge=1, le=65535)
    calling_ae_title: str = Field("DICOM_BRIDGE", min_length=1, max_length=16, description="our AE title")
    timeout: float = Field(30.0, gt=0, description="seconds for the association and each DIMSE message")


class Settings(BaseModel):
    """All of the bridge's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fhir: FhirSettings = Field(default_factory=FhirSettings)  # type: ignore[arg-type]
    service: ServiceSettings = Field(default_factory=ServiceSettings)  # type: ignore[arg-type]
    listener: ListenerSettings = Field(default_factory=ListenerSettings)  # type: ignore[arg-type]
    grouping: GroupingSettings = Field(default_factory=GroupingSettings)  # type: ignore[arg-type]
    watch: WatchSettings = Field(default_factory=WatchSettings)  # type: ignore[arg-type]
    store: StoreSettings = Field(default_factory=StoreSettings)  # type: ignore[arg-type]
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)  # type: ignore[arg-type]
    manifest: ManifestSettings = Field(default_factory=ManifestSettings)  # type: ignore[arg-type]
    http: HttpSettings = Field(default_factory=HttpSettings)  # type: ignore[arg-type]
    log: LogSettings = Field(default_factory=LogSettings)  # type: ignore[arg-type]
    peers: dict[str, PeerSettings] = Field(default_factory=dict, description="name -> DICOM peer")

    @model_validator(mode="after")
    def _unique_sinks(self) -> Settings:
        forward = self.manifest.forward
        if forward is not None and forward.name in {s.name for s in self.delivery.fhir_servers}:
            raise ValueError(f"manifest.forward.name {forward.name!r} is also a FHIR server's name; sink names "
                             "must be unique")
        return self


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the TOML file at ``path`` (optional), overridden by BRIDGE_SECTION__KEY variables.

    Raises:
        ConfigError: the file is unreadable or a key/value is wrong; the message lists every bad key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    _apply_environment(data, os.environ if environ is None else environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path or 'settings'}: {problems}") from exc


def _apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """BRIDGE_FHIR__BASE_URL=x sets data["fhir"]["base_url"] = "x".

    An item of a list of tables is named by its index or its ``name``: BRIDGE_DELIVERY__FHIR_SERVERS__0__AUTH__TOKEN
    or BRIDGE_DELIVERY__FHIR_SERVERS__NATIONAL_NODE__AUTH__TOKEN (``-`` and ``.`` of a name written as ``_``).
    """
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = name[len(ENV_PREFIX):].lower().split("__")
        node: Any = data
        for key in keys[:-1]:
            node = _child(node, key, name)
        if not isinstance(node, dict):
            raise ConfigError(f"{name}: {'.'.join(keys[:-1])} is not a table")
        node[keys[-1]] = _environment_value(name, value)


def _child(node: Any, key: str, variable: str) -> Any:
    """The table under ``key`` of ``node`` (created when missing), or the item of a list named by index or name."""
    if isinstance(node, dict):
        return node.setdefault(key, {})
    if isinstance(node, list):
        if key.isdigit() and int(key) < len(node):
            return node[int(key)]
        for item in node:
            if isinstance(item, dict) and re.sub(r"[-.]", "_", str(item.get("name", ""))).lower() == key:
                return item
        names = [str(item.get("name")) for item in node if isinstance(item, dict)]
        raise ConfigError(f"{variable}: no item {key!r} in the list (index 0..{len(node) - 1} or a name: {names})")
    raise ConfigError(f"{variable}: {key!r} is below a value that is not a table")


def _environment_value(name: str, value: str) -> Any:
    """Lists and tables are written as TOML (``BRIDGE_LISTENER__ALLOWED_CALLING_AETS='["CT1", "MR2"]'``);
    scalars stay strings and are converted by the model."""
    if not value.lstrip().startswith(("[", "{")):
        return value
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not a TOML list or table: {exc}") from exc
