"""DiagnosticReportEuImaging, CompositionEuImaging and the findings anchor from a Report (guide §2.3, §2.4)."""

from __future__ import annotations

from dataclasses import dataclass

from fhir.resources.annotation import Annotation
from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.composition import Composition, CompositionAttester, CompositionEvent, CompositionSection
from fhir.resources.diagnosticreport import DiagnosticReport
from fhir.resources.extension import Extension
from fhir.resources.meta import Meta
from fhir.resources.narrative import Narrative
from fhir.resources.observation import Observation
from fhir.resources.organization import Organization
from fhir.resources.period import Period
from fhir.resources.reference import Reference
from fhir.resources.relatedartifact import RelatedArtifact

from bridge.fhir import constants as c
from bridge.fhir import narrative as html
from bridge.fhir.content import Placement
from bridge.fhir.datatypes import (
    concept,
    dicom_uid_identifier,
    fhir_datetime,
    instant,
    order_reference,
    reference,
)
from bridge.fhir.ids import resource_id
from bridge.model import (
    Code,
    CompletionFlag,
    EuSection,
    Observer,
    Report,
    ReportVersion,
    Study,
    VerificationFlag,
)
from bridge.settings import FhirSettings

LEGAL_ATTESTATION = Code(c.ATTESTATION_MODE, "legal", "Legal")
EXT_ARTIFACT_VERSION = "http://hl7.org/fhir/StructureDefinition/artifact-version"
MANDATORY_SECTIONS = (EuSection.IMAGING_STUDY, EuSection.ORDER, EuSection.HISTORY, EuSection.PROCEDURE)
# Order of sections in the document; the four mandatory ones first, as the guide lists them.
SECTION_ORDER = (
    *MANDATORY_SECTIONS,
    EuSection.COMPARISON,
    EuSection.FINDINGS,
    EuSection.IMPRESSION,
    EuSection.RECOMMENDATION,
    EuSection.COMMUNICATION,
    EuSection.ADDENDUM,
    EuSection.REPORT,
)


@dataclass(frozen=True, slots=True)
class ReportParties:
    """Ids of resources the report points at, built beforehand by the caller."""

    patient_id: str
    imaging_study_id: str
    organization: Organization | None
    author_role_ids: tuple[str, ...]
    verifier_role_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportResources:
    composition: Composition
    diagnostic_report: DiagnosticReport
    observations: tuple[Observation, ...]
    timestamp: str  # the document's instant, for Bundle.timestamp


def report_status(report: Report, version: ReportVersion | None = None) -> str:
    """DR/Composition status from the SR flags (sr-mapping.md §0.4); a later final version is ``amended``."""
    if (report.preliminary_flag or "").upper() == "PRELIMINARY":
        return "preliminary"
    if report.completion_flag is CompletionFlag.PARTIAL or report.truncated:
        return "partial"
    if report.completion_flag is CompletionFlag.COMPLETE and report.verification_flag is VerificationFlag.VERIFIED:
        amends = report.predecessor_uids or (version is not None and version.amends_final)
        return "amended" if amends else "final"
    if report.completion_flag is None and report.verification_flag is None and report.kind.startswith("encapsulated"):
        return "final"  # a PDF/CDA without SR flags is a signed-off rendering (sr-mapping.md §6)
    return "preliminary"


def observation_status(report: Report) -> str:
    """Observation.status from the source object's flags (sr-mapping.md §0.4, right-hand column)."""
    if (report.preliminary_flag or "").upper() == "PRELIMINARY" or report.completion_flag is CompletionFlag.PARTIAL:
        return "preliminary"
    if report.truncated:
        return "preliminary"
    if report.completion_flag is CompletionFlag.COMPLETE:
        verified = report.verification_flag is VerificationFlag.VERIFIED
        return "amended" if verified and report.predecessor_uids else "final"
    return "preliminary"


