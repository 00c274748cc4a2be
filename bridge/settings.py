"""Typed settings from config/bridge.toml, then BRIDGE_* environment variables, validated once."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class Settings(BaseModel):
    """All of the bridge's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fhir: FhirSettings = Field(default_factory=FhirSettings)  # type: ignore[arg-type]


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
    """BRIDGE_FHIR__BASE_URL=x sets data["fhir"]["base_url"] = "x"."""
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = name[len(ENV_PREFIX):].lower().split("__")
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
