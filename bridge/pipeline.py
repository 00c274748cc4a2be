"""build_study(): the one place that states the order of the stages, from headers to FHIR resources."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from fhir.resources.bundle import Bundle
from fhir.resources.imagingstudy import ImagingStudy
from fhir.resources.patient import Patient
from fhir.resources.resource import Resource

from bridge.extract.plan import PlannedReport, plan_reports, rejected_instances
from bridge.extract.study import extract_study
from bridge.fhir.bundle import build_document_bundle
from bridge.fhir.content import ContentContext, Placement
from bridge.fhir.datatypes import dicom_uid_identifier, order_reference, reference
from bridge.fhir.document import build_minimal_bundle, presented_form
from bridge.fhir.dose import dose_placement
from bridge.fhir.findings import coded_finding_placement
from bridge.fhir.imaging_study import build_imaging_study
from bridge.fhir.measurements import measurement_placement
from bridge.fhir.order import header_placement
from bridge.fhir.participants import (
    build_device,
    build_organization,
    build_practitioner,
    build_practitioner_role,
    has_device,
)
from bridge.fhir.patient import build_patient
from bridge.fhir.report import ReportParties, build_report, observation_status, report_instant
from bridge.fhir.selection import key_image_placement, sr_instance_selection
from bridge.model import EuSection, Finding, InstanceHeader, Observer, Report, Severity, Study
from bridge.settings import FhirSettings

log = logging.getLogger(__name__)


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
    reports = [h.report for h in sorted(headers, key=lambda h: h.instance.sop_instance_uid) if h.report is not None]
    study = _without_rejected(study, rejected_instances(reports))
    patient = build_patient(study.patient, study.study_instance_uid, settings)
    assert patient.id is not None
    referrer = build_practitioner(study.referring_physician) if study.referring_physician else None
    supporting = _study_participants(study)
    if referrer is not None:
        supporting.append(referrer)
    imaging_study = build_imaging_study(study, patient.id, settings, referrer.id if referrer else None)
    outputs = tuple(
        _report_output(planned, study, patient, imaging_study, supporting, settings)
        for planned in plan_reports(reports)
    )
    for report in reports:
        _log_content_findings(report)
    findings = (*study.findings, *(f for r in reports for f in r.findings))
    return StudyOutput(study, patient, imaging_study, tuple(supporting), outputs, tuple(dict.fromkeys(findings)))


def _log_content_findings(report: Report) -> None:
    """What a report object could not map, with file and content-item path (INFO-level ones at DEBUG)."""
    for finding in report.findings:
        level = logging.DEBUG if finding.severity is Severity.INFO else logging.WARNING
        log.log(level, "%s", finding, extra={"event": "report.content", "path": finding.source,
                                             "item": finding.where})


def _without_rejected(study: Study, rejected: frozenset[str]) -> Study:
    """The study without the instances that rejection notes withdrew (IHE IOCM); empty series disappear."""
    if not rejected:
        return study
    series = []
    for s in study.series:
        kept = tuple(i for i in s.instances if i.sop_instance_uid not in rejected)
        if kept:
            series.append(replace(s, instances=kept))
    return replace(study, series=tuple(series))


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
    planned: PlannedReport,
    study: Study,
    patient: Patient,
    imaging_study: ImagingStudy,
    supporting: list[Resource],
    settings: FhirSettings,
) -> ReportOutput:
    report = planned.report
    institution = report.institution_name or next(
        (s.equipment.institution_name for s in study.series if s.equipment.institution_name), None
    )
    organization = build_organization(institution) if institution else None
    assert patient.id is not None and imaging_study.id is not None
    if planned.minimal:
        return ReportOutput(report, build_minimal_bundle(report, study, patient, imaging_study, organization, settings))
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

    parties = ReportParties(
        patient_id=patient.id,
        imaging_study_id=imaging_study.id,
        organization=organization,
        author_role_ids=role_ids(report.authors),
        verifier_role_ids=role_ids(report.verifiers),
    )
    placement = _content(planned, study, patient.id, imaging_study.id, settings)
    built = build_report(report, study, parties, settings, placement, planned.version)
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
        *placement.resources,
    ]
    bundle_identifier = dicom_uid_identifier(report.sop_instance_uid)  # each version is its own document
    bundle = build_document_bundle(bundle_identifier, built.timestamp, resources, settings)
    return ReportOutput(report, bundle)


def _content(planned: PlannedReport, study: Study, patient_id: str, imaging_study_id: str,
             settings: FhirSettings) -> Placement:
    """The content of the report and its attachments, each built by its own builder, in one Placement."""
    report = planned.report
    issued = report_instant(report, study, settings)
    based_on = (order_reference(study.order, settings),) if study.order else ()
    placement = header_placement(study, patient_id, imaging_study_id, settings)

    def context(source: Report) -> ContentContext:
        selection = sr_instance_selection(source, patient_id, imaging_study_id)
        placement.resources.append(selection)
        placement.add_entry(EuSection.IMAGING_STUDY, reference("ImagingSelection", selection.id or ""))
        return ContentContext(source, study, patient_id, imaging_study_id, settings, observation_status(source),
                              based_on, selection.id)

    own = context(report) if not report.kind.startswith("encapsulated") else None
    if own is not None:
        placement.merge(coded_finding_placement(own, issued))
        placement.merge(measurement_placement(own))
        placement.merge(dose_placement(own))
        placement.merge(key_image_placement(own, force=True))
    for attachment in planned.attachments:
        if attachment.content.document is not None:
            placement.presented_forms.append(presented_form(attachment.content.document, settings))
            continue
        ctx = context(attachment)
        placement.merge(dose_placement(ctx))
        placement.merge(measurement_placement(ctx))
        placement.merge(key_image_placement(ctx))
    return placement


__all__ = ["ReportOutput", "StudyOutput", "build_study"]
