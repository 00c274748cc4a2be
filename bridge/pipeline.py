"""build_study(): the one place that states the order of the stages, from headers to FHIR resources."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import orjson
from fhir.resources.binary import Binary
from fhir.resources.bundle import Bundle
from fhir.resources.documentreference import DocumentReference
from fhir.resources.imagingstudy import ImagingStudy
from fhir.resources.patient import Patient
from fhir.resources.resource import Resource
from fhir.resources.servicerequest import ServiceRequest

from bridge.extract.manifest_check import check_manifest
from bridge.extract.plan import PlannedReport, plan_reports, rejected_instances, without_rejected
from bridge.extract.study import extract_study
from bridge.fhir.access import (
    StudyEndpoints,
    binary_id,
    manifest_binaries,
    manifest_document_references_r5,
    manifest_service_requests,
    report_document_reference,
)
from bridge.fhir.bundle import build_document_bundle
from bridge.fhir.content import ContentContext, Placement
from bridge.fhir.datatypes import dicom_uid_identifier, order_reference, reference
from bridge.fhir.document import build_minimal_bundle, presented_form
from bridge.fhir.dose import dose_placement
from bridge.fhir.findings import coded_finding_placement
from bridge.fhir.imaging_study import build_imaging_study
from bridge.fhir.manifest import build_manifest_bundle, manifest_document_references
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
from bridge.manifest.kos import kos_bytes
from bridge.manifest.plan import plan_manifest, received_manifests
from bridge.model import EuSection, Finding, InstanceHeader, Observer, Report, Severity, Study
from bridge.model.manifest import ManifestDescription, ManifestPlan
from bridge.settings import FhirSettings, ManifestSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReportOutput:
    """One report object, the document Bundle built from it and its MHD DocumentReference."""

    report: Report
    bundle: Bundle
    document_reference: DocumentReference | None = None


@dataclass(frozen=True, slots=True)
class ManifestOutput:
    """The manifest of a study revision in its forms, with their envelopes.

    ``kos`` is the DICOM KOS (PS3.10 bytes) and ``fhir_bundle`` the R4 MADO document Bundle (fhir.resources.R4B);
    ``document_references`` are their MHD envelopes as MADO 1.0.0 defines them (R4). For an R5 FHIR server the
    same forms go as ``binaries`` with R5 envelopes ``document_references_r5``.
    """

    plan: ManifestPlan
    kos: bytes | None
    fhir_bundle: object | None  # fhir.resources.R4B.bundle.Bundle
    document_references: tuple[object, ...]  # fhir.resources.R4B.documentreference.DocumentReference
    binaries: tuple[Binary, ...]
    document_references_r5: tuple[DocumentReference, ...]
    service_requests: tuple[ServiceRequest, ...] = ()  # what the R5 envelopes' basedOn point at


@dataclass(frozen=True, slots=True)
class StudyOutput:
    """Everything built for one study: the ImagingStudy, what it references, and the report documents."""

    study: Study
    patient: Patient
    imaging_study: ImagingStudy
    supporting: tuple[Resource, ...]  # Organizations, Devices, Practitioners the ImagingStudy references
    reports: tuple[ReportOutput, ...]
    findings: tuple[Finding, ...]
    manifest: ManifestOutput | None = None
    warnings: tuple[Finding, ...] = ()  # for the study's status: received manifests that disagree, plan gaps

    @property
    def study_instance_uid(self) -> str:
        return self.study.study_instance_uid


def build_study(
    headers: Sequence[InstanceHeader],
    settings: FhirSettings,
    manifest: ManifestSettings | None = None,
    calling_aes: Mapping[str, str] | None = None,
) -> StudyOutput:
    """Turn the headers of one study (all one Study Instance UID) into its FHIR resources and its manifest.

    ``manifest`` defaults to the built-in manifest settings; ``calling_aes`` (SOP Instance UID -> the AE that
    sent it) selects per-AE retrieve settings.
    """
    manifest = manifest or ManifestSettings()
    study = extract_study(headers)
    reports = [h.report for h in sorted(headers, key=lambda h: h.instance.sop_instance_uid) if h.report is not None]
    study = without_rejected(study, rejected_instances(reports))
    plan = plan_manifest(study, headers, reports, manifest, settings, calling_aes)
    checks = tuple(f for m in received_manifests(reports) for f in check_manifest(m, study, _source_of(m, headers)))
    for finding in checks:
        log.warning("%s", finding, extra={"event": "manifest.mismatch", "study_uid": study.study_instance_uid})
    endpoints = StudyEndpoints(plan)
    patient = build_patient(study.patient, study.study_instance_uid, settings)
    assert patient.id is not None
    referrer = build_practitioner(study.referring_physician) if study.referring_physician else None
    supporting: list[Resource] = [*_study_participants(study), *endpoints.resources]
    if referrer is not None:
        supporting.append(referrer)
    imaging_study = build_imaging_study(study, patient.id, settings, referrer.id if referrer else None, endpoints)
    assert imaging_study.id is not None
    outputs = tuple(
        _with_document_reference(_report_output(planned, study, patient, imaging_study, supporting, settings),
                                 planned, study, patient.id, imaging_study.id, settings, manifest)
        for planned in plan_reports(reports)
    )
    for report in reports:
        _log_content_findings(report)
    manifest_output = _manifest_output(plan, manifest, patient.id, imaging_study.id, settings) if plan else None
    findings = (*study.findings, *(f for r in reports for f in r.findings), *checks)
    return StudyOutput(study, patient, imaging_study, tuple(supporting), outputs, tuple(dict.fromkeys(findings)),
                       manifest_output, (*checks, *(plan.findings if plan else ())))


def _source_of(manifest: ManifestDescription, headers: Sequence[InstanceHeader]) -> str:
    """The file (or sender) a received manifest came from, for its findings."""
    uid = manifest.sop_instance_uid
    return next((h.source for h in headers if h.instance.sop_instance_uid == uid), uid)


def _with_document_reference(output: ReportOutput, planned: PlannedReport, study: Study, patient_id: str,
                             imaging_study_id: str, settings: FhirSettings, manifest: ManifestSettings) -> ReportOutput:
    """The report's DocumentReferenceImagingReport (guide §2.14), when document references are enabled."""
    if not manifest.document_references:
        return output
    bundle = output.bundle
    assert bundle.id is not None and bundle.identifier is not None
    report = output.report
    document = report_document_reference(
        bundle.id, bundle.identifier, planned.minimal, study, (study.order,) if study.order else (), patient_id,
        imaging_study_id, report_instant(report, study, settings),
        report.language or settings.default_language or manifest.language, settings)
    return replace(output, document_reference=document)


