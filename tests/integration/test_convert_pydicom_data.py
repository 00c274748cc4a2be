"""convert() on pydicom's bundled multi-study sets: one ImagingStudy per study with exact counts."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file

from bridge import convert


def _dicomdirtests() -> Path:
    path = get_testdata_file("DICOMDIR", read=False)
    assert path is not None
    return Path(path).parent


PATIENT_FOLDERS = ("77654033", "98892001", "98892003")


def test_dicomdirtests_one_imaging_study_per_study() -> None:
    folders = [_dicomdirtests() / name for name in PATIENT_FOLDERS]
    expected: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    patients: dict[str, str] = {}
    for path in sorted(p for folder in folders for p in folder.rglob("*") if p.is_file()):
        ds = dcmread(path, stop_before_pixels=True, force=True)
        expected[ds.StudyInstanceUID][ds.SeriesInstanceUID].add(ds.SOPInstanceUID)
        patients[ds.StudyInstanceUID] = ds.PatientID
    result = convert(folders)
    assert result.rejected == ()
    got = {s.study_instance_uid: s for s in result.studies}
    assert set(got) == set(expected)
    assert len(got) == 6  # patient 98890234: 3 MR + 1 CT; patient 77654033: CR + CT
    for uid, series in expected.items():
        imaging_study = got[uid].imaging_study
        assert imaging_study.numberOfSeries == len(series)
        assert imaging_study.numberOfInstances == sum(len(s) for s in series.values())
        assert {s.uid: {i.uid for i in s.instance} for s in imaging_study.series} == series
        assert got[uid].patient.identifier[0].value == patients[uid]


def test_whole_folder_skips_dicomdirs_and_rejects_the_readme() -> None:
    root = _dicomdirtests()
    result = convert([root])
    assert {Path(s.source).name for s in result.skipped} == {
        "DICOMDIR", "DICOMDIR-bigEnd", "DICOMDIR-empty.dcm", "DICOMDIR-implicit", "DICOMDIR-nooffset",
        "DICOMDIR-nopatient", "DICOMDIR-reordered",
    }
    assert len(result.skipped) == 8  # TINY_ALPHA/DICOMDIR too
    rejected = sorted((Path(r.source).name, r.reason.split(":")[0]) for r in result.rejected)
    assert rejected == [("README", "not a DICOM file"), ("README.txt", "not a DICOM file")]
    assert len(result.studies) == 7  # the six studies above and TINY_ALPHA's
    tiny = next(s for s in result.studies if s.patient.identifier[0].value == "12345678")
    # TINY_ALPHA holds header-only copies: used, each with a finding that says so
    assert {f.where for f in tiny.findings} == {"PixelData"}
    assert len(tiny.findings) == tiny.imaging_study.numberOfInstances


def test_patients_share_one_patient_resource_id() -> None:
    result = convert([_dicomdirtests() / name for name in PATIENT_FOLDERS])
    ids_by_patient: dict[str, set[str]] = defaultdict(set)
    for study in result.studies:
        ids_by_patient[study.patient.identifier[0].value].add(str(study.patient.id))
    assert set(ids_by_patient) == {"98890234", "77654033"}
    assert all(len(ids) == 1 for ids in ids_by_patient.values())
