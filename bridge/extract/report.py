"""Report objects -> Report: dispatch on the object's kind, and never let one malformed object break a study.

Each reader returns a Report for its kind (sr-mapping.md §1): text reports (TID 2000 family), measurement
reports (TID 1500), radiation dose SRs, key object selections and encapsulated documents. A reader that
fails leaves a Report that still references the object, with the failure as a finding (issue: tolerance).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from pydicom.dataset import Dataset

from bridge.extract.document import extract_document
from bridge.extract.sr.dose import extract_dose_report
from bridge.extract.sr.general import base_report
from bridge.extract.sr.kos import extract_key_objects
from bridge.extract.sr.tid1500 import extract_measurement_report
from bridge.extract.sr.tid2000 import extract_report
from bridge.model import Finding, ObjectKind, Report, Severity

log = logging.getLogger(__name__)

READERS: dict[ObjectKind, Callable[[Dataset, str], Report]] = {
    ObjectKind.SR_TEXT_REPORT: extract_report,
    ObjectKind.SR_MEASUREMENT: extract_measurement_report,
    ObjectKind.SR_DOSE: extract_dose_report,
    ObjectKind.KEY_OBJECTS: extract_key_objects,
    ObjectKind.ENCAPSULATED_PDF: extract_document,
    ObjectKind.ENCAPSULATED_CDA: extract_document,
}


def extract_report_object(ds: Dataset, source: str, kind: ObjectKind) -> Report:
    """The Report of a report object of ``kind``; on a reader failure, a content-less Report and a finding."""
    reader = READERS[kind]
    try:
        return reader(ds, source)
    except Exception as exc:  # a malformed object must never break its study (issue 5, item 9)
        log.warning("%s: %s content cannot be read: %s", source, kind.value, exc,
                    extra={"event": "report.unreadable", "path": source})
        try:
            report = base_report(ds, source, kind.value, None)
        except Exception:  # noqa: BLE001 - even the header is unusable: keep the identity only
            report = Report(
                sop_instance_uid=str(ds.get("SOPInstanceUID", "")), sop_class_uid=str(ds.get("SOPClassUID", "")),
                series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
                study_instance_uid=str(ds.get("StudyInstanceUID", "")), title=None, title_meaning="Imaging report",
                content_datetime=None, completion_flag=None, verification_flag=None, preliminary_flag=None,
                authors=(), verifiers=(), language=None, sections=(), source=source, kind=kind.value,
            )
        finding = Finding(source, "", f"{kind.value} content cannot be read ({type(exc).__name__}: {exc}); the "
                          "object is referenced without its content", Severity.ERROR)
        return replace(report, findings=(*report.findings, finding), truncated=True)
