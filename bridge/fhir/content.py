"""What the content builders hand to the report builder: resources, and where each one is referenced.

Every builder of report content (coded findings, TID 1500 measurements, dose summaries, key images, the
SR instance selections, the presented form) returns a Placement. ``build_report`` merges them: resources go
into the Bundle, ``results`` into DiagnosticReport.result (dgr-1), ``entries`` into Composition sections,
``idr`` into the DiagnosticReport IDR extensions (guide §2.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir.resources.attachment import Attachment
from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.reference import Reference
from fhir.resources.resource import Resource

from bridge.model import EuSection, Report, Study
from bridge.settings import FhirSettings


@dataclass(frozen=True, slots=True)
class ContentContext:
    """What every content builder needs to know about the report it builds for."""

    report: Report  # the source object (SR, KOS, PDF) whose content is built
    study: Study
    patient_id: str
    imaging_study_id: str
    settings: FhirSettings
    observation_status: str  # final / preliminary / amended, from the source object's flags
    based_on: tuple[Reference, ...] = ()  # the order, by accession identifier
    sr_selection_id: str | None = None  # id of the SrInstanceImagingSelection of the source object


@dataclass(slots=True)
class Placement:
    """Resources built from one source object and the places the report references them from."""

    resources: list[Resource] = field(default_factory=list)
    results: list[Reference] = field(default_factory=list)
    entries: dict[EuSection, list[Reference]] = field(default_factory=dict)
    idr: list[tuple[str, Reference]] = field(default_factory=list)  # (IDR extension URL, reference)
    conclusion_codes: list[CodeableConcept] = field(default_factory=list)
    presented_forms: list[Attachment] = field(default_factory=list)
    narrative: dict[EuSection, list[str]] = field(default_factory=dict)  # plain lines for section text

    def add_entry(self, section: EuSection, ref: Reference) -> None:
        self.entries.setdefault(section, []).append(ref)

    def add_narrative(self, section: EuSection, line: str) -> None:
        self.narrative.setdefault(section, []).append(line)

    def merge(self, other: Placement) -> None:
        """Add ``other`` to this placement; a resource already present (same type and id) is kept once."""
        seen = {(r.get_resource_type(), r.id) for r in self.resources}
        for resource in other.resources:
            key = (resource.get_resource_type(), resource.id)
            if key not in seen:
                seen.add(key)
                self.resources.append(resource)
        self.results.extend(other.results)
        for section, refs in other.entries.items():
            self.entries.setdefault(section, []).extend(refs)
        for section, lines in other.narrative.items():
            self.narrative.setdefault(section, []).extend(lines)
        self.idr.extend(other.idr)
        self.conclusion_codes.extend(other.conclusion_codes)
        self.presented_forms.extend(other.presented_forms)