def _manifest_output(plan: ManifestPlan, manifest: ManifestSettings, patient_id: str, imaging_study_id: str,
                     settings: FhirSettings) -> ManifestOutput:
    """The manifest's forms as configured, and their envelopes (R4 for MHD, R5 for the FHIR servers)."""
    kos = kos_bytes(plan) if manifest.kos else None
    bundle = build_manifest_bundle(plan, settings) if manifest.fhir else None
    bundle_bytes = (orjson.dumps(bundle.model_dump(mode="json", by_alias=True, exclude_none=True))
                    if bundle is not None else None)
    forms = tuple(form for form, made in (("kos", kos), ("fhir", bundle)) if made is not None)
    binaries = manifest_binaries(plan, kos, bundle_bytes)
    envelopes: tuple[object, ...] = ()
    envelopes_r5: tuple[DocumentReference, ...] = ()
    if manifest.document_references and forms:
        kos_url = f"Binary/{binary_id(plan, 'kos')}" if kos is not None else None
        bundle_url = f"Binary/{binary_id(plan, 'fhir')}" if bundle is not None else None
        envelopes = tuple(manifest_document_references(plan, settings, kos_url, bundle_url, f"Patient/{patient_id}"))
        envelopes_r5 = tuple(manifest_document_references_r5(plan, forms, patient_id, imaging_study_id, settings))
    return ManifestOutput(plan, kos, bundle, envelopes, tuple(binaries), envelopes_r5,
                          tuple(manifest_service_requests(plan, patient_id, settings)))


def _log_content_findings(report: Report) -> None:
    """What a report object could not map, with file and content-item path (INFO-level ones at DEBUG)."""
    for finding in report.findings:
        level = logging.DEBUG if finding.severity is Severity.INFO else logging.WARNING
        log.log(level, "%s", finding, extra={"event": "report.content", "path": finding.source,
                                             "item": finding.where})


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


__all__ = ["ManifestOutput", "ReportOutput", "StudyOutput", "build_study"]
