"""Every rule id the validator can report, with its severity, what it checks and where the requirement comes from.

`report()` is the only way rules create violations, so an id missing here fails loudly in tests, and the
severity of an id is decided once. The table in `bridge.validate.rules.__doc__` is generated from this data
(a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bridge.validate.violation import ERROR, WARNING, Violation


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule id: severity, one-line description, source (guide section, checklist item or core invariant)."""

    id: str
    severity: str
    checks: str
    source: str


_E, _W = ERROR, WARNING

RULES: Final[tuple[Rule, ...]] = (
    # parsing
    Rule("fhir-json", _E, "file unreadable or not JSON; top level not an object with a resourceType", "FHIR JSON"),
    Rule("fhir-structure", _E, "strict fhir.resources R5 parse (datatypes, cardinality, unknown elements), plus "
         "JSON types of primitives, required code bindings, no null", "R5 core; FHIR JSON"),
    Rule("ele-1", _E, "no empty JSON object or array: every element has a value or children", "R5 core; FHIR JSON"),
    Rule("eu-img-rule-failed", _E, "a rule could not run on this input (validator defect; data is malformed)",
         "validator"),
    # Bundle (bundle.py)
    Rule("bdl-1", _E, "total only when a searchset or history", "R5 core"),
    Rule("bdl-2", _E, "entry.search only when a searchset", "R5 core"),
    Rule("bdl-3", _E, "entry.request mandatory for batch/transaction/history, otherwise prohibited", "R5 core"),
    Rule("bdl-4", _E, "entry.response mandatory for batch-response/transaction-response/history, else prohibited",
         "R5 core"),
    Rule("bdl-5", _E, "entry has a resource unless there is a request or response", "R5 core"),
    Rule("bdl-7", _E, "fullUrl unique (unless meta.versionId differs)", "R5 core"),
    Rule("bdl-8", _E, "fullUrl is not a version-specific reference", "R5 core"),
    Rule("bdl-9", _E, "document has identifier with system and value", "R5 core; §2.1 identifier 1..1"),
    Rule("bdl-10", _E, "document has a timestamp", "R5 core"),
    Rule("bdl-11", _E, "document's first resource is a Composition", "R5 core"),
    Rule("eu-img-bundle-type", _E, "Bundle.type matches the claimed or detected profile (document, collection)",
         "§2.1, §2.2; §10.1, §10.14"),
    Rule("eu-img-bundle-entries", _E, "every entry has a fullUrl; no entry.link; no Bundle.link (minimal)",
         "§2.1, §2.2; §10.1"),
    Rule("eu-img-bundle-fullurl", _E, "fullUrl agrees with resource type/id, or is a well-formed urn:uuid/urn:oid",
         "R5 Bundle.entry.fullUrl"),
    Rule("eu-img-bundle-slices", _E, "document: 1 Composition, 1 DiagnosticReport, 1 Patient, >=1 ImagingStudy",
         "§2.1 slices; §10.2"),
    Rule("eu-img-bundle-orphan", _W, "document entry not linked (either direction) to the Composition graph",
         "§2.1 inclusion rule"),
    Rule("eu-img-meta-profile", _W, "meta.profile claims the guide canonical (Bundle, Composition, DR, ImagingStudy)",
         "§6 setMetaProfile"),
    # references (references.py)
    Rule("eu-img-reference-unresolved", _E, "a literal reference does not resolve to an entry of the bundle",
         "§2.1 inclusion rule; §10.3"),
    Rule("eu-img-reference-target", _E, "reference resolves to a resource of the wrong type (Reference.type, "
         "Type/id, or element target profile)", "§2.3-§2.6 `only` rules"),
    # Composition (composition.py, sections.py, narrative.py)
    Rule("eu-img-composition-category", _E, "Composition.category has LOINC 85430-7 and Medical-Imaging codings",
         "§2.3 category slices; §10.5"),
    Rule("eu-img-diagnostic-service", _E, "v2-0074 category codings are in diagnostic-service-sections",
         "§2.3, §2.4 required binding; §10.5"),
    Rule("dr-comp-author-org", _E, "DR.performer Organizations equal Composition.author Organizations",
         "§2.1; §10.6"),
    Rule("eu-img-composition-text", _E, "Composition.text present (the rendered form of the document)",
         "§2.21 presentation"),
    Rule("eu-img-narrative", _E, "narrative has status and a well-formed XHTML div (xhtml namespace, no active "
         "content, not empty)", "R5 core txt-1/txt-2; §2.21"),
    Rule("cmp-1", _E, "section has text, entries or sub-sections", "R5 core"),
    Rule("cmp-2", _E, "section with entries has no emptyReason", "R5 core; §10.7"),
    Rule("eu-imaging-composition-1", _E, "section without entries has emptyReason, sub-sections or a note",
         "§2.3; §10.7"),
    Rule("eu-imaging-composition-2", _E, "section has text, entries or sub-sections", "§2.3"),
    Rule("eu-img-section-code", _E, "every section has a code", "§2.3 section.code 1..1"),
    Rule("eu-img-section-mandatory", _E, "sections imagingstudy 18726-0, order 55115-0, history 11329-0, "
         "procedure 55111-9 present (LOINC)", "§2.3; §10.7"),
    Rule("eu-img-section-duplicate", _E, "no section slice (by LOINC code) appears twice", "§2.3 slices 0..1/1..1"),
    Rule("eu-img-section-text", _E, "every section has text", "§2.3 root definition; §10.7"),
    Rule("eu-img-section-study", _E, "section[imagingstudy] has an ImagingStudy entry and every DR.study",
         "§2.3 entry 1..*; §10.8"),
    # DiagnosticReport (diagnostic_report.py, consistency.py)
    Rule("dgr-1", _E, "every Observation in a Composition section is in DR.result (or hasMember of one)",
         "R5 core; §10.4"),
    Rule("eu-img-dr-category", _E, "DR.category has LOINC 85430-7 and Medical-Imaging codings", "§2.4; §10.5"),
    Rule("eu-img-dr-composition", _E, "document DR.composition references the bundle's Composition",
         "§2.4 composition 1..1; §10.4"),
    Rule("eu-img-dr-result", _E, "document DR.result has at least one entry", "§2.4 result 1..*; §10.4"),
    Rule("eu-img-dr-in-composition", _E, "DR.basedOn, result and IDR-extension references appear in the "
         "Composition (a section entry; basedOn may be the event-basedOn extension)", "§2.4; §10.8"),
    Rule("eu-img-report-identifier", _E, "Composition and DR have identifiers; a Composition identifier equals a "
         "DR identifier", "§2.3, §2.4; §10.5"),
    Rule("eu-img-report-subject", _E, "Composition.subject 1..1 and DR.subject are the same Patient",
         "§2.3, §2.4; §10.5"),
    Rule("eu-img-report-status", _E, "Composition.status and DR.status aligned", "§2.4 status; §10.5"),
    Rule("eu-img-report-type", _E, "Composition.type equals DR.code (system+code)", "§2.3 type; §10.5"),
    # ImagingStudy (imaging_study.py)
    Rule("im-imagingstudy-01", _W, "urn:dicom:uid identifier value starts with urn:oid:", "§2.5"),
    Rule("eu-img-study-identifier", _E, "one identifier system urn:dicom:uid with value and type DCM 110180",
         "§2.5, §2.13; §10.9"),
    Rule("eu-img-dicom-uid", _E, "DICOM UIDs (study, series, instance, SOP class) are well-formed",
         "PS3.5 §9.1; §10.9"),
    Rule("eu-img-series-modality", _E, "study and series modality codings use the DCM system", "§2.5; §10.9"),
    Rule("eu-img-series-performer", _E, "series performer function PRF/CST/DEV/LOC (v3-ParticipationType) with "
         "an actor of the slice's type", "§2.5 performer slices; §10.9"),
    Rule("eu-img-instance-sopclass", _E, "every instance has a sopClass with a code", "§2.5; §10.9"),
    Rule("eu-img-anatomical-region", _E, "AnatomicalRegionExtension value from the ten-code SNOMED value set",
         "§2.17, §5; §10.9"),
    Rule("eu-img-study-populate", _W, "SHALL-populate-if-known ImagingStudy elements are present",
         "§2.20; §10.9"),
    # identifiers and orders (identifiers.py)
    Rule("eu-img-accession-identifier", _E, "basedOn to the order carries an identifier with system, value and "
         "type v2-0203#ACSN", "§2.13; §10.10"),
    Rule("eu-img-order-category", _E, "the order ServiceRequest has category SNOMED 363679005", "§2.8; §10.10"),
    Rule("eu-img-order-accession", _W, "the order ServiceRequest has an accession identifier",
         "§2.8 (0..1, obligation SHALL); §10.10"),
    # data types (datatypes.py, patient.py)
    Rule("eu-img-uncertain-period", _E, "uncertainPeriod on a dateTime with a time carries a valuePeriod with "
         "start and end", "§2.21; §10.11"),
    Rule("eu-img-data-absent-reason", _E, "data-absent-reason extension has a valueCode from its value set",
         "§2.21; §10.11"),
    Rule("eu-img-patient-name", _E, "Patient has a name with family, given, text or data-absent-reason",
         "§2.15 eu-pat-1"),
    Rule("eu-img-patient-birthdate", _E, "Patient has birthDate or a data-absent-reason on _birthDate",
         "§2.15; §10.11"),
    # radiation dose, selections (radiation_dose.py, imaging_selection.py)
    Rule("eu-img-dose-observation", _E, "LOINC 73569-6 Observation has valueString, subject, derivedFrom study",
         "§2.11; §10.13"),
    Rule("eu-img-dose-result", _E, "radiation dose Observation is in DR.result", "§10.13 (dgr-1)"),
    Rule("eu-img-dose-linked", _W, "radiation dose in section[procedure] and DR.extension[procedure]",
         "§2.20 SHOULD; §10.13"),
    Rule("eu-img-selection-study", _E, "ImagingSelection.derivedFrom has the study", "§2.6 derivedFrom[study] 1..1"),
    Rule("eu-img-sr-selection", _E, "SR-instance selection: SOP Instance UID identifier, studyUid, seriesUid, one "
         "instance.uid, no subset/regions", "§2.6; §10.12"),
    # minimal-metadata format (minimal.py)
    Rule("eu-img-minimal-slices", _E, "1 DR, no Composition, at most 1 Patient and 1 ImagingStudy",
         "§2.2; §10.14"),
    Rule("eu-img-minimal-composition", _E, "DR.composition absent", "§2.4 minimal composition 0..0; §10.14"),
    Rule("eu-img-minimal-presented-form", _E, "DR.presentedForm holds the PDF (data or url)", "§2.2; §10.14"),
    Rule("eu-img-minimal-reference", _E, "DR.study/basedOn is a resource reference or an identifier, not both",
         "§2.4 minimal slices; §10.14"),
    # MHD wrapper (document_reference.py)
    Rule("eu-img-docref-header", _E, "DocumentReferenceImagingReport has subject and date", "§2.14; §10.15"),
    Rule("eu-img-docref-codes", _E, "category Medical-Imaging, type LOINC 85430-7, bodySite.concept",
         "§2.14; §10.15"),
    Rule("eu-img-docref-content", _E, "exactly one content with a report Bundle profile canonical and an "
         "attachment url", "§2.14; §10.15"),
)

BY_ID: Final[dict[str, Rule]] = {rule.id: rule for rule in RULES}


def report(rule_id: str, path: str, message: str) -> Violation:
    """A Violation of `rule_id` with the catalogue's severity.

    Raises:
        KeyError: `rule_id` is not in the catalogue (a validator defect, caught by the tests).
    """
    return Violation(rule=rule_id, path=path, message=message, severity=BY_ID[rule_id].severity)


def markdown_table() -> str:
    """The catalogue as the Markdown table kept in the `bridge.validate.rules` docstring."""
    lines = ["| id | severity | checks | source |", "|---|---|---|---|"]
    lines += [f"| `{r.id}` | {r.severity} | {r.checks} | {r.source} |" for r in RULES]
    return "\n".join(lines)
