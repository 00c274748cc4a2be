"""read_header on good and bad files: every bad file is an InputError naming the file and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from bridge.errors import CharacterSetError, MissingAttributeError, NotAnInstanceError, NotDicomError, TruncatedError
from bridge.extract.read import read_header
from bridge.model import ObjectKind
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
