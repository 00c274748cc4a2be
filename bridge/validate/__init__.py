"""`dicom-bridge validate`: the project's own conformance validator for HL7 Europe Imaging Report R5 Bundles.

Validation = a strict structural parse with fhir.resources (R5), then the rules of `bridge.validate.rules` (core
invariants, the guide's invariants, and the §10 checklist of /work/shared/docs/eu-imaging-report-ig.md). The
result is a list of `Violation`s; nothing raises on bad input. The profile is detected from `meta.profile`,
else from Bundle.type: `document` → BundleReportEuImaging, `collection` with a DiagnosticReport and no
Composition → BundleReportMinimalMetadataEuImaging.
"""

from bridge.validate.api import validate_bundle, validate_file, validate_resource
from bridge.validate.context import BundleKind, detect_kind
from bridge.validate.rules.catalogue import RULES, Rule
from bridge.validate.violation import Summary, Violation, format_violations, has_errors, summarize

__all__ = [
    "RULES",
    "BundleKind",
    "Rule",
    "Summary",
    "Violation",
    "detect_kind",
    "format_violations",
    "has_errors",
    "summarize",
    "validate_bundle",
    "validate_file",
    "validate_resource",
]
