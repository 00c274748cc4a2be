"""The sample Encapsulated PDF (PS3.3 A.45.1): a one-page PDF of the report, written with pydicom.

The PDF is composed here byte by byte (PDF 1.4, ISO 32000-1 7.5: header, five objects, a cross-reference table
with exact offsets, trailer), with no dates or IDs, so it is the same in every run. Its length is odd, so the
Encapsulated Document (OB) value carries one 0x00 pad byte and Encapsulated Document Length gives the true size.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage

from bridge.samples import facts
from bridge.samples.ct import StudySpec
from bridge.samples.header import copy_patient_and_study, new_instance
from bridge.samples.report import (
    DOCUMENT_TITLE,
    REPORTING_MANUFACTURER,
    REPORTING_MODEL_NAME,
    REPORTING_SOFTWARE_VERSIONS,
    REPORTING_STATION_NAME,
)

PDF_SERIES_NUMBER = 102
PDF_SERIES_DESCRIPTION = "Radiology report (PDF)"
PDF_INSTANCE_NUMBER = 1
CONTENT_DATE = facts.STUDY_DATE
CONTENT_TIME = "143000"  # rendered when the report was verified
PDF_DOCUMENT_TITLE = "CT Chest report (PDF)"
PDF_MIME_TYPE = "application/pdf"
PDF_TEXT = "Synthetic sample report ACC-2024-0001: CT chest, indeterminate 9 mm solid pulmonary nodule."


def _pdf_string(text: str) -> bytes:
    """Return ``text`` as a PDF literal string (ISO 32000-1 7.3.4.2); ASCII only."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("ascii") + b")"


def _pdf(text: str, header_comment: bytes) -> bytes:
    """Return a one-page A4 PDF 1.4 showing ``text`` in 11 pt Helvetica, with a correct xref table."""
    stream = b"BT /F1 11 Tf 56 780 Td " + _pdf_string(text) + b" Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    # The binary comment on line 2 marks the file as binary for transfer programs (ISO 32000-1 7.5.2).
    out = bytearray(b"%PDF-1.4\n%" + header_comment + b"\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref_offset = len(out)
    # Each cross-reference entry is exactly 20 bytes, ending in space + LF (ISO 32000-1 7.5.4).
    out += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size " + str(len(objects) + 1).encode() + b" /Root 1 0 R >>\n"
    out += b"startxref\n" + str(xref_offset).encode() + b"\n%%EOF"
    return bytes(out)


def pdf_bytes(text: str = PDF_TEXT) -> bytes:
    """Return the sample PDF: the same bytes on every call, always of odd length (it ends in ``%%EOF``)."""
    pdf = _pdf(text, b"\xe2\xe3\xcf\xd3")
    if len(pdf) % 2 == 0:  # one more byte in the binary comment makes the length odd; the offsets follow
        pdf = _pdf(text, b"\xe2\xe3\xcf\xd3\xd3")
    return pdf


def build_encapsulated_pdf(study: StudySpec, ct_instance: Dataset) -> Dataset:
    """Return the Encapsulated PDF of ``study``'s report; ``ct_instance`` supplies patient and study attributes."""
    ds = new_instance(
        EncapsulatedPDFStorage,
        study.uid("pdf-series", "pdf-1"),
        creation_date=CONTENT_DATE,
        creation_time=CONTENT_TIME,
    )
    copy_patient_and_study(ct_instance, ds)

    # Encapsulated Document Series module, PS3.3 C.24.1
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = study.uid("pdf-series")
    ds.SeriesNumber = PDF_SERIES_NUMBER
    ds.SeriesDescription = PDF_SERIES_DESCRIPTION

    # General Equipment (C.7.5.1) and SC Equipment (C.8.6.1) modules: the reporting workstation rendered it
    ds.Manufacturer = REPORTING_MANUFACTURER
    ds.InstitutionName = facts.INSTITUTION_NAME
    ds.InstitutionAddress = facts.INSTITUTION_ADDRESS
    ds.StationName = REPORTING_STATION_NAME
    ds.InstitutionalDepartmentName = facts.INSTITUTIONAL_DEPARTMENT_NAME
    ds.ManufacturerModelName = REPORTING_MODEL_NAME
    ds.SoftwareVersions = REPORTING_SOFTWARE_VERSIONS
    ds.ConversionType = "WSD"  # workstation

    # Encapsulated Document module, PS3.3 C.24.2
    pdf = pdf_bytes()
    ds.InstanceNumber = PDF_INSTANCE_NUMBER
    ds.ContentDate = CONTENT_DATE
    ds.ContentTime = CONTENT_TIME
    ds.AcquisitionDateTime = ""  # Type 2: nothing was acquired
    ds.BurnedInAnnotation = "YES"  # the page shows the accession number
    ds.DocumentTitle = PDF_DOCUMENT_TITLE
    ds.ConceptNameCodeSequence = [
        facts.code_item(DOCUMENT_TITLE.value, DOCUMENT_TITLE.scheme_designator, DOCUMENT_TITLE.meaning)
    ]
    ds.MIMETypeOfEncapsulatedDocument = PDF_MIME_TYPE
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + b"\x00"  # PS3.5 7.1.1: OB values are padded to even length with 0x00
    return ds
