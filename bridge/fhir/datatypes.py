"""FHIR data types from model values: codings, identifiers, references, date-times with their extensions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.coding import Coding
from fhir.resources.extension import Extension
from fhir.resources.fhirprimitiveextension import FHIRPrimitiveExtension
from fhir.resources.identifier import Identifier
from fhir.resources.period import Period
from fhir.resources.reference import Reference

from bridge.fhir import constants as c
from bridge.model import Code, DicomDateTime, Order
from bridge.settings import FhirSettings


def coding(code: Code) -> Coding:
    return Coding(system=code.system, code=code.code, display=code.display)


def concept(*codes: Code, text: str | None = None) -> CodeableConcept:
    """A CodeableConcept with one coding per code; text as given (DICOM Code Meaning goes here)."""
    return CodeableConcept(coding=[coding(code) for code in codes] or None, text=text)


def reference(resource_type: str, resource_id: str, display: str | None = None) -> Reference:
    """A relative reference ``Type/id``: it resolves against the Bundle entry fullUrls (same base)."""
    return Reference(reference=f"{resource_type}/{resource_id}", display=display)


def dicom_uid_identifier(uid: str, type_code: Code | None = None) -> Identifier:
    """Identifier ``urn:dicom:uid`` / ``urn:oid:<uid>`` (guide §2.13)."""
    return Identifier(
        system=c.URN_DICOM_UID,
        value=f"urn:oid:{uid}",
        type=concept(type_code) if type_code is not None else None,
    )


def accession_identifier(order: Order, settings: FhirSettings) -> Identifier:
    """AccessionNumberIdentifierEuImaging: system from the DICOM issuer, type ACSN + DCM 121022."""
    return Identifier(
        system=issuer_system(order, settings),
        value=order.accession_number,
        type=concept(c.ACSN_TYPE, c.DCM_ACCESSION_TYPE),
    )


def issuer_system(order: Order, settings: FhirSettings) -> str:
    issuer = order.issuer
    if issuer is not None and issuer.universal_id:
        return universal_id_system(issuer.universal_id, issuer.universal_id_type)
    if issuer is not None and issuer.local_id:
        return f"{settings.base_url}/sid/accession/{issuer.local_id}"
    return settings.accession_system_or_default


def universal_id_system(universal_id: str, universal_id_type: str | None) -> str:
    """HL7 v2 HD universal id -> URI: ISO OIDs as urn:oid:, UUIDs as urn:uuid:, URIs/DNS as given."""
    kind = (universal_id_type or "").upper()
    if kind == "ISO" or (not kind and all(part.isdigit() for part in universal_id.split("."))):
        return f"urn:oid:{universal_id}"
    if kind == "UUID":
        return f"urn:uuid:{universal_id.lower()}"
    if kind == "DNS" and "://" not in universal_id:
        return f"urn:dns:{universal_id}"
    return universal_id


def order_reference(order: Order, settings: FhirSettings) -> Reference:
    """The logical reference to the order by accession number, as the guide's examples send it."""
    return Reference(type="ServiceRequest", identifier=accession_identifier(order, settings))


def fhir_datetime(value: DicomDateTime, settings: FhirSettings) -> tuple[str, FHIRPrimitiveExtension | None]:
    """A FHIR dateTime string and, when DICOM gave no offset, the uncertainPeriod extension (guide §2.21).

    A date-only value needs no zone. A date-time without an offset is written in the site zone and flagged.
    """
    if not value.has_time:
        return value.iso, None
    if value.utc_offset is not None:
        return value.iso + value.utc_offset, None
    local = datetime.fromisoformat(value.iso)
    written = local.replace(tzinfo=ZoneInfo(settings.site_timezone)).isoformat()
    # The guide's span: the local clock reading at UTC+12:00 (earliest instant) to UTC-12:00 (latest).
    period = Period(start=value.iso + "+12:00", end=value.iso + "-12:00")
    return written, FHIRPrimitiveExtension(extension=[Extension(url=c.EXT_UNCERTAIN_PERIOD, valuePeriod=period)])


def instant(value: DicomDateTime, settings: FhirSettings) -> str:
    """A FHIR instant (seconds and zone required); a date-only value is taken at midnight."""
    full = value if value.has_time else DicomDateTime(value.iso + "T00:00:00", value.utc_offset)
    written, _ = fhir_datetime(full, settings)
    return datetime.fromisoformat(written).isoformat()


def data_absent(reason: str = "unknown") -> FHIRPrimitiveExtension:
    """The data-absent-reason extension for a required primitive that DICOM did not give."""
    return FHIRPrimitiveExtension(extension=[Extension(url=c.EXT_DATA_ABSENT_REASON, valueCode=reason)])
