"""read_header on good and bad files: every bad file is an InputError naming the file and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import BasicTextSRStorage

from bridge.errors import CharacterSetError, MissingAttributeError, NotAnInstanceError, NotDicomError, TruncatedError
from bridge.extract.read import read_header
from bridge.model import Finding, InstanceHeader, ObjectKind, Severity
from tests.factories import ct_dataset, write_dataset, write_with_charset


def test_reads_a_ct_header_without_pixels(tmp_path: Path) -> None:
    ds = ct_dataset(TimezoneOffsetFromUTC="+0200", SeriesDate="20240102", SeriesTime="1030")
    path = write_dataset(ds, tmp_path / "ct.dcm")
    header = read_header(path)
    assert header.study_instance_uid == ds.StudyInstanceUID
    assert header.series_instance_uid == ds.SeriesInstanceUID
    assert header.instance.sop_instance_uid == ds.SOPInstanceUID
    assert header.instance.kind is ObjectKind.IMAGE
    assert header.study_started is not None and header.study_started.iso == "2024-01-02T10:11:12"
    assert header.study_started.utc_offset == "+02:00"
    assert header.series_started is not None and header.series_started.iso == "2024-01-02T10:30:00"
    assert header.order is not None and header.order.accession_number == "A-001"
    assert header.source == str(path)


def test_not_dicom_is_rejected_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not an image\n" * 20)
    with pytest.raises(NotDicomError) as err:
        read_header(path)
    assert str(err.value).startswith(f"{path}: not a DICOM file")


def test_empty_file_is_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(NotDicomError):
        read_header(path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_pixel_data_is_rejected(tmp_path: Path, keep: float) -> None:
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()  # type: ignore[arg-type]
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(TruncatedError) as err:
        read_header(path)
    assert "PixelData" in str(err.value)


@pytest.mark.parametrize("cut", [1000, 1003, 3000])
def test_truncated_header_is_rejected(tmp_path: Path, cut: int) -> None:
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()  # type: ignore[arg-type]
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:cut])
    with pytest.raises(TruncatedError):
        read_header(path)


@pytest.mark.parametrize(
    "keyword", ["StudyInstanceUID", "SeriesInstanceUID"]
)
def test_missing_uid_is_rejected_naming_the_keyword(tmp_path: Path, keyword: str) -> None:
    path = write_dataset(ct_dataset(**{keyword: None}), tmp_path / "no-uid.dcm")
    with pytest.raises(MissingAttributeError) as err:
        read_header(path)
    assert err.value.keyword == keyword
    assert "is missing" in err.value.reason


def test_unknown_character_set_is_rejected(tmp_path: Path) -> None:
    path = write_with_charset(ct_dataset(), tmp_path / "charset.dcm", "ISO_IR 999")
    with pytest.raises(CharacterSetError) as err:
        read_header(path)
    assert err.value.keyword == "SpecificCharacterSet"


def test_undecodable_text_is_rejected(tmp_path: Path) -> None:
    ds = ct_dataset()
    path = write_dataset(ds, tmp_path / "bad-utf8.dcm")
    data = path.read_bytes()
    assert b"Test^Patient" in data
    path.write_bytes(data.replace(b"Test^Patient", b"Test^Pat\xff\xfent"))
    with pytest.raises(CharacterSetError):
        read_header(path)


def test_dicomdir_is_not_an_instance() -> None:
    path = get_testdata_file("DICOMDIR")
    assert path is not None
    with pytest.raises(NotAnInstanceError):
        read_header(path)


def test_file_without_preamble_is_read(tmp_path: Path) -> None:
    # PS3.10 7.1 wants a preamble and "DICM"; old media and some modalities write the data set alone.
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()  # type: ignore[arg-type]
    path = tmp_path / "raw.dcm"
    path.write_bytes(data[132:])
    header = read_header(path)
    assert header.instance.sop_instance_uid == "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


# --- character sets of SR text (sr-mapping.md §7 "Non-UTF-8 text", §9 item 12) ---------------------------------


def _sr_with_text(charset: str | None) -> Dataset:
    """A Basic Text SR: a Findings heading holding one TEXT ("MARKER") and a Person Observer Name ("PNMARK^X")."""

    def code(value: str, scheme: str, meaning: str) -> Dataset:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
        return item

    ds = ct_dataset(SpecificCharacterSet=charset, SOPClassUID=BasicTextSRStorage, Modality="SR")
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                    "SamplesPerPixel", "PhotometricInterpretation", "PixelData", "BodyPartExamined"):
        delattr(ds, keyword)
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = [code("18748-4", "LN", "Diagnostic imaging report")]
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    observer = Dataset()
    observer.RelationshipType, observer.ValueType = "HAS OBS CONTEXT", "PNAME"
    observer.ConceptNameCodeSequence = [code("121008", "DCM", "Person Observer Name")]
    observer.PersonName = "PNMARK^X"
    finding = Dataset()
    finding.RelationshipType, finding.ValueType, finding.TextValue = "CONTAINS", "TEXT", "MARKER"
    finding.ConceptNameCodeSequence = [code("121071", "DCM", "Finding")]
    heading = Dataset()
    heading.RelationshipType, heading.ValueType, heading.ContinuityOfContent = "CONTAINS", "CONTAINER", "SEPARATE"
    heading.ConceptNameCodeSequence = [code("59776-5", "LN", "Findings")]
    heading.ContentSequence = [finding]
    ds.ContentSequence = [observer, heading]
    return ds


def _write_sr(tmp_path: Path, charset: str | None, encoding: str) -> Path:
    """The SR with "Ödem" and "Jörg" encoded in ``encoding``, written byte for byte (padded to the markers)."""
    path = write_dataset(_sr_with_text(charset), tmp_path / f"sr-{charset}-{encoding}.dcm")
    data = path.read_bytes()
    assert data.count(b"MARKER") == 1 and data.count(b"PNMARK") == 1
    data = data.replace(b"MARKER", "Ödem".encode(encoding).ljust(6))
    data = data.replace(b"PNMARK", "Jörg".encode(encoding).ljust(6))
    path.write_bytes(data)
    return path


def _texts(header: InstanceHeader) -> list[str]:
    assert header.report is not None
    return [text.text for section in header.report.sections for text in section.texts]


def _charset_findings(header: InstanceHeader) -> list[Finding]:
    return [f for f in header.findings if "Specific Character Set" in f.message]


def test_declared_latin1_sr_text_is_decoded(tmp_path: Path) -> None:
    header = read_header(_write_sr(tmp_path, "ISO_IR 100", "latin-1"))
    assert _texts(header) == ["Ödem"]
    assert header.report is not None and header.report.authors[0].name.family == "Jörg"
    assert _charset_findings(header) == []


def test_undeclared_latin1_sr_text_falls_back_to_iso_ir_100(tmp_path: Path) -> None:
    # the same bytes without (0008,0005): not rejected; strict UTF-8 fails, the ISO_IR 100 fallback decodes them
    header = read_header(_write_sr(tmp_path, None, "latin-1"))
    assert _texts(header) == ["Ödem"]
    assert header.report is not None and header.report.authors[0].name.family == "Jörg"
    findings = {f.where: f for f in _charset_findings(header)}
    assert set(findings) == {"TextValue", "PersonName"}
    assert all(f.severity is Severity.WARNING and "ISO_IR 100" in f.message for f in findings.values())


def test_undeclared_utf8_sr_text_is_decoded_as_utf8(tmp_path: Path) -> None:
    header = read_header(_write_sr(tmp_path, None, "utf-8"))
    assert _texts(header) == ["Ödem"]
    assert header.report is not None and header.report.authors[0].name.family == "Jörg"
    findings = _charset_findings(header)
    assert {f.where for f in findings} == {"TextValue", "PersonName"}
    assert all(f.severity is Severity.INFO and "UTF-8" in f.message for f in findings)


def test_declared_utf8_with_latin1_bytes_is_still_rejected(tmp_path: Path) -> None:
    # a declared but wrong character set keeps its behaviour: pydicom would replace the characters, so the file
    # is refused rather than converted with lost text
    with pytest.raises(CharacterSetError):
        read_header(_write_sr(tmp_path, "ISO_IR 192", "latin-1"))
