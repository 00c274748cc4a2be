"""check_manifest: a received manifest against the instances actually received (IHE Study B, synthetic studies)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from bridge.api import read_outcome
from bridge.extract.header import extract_header
from bridge.extract.manifest_check import check_manifest
from bridge.extract.study import extract_study
from bridge.model import Code, Finding, InstanceHeader, Severity, Study
from bridge.model.manifest import ManifestDescription, ManifestEntry, ManifestSeries
from tests.conftest import shared_path
from tests.factories import ct_dataset, next_uids

SCT = "http://snomed.info/sct"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
STUDY_B = "1.2.250.1.59.40211.22756022.2.1.102"
CT_SERIES = "1.2.250.1.59.40211.22756022.2.2.102.201"
KIN_SERIES = "1.2.250.1.59.40211.22756022.2.2.102.202"
MANIFEST_B = "1.2.250.1.59.40211.22756022.2.3.102.259.31"


def messages(findings: tuple[Finding, ...]) -> list[tuple[str, str]]:
    assert all(f.severity is Severity.WARNING and f.source == "m.dcm" for f in findings)
    return [(f.where, f.message) for f in findings]


# -- the IHE sample ---------------------------------------------------------------------------------------------


def headers_of(paths: list[Path]) -> list[InstanceHeader]:
    headers = []
    for path in paths:
        outcome = read_outcome(path)
        assert isinstance(outcome, InstanceHeader), f"{path}: {outcome}"
        headers.append(outcome)
    return headers


@pytest.fixture(scope="module")
def study_b() -> tuple[ManifestDescription, list[InstanceHeader], InstanceHeader]:
    images = headers_of(sorted(shared_path("dicom", "mado", "Study_B").rglob("*.dcm")))
    (kos,) = headers_of([shared_path("dicom", "mado", "MADO_KOS_B.dcm")])
    assert kos.report is not None and kos.report.content.manifest is not None
    return kos.report.content.manifest, images, kos


B_DISCREPANCIES = [
    ("SeriesDate", f"manifest {MANIFEST_B} says series {CT_SERIES} Series Date 20231018; the images say 20220822"),
    ("TargetRegion", f"manifest {MANIFEST_B} says series {CT_SERIES} Target Region 63337009 (Lower trunk); the "
                     "images say 69536005 (Head), from Body Part Examined HEAD"),
    ("SeriesNumber", f"manifest {MANIFEST_B} says series {KIN_SERIES} Series Number 2; the images say 59"),
]


def test_study_b_gives_exactly_the_known_discrepancies(study_b) -> None:  # type: ignore[no-untyped-def]
    manifest, images, _ = study_b
    study = extract_study(images)
    assert len(study.series) == 2 and study.number_of_instances == 21
    # counts, instance numbers, UIDs and times agree; study modality CT without KO is tolerated
    assert messages(check_manifest(manifest, study, "m.dcm")) == B_DISCREPANCIES


def test_study_b_with_the_manifest_received_too(study_b) -> None:  # type: ignore[no-untyped-def]
    manifest, images, kos = study_b
    study = extract_study([*images, kos])
    assert len(study.series) == 3  # the manifest's own series: a manifest never lists itself
    assert messages(check_manifest(manifest, study, "m.dcm")) == B_DISCREPANCIES


def test_study_b_with_a_ct_instance_missing(study_b) -> None:  # type: ignore[no-untyped-def]
    manifest, images, _ = study_b
    study = extract_study([h for h in images if not h.source.endswith("I3.dcm")])  # instance 4, ….201.34
    assert messages(check_manifest(manifest, study, "m.dcm")) == [
        *B_DISCREPANCIES[:2],
        ("ReferencedSOPInstanceUID", f"manifest {MANIFEST_B} lists 1 instance(s) of series {CT_SERIES} that were "
                                     "not received: 1.2.250.1.59.40211.22756022.2.3.102.201.34"),
        B_DISCREPANCIES[2],
    ]


def test_study_b_without_the_key_image_note(study_b) -> None:  # type: ignore[no-untyped-def]
    manifest, images, _ = study_b
    study = extract_study([h for h in images if h.series_instance_uid == CT_SERIES])
    assert messages(check_manifest(manifest, study, "m.dcm")) == [
        *B_DISCREPANCIES[:2],
        ("SeriesInstanceUID", f"manifest {MANIFEST_B} lists series {KIN_SERIES} with 1 instance(s), none received: "
                              "1.2.250.1.59.40211.22756022.2.3.102.202.31"),
    ]


# -- synthetic studies ------------------------------------------------------------------------------------------


def images() -> list[Dataset]:
    """A CT series of 3 (the third multi-frame) and an MR series of 1, Series Time with a fraction."""
    study, ct_series, mr_series = next_uids(3)
    common = {"StudyInstanceUID": study, "SeriesDate": "20240102", "SeriesTime": "101112.5"}
    cts = [ct_dataset(SeriesInstanceUID=ct_series, SeriesNumber=3, InstanceNumber=n, SeriesDescription="Thorax",
                      NumberOfFrames=5 if n == 3 else None, **common) for n in (1, 2, 3)]
    mr = ct_dataset(SeriesInstanceUID=mr_series, SeriesNumber=4, InstanceNumber=1, Modality="MR",
                    SOPClassUID=MR_IMAGE, BodyPartExamined="HEAD", **common)
    return [*cts, mr]


def study_of(datasets: list[Dataset]) -> Study:
    return extract_study([extract_header(ds, f"i{n}.dcm") for n, ds in enumerate(datasets)])


def describe(datasets: list[Dataset]) -> ManifestDescription:
    """The manifest a conformant producer writes for ``datasets``: everything agrees."""
    by_series: dict[str, list[Dataset]] = {}
    for ds in datasets:
        by_series.setdefault(ds.SeriesInstanceUID, []).append(ds)
    series = []
    for uid, members in by_series.items():
        head = members[0]
        region = Code(SCT, "51185008", "Thorax") if head.BodyPartExamined == "CHEST" else Code(SCT, "69536005")
        date = head.get("SeriesDate")
        series.append(ManifestSeries(
            series_instance_uid=uid, modality=head.Modality, date=date, time="101112.500000" if date else None,
            description=head.get("SeriesDescription"), number=str(head.SeriesNumber), target_region=region,
            instance_count=len(members),
            entries=tuple(ManifestEntry(ds.SOPInstanceUID, ds.SOPClassUID, str(ds.InstanceNumber),
                                        ds.get("NumberOfFrames")) for ds in members),
            references=tuple((ds.SOPClassUID, ds.SOPInstanceUID) for ds in members),
        ))
    return ManifestDescription(
        sop_instance_uid="9.9.9", study_instance_uid=datasets[0].StudyInstanceUID, title=Code(DCM, "131560"),
        mado=True, modalities=("CT", "MR"), target_regions=(Code(SCT, "67734004"),), series_count=len(series),
        series=tuple(series))


def with_series(manifest: ManifestDescription, index: int, **changes: object) -> ManifestDescription:
    series = list(manifest.series)
    series[index] = replace(series[index], **changes)  # type: ignore[arg-type]
    return replace(manifest, series=tuple(series))


def test_an_agreeing_manifest_gives_nothing() -> None:
    datasets = images()
    assert check_manifest(describe(datasets), study_of(datasets), "m.dcm") == ()


@pytest.mark.parametrize(("time", "agrees"), [
    ("101112.5", True), ("101112.500000", True), ("101112", True), ("1011", True), ("10", True),
    ("10:11:12.5", True), ("101112.4", False), ("101113", False), ("1012", False),
])
def test_series_time_to_the_manifests_precision(time: str, agrees: bool) -> None:
    datasets = images()
    manifest = with_series(describe(datasets), 0, time=time)
    found = messages(check_manifest(manifest, study_of(datasets), "m.dcm"))
    if agrees:
        assert found == []
    else:
        ((where, message),) = found
        assert where == "SeriesTime"
        assert message.endswith(f"Series Time {time}; the images say 101112.5")


@pytest.mark.parametrize(("changes", "where", "says"), [
    ({"modality": "MR"}, "Modality", "Modality MR; the images say CT"),
    ({"date": "20240103"}, "SeriesDate", "Series Date 20240103; the images say 20240102"),
    ({"description": "Chest"}, "SeriesDescription", "Series Description 'Chest'; the images say 'Thorax'"),
    ({"number": "4"}, "SeriesNumber", "Series Number 4; the images say 3"),
    ({"number": "III"}, "SeriesNumber", "Series Number III; the images say 3"),
    ({"instance_count": 4}, "NumberOfSeriesRelatedInstances",
     "Number of Series Related Instances 4; the images say 3 received"),
    ({"target_region": Code(SCT, "63337009", "Lower trunk")}, "TargetRegion",
     "Target Region 63337009 (Lower trunk); the images say 816094009 (Chest), from Body Part Examined CHEST"),
])
def test_one_series_value_differs(changes: dict[str, object], where: str, says: str) -> None:
    datasets = images()
    manifest = with_series(describe(datasets), 0, **changes)
    ((found_where, message),) = messages(check_manifest(manifest, study_of(datasets), "m.dcm"))
    assert found_where == where
    assert message == f"manifest 9.9.9 says series {datasets[0].SeriesInstanceUID} {says}"


@pytest.mark.parametrize("changes", [
    {"number": "03"},  # TEXT "03" is the integer 3
    {"target_region": Code(SCT, "67734004", "Upper trunk")},  # the chest's region: agreement at the region level
    {"target_region": Code(SCT, "123456789")},  # a code the tables do not know cannot be compared
    {"target_region": None, "target_region_text": "chest"},  # TEXT is not compared
    {"date": None, "time": None, "description": None, "number": None, "modality": None, "instance_count": None},
])
def test_equal_or_incomparable_values_give_nothing(changes: dict[str, object]) -> None:
    datasets = images()
    manifest = with_series(describe(datasets), 0, **changes)
    assert check_manifest(manifest, study_of(datasets), "m.dcm") == ()


def test_instance_number_and_frames_per_received_instance() -> None:
    datasets = images()
    manifest = describe(datasets)
    entries = list(manifest.series[0].entries)
    entries[0] = replace(entries[0], instance_number="7")
    entries[1] = replace(entries[1], number_of_frames=2)  # a single-frame image
    entries[2] = replace(entries[2], number_of_frames=6)
    found = messages(check_manifest(with_series(manifest, 0, entries=tuple(entries)), study_of(datasets), "m.dcm"))
    series = datasets[0].SeriesInstanceUID
    assert found == [
        ("InstanceNumber", f"manifest 9.9.9 says series {series} instance {datasets[0].SOPInstanceUID} Instance "
                           "Number 7; the image says 1"),
        ("NumberOfFrames", f"manifest 9.9.9 says series {series} instance {datasets[1].SOPInstanceUID} Number of "
                           "Frames 2; the image says 1"),
        ("NumberOfFrames", f"manifest 9.9.9 says series {series} instance {datasets[2].SOPInstanceUID} Number of "
                           "Frames 6; the image says 5"),
    ]


def test_per_instance_findings_are_capped_per_series() -> None:
    (series_uid,) = next_uids(1)
    first = ct_dataset(SeriesInstanceUID=series_uid, InstanceNumber=1)
    datasets = [first, *(ct_dataset(StudyInstanceUID=first.StudyInstanceUID, SeriesInstanceUID=series_uid,
                                    InstanceNumber=n) for n in range(2, 9))]
    manifest = describe(datasets)
    entries = tuple(replace(e, instance_number=str(int(e.instance_number or 0) + 100))
                    for e in manifest.series[0].entries)
    manifest = replace(with_series(manifest, 0, entries=entries), modalities=("CT",))
    found = messages(check_manifest(manifest, study_of(datasets), "m.dcm"))
    assert [w for w, _ in found] == ["InstanceNumber"] * 6
    assert found[-1][1] == (f"manifest 9.9.9 says another Instance Number than the images for 3 more instance(s) of "
                            f"series {series_uid}")


def test_instances_missing_and_unlisted() -> None:
    datasets = images()
    extra = [ct_dataset(StudyInstanceUID=datasets[0].StudyInstanceUID, SeriesInstanceUID=datasets[0].SeriesInstanceUID,
                        SeriesNumber=3, InstanceNumber=n, SeriesDescription="Thorax", SeriesDate="20240102",
                        SeriesTime="101112.5") for n in (4, 5, 6, 7)]
    manifest = describe([*datasets, *extra])  # lists 7 CT instances
    study = study_of([*datasets[1:], *extra])  # the first CT image is missing
    manifest_without_extra = describe([*datasets])
    series = datasets[0].SeriesInstanceUID
    assert messages(check_manifest(manifest, study, "m.dcm")) == [
        ("ReferencedSOPInstanceUID", f"manifest 9.9.9 lists 1 instance(s) of series {series} that were not received: "
                                     f"{datasets[0].SOPInstanceUID}"),
    ]
    found = messages(check_manifest(manifest_without_extra, study, "m.dcm"))
    assert found == [
        ("ReferencedSOPInstanceUID", f"manifest 9.9.9 lists 1 instance(s) of series {series} that were not received: "
                                     f"{datasets[0].SOPInstanceUID}"),
        ("ReferencedSOPInstanceUID", f"manifest 9.9.9 does not list 4 received instance(s) of series {series}: "
                                     f"{extra[0].SOPInstanceUID}, {extra[1].SOPInstanceUID}, "
                                     f"{extra[2].SOPInstanceUID}, …"),
    ]


def test_a_count_the_listing_does_not_explain_is_reported_with_the_missing_instances() -> None:
    datasets = images()
    manifest = with_series(describe(datasets), 0, instance_count=5)  # lists 3, says 5
    found = messages(check_manifest(manifest, study_of(datasets[1:]), "m.dcm"))
    assert [w for w, _ in found] == ["NumberOfSeriesRelatedInstances", "ReferencedSOPInstanceUID"]
    assert found[0][1].endswith("Number of Series Related Instances 5; the images say 2 received")


def test_series_missing_and_unlisted() -> None:
    datasets = images()
    manifest = describe(datasets[:3])  # the CT series only
    manifest = replace(manifest, modalities=("CT",))
    (ds,) = [d for d in datasets if d.Modality == "MR"]
    assert messages(check_manifest(manifest, study_of(datasets), "m.dcm")) == [
        ("SeriesInstanceUID", f"manifest 9.9.9 does not list received series {ds.SeriesInstanceUID} (1 instance(s)): "
                              f"{ds.SOPInstanceUID}"),
    ]
    full = describe(datasets)
    assert messages(check_manifest(full, study_of(datasets[:3]), "m.dcm")) == [
        ("SeriesInstanceUID", f"manifest 9.9.9 lists series {ds.SeriesInstanceUID} with 1 instance(s), none received: "
                              f"{ds.SOPInstanceUID}"),
    ]


@pytest.mark.parametrize(("changes", "message"), [
    ({"series_count": 3}, "says Number of Study Related Series 3; the images have 2 series"),
    ({"modalities": ("CT",)}, "says study Modality CT; the images say CT, MR"),
    ({"modalities": ("CT", "MR", "US")}, "says study Modality CT, MR, US; the images say CT, MR"),
])
def test_study_level_values(changes: dict[str, object], message: str) -> None:
    datasets = images()
    manifest = replace(describe(datasets), **changes)  # type: ignore[arg-type]
    ((where, found),) = messages(check_manifest(manifest, study_of(datasets), "m.dcm"))
    assert where in ("NumberOfStudyRelatedSeries", "Modality")
    assert found == f"manifest 9.9.9 {message}"


def test_manifest_of_another_study_gives_one_warning() -> None:
    datasets = images()
    manifest = replace(describe(datasets), study_instance_uid="1.2.3", series_count=9)
    study = study_of(datasets)
    assert messages(check_manifest(manifest, study, "m.dcm")) == [
        ("StudyInstanceUID", f"manifest 9.9.9 describes study 1.2.3, not study {study.study_instance_uid}; not "
                             "compared"),
    ]
