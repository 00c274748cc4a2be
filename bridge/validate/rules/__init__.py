# ruff: noqa: E501  (the rule table in the docstring has one rule per line)
"""The conformance rules for HL7 Europe Imaging Report R5 Bundles, one `check_*` function per rule (or rule group).

Each check takes the `Context` of the validated object and yields `Violation`s; it decides itself whether it
applies (document Bundle, minimal-metadata collection, other Bundle, or a standalone resource). Rule ids are the
core invariants and the guide's own ids verbatim; requirements without an id (checklist §10 of
/work/shared/docs/eu-imaging-report-ig.md) have stable `eu-img-<area>-<what>` ids. Severity: the guide's and
core's errors are `error`; SHOULD, obligations and im-imagingstudy-01 are `warning`.

| id | severity | checks | source |
|---|---|---|---|
| `fhir-json` | error | file unreadable or not JSON; top level not an object with a resourceType | FHIR JSON |
| `fhir-structure` | error | strict fhir.resources R5 parse (datatypes, cardinality, unknown elements), plus JSON types of primitives, required code bindings, no null | R5 core; FHIR JSON |
| `ele-1` | error | no empty JSON object or array: every element has a value or children | R5 core; FHIR JSON |
| `eu-img-rule-failed` | error | a rule could not run on this input (validator defect; data is malformed) | validator |
| `bdl-1` | error | total only when a searchset or history | R5 core |
| `bdl-2` | error | entry.search only when a searchset | R5 core |
| `bdl-3` | error | entry.request mandatory for batch/transaction/history, otherwise prohibited | R5 core |
| `bdl-4` | error | entry.response mandatory for batch-response/transaction-response/history, else prohibited | R5 core |
| `bdl-5` | error | entry has a resource unless there is a request or response | R5 core |
| `bdl-7` | error | fullUrl unique (unless meta.versionId differs) | R5 core |
| `bdl-8` | error | fullUrl is not a version-specific reference | R5 core |
| `bdl-9` | error | document has identifier with system and value | R5 core; §2.1 identifier 1..1 |
| `bdl-10` | error | document has a timestamp | R5 core |
| `bdl-11` | error | document's first resource is a Composition | R5 core |
| `eu-img-bundle-type` | error | Bundle.type matches the claimed or detected profile (document, collection) | §2.1, §2.2; §10.1, §10.14 |
| `eu-img-bundle-entries` | error | every entry has a fullUrl; no entry.link; no Bundle.link (minimal) | §2.1, §2.2; §10.1 |
| `eu-img-bundle-fullurl` | error | fullUrl agrees with resource type/id, or is a well-formed urn:uuid/urn:oid | R5 Bundle.entry.fullUrl |
| `eu-img-bundle-slices` | error | document: 1 Composition, 1 DiagnosticReport, 1 Patient, >=1 ImagingStudy | §2.1 slices; §10.2 |
| `eu-img-bundle-orphan` | warning | document entry not linked (either direction) to the Composition graph | §2.1 inclusion rule |
| `eu-img-meta-profile` | warning | meta.profile claims the guide canonical (Bundle, Composition, DR, ImagingStudy) | §6 setMetaProfile |
| `eu-img-reference-unresolved` | error | a literal reference does not resolve to an entry of the bundle | §2.1 inclusion rule; §10.3 |
| `eu-img-reference-target` | error | reference resolves to a resource of the wrong type (Reference.type, Type/id, or element target profile) | §2.3-§2.6 `only` rules |
| `eu-img-composition-category` | error | Composition.category has LOINC 85430-7 and Medical-Imaging codings | §2.3 category slices; §10.5 |
| `eu-img-diagnostic-service` | error | v2-0074 category codings are in diagnostic-service-sections | §2.3, §2.4 required binding; §10.5 |
| `dr-comp-author-org` | error | DR.performer Organizations equal Composition.author Organizations | §2.1; §10.6 |
| `eu-img-composition-text` | error | Composition.text present (the rendered form of the document) | §2.21 presentation |
| `eu-img-narrative` | error | narrative has status and a well-formed XHTML div (xhtml namespace, no active content, not empty) | R5 core txt-1/txt-2; §2.21 |
| `cmp-1` | error | section has text, entries or sub-sections | R5 core |
| `cmp-2` | error | section with entries has no emptyReason | R5 core; §10.7 |
| `eu-imaging-composition-1` | error | section without entries has emptyReason, sub-sections or a note | §2.3; §10.7 |
| `eu-imaging-composition-2` | error | section has text, entries or sub-sections | §2.3 |
| `eu-img-section-code` | error | every section has a code | §2.3 section.code 1..1 |
| `eu-img-section-mandatory` | error | sections imagingstudy 18726-0, order 55115-0, history 11329-0, procedure 55111-9 present (LOINC) | §2.3; §10.7 |
| `eu-img-section-duplicate` | error | no section slice (by LOINC code) appears twice | §2.3 slices 0..1/1..1 |
| `eu-img-section-text` | error | every section has text | §2.3 root definition; §10.7 |
| `eu-img-section-study` | error | section[imagingstudy] has an ImagingStudy entry and every DR.study | §2.3 entry 1..*; §10.8 |
| `dgr-1` | error | every Observation in a Composition section is in DR.result (or hasMember of one) | R5 core; §10.4 |
| `eu-img-dr-category` | error | DR.category has LOINC 85430-7 and Medical-Imaging codings | §2.4; §10.5 |
| `eu-img-dr-composition` | error | document DR.composition references the bundle's Composition | §2.4 composition 1..1; §10.4 |
| `eu-img-dr-result` | error | document DR.result has at least one entry | §2.4 result 1..*; §10.4 |
| `eu-img-dr-in-composition` | error | DR.basedOn, result and IDR-extension references appear in the Composition (a section entry; basedOn may be the event-basedOn extension) | §2.4; §10.8 |
| `eu-img-report-identifier` | error | Composition and DR have identifiers; a Composition identifier equals a DR identifier | §2.3, §2.4; §10.5 |
| `eu-img-report-subject` | error | Composition.subject 1..1 and DR.subject are the same Patient | §2.3, §2.4; §10.5 |
| `eu-img-report-status` | error | Composition.status and DR.status aligned | §2.4 status; §10.5 |
| `eu-img-report-type` | error | Composition.type equals DR.code (system+code) | §2.3 type; §10.5 |
| `im-imagingstudy-01` | warning | urn:dicom:uid identifier value starts with urn:oid: | §2.5 |
| `eu-img-study-identifier` | error | one identifier system urn:dicom:uid with value and type DCM 110180 | §2.5, §2.13; §10.9 |
| `eu-img-dicom-uid` | error | DICOM UIDs (study, series, instance, SOP class) are well-formed | PS3.5 §9.1; §10.9 |
| `eu-img-series-modality` | error | study and series modality codings use the DCM system | §2.5; §10.9 |
| `eu-img-series-performer` | error | series performer function PRF/CST/DEV/LOC (v3-ParticipationType) with an actor of the slice's type | §2.5 performer slices; §10.9 |
| `eu-img-instance-sopclass` | error | every instance has a sopClass with a code | §2.5; §10.9 |
| `eu-img-anatomical-region` | error | AnatomicalRegionExtension value from the ten-code SNOMED value set | §2.17, §5; §10.9 |
| `eu-img-study-populate` | warning | SHALL-populate-if-known ImagingStudy elements are present | §2.20; §10.9 |
| `eu-img-accession-identifier` | error | basedOn to the order carries an identifier with system, value and type v2-0203#ACSN | §2.13; §10.10 |
| `eu-img-order-category` | error | the order ServiceRequest has category SNOMED 363679005 | §2.8; §10.10 |
| `eu-img-order-accession` | warning | the order ServiceRequest has an accession identifier | §2.8 (0..1, obligation SHALL); §10.10 |
| `eu-img-uncertain-period` | error | uncertainPeriod on a dateTime with a time carries a valuePeriod with start and end | §2.21; §10.11 |
| `eu-img-data-absent-reason` | error | data-absent-reason extension has a valueCode from its value set | §2.21; §10.11 |
| `eu-img-patient-name` | error | Patient has a name with family, given, text or data-absent-reason | §2.15 eu-pat-1 |
| `eu-img-patient-birthdate` | error | Patient has birthDate or a data-absent-reason on _birthDate | §2.15; §10.11 |
| `eu-img-dose-observation` | error | LOINC 73569-6 Observation has valueString, subject, derivedFrom study | §2.11; §10.13 |
| `eu-img-dose-result` | error | radiation dose Observation is in DR.result | §10.13 (dgr-1) |
| `eu-img-dose-linked` | warning | radiation dose in section[procedure] and DR.extension[procedure] | §2.20 SHOULD; §10.13 |
| `eu-img-selection-study` | error | ImagingSelection.derivedFrom has the study | §2.6 derivedFrom[study] 1..1 |
| `eu-img-sr-selection` | error | SR-instance selection: SOP Instance UID identifier, studyUid, seriesUid, one instance.uid, no subset/regions | §2.6; §10.12 |
| `eu-img-minimal-slices` | error | 1 DR, no Composition, at most 1 Patient and 1 ImagingStudy | §2.2; §10.14 |
| `eu-img-minimal-composition` | error | DR.composition absent | §2.4 minimal composition 0..0; §10.14 |
| `eu-img-minimal-presented-form` | error | DR.presentedForm holds the PDF (data or url) | §2.2; §10.14 |
| `eu-img-minimal-reference` | error | DR.study/basedOn is a resource reference or an identifier, not both | §2.4 minimal slices; §10.14 |
| `eu-img-docref-header` | error | DocumentReferenceImagingReport has subject and date | §2.14; §10.15 |
| `eu-img-docref-codes` | error | category Medical-Imaging, type LOINC 85430-7, bodySite.concept | §2.14; §10.15 |
| `eu-img-docref-content` | error | exactly one content with a report Bundle profile canonical and an attachment url | §2.14; §10.15 |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from bridge.validate.context import Context
from bridge.validate.rules import (
    bundle,
    composition,
    consistency,
    datatypes,
    diagnostic_report,
    document_reference,
    identifiers,
    imaging_selection,
    imaging_study,
    minimal,
    narrative,
    patient,
    radiation_dose,
    references,
    sections,
)
from bridge.validate.rules.catalogue import report
from bridge.validate.violation import Violation

Check = Callable[[Context], Iterable[Violation]]

# Order = order of the output: bundle shape, references, Composition, DR, study, the rest.
CHECKS: Final[tuple[Check, ...]] = (
    bundle.check_bundle_type,
    bundle.check_core_entry_invariants,
    bundle.check_full_url_unique,
    bundle.check_document_header,
    bundle.check_entry_shape,
    bundle.check_full_url_matches_resource,
    bundle.check_document_slices,
    minimal.check_minimal_slices,
    references.check_references_resolve,
    references.check_reference_types,
    references.check_element_targets,
    composition.check_composition_category,
    composition.check_diagnostic_service,
    composition.check_composition_text,
    composition.check_author_organization,
    sections.check_section_codes,
    sections.check_section_invariants,
    sections.check_section_text,
    sections.check_section_studies,
    narrative.check_narratives,
    diagnostic_report.check_report_category,
    diagnostic_report.check_report_composition,
    diagnostic_report.check_report_result,
    diagnostic_report.check_dgr_1,
    diagnostic_report.check_report_content_in_composition,
    consistency.check_report_identifier,
    consistency.check_report_subject,
    consistency.check_report_status,
    consistency.check_report_type,
    minimal.check_minimal_composition,
    minimal.check_minimal_presented_form,
    minimal.check_minimal_references,
    imaging_study.check_study_identifier,
    imaging_study.check_modality,
    imaging_study.check_series_uids,
    imaging_study.check_series_performers,
    imaging_study.check_anatomical_region,
    identifiers.check_accession_identifiers,
    identifiers.check_orders,
    patient.check_patient_name,
    patient.check_patient_birth_date,
    datatypes.check_uncertain_period,
    datatypes.check_data_absent_reason,
    radiation_dose.check_dose_observation,
    radiation_dose.check_dose_in_result,
    imaging_selection.check_selection_study,
    imaging_selection.check_sr_selection,
    document_reference.check_docref_header,
    document_reference.check_docref_codes,
    document_reference.check_docref_content,
    # warnings last
    bundle.check_meta_profiles,
    bundle.check_orphans,
    imaging_study.check_study_populated,
    radiation_dose.check_dose_linked,
)


def run_checks(ctx: Context, checks: Iterable[Check] = CHECKS) -> Iterator[Violation]:
    """Run every check on the context; a check that raises becomes one `eu-img-rule-failed` violation.

    Checks are written for malformed input, so a raise is a validator defect; recording it keeps the promise
    that validation never crashes and still reports what the other checks found.
    """
    for check in checks:
        try:
            yield from check(ctx)
        except Exception as exc:  # noqa: BLE001 - recorded as a finding, see docstring
            yield report("eu-img-rule-failed", ctx.root,
                         f"{check.__module__}.{check.__name__} failed: {type(exc).__name__}: {exc}")
