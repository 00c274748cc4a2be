"""build_study(): the one place that states the order of the stages, from headers to FHIR resources."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fhir.resources.bundle import Bundle
from fhir.resources.imagingstudy import ImagingStudy
from fhir.resources.patient import Patient
from fhir.resources.resource import Resource

from bridge.extract.study import extract_study
from bridge.fhir.bundle import build_document_bundle
from bridge.fhir.imaging_study import build_imaging_study
from bridge.fhir.participants import (
    build_device,
    build_organization,
    build_practitioner,
    build_practitioner_role,
    has_device,
)
from bridge.fhir.patient import build_patient
from bridge.fhir.report import ReportParties, build_report
from bridge.model import Finding, InstanceHeader, Observer, Report, Study
from bridge.settings import FhirSettings


@dataclass(frozen=True, slots=True)
class ReportOutput:
    """One report object and the document Bundle built from it."""

    report: Report
    bundle: Bundle


@dataclass(frozen=True, slots=True)
class StudyOutput:
    """Everything built for one study: the ImagingStudy, what it references, and the report documents."""

    study: Study
    patient: Patient
    imaging_study: ImagingStudy
    supporting: tuple[Resource, ...]  # Organizations, Devices, Practitioners the ImagingStudy references
    reports: tuple[ReportOutput, ...]
    findings: tuple[Finding, ...]

    @property
    def study_instance_uid(self) -> str:
        return self.study.study_instance_uid


def build_study(headers: Sequence[InstanceHeader], settings: FhirSettings) -> StudyOutput:
    """Turn the headers of one study (all one Study Instance UID) into its FHIR resources."""
    study = extract_study(headers)
    patient = build_patient(study.patient, study.study_instance_uid, settings)
    assert patient.id is not None
    referrer = build_practitioner(study.referring_physician) if study.referring_physician else None
    supporting = _study_participants(study)
    if referrer is not None:
        supporting.append(referrer)
    imaging_study = build_imaging_study(study, patient.id, settings, referrer.id if referrer else None)
    reports = tuple(
        _report_output(header.report, study, patient, imaging_study, supporting, settings)
        for header in sorted(headers, key=lambda h: h.instance.sop_instance_uid)
        if header.report is not None
    )
    return StudyOutput(study, patient, imaging_study, tuple(supporting), reports, study.findings)


def _study_participants(study: Study) -> list[Resource]:
    """The Devices and Organizations the series performers point at, each once, in series order."""
    resources: dict[str, Resource] = {}
    for series in study.series:
        equipment = series.equipment
        if has_device(equipment):
            device = build_device(equipment, series.modality)
            resources.setdefault(f"Device/{device.id}", device)
        if equipment.institution_name:
            organization = build_organization(equipment.institution_name)
            resources.setdefault(f"Organization/{organization.id}", organization)
    return list(resources.values())


def _report_output(
    report: Report,
    study: Study,
    patient: Patient,
    imaging_study: ImagingStudy,
    supporting: list[Resource],
    settings: FhirSettings,
) -> ReportOutput:
    institution = report.institution_name or next(
        (s.equipment.institution_name for s in study.series if s.equipment.institution_name), None
    )
    organization = build_organization(institution) if institution else None
    people: dict[str, Resource] = {}

    def role_ids(observers: Sequence[Observer]) -> tuple[str, ...]:
        ids = []
        for observer in observers:
            practitioner = build_practitioner(observer.name)
            role = build_practitioner_role(practitioner, organization, observer.role)
            people.setdefault(f"PractitionerRole/{role.id}", role)
            people.setdefault(f"Practitioner/{practitioner.id}", practitioner)
            assert role.id is not None
            ids.append(role.id)
        return tuple(ids)

    assert patient.id is not None and imaging_study.id is not None
    parties = ReportParties(
        patient_id=patient.id,
        imaging_study_id=imaging_study.id,
        organization=organization,
        author_role_ids=role_ids(report.authors),
        verifier_role_ids=role_ids(report.verifiers),
    )
    built = build_report(report, study, parties, settings)
    organizations: list[Resource] = [organization] if organization is not None else []
    resources: list[Resource] = [
        built.composition,
        built.diagnostic_report,
        patient,
        imaging_study,
        *people.values(),
        *organizations,
        *supporting,
        *built.observations,
    ]
    identifier = built.composition.identifier[0] if built.composition.identifier else None
    assert identifier is not None
    bundle = build_document_bundle(identifier, built.timestamp, resources, settings)
    return ReportOutput(report, bundle)


__all__ = ["ReportOutput", "StudyOutput", "build_study"]
