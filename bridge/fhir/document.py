"""Encapsulated PDF / CDA -> DiagnosticReportEuImagingMinimalMetadata in BundleReportMinimalMetadataEuImaging
(guide §2.2, §2.4; sr-mapping.md §6): a collection Bundle, no Composition, the document in presentedForm.

A document larger than INLINE_LIMIT travels as a Binary entry that presentedForm.url points at.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fhir.resources.attachment import Attachment
from fhir.resources.binary import Binary
from fhir.resources.bundle import Bundle, BundleEntry
from fhir.resources.diagnosticreport import DiagnosticReport
from fhir.resources.extension import Extension
from fhir.resources.identifier import Identifier
from fhir.resources.imagingstudy import ImagingStudy
from fhir.resources.meta import Meta
from fhir.resources.organization import Organization
from fhir.resources.patient import Patient
from fhir.resources.reference import Reference
from fhir.resources.resource import Resource

from bridge.fhir import constants as c
from bridge.fhir.bundle import full_url
from bridge.fhir.datatypes import concept, dicom_uid_identifier, fhir_datetime, instant, order_reference, reference
from bridge.fhir.ids import resource_id
from bridge.fhir.report import report_status
from bridge.model import Code, EncapsulatedDocument, Report, Study, VerificationFlag
from bridge.settings import FhirSettings

PROFILE_BUNDLE_MINIMAL = c.IG + "BundleReportMinimalMetadataEuImaging"
PROFILE_DIAGNOSTIC_REPORT_MINIMAL = c.IG + "DiagnosticReportEuImagingMinimalMetadata"
INLINE_LIMIT = 5 * 1024 * 1024  # bytes; larger documents go to a Binary entry (sr-mapping.md §6)

_OID = re.compile(r"[0-9]+(?:\.[0-9]+)+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def presented_form(document: EncapsulatedDocument, settings: FhirSettings, url: str | None = None) -> Attachment:
    """The document as an Attachment: inline base64 data, or ``url`` (a Binary) when given, and its SHA-1 hash.

    No ``size``: R5 integer64 is a JSON string, and fhir.resources 8 writes it as a number, which the project's
    validator rightly rejects (fhir-structure); the size is implied by the data and checked by the hash.
    """
    created, created_ext = fhir_datetime(document.created, settings) if document.created else (None, None)
    return Attachment(
        contentType=document.mime_type,
        data=base64.b64encode(document.data) if url is None else None,
        url=url,
        hash=base64.b64encode(hashlib.sha1(document.data).digest()),
        title=document.title,
        creation=created,
        creation__ext=created_ext,
    )


def minimal_report_status(report: Report) -> str:
    """DR status from the flags the object carries (sr-mapping.md §0.4), ``final`` when it carries none (§6)."""
    if report.completion_flag is not None:
        return report_status(report)
    if (report.preliminary_flag or "").upper() == "PRELIMINARY":
        return "preliminary"
    if report.verification_flag is VerificationFlag.UNVERIFIED:
        return "preliminary"
    return "final"


def build_minimal_bundle(
    report: Report,
    study: Study,
    patient: Patient,
    imaging_study: ImagingStudy,
    organization: Organization | None,
    settings: FhirSettings,
) -> Bundle:
    """BundleReportMinimalMetadataEuImaging of an encapsulated document: DiagnosticReport, Patient, ImagingStudy,
    the Organization when given, and a Binary when the document is larger than INLINE_LIMIT."""
    document = report.content.document
    if document is None:
        raise ValueError(f"{report.source}: {report.kind} object without an encapsulated document")
    assert patient.id is not None and imaging_study.id is not None
    binary: Binary | None = None
    if len(document.data) > INLINE_LIMIT:
        binary = Binary(
            id=resource_id("Binary", report.sop_instance_uid),
            contentType=document.mime_type,
            data=base64.b64encode(document.data),
        )
    form = presented_form(document, settings, full_url(binary, settings) if binary is not None else None)
    when = report.content_datetime or document.created or study.started
    issued = instant(when, settings) if when is not None else None
    diagnostic_report = _diagnostic_report(report, document, study, patient.id, imaging_study.id, organization,
                                           form, issued, settings)
    resources: list[Resource] = [diagnostic_report, patient, imaging_study]
    if organization is not None:
        resources.append(organization)
    if binary is not None:
        resources.append(binary)
    unique: dict[str, Resource] = {}
    for resource in resources:
        unique.setdefault(full_url(resource, settings), resource)
    identifier = dicom_uid_identifier(report.sop_instance_uid)
    assert identifier.value is not None
    return Bundle(
        id=resource_id("Bundle", identifier.system or "", identifier.value),
        meta=Meta(profile=[PROFILE_BUNDLE_MINIMAL]),
        identifier=identifier,
        type="collection",
        timestamp=issued,
        entry=[BundleEntry(fullUrl=url, resource=resource) for url, resource in unique.items()],
    )


def _diagnostic_report(
    report: Report,
    document: EncapsulatedDocument,
    study: Study,
    patient_id: str,
    imaging_study_id: str,
    organization: Organization | None,
    form: Attachment,
    issued: str | None,
    settings: FhirSettings,
) -> DiagnosticReport:
    categories = [
        concept(Code(c.V2_0074, settings.diagnostic_service)),
        concept(c.LOINC_IMAGING_REPORT),
        concept(c.MEDICAL_IMAGING),
    ]
    # LOINC displays differ from DICOM Code Meanings (sr-mapping.md §0.1): the meaning goes to text only.
    kind = document.concept
    if kind is None:
        report_type = c.DEFAULT_REPORT_TYPE
    elif kind.system in (c.LOINC, c.SNOMED):
        report_type = Code(kind.system, kind.code)
    else:
        report_type = kind
    title = document.title or (kind.display if kind is not None else None) or report.title_meaning
    identifiers = [dicom_uid_identifier(report.sop_instance_uid)]
    if document.hl7_instance_identifier:
        identifiers.append(hl7_instance_identifier(document.hl7_instance_identifier))
    studies = [reference("ImagingStudy", imaging_study_id)]
    studies.extend(
        Reference(type="ImagingStudy", identifier=dicom_uid_identifier(uid, c.DCM_STUDY_INSTANCE_UID_TYPE))
        for uid in document.source_study_uids
        if uid != study.study_instance_uid
    )
    effective, effective_ext = fhir_datetime(study.started, settings) if study.started else (None, None)
    regions = [Extension(url=c.EXT_ANATOMICAL_REGION, valueCodeableConcept=concept(r)) for r in study.anatomic_regions]
    org_ref = [reference("Organization", organization.id)] if organization is not None and organization.id else None
    return DiagnosticReport(
        id=resource_id("DiagnosticReport", report.sop_instance_uid),
        meta=Meta(profile=[PROFILE_DIAGNOSTIC_REPORT_MINIMAL]),
        language=report.language or settings.default_language,
        extension=regions or None,
        identifier=identifiers,
        basedOn=[order_reference(study.order, settings)] if study.order else None,
        status=minimal_report_status(report),
        category=categories,
        code=concept(report_type, text=title),
        subject=reference("Patient", patient_id),
        effectiveDateTime=effective,
        effectiveDateTime__ext=effective_ext,
        issued=issued,
        performer=org_ref,
        study=studies,
        presentedForm=[form],
    )


def hl7_instance_identifier(value: str) -> Identifier:
    """HL7 Instance Identifier (0040,E001) ``root^extension``: system from the root, value the extension; a
    root alone becomes the value (``urn:oid:`` / ``urn:uuid:``) of an RFC 3986 identifier (sr-mapping.md §6)."""
    root, _, extension = value.partition("^")
    root = root.strip()
    extension = extension.strip()
    if _OID.fullmatch(root):
        uri = f"urn:oid:{root}"
    elif _UUID.fullmatch(root):
        uri = f"urn:uuid:{root.lower()}"
    else:
        uri = root
    if extension:
        return Identifier(system=uri, value=extension)
    return Identifier(system=c.URN_RFC3986, value=uri)


__all__ = [
    "INLINE_LIMIT",
    "build_minimal_bundle",
    "hl7_instance_identifier",
    "minimal_report_status",
    "presented_form",
]
