"""FHIR builders on hand-made model values: edge cases the sample study does not reach."""

from __future__ import annotations

import pytest

from bridge.fhir.datatypes import fhir_datetime, universal_id_system
from bridge.fhir.ids import resource_id
from bridge.fhir.patient import build_patient
from bridge.fhir.report import report_status
from bridge.model import CompletionFlag, DicomDateTime, Issuer, Patient, Report, VerificationFlag
from bridge.settings import FhirSettings

SETTINGS = FhirSettings(site_timezone="Europe/Warsaw")


def test_datetime_with_offset_is_written_as_is() -> None:
    value = DicomDateTime("2024-03-15T10:15:30", "+01:00")
    assert fhir_datetime(value, SETTINGS) == ("2024-03-15T10:15:30+01:00", None)


def test_datetime_without_offset_uses_site_zone_and_uncertain_period() -> None:
    value, ext = fhir_datetime(DicomDateTime("2024-07-01T08:00:00"), SETTINGS)
    assert value == "2024-07-01T08:00:00+02:00"  # Warsaw in summer
    assert ext is not None
    period = ext.extension[0]
    assert period.url == "http://hl7.org/fhir/StructureDefinition/uncertainPeriod"
    assert period.valuePeriod.start.isoformat() == "2024-07-01T08:00:00+12:00"
    assert period.valuePeriod.end.isoformat() == "2024-07-01T08:00:00-12:00"


def test_date_only_needs_no_zone() -> None:
    assert fhir_datetime(DicomDateTime("2024-03-15"), SETTINGS) == ("2024-03-15", None)


@pytest.mark.parametrize(
    ("uid", "kind", "expected"),
    [
        ("1.2.3.4", "ISO", "urn:oid:1.2.3.4"),
        ("1.2.3.4", None, "urn:oid:1.2.3.4"),
        ("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "UUID", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
        ("https://hospital.example/ids", "URI", "https://hospital.example/ids"),
    ],
)
def test_universal_id_system(uid: str, kind: str | None, expected: str) -> None:
    assert universal_id_system(uid, kind) == expected


def test_patient_without_name_or_birth_date_gets_data_absent_reason() -> None:
    patient = build_patient(Patient(None, None, None, None, None), "1.2.3", SETTINGS)
    data = patient.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert data["name"][0]["extension"][0]["valueCode"] == "unknown"
    assert data["_birthDate"]["extension"][0]["url"] == "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
    assert data["gender"] == "unknown"
    assert "identifier" not in data
    assert patient.id == resource_id("Patient", "study", "1.2.3")


def test_local_issuer_gets_configured_system() -> None:
    settings = FhirSettings(patient_id_systems={"HOSP": "urn:oid:1.2.40.0.1"})
    patient = build_patient(Patient("123", Issuer(local_id="HOSP"), None, "1970-01-01", "F"), "1.2.3", settings)
    assert patient.identifier[0].system == "urn:oid:1.2.40.0.1"
    assert patient.identifier[0].assigner.display == "HOSP"


def _report(completion: CompletionFlag | None, verification: VerificationFlag | None, *, preliminary: str | None = None,
            predecessors: tuple[str, ...] = ()) -> Report:
    return Report("1.2", "1.2.840.10008.5.1.4.1.1.88.22", "1.3", "1.4", None, "Report", None, completion,
                  verification, preliminary, (), (), None, (), predecessor_uids=predecessors)


@pytest.mark.parametrize(
    ("report", "status"),
    [
        (_report(CompletionFlag.COMPLETE, VerificationFlag.VERIFIED), "final"),
        (_report(CompletionFlag.COMPLETE, VerificationFlag.UNVERIFIED), "preliminary"),
        (_report(CompletionFlag.PARTIAL, VerificationFlag.UNVERIFIED), "partial"),
        (_report(CompletionFlag.COMPLETE, VerificationFlag.VERIFIED, preliminary="PRELIMINARY"), "preliminary"),
        (_report(CompletionFlag.COMPLETE, VerificationFlag.VERIFIED, predecessors=("1.9",)), "amended"),
        (_report(None, None), "preliminary"),
    ],
)
def test_report_status_from_flags(report: Report, status: str) -> None:
    assert report_status(report) == status


def test_ids_are_deterministic_and_distinct() -> None:
    assert resource_id("ImagingStudy", "1.2.3") == resource_id("ImagingStudy", "1.2.3")
    assert resource_id("ImagingStudy", "1.2.3") != resource_id("DiagnosticReport", "1.2.3")
