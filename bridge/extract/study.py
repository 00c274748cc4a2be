"""InstanceHeaders of one study -> Study: series and instances grouped, disagreements recorded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from bridge.extract.codes import anatomic_regions_for, body_part_code
from bridge.extract.values import SNOMED_SYSTEM
from bridge.model import Code, Finding, InstanceHeader, ObjectKind, PerformedProcedure, Series, Severity, Study


def _numbered(number: int | None, uid: str) -> tuple[int, int, str]:
    """Sort key: by number (unnumbered last), then by UID, so the order never depends on arrival."""
    return (0 if number is not None else 1, number or 0, uid)


def _instance_order(header: InstanceHeader) -> tuple[int, int, str]:
    return _numbered(header.instance.instance_number, header.instance.sop_instance_uid)


def extract_study(headers: Sequence[InstanceHeader]) -> Study:
    """The Study made of ``headers`` (all of one Study Instance UID).

    Study-level values come from the first instance in series/instance order; a later instance that
    disagrees on patient or accession is recorded as a finding, not merged. A SOP Instance UID seen twice
    is listed once.
    """
    if not headers:
        raise ValueError("extract_study needs at least one instance")
    study_uid = headers[0].study_instance_uid
    findings: list[Finding] = [f for h in headers for f in h.findings]
    by_series: dict[str, list[InstanceHeader]] = defaultdict(list)
    seen: dict[str, InstanceHeader] = {}
    for header in sorted(headers, key=lambda h: (h.source, h.instance.sop_instance_uid)):
        uid = header.instance.sop_instance_uid
        if uid in seen:
            findings.append(
                Finding(header.source, "SOPInstanceUID", f"duplicate of {seen[uid].source}; listed once", Severity.INFO)
            )
            continue
        seen[uid] = header
        by_series[header.series_instance_uid].append(header)
    series = sorted((_series(members) for members in by_series.values()), key=_series_order)
    first = min(seen.values(), key=lambda h: (_numbered(h.series_number, h.series_instance_uid), _instance_order(h)))
    findings.extend(_disagreements(first, list(seen.values())))
    started = first.study_started
    if started is not None and started.utc_offset is None:
        with_offset = next((h.study_started for h in seen.values() if h.study_started and h.study_started.utc_offset
                            and h.study_started.iso == started.iso), None)
        started = with_offset or started
    regions = tuple(sorted({r for s in series for r in _regions(s.body_site)}, key=lambda c: c.code))
    return Study(
        study_instance_uid=study_uid,
        study_id=first.study_id,
        study_description=first.study_description,
        started=started,
        referring_physician=first.referring_physician,
        patient=first.patient,
        order=next((h.order for h in seen.values() if h.order is not None), None),
        series=tuple(series),
        anatomic_regions=regions,
        findings=tuple(findings),
        performed_procedure=_performed_procedure(seen.values()),
    )


def _performed_procedure(headers: Iterable[InstanceHeader]) -> PerformedProcedure | None:
    """The performed procedure of the first instance that has one: images before report objects, then in
    series/instance order (an SR's own step is the reporting, not the acquisition)."""

    def key(h: InstanceHeader) -> tuple[bool, tuple[int, int, str], tuple[int, int, str]]:
        return (h.instance.kind is not ObjectKind.IMAGE, _numbered(h.series_number, h.series_instance_uid),
                _instance_order(h))

    return next((h.performed_procedure for h in sorted(headers, key=key) if h.performed_procedure), None)


def _series(members: list[InstanceHeader]) -> Series:
    members.sort(key=_instance_order)
    head = members[0]
    return Series(
        series_instance_uid=head.series_instance_uid,
        modality=head.modality,
        series_number=head.series_number,
        series_description=head.series_description,
        body_part_examined=head.body_part_examined,
        body_site=_body_site(head),
        laterality=head.laterality,
        started=head.series_started,
        equipment=head.equipment,
        instances=tuple(h.instance for h in members),
    )


def _series_order(series: Series) -> tuple[int, int, str]:
    return _numbered(series.series_number, series.series_instance_uid)


def _body_site(header: InstanceHeader) -> Code | None:
    """SNOMED CT body site: Anatomic Region Sequence first, else Body Part Examined (PS3.16 Annex L)."""
    if header.anatomic_region is not None:
        return header.anatomic_region
    if header.body_part_examined is None:
        return None
    mapped = body_part_code(header.body_part_examined)
    return mapped.snomed if mapped is not None else None


def _regions(body_site: Code | None) -> tuple[Code, ...]:
    """The guide's anatomical regions a body site falls in (chest-abdomen-pelvis spans two)."""
    if body_site is None or body_site.system != SNOMED_SYSTEM:
        return ()
    return anatomic_regions_for(body_site.code, "SCT")


def _disagreements(first: InstanceHeader, headers: list[InstanceHeader]) -> list[Finding]:
    findings: list[Finding] = []
    for header in headers:
        if header.patient.patient_id != first.patient.patient_id:
            findings.append(
                Finding(header.source, "PatientID", f"Patient ID differs from {first.source}; the study keeps "
                        "the first", Severity.ERROR)
            )
        first_accession = first.order.accession_number if first.order else None
        accession = header.order.accession_number if header.order else None
        if accession is not None and first_accession is not None and accession != first_accession:
            findings.append(
                Finding(header.source, "AccessionNumber", f"Accession Number differs from {first.source}; the "
                        "study keeps the first", Severity.WARNING)
            )
    return findings