def build_report(
    report: Report,
    study: Study,
    parties: ReportParties,
    settings: FhirSettings,
    placement: Placement | None = None,
    version: ReportVersion | None = None,
) -> ReportResources:
    """The DiagnosticReport and Composition of one report, with the content ``placement`` put in its places.

    Without any result Observation in ``placement``, a findings anchor keeps DiagnosticReport.result 1..*.
    """
    placement = placement or Placement()
    version = version or ReportVersion.single(report)
    status = report_status(report, version)
    # LOINC displays differ from DICOM Code Meanings (sr-mapping.md §0.1): the meaning goes to text only.
    title = report.title
    report_type = Code(title.system, title.code) if title and title.system == c.LOINC else c.DEFAULT_REPORT_TYPE
    categories = [
        concept(Code(c.V2_0074, settings.diagnostic_service)),
        concept(c.LOINC_IMAGING_REPORT),
        concept(c.MEDICAL_IMAGING),
    ]
    language = report.language or settings.default_language
    identifier = dicom_uid_identifier(version.identifier_uid)
    identifiers = [identifier]
    if version.identifier_uid != report.sop_instance_uid:
        identifiers.append(dicom_uid_identifier(report.sop_instance_uid))  # this version's own SR
    issued_at = report_instant(report, study, settings)
    anchor = None if placement.results else _findings_anchor(report, parties, status)
    results = list(placement.results) if anchor is None else [reference("Observation", anchor.id or "")]
    if anchor is not None:
        placement.add_entry(EuSection.FINDINGS, reference("Observation", anchor.id or ""))
    organization = parties.organization
    org_ref = [reference("Organization", organization.id)] if organization and organization.id else []
    composition_id = resource_id("Composition", version.identifier_uid)
    other_studies = [  # a report covering several studies: the others by Study Instance UID (guide §2.19)
        Reference(type="ImagingStudy", identifier=dicom_uid_identifier(uid, c.DCM_STUDY_INSTANCE_UID_TYPE))
        for uid in report.referenced_study_uids
        if uid != study.study_instance_uid
    ]
    studies = [reference("ImagingStudy", parties.imaging_study_id), *other_studies]
    for other in other_studies:  # every DiagnosticReport.study is also an entry of section imagingstudy
        placement.add_entry(EuSection.IMAGING_STUDY, other)
    sections = _sections(report, study, parties, placement, settings, language)
    effective, effective_ext = fhir_datetime(study.started, settings) if study.started else (None, None)
    based_on = [order_reference(study.order, settings)] if study.order else None
    regions = [Extension(url=c.EXT_ANATOMICAL_REGION, valueCodeableConcept=concept(r)) for r in study.anatomic_regions]
    idr = [Extension(url=url, valueReference=ref) for url, ref in placement.idr]
    version_ext = [Extension(url=EXT_ARTIFACT_VERSION, valueString=str(version.number))] if version.number > 1 else []

    diagnostic_report = DiagnosticReport(
        id=resource_id("DiagnosticReport", version.identifier_uid),
        meta=Meta(profile=[c.PROFILE_DIAGNOSTIC_REPORT]),
        language=language,
        extension=[*regions, *version_ext, *idr] or None,
        identifier=identifiers,
        basedOn=based_on,
        status=status,
        category=categories,
        code=concept(report_type, text=report.title_meaning),
        subject=reference("Patient", parties.patient_id),
        effectiveDateTime=effective,
        effectiveDateTime__ext=effective_ext,
        issued=issued_at,
        performer=org_ref or None,
        resultsInterpreter=[reference("PractitionerRole", i) for i in parties.author_role_ids] or None,
        result=results,
        study=studies,
        composition=reference("Composition", composition_id),
        note=_notes(report) or None,
        conclusion=_conclusion(report),
        conclusionCode=placement.conclusion_codes or None,
        presentedForm=placement.presented_forms or None,
    )
    attesters = [
        CompositionAttester(
            mode=concept(LEGAL_ATTESTATION),
            time=_verified_at(verifier, issued_at, settings),
            party=reference("PractitionerRole", role_id),
        )
        for verifier, role_id in zip(report.verifiers, parties.verifier_role_ids, strict=True)
    ]
    authors = [reference("PractitionerRole", i) for i in parties.author_role_ids] + org_ref
    composition = Composition(
        id=composition_id,
        meta=Meta(profile=[c.PROFILE_COMPOSITION]),
        language=language,
        extension=[Extension(url=c.EXT_EVENT_BASED_ON, valueReference=based_on[0])] if based_on else None,
        identifier=[identifier],
        version=str(version.number),
        relatesTo=_relates_to(version) or None,
        status=status,
        type=concept(report_type, text=report.title_meaning),
        category=categories,
        subject=[reference("Patient", parties.patient_id)],
        date=issued_at,
        author=authors or [Reference(display="Unknown author")],
        title=report.title_meaning,
        attester=attesters or None,
        custodian=org_ref[0] if org_ref else None,
        event=[CompositionEvent(period=Period(start=effective, start__ext=effective_ext))] if effective else None,
        text=_document_narrative(report, study, sections, language),
        section=sections,
    )
    return ReportResources(composition, diagnostic_report, (anchor,) if anchor else (), issued_at)


def _conclusion(report: Report) -> str | None:
    """Impressions text; else Conclusions; else Summary (sr-mapping.md §2.2): all map to the impression section."""
    texts = report.section_texts(EuSection.IMPRESSION)
    return "\n\n".join(t.text for t in texts) or None


def _relates_to(version: ReportVersion) -> list[RelatedArtifact]:
    """Composition.relatesTo: the earlier versions this one replaces, or the report an addendum appends to."""
    related = [
        RelatedArtifact(type="replaces", resourceReference=Reference(identifier=dicom_uid_identifier(uid)))
        for uid in version.replaces
    ]
    if version.appends_to is not None:
        related.append(RelatedArtifact(type="appends",
                                       resourceReference=Reference(identifier=dicom_uid_identifier(version.appends_to))))
    return related


def report_instant(report: Report, study: Study, settings: FhirSettings) -> str:
    """DiagnosticReport.issued: verification time when verified, else content date/time (sr-mapping.md §0.4)."""
    verified = [v.datetime for v in report.verifiers if v.datetime is not None]
    if report.verification_flag is VerificationFlag.VERIFIED and verified:
        return instant(verified[-1], settings)
    when = report.content_datetime or study.started
    if when is None:
        raise ValueError(f"{report.source}: report has neither Content Date nor Study Date")
    return instant(when, settings)


