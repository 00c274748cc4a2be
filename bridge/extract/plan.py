"""Which report documents a study gives, and what each one is built from (issue: several reports).

The report objects of one study are sorted into:

* the text reports (TID 2000 family) as one line of versions: a later report replaces the earlier one
  (predecessor links first, then content time), so a study never has two unrelated current reports;
  addenda are separate reports that append to it (guide §2.19);
* without a text report, measurement reports (TID 1500, e.g. from an AI system) become the report;
* dose SRs, key image notes, measurement reports next to a text report, and PDFs next to a structured
  report are attached to every current report;
* a study with only PDF/CDA reports gives one minimal-metadata report per document;
* a study with only dose SRs gives one device-generated report holding the dose summaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bridge.model import (
    CompletionFlag,
    EuSection,
    KeyObjectClass,
    ObjectKind,
    Report,
    ReportVersion,
    Study,
    VerificationFlag,
)

ADDENDUM_TITLES = frozenset({
    ("http://loinc.org", "55107-7"),
    ("http://dicom.nema.org/resources/ontology/DCM", "121078"),
})


@dataclass(frozen=True, slots=True)
class PlannedReport:
    """One report document to build: its source object, its version and what is attached to it."""

    report: Report
    version: ReportVersion
    attachments: tuple[Report, ...] = ()
    minimal: bool = False  # minimal-metadata form (a PDF/CDA without structured content)
    superseded: tuple[Report, ...] = ()  # earlier versions of the same report, oldest first


def plan_reports(reports: Sequence[Report]) -> tuple[PlannedReport, ...]:
    """The report documents of a study from its report objects (any order in, a stable order out)."""
    ordered = sorted(reports, key=_time_key)
    text = [r for r in ordered if r.kind == ObjectKind.SR_TEXT_REPORT.value]
    measurements = [r for r in ordered if r.kind == ObjectKind.SR_MEASUREMENT.value]
    documents = [r for r in ordered if r.kind.startswith("encapsulated")]
    doses = [r for r in ordered if r.kind == ObjectKind.SR_DOSE.value and r.content.dose and r.content.dose.narrative]
    key_images = [r for r in ordered if r.kind == ObjectKind.KEY_OBJECTS.value
                  and r.content.key_object_class is KeyObjectClass.KEY_IMAGES]
    primaries = text or measurements
    if not primaries and documents:
        return tuple(PlannedReport(d, ReportVersion(d.sop_instance_uid), minimal=True) for d in documents)
    if not primaries:
        primaries, doses = doses[-1:], doses[:-1]  # only dose SRs: a device-generated dose report (latest first)
        if not primaries:
            return ()
    attachments = tuple(doses + key_images + (measurements if text else []) + documents)
    addenda = [r for r in primaries if _is_addendum(r)]
    versions = _in_version_order([r for r in primaries if not _is_addendum(r)])
    planned: list[PlannedReport] = []
    base_uid: str | None = None
    if versions:
        current = versions[-1]
        earlier = versions[:-1]
        base_uid = versions[0].sop_instance_uid
        replaces = tuple(dict.fromkeys([*(r.sop_instance_uid for r in earlier), *current.predecessor_uids]))
        replaces = tuple(uid for uid in replaces if uid != current.sop_instance_uid)
        version = ReportVersion(base_uid, len(versions), replaces, amends_final=any(_is_final(r) for r in earlier))
        planned.append(PlannedReport(current, version, attachments, superseded=tuple(earlier)))
    for addendum in addenda:
        appends_to = base_uid or next(iter(addendum.predecessor_uids), None)
        version = ReportVersion(addendum.sop_instance_uid, 1, (), appends_to)
        planned.append(PlannedReport(addendum, version, ()))
    return tuple(planned)


def rejected_instances(reports: Sequence[Report]) -> frozenset[str]:
    """SOP Instance UIDs that rejection notes (IHE IOCM KOS) withdraw from the study."""
    return frozenset(
        ref.sop_instance_uid
        for r in reports
        if r.content.key_object_class is KeyObjectClass.REJECTION
        for selection in r.content.key_images
        for ref in selection.instances
    )


def _is_final(report: Report) -> bool:
    return report.completion_flag is CompletionFlag.COMPLETE and report.verification_flag is VerificationFlag.VERIFIED


def _time_key(report: Report) -> tuple[str, str]:
    when = report.content_datetime.iso if report.content_datetime else ""
    return (when, report.sop_instance_uid)


def _is_addendum(report: Report) -> bool:
    if report.title is not None and (report.title.system, report.title.code) in ADDENDUM_TITLES:
        return True
    return bool(report.sections) and all(s.section is EuSection.ADDENDUM for s in report.sections)


def _in_version_order(reports: list[Report]) -> list[Report]:
    """Content-time order, except that a report always follows the predecessors it names."""
    ordered: list[Report] = []
    by_uid = {r.sop_instance_uid: r for r in reports}
    placed: set[str] = set()

    def place(report: Report, visiting: frozenset[str]) -> None:
        if report.sop_instance_uid in placed or report.sop_instance_uid in visiting:
            return  # placed already, or a predecessor cycle: keep the time order
        for uid in report.predecessor_uids:
            if uid in by_uid:
                place(by_uid[uid], visiting | {report.sop_instance_uid})
        placed.add(report.sop_instance_uid)
        ordered.append(report)

    for report in reports:
        place(report, frozenset())
    return ordered


def without_rejected(study: Study, rejected: frozenset[str]) -> Study:
    """The study without the instances that rejection notes withdrew (IHE IOCM); empty series disappear."""
    if not rejected:
        return study
    series = []
    for s in study.series:
        kept = tuple(i for i in s.instances if i.sop_instance_uid not in rejected)
        if kept:
            series.append(replace(s, instances=kept))
    return replace(study, series=tuple(series))
