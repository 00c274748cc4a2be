"""A batch with bad files: each is reported with file and reason, the good ones are still converted."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bridge import convert
from tests.factories import ct_dataset, write_dataset, write_with_charset


def test_bad_files_are_reported_and_the_rest_converted(tmp_path: Path, sample_dicom: Path) -> None:
    batch = tmp_path / "batch"
    shutil.copytree(sample_dicom, batch)
    (batch / "readme.txt").write_text("this is not DICOM\n")
    good = next(batch.rglob("IM*.dcm"))
    (batch / "truncated.dcm").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    write_dataset(ct_dataset(StudyInstanceUID=None), batch / "no-study-uid.dcm")
    write_with_charset(ct_dataset(), batch / "bad-charset.dcm", "ISO_IR 999")

    result = convert([batch])

    reasons = {Path(r.source).name: r.reason for r in result.rejected}
    assert set(reasons) == {"readme.txt", "truncated.dcm", "no-study-uid.dcm", "bad-charset.dcm"}
    assert "not a DICOM file" in reasons["readme.txt"]
    assert re.search(r"ends inside|Pixel Data declares", reasons["truncated.dcm"])
    assert "Study Instance UID is missing (StudyInstanceUID)" == reasons["no-study-uid.dcm"]
    assert "SpecificCharacterSet" in reasons["bad-charset.dcm"]
    assert not result.ok
    assert len(result.studies) == 1
    assert result.studies[0].imaging_study.numberOfInstances == 25
    assert len(result.studies[0].reports) == 1


def test_missing_path_is_rejected_not_raised(tmp_path: Path) -> None:
    result = convert([tmp_path / "nowhere.dcm"])
    assert len(result.rejected) == 1
    assert "cannot be read" in result.rejected[0].reason