def _verified_at(verifier: Observer, fallback: str, settings: FhirSettings) -> str:
    """attester.time (1..1 in the guide): the Verification DateTime, else the report's instant."""
    return instant(verifier.datetime, settings) if verifier.datetime is not None else fallback


def _findings_anchor(report: Report, parties: ReportParties, status: str) -> Observation:
    """The Observation that DiagnosticReport.result 1..* needs when the report has only text (guide §9 item 8)."""
    return Observation(
        id=resource_id("Observation", report.sop_instance_uid, "findings-anchor"),
        meta=Meta(profile=[c.PROFILE_FINDING]),
        status="final" if status in ("final", "amended") else "preliminary",
        code=concept(Code(c.LOINC, EuSection.FINDINGS.value, "Procedure findings Narrative")),
        subject=reference("Patient", parties.patient_id),
        derivedFrom=[reference("ImagingStudy", parties.imaging_study_id)],
        valueString="The findings of this report are narrative text: see the Findings section.",
    )


def _notes(report: Report) -> list[Annotation]:
    """One DiagnosticReport.note per section with text, labelled with the section's LOINC code."""
    notes = []
    for section in SECTION_ORDER:
        texts = report.section_texts(section)
        if not texts:
            continue
        label = Extension(url=c.EXT_ANNOTATION_TYPE, valueCodeableConcept=_section_code(section))
        notes.append(Annotation(extension=[label], text="\n\n".join(t.text for t in texts)))
    return notes


def _section_code(section: EuSection) -> CodeableConcept:
    _, display = c.SECTION_TITLES[section.value]
    return concept(Code(c.LOINC, section.value, display))


def _sections(
    report: Report,
    study: Study,
    parties: ReportParties,
    placement: Placement,
    settings: FhirSettings,
    language: str | None,
) -> list[CompositionSection]:
    sections = []
    for section in SECTION_ORDER:
        texts = [t.text for t in report.section_texts(section)]
        entries: list[Reference] = []
        body = html.paragraphs(texts)
        if section is EuSection.IMAGING_STUDY:
            entries = [reference("ImagingStudy", parties.imaging_study_id)]
            body = _study_table(study, settings) + body
        elif section is EuSection.ORDER and study.order is not None and not placement.entries.get(section):
            entries = [order_reference(study.order, settings)]
            body = _order_table(study) + body
        entries.extend(_unique(placement.entries.get(section, [])))
        extra = placement.narrative.get(section, [])
        body += html.paragraphs(extra)
        if not texts and not entries and not extra and section not in MANDATORY_SECTIONS:
            continue
        title, _ = c.SECTION_TITLES[section.value]
        empty = not texts and not entries
        sections.append(
            CompositionSection(
                title=title,
                code=_section_code(section),
                extension=[Extension(url=c.EXT_NOTE, valueAnnotation=Annotation(text="\n\n".join(texts)))]
                if texts
                else None,
                text=html.narrative(body or html.paragraphs(["No information available."]), language),
                entry=entries or None,
                emptyReason=concept(c.EMPTY_UNAVAILABLE) if empty else None,
            )
        )
    return sections


def _unique(refs: list[Reference]) -> list[Reference]:
    seen: set[str] = set()
    kept = []
    for ref in refs:
        key = ref.reference or ref.model_dump_json()
        if key not in seen:
            seen.add(key)
            kept.append(ref)
    return kept


def _study_table(study: Study, settings: FhirSettings) -> str:
    started = fhir_datetime(study.started, settings)[0] if study.started else None
    body_sites = ", ".join(sorted({s.body_site.display or s.body_site.code for s in study.series if s.body_site}))
    return html.table(
        [
            ("Study", study.study_description),
            ("Study Instance UID", study.study_instance_uid),
            ("Accession number", study.order.accession_number if study.order else None),
            ("Started", started),
            ("Modality", ", ".join(study.modalities)),
            ("Body site", body_sites or None),
            ("Series / instances", f"{len(study.series)} / {study.number_of_instances}"),
        ]
    )


def _order_table(study: Study) -> str:
    order = study.order
    assert order is not None
    return html.table(
        [
            ("Accession number", order.accession_number),
            ("Requested procedure", order.requested_procedure_description),
            ("Procedure code", ", ".join(f"{c_.display or c_.code}" for c_ in order.requested_procedure_codes) or None),
        ]
    )


def _document_narrative(
    report: Report, study: Study, sections: list[CompositionSection], language: str | None
) -> Narrative:
    patient = study.patient.name.text if study.patient.name else None
    header = html.heading(report.title_meaning, 2) + html.table(
        [("Patient", patient), ("Patient ID", study.patient.patient_id), ("Study", study.study_description)]
    )
    parts = [header]
    for section in sections:
        div = section.text.div if section.text else ""
        inner = div[div.index(">") + 1 : div.rindex("</div>")] if div else ""
        parts.append(html.heading(section.title or "") + inner)
    return html.narrative("".join(parts), language)
