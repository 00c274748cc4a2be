"""Encapsulated PDF / CDA -> Report (sr-mapping.md §6, §9 item 10): bytes exactly as encapsulated, and what
describes them."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from bridge.extract.document import extract_document
from bridge.extract.report import extract_report_object
from bridge.model import DicomDateTime, ObjectKind
from tests.factories import ct_dataset, next_uids, write_dataset

PDF_CLASS = "1.2.840.10008.5.1.4.1.1.104.1"
CDA_CLASS = "1.2.840.10008.5.1.4.1.1.104.2"
# odd length on purpose: DICOM pads it with one 0x00 byte
PDF_BYTES = b"%PDF-1.4\n1 0 obj  << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"
assert len(PDF_BYTES) % 2 == 1


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def pdf_dataset(
    data: bytes = PDF_BYTES,
    *,
    with_length: bool = True,
    sop_class: str = PDF_CLASS,
    mime: str | None = "application/pdf",
    study_instance_uid: str | None = None,
) -> Dataset:
    """An Encapsulated PDF (or CDA) report of a study: title, concept, content date, accession."""
    ds = ct_dataset(
        SOPClassUID=sop_class, Modality="DOC", SeriesNumber=80, InstanceNumber=1, BodyPartExamined=None,
        Rows=None, Columns=None, BitsAllocated=None, BitsStored=None, HighBit=None, PixelRepresentation=None,
        SamplesPerPixel=None, PhotometricInterpretation=None, PixelData=None,
    )
    if study_instance_uid is not None:
        ds.StudyInstanceUID = study_instance_uid
    ds.SeriesInstanceUID, ds.SOPInstanceUID = next_uids(2)
    ds.ContentDate, ds.ContentTime = "20240102", "130500"
    ds.AcquisitionDateTime = "20240102130500"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "CT Chest report"
    ds.ConceptNameCodeSequence = DicomSequence([code_item("18748-4", "LN", "Diagnostic Imaging Report")])
    if mime is not None:
        ds.MIMETypeOfEncapsulatedDocument = mime
    ds.EncapsulatedDocument = data
    if with_length:
        ds.EncapsulatedDocumentLength = len(data)
    return ds


def test_pdf_bytes_are_cut_to_the_declared_length(tmp_path: Path) -> None:
    path = write_dataset(pdf_dataset(), tmp_path / "report.dcm")
    ds = pydicom.dcmread(path, defer_size=16)
    assert len(ds.EncapsulatedDocument) == len(PDF_BYTES) + 1  # the file holds the padded value
    report = extract_document(pydicom.dcmread(path, defer_size=16), str(path))
    document = report.content.document
    assert document is not None
    assert document.data == PDF_BYTES
    assert document.mime_type == "application/pdf"
    assert document.title == "CT Chest report"
    assert document.concept is not None and (document.concept.system, document.concept.code) == (
        "http://loinc.org", "18748-4")
    assert document.created == DicomDateTime("2024-01-02T13:05:00")
    assert report.kind == "encapsulated-pdf"
    assert report.title == document.concept
    assert report.title_meaning == "CT Chest report"
    assert report.findings == ()


def test_pdf_padding_is_stripped_without_a_declared_length(tmp_path: Path) -> None:
    path = write_dataset(pdf_dataset(with_length=False), tmp_path / "report.dcm")
    document = extract_document(pydicom.dcmread(path), str(path)).content.document
    assert document is not None and document.data == PDF_BYTES


def test_even_length_pdf_is_kept_whole(tmp_path: Path) -> None:
    data = PDF_BYTES + b"\n"
    path = write_dataset(pdf_dataset(data, with_length=False), tmp_path / "report.dcm")
    document = extract_document(pydicom.dcmread(path), str(path)).content.document
    assert document is not None and document.data == data


def test_declared_length_beyond_the_data_keeps_everything_with_a_finding() -> None:
    ds = pdf_dataset(PDF_BYTES + b"\n")
    ds.EncapsulatedDocumentLength = 10_000
    report = extract_document(ds, "mem")
    assert report.content.document is not None and report.content.document.data == PDF_BYTES + b"\n"
    assert [f.where for f in report.findings] == ["EncapsulatedDocumentLength"]


def test_cda_identifier_source_studies_and_default_mime() -> None:
    cda = b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"/>'
    ds = pdf_dataset(cda, with_length=False, sop_class=CDA_CLASS, mime=None)
    ds.HL7InstanceIdentifier = "1.2.3.4.5^DOC-77"
    (other_study,) = next_uids(1)
    source = Dataset()
    source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", next_uids(1)[0]
    source.StudyInstanceUID = other_study
    ds.SourceInstanceSequence = DicomSequence([source])
    report = extract_report_object(ds, "mem", ObjectKind.ENCAPSULATED_CDA)
    document = report.content.document
    assert document is not None
    assert report.kind == "encapsulated-cda"
    assert document.mime_type == "text/xml"
    assert document.hl7_instance_identifier == "1.2.3.4.5^DOC-77"
    assert document.source_study_uids == (other_study,)
    assert other_study in report.referenced_study_uids
    assert document.data == cda


def test_missing_document_is_a_finding() -> None:
    ds = pdf_dataset()
    del ds.EncapsulatedDocument
    report = extract_document(ds, "mem")
    assert report.content.document is not None and report.content.document.data == b""
    assert report.findings[0].where == "EncapsulatedDocument"
