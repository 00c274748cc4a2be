"""Encapsulated PDF / CDA (PS3.3 C.24.2) -> Report whose content is the document (sr-mapping.md §6).

The bytes are those of the document itself: DICOM pads odd-length values with one 0x00 byte, which is cut
off using Encapsulated Document Length (0042,0015) when the object has it, else recognised at the end of a PDF
(``%%EOF\\0``) or of an XML document. The element is read through pydicom, so a data set read with
``defer_size`` loads it only here.
"""

from __future__ import annotations

from dataclasses import replace

from pydicom.dataset import Dataset

from bridge.extract.classify import ENCAPSULATED_CDA
from bridge.extract.sr.general import base_report
from bridge.extract.values import first_code, integer, text
from bridge.model import EncapsulatedDocument, Finding, Report, Severity, StructuredContent

PDF_MIME = "application/pdf"
CDA_MIME = "text/xml"
_PDF_END_PADDED = b"%%EOF\x00"


def extract_document(ds: Dataset, source: str) -> Report:
    """The Report of an Encapsulated PDF or CDA: identity, flags, and the document with what describes it."""
    is_cda = text(ds, "SOPClassUID") == ENCAPSULATED_CDA
    kind = "encapsulated-cda" if is_cda else "encapsulated-pdf"
    report = base_report(ds, source, kind, None)
    findings: list[Finding] = []
    data = _document_bytes(ds, source, findings)
    concept = first_code(ds, "ConceptNameCodeSequence")
    source_studies = _source_study_uids(ds)
    document = EncapsulatedDocument(
        mime_type=text(ds, "MIMETypeOfEncapsulatedDocument") or (CDA_MIME if is_cda else PDF_MIME),
        data=data,
        title=text(ds, "DocumentTitle"),
        concept=concept,
        created=report.content_datetime,
        hl7_instance_identifier=text(ds, "HL7InstanceIdentifier"),
        source_study_uids=source_studies,
    )
    return replace(
        report,
        title=concept,
        title_meaning=document.title or (concept.display if concept and concept.display else report.title_meaning),
        content=StructuredContent(document=document),
        referenced_study_uids=tuple(dict.fromkeys((*report.referenced_study_uids, *source_studies))),
        findings=(*report.findings, *findings),
    )


def _document_bytes(ds: Dataset, source: str, findings: list[Finding]) -> bytes:
    """The Encapsulated Document (0042,0011) without DICOM's even-length padding."""
    if "EncapsulatedDocument" not in ds:
        findings.append(Finding(source, "EncapsulatedDocument", "the object holds no Encapsulated Document",
                                Severity.ERROR))
        return b""
    value = ds.EncapsulatedDocument  # loads a deferred value
    data = bytes(value) if value is not None else b""
    length = integer(ds, "EncapsulatedDocumentLength")
    if length is not None and 0 <= length <= len(data):
        return data[:length]
    if length is not None:
        findings.append(Finding(source, "EncapsulatedDocumentLength", (
            f"Encapsulated Document Length {length} exceeds the {len(data)} bytes present; all bytes are kept")))
    if data.endswith(_PDF_END_PADDED):
        return data[:-1]
    if data.endswith(b">\x00") and data.lstrip()[:1] == b"<":
        return data[:-1]  # XML (CDA) cannot end in NUL: the pad byte
    return data


def _source_study_uids(ds: Dataset) -> tuple[str, ...]:
    """Study Instance UIDs the Source Instance Sequence (0042,0013) items name (when the items carry one)."""
    uids = (text(item, "StudyInstanceUID") for item in ds.get("SourceInstanceSequence") or ())
    return tuple(dict.fromkeys(uid for uid in uids if uid))
